"""Mini-batches, as tinynn's ``tinynn.utils.data_iterator``."""

from collections import namedtuple

import numpy as np

__all__ = ["Batch", "BatchIterator"]

#: One mini-batch: ``inputs`` and ``targets``, rows taken from the same samples.
Batch = namedtuple("Batch", ["inputs", "targets"])


class BatchIterator:
    """``for batch in BatchIterator(batch_size=32)(inputs, targets)`` yields batches of
    ``batch_size`` samples (the last one may be smaller), in an order shuffled with numpy's
    global generator when ``shuffle`` is true."""

    def __init__(self, batch_size=32, shuffle=True):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1, not %r" % (batch_size,))
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __call__(self, inputs, targets):
        if len(inputs) != len(targets):
            raise ValueError(
                "inputs and targets differ in length: %d and %d" % (len(inputs), len(targets))
            )
        order = np.arange(len(inputs))
        if self.shuffle:
            np.random.shuffle(order)
        for start in range(0, len(inputs), self.batch_size):
            rows = order[start : start + self.batch_size]
            yield Batch(inputs=inputs[rows], targets=targets[rows])
