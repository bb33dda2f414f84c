"""Layers, losses and optimizers against numpy formulas; schedulers; the utils."""

import gzip
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import nanonn
from nanonn import (
    ELU,
    GELU,
    LSTM,
    MAE,
    MSE,
    RNN,
    SGD,
    Adam,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    ConvTranspose2D,
    CosineLR,
    Dense,
    Error,
    Flatten,
    GlobalAvgPool2D,
    Huber,
    LeakyReLU,
    MaxPool2D,
    Model,
    Net,
    Reshape,
    Sigmoid,
    SigmoidCrossEntropy,
    Softplus,
    Status,
    StepLR,
    Tanh,
)
from nanonn.utils.data_iterator import BatchIterator
from nanonn.utils.dataset import load_idx
from nanonn.utils.metric import accuracy


def eval_mode(model):
    model.set_phase("TEST")
    return model


def erf(values):
    return np.vectorize(math.erf)(values)


@pytest.mark.parametrize(
    "layer, formula",
    [
        (Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
        (Tanh(), np.tanh),
        (Softplus(), lambda a: np.log1p(np.exp(a))),
        (LeakyReLU(slope=0.1), lambda a: np.where(a > 0, a, 0.1 * a)),
        (ELU(alpha=0.5), lambda a: np.where(a > 0, a, 0.5 * (np.exp(a) - 1))),
        (GELU(), lambda a: 0.5 * a * (1 + erf(a / np.sqrt(2)))),
    ],
)
def test_activations(layer, formula):
    model = eval_mode(Model(Net([Dense(4, 6), layer]), MSE(), SGD(), seed=1))
    x = np.random.randn(3, 4).astype(np.float32)
    out = model.forward(x)
    p = model.net.params[0]
    a = x.astype(np.float64) @ p["w"] + p["b"]
    np.testing.assert_allclose(out, formula(a), rtol=1e-4, atol=1e-5)


def conv_valid(x, w, b, stride):
    """NHWC convolution (cross-correlation), VALID padding, in plain loops."""
    n, h, wd, _ = x.shape
    kh, kw, _, co = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def test_conv2d_pooling_and_flatten_follow_nhwc():
    net = Net(
        [
            Conv2D(kernel=(3, 2, 2, 4), stride=(1, 1), padding="VALID"),
            MaxPool2D(pool_size=(2, 2), stride=(2, 2)),
            Flatten(),
        ]
    )
    model = eval_mode(Model(net, MSE(), SGD(), seed=3))
    x = np.random.randn(2, 7, 6, 2).astype(np.float32)
    out = model.forward(x)
    p = model.net.params[0]
    assert p["w"].shape == (3, 2, 2, 4) and p["b"].shape == (4,)
    conv = conv_valid(x.astype(np.float64), p["w"], p["b"], 1)  # (2, 5, 5, 4)
    pooled = conv[:, :4, :4, :].reshape(2, 2, 2, 2, 2, 4).max(axis=(2, 4))
    assert out.shape == (2, 2 * 2 * 4)
    np.testing.assert_allclose(out, pooled.reshape(2, -1), rtol=1e-4, atol=1e-5)


def test_same_padding_avg_and_global_pooling_shapes():
    net = Net(
        [
            Conv2D(kernel=(5, 5, 1, 6), padding="SAME"),
            AvgPool2D(pool_size=2),
            Conv2D(kernel=(3, 3, 6, 8), stride=2, padding=(1, 1, 1, 1)),
            GlobalAvgPool2D(),
            Dense(3),
        ]
    )
    model = Model(net, MSE(), Adam(), seed=2)
    out = model.forward(np.random.rand(4, 28, 28, 1).astype(np.float32))
    assert out.shape == (4, 3)
    shapes = [{k: v.shape for k, v in p.items()} for p in model.net.params]
    assert shapes[2] == {"w": (3, 3, 6, 8), "b": (8,)}
    assert shapes[4] == {"w": (8, 3), "b": (3,)}


def test_conv_transpose_same_multiplies_by_the_stride():
    net = Net([Reshape(2, 2, 3), ConvTranspose2D(kernel=(3, 3, 3, 2), stride=(2, 2)), Flatten()])
    model = Model(net, MSE(), SGD(), seed=1)
    assert model.forward(np.ones((1, 12), np.float32)).shape == (1, 4 * 4 * 2)


def test_reshape_with_minus_one_and_batch_norm_params():
    net = Net([Reshape(-1, 4), BatchNormalization(), Flatten(), Dense(2)])
    model = Model(net, MSE(), Adam(), seed=1)
    model.forward(np.random.randn(6, 12).astype(np.float32))
    bn = model.net.params[1]
    np.testing.assert_array_equal(bn["gamma"], np.ones(4))
    np.testing.assert_array_equal(bn["beta"], np.zeros(4))


def test_recurrent_layers_over_sequences():
    for layer in (RNN(8), LSTM(8)):
        model = Model(Net([layer, Dense(2)]), MSE(), Adam(), seed=1)
        x = np.random.randn(3, 5, 4).astype(np.float32)  # 3 sequences of 5 steps of 4
        assert model.forward(x).shape == (3, 2)
        params = model.net.params[0]
        assert list(params) == ["params"] and params["params"].ndim == 1
    seq = Model(Net([LSTM(6, return_sequences=True)]), MSE(), SGD(), seed=1)
    assert seq.forward(np.zeros((2, 5, 4), np.float32)).shape == (2, 5, 6)


@pytest.mark.parametrize(
    "loss, formula",
    [
        (MSE(), lambda p, t: 0.5 * np.sum((p - t) ** 2) / len(p)),
        (MAE(), lambda p, t: np.sum(np.abs(p - t)) / len(p)),
        (
            Huber(delta=0.5),
            lambda p, t: np.sum(
                np.where(
                    np.abs(p - t) <= 0.5,
                    0.5 * (p - t) ** 2,
                    0.5 * (np.abs(p - t) - 0.25),
                )
            )
            / len(p),
        ),
        (
            SigmoidCrossEntropy(),
            lambda p, t: -np.sum(t * np.log(1 / (1 + np.exp(-p))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-p))))
            / len(p),
        ),
    ],
)
def test_losses_are_batch_means(loss, formula):
    model = Model(Net([Dense(3, 4)]), loss, SGD(), seed=4)
    x = np.random.randn(5, 3).astype(np.float32)
    t = np.random.rand(5, 4).astype(np.float32)
    pred = model.forward(x)
    value, _ = model.backward(pred, t)
    assert value == pytest.approx(formula(pred.astype(np.float64), t), rel=1e-4)


def test_weight_decay_shrinks_the_weights():
    x = np.random.randn(4, 3).astype(np.float32)
    t = np.zeros((4, 2), np.float32)
    plain = Model(Net([Dense(3, 2)]), MSE(), SGD(lr=0.1), seed=8)
    decayed = Model(Net([Dense(3, 2)]), MSE(), SGD(lr=0.1, weight_decay=0.5), seed=8)
    for m in (plain, decayed):
        m.apply_grad(m.backward(m.forward(x), t)[1])
    w_plain, w_decayed = plain.net.params[0]["w"], decayed.net.params[0]["w"]
    assert np.abs(w_decayed).sum() < np.abs(w_plain).sum()


def test_schedulers_set_the_optimizer_rate():
    opt = SGD(lr=1.0)
    step = StepLR(opt, step_size=2, gamma=0.5)
    assert [step.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    opt = Adam(lr=0.1)
    cosine = CosineLR(opt, total_steps=4)
    rates = [cosine.step() for _ in range(5)]
    expected = [0.05 * (1 + math.cos(math.pi * t / 4)) for t in (1, 2, 3, 4, 4)]
    assert rates == pytest.approx(expected)
    assert opt.lr == 0.0
    with pytest.raises(ValueError):
        CosineLR(opt, total_steps=0)


def test_batch_iterator_covers_every_sample_once():
    x = np.arange(10).reshape(10, 1)
    y = np.arange(10) * 2
    batches = list(BatchIterator(batch_size=4)(x, y))
    assert [len(b.inputs) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b.inputs[:, 0] for b in batches])
    assert sorted(seen) == list(range(10))
    for b in batches:
        np.testing.assert_array_equal(b.targets, b.inputs[:, 0] * 2)
    ordered = list(BatchIterator(batch_size=3, shuffle=False)(x, y))
    np.testing.assert_array_equal(ordered[0].inputs[:, 0], [0, 1, 2])
    with pytest.raises(ValueError):
        list(BatchIterator()(x, y[:3]))


def test_accuracy_in_tinynns_form():
    assert accuracy(np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0])) == {
        "total_num": 4,
        "hit_num": 2,
        "accuracy": 0.5,
    }


def test_idx_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    with gzip.open(tmp_path / "imgs.gz", "wb") as f:
        f.write(header + images.tobytes())
    np.testing.assert_array_equal(load_idx(str(tmp_path / "imgs")), images)
    (tmp_path / "short").write_bytes(header + images.tobytes()[:-1])
    with pytest.raises(ValueError, match="expected 24"):
        load_idx(str(tmp_path / "short"))
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="not an IDX"):
        load_idx(str(tmp_path / "bad"))


def test_net_refuses_what_is_not_a_layer_and_builds_report_errors():
    with pytest.raises(TypeError):
        Net([Dense(3), "relu"])
    with pytest.raises(Error) as e:
        Model(Net([Conv2D(kernel=(3, 3, 1, 2))]), MSE(), SGD()).forward(np.ones((1, 9), np.float32))
    assert e.value.status == Status.INVALID_ARGUMENT
    assert "layer 0 (Conv2D)" in e.value.message and "[height, width, channels]" in e.value.message
    with pytest.raises(Error) as e:
        Model(Net([Dense(3)]), MSE(), SGD(lr=-1)).forward(np.ones((1, 9), np.float32))
    assert e.value.status == Status.INVALID_ARGUMENT and "learning rate" in e.value.message


def test_a_missing_library_is_reported_with_where_it_was_looked_for(tmp_path):
    missing = str(tmp_path / "libnanonn.so")
    code = "import nanonn\ntry:\n    nanonn.version()\nexcept nanonn.LibraryNotFound as e:\n    print(e)\n"
    env = dict(os.environ, NANONN_LIB=missing)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, check=True, cwd=str(tmp_path)
    ).stdout.decode()
    assert "libnanonn not found" in out and missing in out
    assert os.path.isfile(nanonn.library_path())
