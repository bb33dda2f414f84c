"""tinynn's ``utils`` helpers: ``data_iterator.BatchIterator``, ``metric.accuracy``,
``seeder.random_seed``, and ``dataset.load_mnist`` (the IDX files of ``data/mnist``)."""
