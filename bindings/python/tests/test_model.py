"""Model: tinynn's forward / backward / apply_grad against numpy formulas, batch growth,
phases, errors, model files, parameters."""

import numpy as np
import pytest

import nanonn
from nanonn import (
    MSE,
    SGD,
    Adam,
    Dense,
    Dropout,
    Error,
    Model,
    Net,
    ReLU,
    SoftmaxCrossEntropy,
    Status,
)

from conftest import mlp_reference


def mlp(batch_size=None, seed=7, lr=1e-3, opt=None):
    net = Net([Dense(6), ReLU(), Dense(3)])
    return Model(
        net=net,
        loss=SoftmaxCrossEntropy(),
        optimizer=opt or Adam(lr=lr),
        batch_size=batch_size,
        seed=seed,
    )


def data(n=8, d=5, classes=3):
    x = np.random.randn(n, d).astype(np.float32)
    y = np.random.randint(0, classes, size=n)
    return x, y


def test_forward_backward_match_numpy():
    model = mlp()
    x, y = data()
    pred = model.forward(x)
    assert pred.shape == (8, 3) and pred.dtype == np.float32
    logits, loss, grads = mlp_reference(model.net.params, x, np.eye(3)[y])
    np.testing.assert_allclose(pred, logits, rtol=1e-5, atol=1e-5)
    value, token = model.backward(pred, y)
    assert value == pytest.approx(loss, rel=1e-5)
    flat = token.values
    ours = []
    offset = 0
    for layer_params in model.net.params:
        got = {}
        for name, array in layer_params.items():
            got[name] = flat[offset : offset + array.size].reshape(array.shape)
            offset += array.size
        ours.append(got)
    assert offset == flat.size == 5 * 6 + 6 + 6 * 3 + 3
    for want, got in zip(grads, ours):
        assert set(want) == set(got)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-6)


def test_one_hot_targets_equal_class_indices():
    a, b = mlp(seed=3), mlp(seed=3)
    x, y = data()
    la, ga = a.backward(a.forward(x), y)
    lb, gb = b.backward(b.forward(x), np.eye(3, dtype=np.float32)[y])
    assert la == pytest.approx(lb, rel=1e-6)
    np.testing.assert_allclose(ga.values, gb.values, rtol=1e-5, atol=1e-7)
    # A column of labels works too.
    lc, _ = a.backward(a.forward(x), y.reshape(-1, 1))
    assert lc == pytest.approx(la, rel=1e-6)


def test_sgd_step_is_params_minus_lr_times_grads():
    model = mlp(opt=SGD(lr=0.5))
    x, y = data()
    pred = model.forward(x)
    before = model.get_params()
    _, grads = model.backward(pred, y)
    g = grads.values
    model.apply_grad(grads)
    np.testing.assert_allclose(model.get_params(), before - 0.5 * g, rtol=1e-6, atol=1e-7)
    assert model.steps == 1


def test_first_adam_step_moves_each_weight_by_lr():
    # After one step Adam's bias-corrected moments are g and g*g: the step is lr * g / |g|.
    model = mlp(lr=0.01)
    x, y = data()
    pred = model.forward(x)
    before = model.get_params()
    _, grads = model.backward(pred, y)
    g = grads.values
    model.apply_grads(grads)
    moved = before - model.get_params()
    big = np.abs(g) > 1e-4
    np.testing.assert_allclose(moved[big], 0.01 * np.sign(g[big]), rtol=1e-3)


def test_optimizer_lr_is_read_at_every_step():
    model = mlp(opt=SGD(lr=0.1))
    x, y = data()
    model.optimizer.lr = 0.0
    pred = model.forward(x)
    before = model.get_params()
    model.apply_grad(model.backward(pred, y)[1])
    np.testing.assert_array_equal(model.get_params(), before)
    model.optimizer.lr = 0.1
    _, grads = model.backward(model.forward(x), y)
    g = grads.values
    model.apply_grad(grads)
    np.testing.assert_allclose(model.get_params(), before - 0.1 * g, rtol=1e-6, atol=1e-7)


def test_training_learns_a_separable_problem():
    x = np.random.randn(64, 2).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR of the signs
    model = Model(Net([Dense(2, 16), ReLU(), Dense(16, 2)]), SoftmaxCrossEntropy(), Adam(0.02), seed=1)
    first = None
    for _ in range(400):
        loss, grads = model.backward(model.forward(x), y)
        model.apply_grad(grads)
        first = loss if first is None else first
    assert loss < first / 5
    _, acc = model.evaluate(x, y)
    assert acc >= 0.95
    model.set_phase("TEST")
    assert (np.argmax(model.forward(x), axis=1) == y).mean() == acc


def test_dense_sizes_inferred_or_given():
    for layers in (
        [Dense(4), ReLU(), Dense(2)],
        [Dense(3, 4), ReLU(), Dense(4, 2)],
        [Dense(num_out=4), ReLU(), Dense(num_in=4, num_out=2)],
    ):
        model = Model(Net(layers), MSE(), SGD())
        out = model.forward(np.ones((5, 3), np.float32))
        assert out.shape == (5, 2)
        assert model.input_shape == (3,) and model.output_shape == (2,)
        assert [sorted(p) for p in model.net.params] == [["b", "w"], [], ["b", "w"]]
        assert model.net.params[0]["w"].shape == (3, 4)
    with pytest.raises(Error) as e:
        Model(Net([Dense(7, 4)]), MSE(), SGD()).forward(np.ones((2, 3), np.float32))
    assert e.value.status == Status.SHAPE_MISMATCH
    assert "[3]" in e.value.message and "[7]" in e.value.message


def test_batch_grows_and_keeps_the_training_state():
    x, y = data(n=12)
    grown, fixed = mlp(seed=11), mlp(seed=11, batch_size=12)
    for rows in (slice(0, 4), slice(0, 12), slice(4, 8)):
        for m in (grown, fixed):
            m.apply_grad(m.backward(m.forward(x[rows]), y[rows])[1])
    assert grown.batch_size == 12 and fixed.batch_size == 12
    assert grown.steps == fixed.steps == 3
    np.testing.assert_array_equal(grown.get_params(), fixed.get_params())


def test_a_fixed_batch_size_refuses_larger_training_batches():
    model = mlp(batch_size=4)
    x, y = data(n=9)
    with pytest.raises(Error) as e:
        model.forward(x)
    assert e.value.status == Status.BATCH_TOO_LARGE
    model.set_phase("TEST")
    assert model.forward(x).shape == (9, 3)  # evaluation takes any number of samples
    assert model.batch_size == 4


def test_stale_or_foreign_gradients_are_refused():
    a, b = mlp(), mlp()
    x, y = data()
    _, g1 = a.backward(a.forward(x), y)
    _, g2 = a.backward(a.forward(x), y)
    with pytest.raises(Error) as e:
        a.apply_grad(g1)
    assert e.value.status == Status.INVALID_STATE and "stale" in e.value.message
    with pytest.raises(Error):
        g1.values
    with pytest.raises(TypeError):
        b.apply_grad(g2)
    with pytest.raises(TypeError):
        a.apply_grad(None)
    a.apply_grad(g2)


def test_bad_input_is_an_error_with_nanonns_message():
    model = mlp()
    x, y = data()
    with pytest.raises(Error) as e:
        model.backward(None, y)
    assert e.value.status == Status.INVALID_STATE
    pred = model.forward(x)
    with pytest.raises(Error) as e:
        model.forward(np.ones((2, 4), np.float32))
    assert e.value.status == Status.SHAPE_MISMATCH
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(Error) as e:
        model.forward(bad)
    assert e.value.status == Status.NON_FINITE and e.value.message
    model.forward(x)
    with pytest.raises(Error) as e:
        model.backward(pred, np.full(8, 3))
    assert e.value.status == Status.LABEL_OUT_OF_RANGE and "3" in e.value.message
    with pytest.raises(Error) as e:
        model.backward(pred, np.full(8, -1))
    assert e.value.status == Status.LABEL_OUT_OF_RANGE
    with pytest.raises(Error) as e:
        model.backward(pred, y[:5])
    assert e.value.status == Status.LENGTH_MISMATCH
    with pytest.raises(Error) as e:
        model.backward(pred, np.zeros((4, 3), np.float32))
    assert e.value.status == Status.SHAPE_MISMATCH
    with pytest.raises(Error) as e:
        model.backward(pred[:3], y)
    assert e.value.status == Status.LENGTH_MISMATCH
    with pytest.raises(Error) as e:
        model.forward(np.ones(5, np.float32))
    assert e.value.status == Status.SHAPE_MISMATCH
    # After evaluation the training step must start again with a forward.
    model.set_phase("TEST")
    test_pred = model.forward(x)
    with pytest.raises(Error) as e:
        model.backward(test_pred, y)
    assert e.value.status == Status.INVALID_STATE
    with pytest.raises(ValueError):
        model.set_phase("EVAL")
    assert str(e.value).startswith("INVALID_STATE: ")


def test_dropout_is_active_only_in_training():
    net = Net([Dense(20, 50), Dropout(keep_prob=0.5)])
    model = Model(net, MSE(), SGD(), seed=5)
    x = np.random.rand(4, 20).astype(np.float32)
    model.set_phase("TEST")
    clean = model.forward(x)
    p = model.net.params[0]
    np.testing.assert_allclose(clean, x @ p["w"] + p["b"], rtol=1e-5, atol=1e-5)
    model.set_phase("TRAIN")
    train = model.forward(x)
    dropped = train == 0
    assert 0.2 < dropped.mean() < 0.8
    np.testing.assert_allclose(train[~dropped], 2 * clean[~dropped], rtol=1e-5, atol=1e-5)
    assert model.net.get_phase() == "TRAIN"


def test_weights_file_round_trip_into_an_unbuilt_model(tmp_path):
    model = mlp(seed=2)
    x, y = data()
    for _ in range(3):
        model.apply_grad(model.backward(model.forward(x), y)[1])
    path = tmp_path / "mlp.nnf"
    model.save(str(path))
    fresh = mlp(seed=99)
    fresh.load(str(path))  # built for the file's input shape before any forward
    assert fresh.input_shape == (5,)
    np.testing.assert_array_equal(fresh.get_params(), model.get_params())
    model.set_phase("TEST")
    fresh.set_phase("TEST")
    # (Predictions may differ in the last bit: the GEMM kernel depends on the planned batch.)
    np.testing.assert_allclose(fresh.forward(x), model.forward(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(Error) as e:
        Model(Net([Dense(6), ReLU(), Dense(4)]), SoftmaxCrossEntropy(), Adam()).load(str(path))
    assert e.value.status == Status.FILE_MISMATCH
    with pytest.raises(Error) as e:
        fresh.load(str(tmp_path / "missing.nnf"))
    assert e.value.status == Status.IO


def test_checkpoint_resumes_training_bit_for_bit(tmp_path):
    x, y = data(n=16)
    a, b = mlp(seed=4), mlp(seed=4)

    def step(m, rows):
        m.apply_grad(m.backward(m.forward(x[rows]), y[rows])[1])

    for m in (a, b):
        step(m, slice(0, 8))
    path = str(tmp_path / "ckpt.nnf")
    a.save(path, checkpoint=True)
    resumed = mlp(seed=1)
    resumed.forward(x[:8])
    resumed.load(path, checkpoint=True)
    assert resumed.steps == 1
    for m in (b, resumed):
        step(m, slice(8, 16))
        step(m, slice(0, 8))
    np.testing.assert_array_equal(resumed.get_params(), b.get_params())


def test_params_can_be_assigned():
    model = mlp()
    model.forward(np.zeros((1, 5), np.float32))
    params = model.net.params
    params[0]["w"] = np.arange(30, dtype=np.float32).reshape(5, 6)
    params[2]["b"] = np.array([1, 2, 3], np.float32)
    model.net.params = params
    again = model.net.params
    np.testing.assert_array_equal(again[0]["w"], params[0]["w"])
    np.testing.assert_array_equal(again[2]["b"], [1, 2, 3])
    flat = model.get_params()
    np.testing.assert_array_equal(flat[:30], np.arange(30))
    model.net.params = np.zeros_like(flat)
    assert not model.get_params().any()
    params[0]["w"] = np.zeros((6, 5), np.float32)
    with pytest.raises(Error) as e:
        model.net.params = params
    assert e.value.status == Status.SHAPE_MISMATCH
    with pytest.raises(Error):
        model.set_params(np.zeros(5, np.float32))
    with pytest.raises(Error):
        Net([Dense(2)]).params  # not attached to a model
    with pytest.raises(Error) as e:
        mlp().get_params()
    assert e.value.status == Status.INVALID_STATE


def test_seeds_repeat():
    x, _ = data()
    a, b, c = mlp(seed=5), mlp(seed=5), mlp(seed=6)
    assert np.array_equal(a.forward(x), b.forward(x))
    assert not np.array_equal(a.forward(x), c.forward(x))
    nanonn.random_seed(3)
    d = mlp(seed=None)
    nanonn.random_seed(3)
    e = mlp(seed=None)
    assert d.seed == e.seed


def test_evaluation_first_plans_pieces_not_the_whole_data_set():
    model = mlp()
    x, y = data(n=300)
    model.set_phase("TEST")
    assert model.forward(x).shape == (300, 3)
    assert model.batch_size == 256
    loss, acc = model.evaluate(x, y)
    assert 0.0 <= acc <= 1.0 and loss > 0
    model.set_phase("TRAIN")
    model.apply_grad(model.backward(model.forward(x), y)[1])
    assert model.batch_size == 300
