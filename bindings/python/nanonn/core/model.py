"""Model: a net, a loss and an optimizer (tinynn's ``tinynn.core.model.Model``), trained by
nanonn's C library.

The C model is built at the first ``forward`` (or ``build``/``load``), when the shape of a
sample is known: ``Dense(400)`` takes its input width from the data, as in tinynn.

**Batch size.** A C model is planned for a largest batch. Without ``batch_size``, the model is
built for the first batch it sees and rebuilt, keeping all of its training state, whenever a
"TRAIN" forward brings a larger batch (the last, smaller batch of an epoch needs no rebuild).
With ``batch_size=N``, it is built for N and a larger training batch is an error. In the "TEST"
phase any number of samples is fine: nanonn predicts them in planned-size pieces.

**Gradients** stay inside the library: ``backward`` returns an opaque :class:`Grads` token
that ``apply_grad`` takes (``grads.values`` copies them out as one flat array). A token is
only good until the next ``backward``.
"""

import ctypes
import os

import numpy as np

from .. import _lib
from .._lib import Status
from .net import Net, _check_phase, _path

__all__ = ["Model", "Grads"]

WEIGHTS, CHECKPOINT = 0, 1  # NanonnFileKind


def _ptr(array):
    return array.ctypes.data


def _floats(array, what):
    try:
        return np.ascontiguousarray(array, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError("%s must be an array of numbers: %s" % (what, e)) from None


class Grads:
    """The gradients of one ``backward`` call, kept inside the model until ``apply_grad``."""

    def __init__(self, model, generation):
        self._model = model
        self._generation = generation

    @property
    def values(self):
        """A copy of the gradients, laid out as ``model.get_params()``."""
        self._model._check_grads(self)
        out = np.empty(self._model._info().param_count, np.float32)
        self._model._call("nanonn_model_get_grads", _ptr(out), out.size)
        return out

    def __repr__(self):
        return "<nanonn.Grads of backward #%d>" % self._generation


class Model:
    """``Model(net, loss, optimizer)``, as tinynn, plus ``batch_size`` (see the module
    documentation) and ``seed`` (parameter initialisation and dropout; by default drawn from
    numpy's global generator, so ``np.random.seed`` / ``random_seed`` make runs
    repeatable)."""

    def __init__(self, net, loss, optimizer, batch_size=None, seed=None):
        if not isinstance(net, Net):
            net = Net(net)
        self.net = net
        self.loss = loss
        self.optimizer = optimizer
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1, not %r" % (batch_size,))
        self._fixed_batch = None if batch_size is None else int(batch_size)
        if seed is None:
            seed = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
        self.seed = int(seed)
        self._handle = None
        self._builder = None
        self._param_shapes = None
        self._input_shape = None
        self._output_shape = None
        self._capacity = 0
        self._phase = net._phase
        self._generation = 0  # of the gradients inside the C model
        self._lr_in_library = None
        self._forward_n = None
        net._model = self

    # --- building -----------------------------------------------------------------------------

    @property
    def built(self):
        """Whether the C model exists yet."""
        return self._handle is not None

    def build(self, input_shape, batch_size=None):
        """Builds the C model for samples of ``input_shape`` (per sample, e.g. ``(784,)``) and
        batches of up to ``batch_size`` (default: the ``batch_size`` given to the model, or 1).
        Done by the first ``forward`` otherwise."""
        if self.built:
            raise _lib.error(Status.INVALID_STATE, "the model is already built")
        batch = batch_size or self._fixed_batch or 1
        builder, param_shapes = self.net.build(tuple(int(d) for d in input_shape))
        handle = self._new_handle(builder, batch)
        self._builder, self._param_shapes, self._handle = builder, param_shapes, handle
        info = self._info()
        self._input_shape = tuple(info.input_dims[: info.input_rank])
        self._output_shape = tuple(info.output_dims[: info.output_rank])
        self._capacity = info.batch_size
        return self

    def _new_handle(self, builder, batch):
        handle = ctypes.c_void_p()
        loss, optimizer = self.loss._config(), self.optimizer._config()
        _lib.check(
            _lib.lib().nanonn_model_new(
                builder.handle,
                ctypes.byref(loss),
                ctypes.byref(optimizer),
                batch,
                self.seed,
                ctypes.byref(handle),
            )
        )
        self._lr_in_library = optimizer.lr
        return handle

    def _grow(self, batch):
        """Rebuilds the C model for batches of ``batch``, carrying its whole training state
        (parameters, optimizer state, step, random generator) over through a checkpoint."""
        size = ctypes.c_size_t()
        self._call("nanonn_model_save_size", CHECKPOINT, ctypes.byref(size))
        buffer = np.empty(size.value, np.uint8)
        written = ctypes.c_size_t()
        self._call(
            "nanonn_model_save_to_buffer", CHECKPOINT, _ptr(buffer), size.value,
            ctypes.byref(written),
        )
        handle = self._new_handle(self._builder, batch)
        status = _lib.lib().nanonn_model_load_from_buffer(
            handle, _ptr(buffer), written.value, CHECKPOINT
        )
        if status != Status.OK:
            message = _lib.lib().nanonn_last_error_message().decode()
            _lib.lib().nanonn_model_free(handle)
            raise _lib.Error(status, message)
        _lib.lib().nanonn_model_free(self._handle)
        self._handle = handle
        self._capacity = batch
        self._lr_in_library = None
        self._generation += 1  # the gradients did not come along

    def _prepare(self, x, n, training):
        if not self.built:
            # Built for evaluation first, the model is planned for pieces of at most 256
            # samples (training grows it if needed), not for the whole data set at once.
            self.build(x.shape[1:], self._fixed_batch or (n if training else min(n, 256)))
        if tuple(x.shape[1:]) != self._input_shape:
            raise _lib.error(
                Status.SHAPE_MISMATCH,
                "input samples have shape %r, the model takes %r"
                % (tuple(x.shape[1:]), self._input_shape),
            )

    # --- tinynn's API -------------------------------------------------------------------------

    def forward(self, inputs):
        """The predictions for ``inputs`` (batch-first, e.g. ``(N, 784)``), as a float32 array
        ``(N, ...output)``. In the "TRAIN" phase this is the forward pass of a training step
        (dropout active; what ``backward`` differentiates); in "TEST", evaluation mode."""
        x = _floats(inputs, "inputs")
        if x.ndim < 2 or x.shape[0] == 0:
            raise _lib.error(
                Status.SHAPE_MISMATCH,
                "inputs must be a non-empty batch: shape (N, ...sample), not %r" % (x.shape,),
            )
        n = x.shape[0]
        self._prepare(x, n, self._phase == "TRAIN")
        out = np.empty((n,) + self._output_shape, np.float32)
        if self._phase == "TRAIN":
            if n > self._capacity and self._fixed_batch is None:
                self._grow(n)
            self._call("nanonn_model_forward", _ptr(x), x.size, _ptr(out), out.size)
            self._forward_n = n
        else:
            self._call("nanonn_model_predict", _ptr(x), x.size, _ptr(out), out.size)
            self._forward_n = None
        return out

    def backward(self, predictions, targets):
        """The loss of the last "TRAIN" ``forward`` against ``targets`` — class indices
        ``(N,)`` (integers) or rows of the output's shape (one-hot, soft labels, regression
        targets) — and its gradients: returns ``(loss, grads)``.

        ``predictions`` is taken for tinynn's signature; nanonn differentiates its own copy
        of the last forward's outputs (only the batch size is checked)."""
        if not self.built:
            raise _lib.error(Status.INVALID_STATE, "backward needs a forward first")
        n = self._forward_n
        if predictions is not None and n is not None and len(predictions) != n:
            raise _lib.error(
                Status.LENGTH_MISMATCH,
                "predictions have %d rows, the last forward had %d" % (len(predictions), n),
            )
        t = np.asarray(targets)
        loss = ctypes.c_float()
        if t.dtype.kind in "iu" and (t.ndim == 1 or t.shape[1:] == (1,)):
            t = t.reshape(-1)
            if t.size and (t.min() < 0 or t.max() > 0xFFFFFFFF):
                bad = t.min() if t.min() < 0 else t.max()
                raise _lib.error(Status.LABEL_OUT_OF_RANGE, "label %d is not a class" % bad)
            labels = np.ascontiguousarray(t, dtype=np.uint32)
            self._call("nanonn_model_backward", _ptr(labels), labels.size, ctypes.byref(loss))
        else:
            y = _floats(t, "targets")
            self._call("nanonn_model_backward_values", _ptr(y), y.size, ctypes.byref(loss))
        self._generation += 1
        return float(loss.value), Grads(self, self._generation)

    def apply_grad(self, grads):
        """One optimizer step with ``grads`` (from the latest ``backward``) at the rate
        ``optimizer.lr`` has now."""
        self._check_grads(grads)
        lr = float(self.optimizer.lr)
        if lr != self._lr_in_library:
            self._call("nanonn_model_set_lr", lr)
            self._lr_in_library = lr
        self._call("nanonn_model_apply_grad")

    #: tinynn's name.
    apply_grads = apply_grad

    def _check_grads(self, grads):
        if not isinstance(grads, Grads) or grads._model is not self:
            raise TypeError("grads must come from this model's backward, not %r" % (grads,))
        if grads._generation != self._generation:
            raise _lib.error(
                Status.INVALID_STATE,
                "these gradients are stale: backward ran again (or the model was rebuilt "
                "for a larger batch) since they were computed",
            )

    def get_phase(self):
        return self._phase

    def set_phase(self, phase):
        """"TRAIN" (forward trains: dropout, batch statistics) or "TEST" (evaluation)."""
        self._phase = self.net._phase = _check_phase(phase)

    def save(self, path, checkpoint=False):
        """Writes the model file (``docs/model-format.md``): the network and its weights, or
        with ``checkpoint=True`` also the optimizer state and step, to resume training."""
        self._require_built()
        self._call("nanonn_model_save", _path(path), CHECKPOINT if checkpoint else WEIGHTS)

    def load(self, path, checkpoint=False):
        """Loads the weights (or, with ``checkpoint=True``, the whole training state) from a
        model file of the same network. Before the first forward the model is built for the
        file's input shape."""
        if not os.path.exists(path):
            raise _lib.error(Status.IO, "%s: no such file" % (path,))
        if not self.built:
            self.build(_file_input_shape(path, self.loss, self.optimizer))
        self._call("nanonn_model_load", _path(path), CHECKPOINT if checkpoint else WEIGHTS)
        self._lr_in_library = None
        self._generation += 1

    # --- beyond tinynn ------------------------------------------------------------------------

    def evaluate(self, inputs, labels):
        """``(mean loss, accuracy)`` on ``inputs`` with class ``labels``, in evaluation mode
        (computed inside the library)."""
        x = _floats(inputs, "inputs")
        if x.ndim < 2 or x.shape[0] == 0:
            raise _lib.error(
                Status.SHAPE_MISMATCH,
                "inputs must be a non-empty batch: shape (N, ...sample), not %r" % (x.shape,),
            )
        self._prepare(x, x.shape[0], False)
        y = np.ascontiguousarray(labels, dtype=np.uint32)
        loss, accuracy = ctypes.c_float(), ctypes.c_float()
        self._call(
            "nanonn_model_evaluate", _ptr(x), x.size, _ptr(y), y.size, ctypes.byref(loss),
            ctypes.byref(accuracy),
        )
        return float(loss.value), float(accuracy.value)

    def get_params(self):
        """Every parameter, layer after layer, as one flat float32 array (a copy)."""
        out = np.empty(self._info().param_count, np.float32)
        self._call("nanonn_model_get_params", _ptr(out), out.size)
        return out

    def set_params(self, params):
        """Replaces every parameter with the flat array ``params``."""
        p = _floats(params, "params").reshape(-1)
        self._call("nanonn_model_set_params", _ptr(p), p.size)

    def get_structured_params(self):
        flat = self.get_params()
        out = []
        for i, shapes in enumerate(self._param_shapes):
            first, count = self._layer_params(i)
            piece = flat[first : first + count]
            out.append(_split(piece, shapes))
        return out

    def set_structured_params(self, values):
        if isinstance(values, np.ndarray):
            self.set_params(values)
            return
        values = list(values)
        if len(values) != len(self._param_shapes):
            raise _lib.error(
                Status.LENGTH_MISMATCH,
                "params for %d layers, the net has %d" % (len(values), len(self._param_shapes)),
            )
        flat = self.get_params()
        for i, (layer_values, shapes) in enumerate(zip(values, self._param_shapes)):
            first, count = self._layer_params(i)
            layout = _layout(count, shapes)
            if set(layer_values) != set(layout):
                raise _lib.error(
                    Status.INVALID_ARGUMENT,
                    "layer %d has parameters %r, not %r" % (i, sorted(layout), sorted(layer_values)),
                )
            offset = first
            for name, shape in layout.items():
                v = _floats(layer_values[name], name)
                if v.shape != tuple(shape):
                    raise _lib.error(
                        Status.SHAPE_MISMATCH,
                        "layer %d %r has shape %r, not %r" % (i, name, tuple(shape), v.shape),
                    )
                flat[offset : offset + v.size] = v.reshape(-1)
                offset += v.size
        self.set_params(flat)

    @property
    def input_shape(self):
        """The shape of one input sample (``None`` before the model is built)."""
        return self._input_shape

    @property
    def output_shape(self):
        """The shape of one output row (``None`` before the model is built)."""
        return self._output_shape

    @property
    def batch_size(self):
        """The largest training batch the C model is planned for now (0 before it is
        built)."""
        return self._capacity

    @property
    def steps(self):
        """Optimizer steps taken."""
        return self._info().steps

    @property
    def param_count(self):
        return self._info().param_count

    def close(self):
        """Frees the C model now (it is also freed when the object is collected)."""
        if self._handle is not None:
            _lib.lib().nanonn_model_free(self._handle)
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    # --- helpers ------------------------------------------------------------------------------

    def _require_built(self):
        if not self.built:
            raise _lib.error(
                Status.INVALID_STATE,
                "the model is not built yet: call forward (or build) first",
            )

    def _call(self, function, *args):
        self._require_built()
        _lib.check(getattr(_lib.lib(), function)(self._handle, *args))

    def _info(self):
        info = _lib.ModelInfo()
        self._call("nanonn_model_info", ctypes.byref(info))
        return info

    def _layer_params(self, layer):
        first, count = ctypes.c_size_t(), ctypes.c_size_t()
        self._call("nanonn_model_layer_params", layer, ctypes.byref(first), ctypes.byref(count))
        return first.value, count.value


def _layout(count, shapes):
    """Names and shapes of a layer's ``count`` parameters: the layer's own when they add up,
    else one flat ``"params"`` array."""
    if count == 0:
        return {}
    if shapes and all(s is not None for s in shapes.values()):
        if sum(int(np.prod(s)) for s in shapes.values()) == count:
            return shapes
    return {"params": (count,)}


def _split(piece, shapes):
    out, offset = {}, 0
    for name, shape in _layout(piece.size, shapes).items():
        size = int(np.prod(shape))
        out[name] = piece[offset : offset + size].reshape(shape).copy()
        offset += size
    return out


def _file_input_shape(path, loss, optimizer):
    """The input shape of the network in a model file (read by building it at batch 1)."""
    from .net import Builder

    builder = Builder.from_file(path)
    handle = ctypes.c_void_p()
    loss_c, opt_c = loss._config(), optimizer._config()
    try:
        _lib.check(
            _lib.lib().nanonn_model_new(
                builder.handle, ctypes.byref(loss_c), ctypes.byref(opt_c), 1, 0,
                ctypes.byref(handle),
            )
        )
        info = _lib.ModelInfo()
        _lib.check(_lib.lib().nanonn_model_info(handle, ctypes.byref(info)))
        return tuple(info.input_dims[: info.input_rank])
    finally:
        _lib.lib().nanonn_model_free(handle)
        builder.close()
