"""MNIST from the four IDX files (``.gz`` or raw) in ``data/mnist``, with gzip and numpy."""

import gzip
import os

import numpy as np

__all__ = ["load_idx", "load_mnist"]


def load_idx(path):
    """An IDX file (``path`` or ``path + ".gz"``) as a uint8 array of its dimensions."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path = path + ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("%s is not an IDX file of unsigned bytes" % path)
    rank = data[3]
    header = 4 + 4 * rank
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    count = int(np.prod(dims))
    if len(data) != header + count:
        raise ValueError("%s: %d bytes of data, expected %d" % (path, len(data) - header, count))
    return np.frombuffer(data, np.uint8, count, header).reshape(dims)


def load_mnist(data_dir, one_hot=False):
    """``(train_x, train_y), (test_x, test_y)``: images as float32 ``(N, 784)`` in [0, 1],
    labels as int64 class indices ``(N,)`` (or float32 one-hot ``(N, 10)``)."""

    def images(name):
        x = load_idx(os.path.join(data_dir, name))
        return (x.reshape(len(x), -1) / np.float32(255.0)).astype(np.float32)

    def labels(name):
        y = load_idx(os.path.join(data_dir, name)).astype(np.int64)
        return np.eye(10, dtype=np.float32)[y] if one_hot else y

    train = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    test = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")
    if len(train[0]) != len(train[1]) or len(test[0]) != len(test[1]):
        raise ValueError("%s: images and labels differ in count" % data_dir)
    return train, test
