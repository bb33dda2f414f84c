"""A short MNIST run through tinynn's loop (the full 1-epoch run is examples/mnist.py)."""

import numpy as np
import pytest

from nanonn import Adam, BatchIterator, Dense, Model, Net, ReLU, SoftmaxCrossEntropy
from nanonn.utils.dataset import load_mnist

from conftest import MNIST

pytestmark = pytest.mark.skipif(
    not (MNIST / "train-images-idx3-ubyte.gz").is_file(), reason="no data/mnist here"
)


def test_a_tenth_of_an_epoch_learns_mnist():
    (train_x, train_y), (test_x, test_y) = load_mnist(str(MNIST), one_hot=True)
    assert train_x.shape == (60000, 784) and test_y.shape == (10000, 10)
    assert train_x.dtype == np.float32 and 0.0 <= train_x.min() and train_x.max() <= 1.0
    net = Net([Dense(400), ReLU(), Dense(100), ReLU(), Dense(10)])
    model = Model(net=net, loss=SoftmaxCrossEntropy(), optimizer=Adam(lr=1e-3), seed=1)
    for batch in BatchIterator(batch_size=32)(train_x[:6000], train_y[:6000]):
        pred = model.forward(batch.inputs)
        loss, grads = model.backward(pred, batch.targets)
        model.apply_grad(grads)
    model.set_phase("TEST")
    test_pred = model.forward(test_x[:2000])
    hits = np.argmax(test_pred, axis=1) == np.argmax(test_y[:2000], axis=1)
    assert hits.mean() > 0.85
    _, acc = model.evaluate(test_x[:2000], np.argmax(test_y[:2000], axis=1))
    assert acc == pytest.approx(hits.mean())
