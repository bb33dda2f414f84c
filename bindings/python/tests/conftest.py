"""Shared helpers. The tests use whichever ``nanonn`` is importable: the installed package in
CI (``pip install ./bindings/python``), or the source tree with ``PYTHONPATH=bindings/python``
(the library is then found through ``NANONN_LIB`` or the repository's ``target/release``)."""

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent.parent.parent
HEADER = REPO / "include" / "nanonn.h"
MNIST = REPO / "data" / "mnist"


@pytest.fixture(autouse=True)
def _seeded():
    np.random.seed(1234)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mlp_reference(params, x, onehot):
    """Loss and gradients of Dense-ReLU-Dense with softmax cross-entropy, in float64 numpy:
    tinynn's formulas, written out independently of nanonn."""
    w1, b1 = params[0]["w"].astype(np.float64), params[0]["b"].astype(np.float64)
    w2, b2 = params[2]["w"].astype(np.float64), params[2]["b"].astype(np.float64)
    x = x.astype(np.float64)
    n = len(x)
    a1 = x @ w1 + b1
    h1 = np.maximum(a1, 0.0)
    logits = h1 @ w2 + b2
    p = softmax(logits)
    loss = -np.sum(onehot * np.log(p)) / n
    d_logits = (p - onehot) / n
    d_w2 = h1.T @ d_logits
    d_b2 = d_logits.sum(axis=0)
    d_h1 = d_logits @ w2.T
    d_a1 = d_h1 * (a1 > 0)
    d_w1 = x.T @ d_a1
    d_b1 = d_a1.sum(axis=0)
    return logits, loss, [{"w": d_w1, "b": d_b1}, {}, {"w": d_w2, "b": d_b2}]
