"""tinynn's ``core`` package layout: ``nanonn.core.layer``, ``.loss``, ``.model``, ``.net``,
``.optimizer`` — a tinynn script ports by replacing ``tinynn`` with ``nanonn`` in its
imports."""
