#!/usr/bin/env python3
"""PyTorch-layout safetensors files for tests/format_safetensors.rs, with numpy only (no torch).

    python3 safetensors_interop.py make DIR
        for each model M below, writes what torch.nn.Sequential(...).state_dict() would hold:
        DIR/torch_M.safetensors        float32 state_dict
        DIR/torch_M_f16.safetensors    the same weights as float16
        DIR/torch_M_expected.safetensors   x (nanonn's NHWC layout), y, y_f16
    python3 safetensors_interop.py check DIR
        reads DIR/nanonn_M.safetensors and DIR/nanonn_M_expected.safetensors (x, y) written
        by nanonn, checks names and shapes, and nanonn's predictions against numpy's.

Module i of the nn.Sequential is nanonn layer i; modules without tensors (activations,
pooling, Flatten) take up an index. Images are NCHW here and NHWC in nanonn. The reference
forward passes below are written from PyTorch's documented formulas, in float64.

Requires: pip install numpy safetensors
"""
import math
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

MODELS = {
    # name: (per-sample input shape as nanonn sees it, layers)
    "mlp": ((5,), [
        ("linear", 5, 8), ("tanh",), ("linear", 8, 7), ("relu",), ("linear", 7, 6),
        ("leaky_relu", 0.1), ("linear", 6, 6), ("sigmoid",), ("linear", 6, 6), ("softplus",),
        ("linear", 6, 6), ("elu", 0.7), ("linear", 6, 6), ("gelu",), ("linear", 6, 3),
    ]),
    # Conv2d(2, 3, 3, padding=1), BatchNorm2d(3), ReLU, MaxPool2d(2),
    # ConvTranspose2d(3, 2, 2, stride=2), Conv2d(2, 4, 2, stride=2, bias=False), Flatten,
    # Linear(36, 5), Tanh, Linear(5, 3)
    "cnn": ((6, 6, 2), [
        ("conv", 2, 3, 3, 1, 1, True), ("batchnorm", 3), ("relu",), ("maxpool", 2),
        ("convt", 3, 2, 2, 2), ("conv", 2, 4, 2, 2, 0, False), ("flatten",),
        ("linear", 36, 5), ("tanh",), ("linear", 5, 3),
    ]),
    # RNN(3, 4) returning every step, LSTM(4, 3) returning the last one, Linear(3, 2)
    "rnn": ((5, 3), [("rnn", 3, 4, True), ("lstm", 4, 3, False), ("linear", 3, 2)]),
}

ERF = np.vectorize(math.erf)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def activation(kind, x):
    name = kind[0]
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, kind[1] * x)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "softplus":
        return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)
    if name == "elu":
        return np.where(x > 0, x, kind[1] * np.expm1(x))
    if name == "gelu":
        return 0.5 * x * (1.0 + ERF(x / math.sqrt(2.0)))
    raise ValueError(name)


def conv2d(x, w, b, stride, pad):
    """nn.Conv2d: x [N, C, H, W], w [O, C, KH, KW]."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return y if b is None else y + b[None, :, None, None]


def conv_transpose2d(x, w, b, stride):
    """nn.ConvTranspose2d: x [N, C, H, W], w [C, O, KH, KW], no padding."""
    n, _, h, wd = x.shape
    _, o, kh, kw = w.shape
    y = np.zeros((n, o, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            y[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w)
    return y + b[None, :, None, None]


def recurrent(kind, state, p, x):
    """nn.RNN / nn.LSTM, batch_first, zero initial state: x [N, T, F]."""
    w_ih, w_hh = state[p + "weight_ih_l0"], state[p + "weight_hh_l0"]
    b = state[p + "bias_ih_l0"] + state[p + "bias_hh_l0"]
    n, t, _ = x.shape
    hsz = w_hh.shape[1]
    h, c, outs = np.zeros((n, hsz)), np.zeros((n, hsz)), []
    for s in range(t):
        z = x[:, s] @ w_ih.T + h @ w_hh.T + b
        if kind[0] == "rnn":
            h = np.tanh(z)
        else:
            i, f, g, o = np.split(z, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, axis=1) if kind[3] else h


def forward(layers, state, x):
    """nn.Sequential forward in float64 on NCHW (or [N, T, F], [N, F]) input."""
    state = {k: v.astype(np.float64) for k, v in state.items()}
    h = x.astype(np.float64)
    for i, kind in enumerate(layers):
        p = f"{i}."
        name = kind[0]
        if name == "linear":
            h = h @ state[p + "weight"].T + state[p + "bias"]
        elif name == "conv":
            h = conv2d(h, state[p + "weight"], state.get(p + "bias"), kind[4], kind[5])
        elif name == "convt":
            h = conv_transpose2d(h, state[p + "weight"], state[p + "bias"], kind[4])
        elif name == "batchnorm":
            shape = (1, -1, 1, 1)
            mean, var = state[p + "running_mean"].reshape(shape), state[p + "running_var"].reshape(shape)
            h = (h - mean) / np.sqrt(var + 1e-5) * state[p + "weight"].reshape(shape) + state[p + "bias"].reshape(shape)
        elif name == "maxpool":
            k = kind[1]
            n, c, hh, ww = h.shape
            h = h.reshape(n, c, hh // k, k, ww // k, k).max(axis=(3, 5))
        elif name == "flatten":
            h = h.reshape(h.shape[0], -1)
        elif name in ("rnn", "lstm"):
            h = recurrent(kind, state, p, h)
        else:
            h = activation(kind, h)
    return h


def shapes(layers):
    """The state_dict keys and shapes of the model."""
    out = {}
    for i, kind in enumerate(layers):
        p, name = f"{i}.", kind[0]
        if name == "linear":
            out[p + "weight"], out[p + "bias"] = (kind[2], kind[1]), (kind[2],)
        elif name == "conv":
            out[p + "weight"] = (kind[2], kind[1], kind[3], kind[3])
            if kind[6]:
                out[p + "bias"] = (kind[2],)
        elif name == "convt":
            out[p + "weight"], out[p + "bias"] = (kind[1], kind[2], kind[3], kind[3]), (kind[2],)
        elif name == "batchnorm":
            for k in ("weight", "bias", "running_mean", "running_var"):
                out[p + k] = (kind[1],)
        elif name in ("rnn", "lstm"):
            g = kind[2] * (4 if name == "lstm" else 1)
            out[p + "weight_ih_l0"], out[p + "weight_hh_l0"] = (g, kind[1]), (g, kind[2])
            out[p + "bias_ih_l0"], out[p + "bias_hh_l0"] = (g,), (g,)
    return out


def to_torch(x):
    """nanonn's NHWC images to NCHW; other inputs are the same."""
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def make(out):
    rng = np.random.default_rng(12345)
    for model, (sample, layers) in MODELS.items():
        state = {}
        for key, shape in shapes(layers).items():
            if key.endswith("running_var"):
                state[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
            else:
                state[key] = rng.uniform(-0.6, 0.6, shape).astype(np.float32)
        x = rng.normal(0.0, 1.5, (7,) + sample).astype(np.float32)
        half = {k: v.astype(np.float16) for k, v in state.items()}
        save_file(state, f"{out}/torch_{model}.safetensors", metadata={"format": "pt"})
        save_file(half, f"{out}/torch_{model}_f16.safetensors", metadata={"format": "pt"})
        save_file({
            "x": x,
            "y": forward(layers, state, to_torch(x)).astype(np.float32),
            "y_f16": forward(layers, half, to_torch(x)).astype(np.float32),
        }, f"{out}/torch_{model}_expected.safetensors")
    print("made", ", ".join(MODELS), "in", out)


def check(out):
    for model, (_, layers) in MODELS.items():
        state = load_file(f"{out}/nanonn_{model}.safetensors")
        want = shapes(layers)
        got = {k: tuple(v.shape) for k, v in state.items()}
        if got != want:
            sys.exit(f"{model}: state_dict differs:\n got  {sorted(got.items())}\n want {sorted(want.items())}")
        for k, v in state.items():
            if v.dtype != np.float32:
                sys.exit(f"{model}: {k} has dtype {v.dtype}, expected float32")
        data = load_file(f"{out}/nanonn_{model}_expected.safetensors")
        y = forward(layers, state, to_torch(data["x"]))
        err = np.max(np.abs(y - data["y"]) / (1.0 + np.abs(y)))
        if not err < 1e-5:
            sys.exit(f"{model}: nanonn's predictions differ from numpy's by {err}")
        print(f"{model}: ok, {len(state)} tensors, max relative error {err:.1e}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else check)(sys.argv[2])
