"""Layers, named and configured as in tinynn (``tinynn.core.layer``).

A layer here is a description: the model adds it to a C network when it is built (at the
first ``forward``, when the input shape is known), so sizes tinynn infers from the data
(``Dense(400)``'s input width, ``BatchNormalization``'s channels, an RNN's input size) are
inferred the same way. Shapes are per sample; images are NHWC (``[height, width,
channels]``), as tinynn.

``Dense`` takes tinynn's ``Dense(num_out)`` and also ``Dense(num_in, num_out)`` with the input
width first (as nanonn's Rust and C APIs and PyTorch's ``nn.Linear``); tinynn's keyword
``num_out=`` is accepted, and ``num_in=`` too.
"""

import ctypes

from .. import _lib
from .._lib import Status

__all__ = [
    "Layer",
    "Dense",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "ELU",
    "GELU",
    "Conv2D",
    "ConvTranspose2D",
    "MaxPool2D",
    "AvgPool2D",
    "GlobalAvgPool2D",
    "Flatten",
    "Reshape",
    "Dropout",
    "BatchNormalization",
    "RNN",
    "LSTM",
]


def _pair(value, what):
    if isinstance(value, int):
        return value, value
    value = tuple(value)
    if len(value) != 2:
        raise ValueError("%s must be an int or a pair, not %r" % (what, value))
    return int(value[0]), int(value[1])


def _padding(padding):
    """``(kind, (top, bottom, left, right))`` from "SAME", "VALID" or four explicit pads."""
    if isinstance(padding, str):
        kinds = {"VALID": 0, "SAME": 1}
        if padding.upper() not in kinds:
            raise ValueError('padding must be "SAME", "VALID" or (top, bottom, left, right)')
        return kinds[padding.upper()], (0, 0, 0, 0)
    pads = tuple(int(p) for p in padding)
    if len(pads) != 4:
        raise ValueError("explicit padding is (top, bottom, left, right), not %r" % (padding,))
    return 2, pads


def _sizes(*values):
    for v in values:
        if int(v) < 0:
            raise _lib.error(Status.INVALID_ARGUMENT, "a size cannot be negative: %r" % (v,))
    return [int(v) for v in values]


class Layer:
    """A layer description. Subclasses implement ``_add(builder, in_shape)``: add the layer to
    the C builder for per-sample input shape ``in_shape`` and return the names and shapes of
    its parameters, in their order in the flat parameter array (``{}`` when it has none)."""

    def _add(self, builder, in_shape):
        raise NotImplementedError

    @property
    def name(self):
        return self.__class__.__name__

    def __repr__(self):
        fields = ", ".join("%s=%r" % kv for kv in vars(self).items() if not kv[0].startswith("_"))
        return "%s(%s)" % (self.name, fields)


class Dense(Layer):
    """Fully connected: ``y = x @ w + b`` with ``w`` of shape ``(num_in, num_out)``
    (Xavier-uniform initialisation, zero bias, as tinynn). The input must be a vector per
    sample (put ``Flatten()`` after convolutions)."""

    def __init__(self, *sizes, num_out=None, num_in=None):
        if len(sizes) > 2:
            raise TypeError("Dense(num_out) or Dense(num_in, num_out)")
        if len(sizes) == 2:
            num_in, num_out = sizes
        elif len(sizes) == 1:
            num_out = sizes[0]
        if num_out is None:
            raise TypeError("Dense needs num_out")
        self.num_in = None if num_in is None else _sizes(num_in)[0]
        self.num_out = _sizes(num_out)[0]

    def _add(self, builder, in_shape):
        num_in = self.num_in
        if num_in is None:
            # tinynn takes the input's width; a non-vector input is left for nanonn to refuse
            # with its own message.
            num_in = in_shape[0] if len(in_shape) == 1 else _prod(in_shape)
        builder.call("nanonn_net_builder_add_dense", num_in, self.num_out)
        return {"w": (num_in, self.num_out), "b": (self.num_out,)}


class Activation(Layer):
    """An elementwise activation (``kind`` is a ``NanonnActivation`` value)."""

    _kind = None
    _param = 0.0

    def _add(self, builder, in_shape):
        builder.call("nanonn_net_builder_add_activation", self._kind, float(self._param))
        return {}


class ReLU(Activation):
    """``max(x, 0)``."""

    _kind = 0


class LeakyReLU(Activation):
    """``x`` if ``x > 0`` else ``slope * x`` (tinynn's default slope: 0.2)."""

    _kind = 1

    def __init__(self, slope=0.2):
        self.slope = self._param = float(slope)


class Sigmoid(Activation):
    """``1 / (1 + exp(-x))``."""

    _kind = 2


class Tanh(Activation):
    """``tanh(x)``."""

    _kind = 3


class Softplus(Activation):
    """``log(1 + exp(x))``."""

    _kind = 4


class ELU(Activation):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""

    _kind = 5

    def __init__(self, alpha=1.0):
        self.alpha = self._param = float(alpha)


class GELU(Activation):
    """``x * Phi(x)`` (the exact GELU)."""

    _kind = 6


class Conv2D(Layer):
    """2-D convolution on NHWC images. ``kernel`` is tinynn's ``(k_h, k_w, in_channels,
    out_channels)``; ``padding`` "SAME" (tinynn's default), "VALID" or ``(top, bottom, left,
    right)``. Weights ``w`` have the kernel's shape."""

    _add_fn = "nanonn_net_builder_add_conv2d"

    def __init__(self, kernel, stride=(1, 1), padding="SAME", dilation=(1, 1), bias=True):
        kernel = tuple(int(k) for k in kernel)
        if len(kernel) != 4:
            raise ValueError("kernel is (k_h, k_w, in_channels, out_channels), not %r" % (kernel,))
        self.kernel = kernel
        self.stride = _pair(stride, "stride")
        self.padding = padding
        self.dilation = _pair(dilation, "dilation")
        self.bias = bool(bias)
        _padding(padding)

    def _config(self):
        k_h, k_w, c_in, c_out = _sizes(*self.kernel)
        kind, (top, bottom, left, right) = _padding(self.padding)
        return _lib.Conv2dConfig(
            in_channels=c_in,
            out_channels=c_out,
            kernel_h=k_h,
            kernel_w=k_w,
            stride_h=_sizes(self.stride[0])[0],
            stride_w=_sizes(self.stride[1])[0],
            dilation_h=_sizes(self.dilation[0])[0],
            dilation_w=_sizes(self.dilation[1])[0],
            padding=kind,
            pad_top=top,
            pad_bottom=bottom,
            pad_left=left,
            pad_right=right,
            no_bias=0 if self.bias else 1,
        )

    def _add(self, builder, in_shape):
        config = self._config()
        builder.call(self._add_fn, ctypes.byref(config))
        shapes = {"w": self.kernel}
        if self.bias:
            shapes["b"] = (self.kernel[3],)
        return shapes


class ConvTranspose2D(Conv2D):
    """2-D transposed convolution; ``kernel`` ``(k_h, k_w, in_channels, out_channels)``.
    "SAME" multiplies the size by the stride (tinynn); ``output_padding`` adds rows and
    columns at the bottom and right."""

    _add_fn = "nanonn_net_builder_add_conv_transpose2d"

    def __init__(self, kernel, stride=(1, 1), padding="SAME", output_padding=(0, 0), bias=True):
        super().__init__(kernel, stride, padding, (1, 1), bias)
        self.output_padding = _pair(output_padding, "output_padding")

    def _config(self):
        config = super()._config()
        config.output_padding_h, config.output_padding_w = _sizes(*self.output_padding)
        return config


class MaxPool2D(Layer):
    """2-D max pooling; ``pool_size`` and ``stride`` ``(height, width)`` (stride defaults to
    the pool size), ``padding`` as :class:`Conv2D` (tinynn's default "VALID")."""

    _add_fn = "nanonn_net_builder_add_max_pool2d"

    def __init__(self, pool_size, stride=None, padding="VALID"):
        self.pool_size = _pair(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else _pair(stride, "stride")
        self.padding = padding
        _padding(padding)

    def _add(self, builder, in_shape):
        kind, (top, bottom, left, right) = _padding(self.padding)
        k_h, k_w, s_h, s_w = _sizes(*self.pool_size, *self.stride)
        config = _lib.Pool2dConfig(
            kernel_h=k_h,
            kernel_w=k_w,
            stride_h=s_h,
            stride_w=s_w,
            padding=kind,
            pad_top=top,
            pad_bottom=bottom,
            pad_left=left,
            pad_right=right,
        )
        builder.call(self._add_fn, ctypes.byref(config))
        return {}


class AvgPool2D(MaxPool2D):
    """2-D average pooling (padding positions are not counted in a mean)."""

    _add_fn = "nanonn_net_builder_add_avg_pool2d"


class GlobalAvgPool2D(Layer):
    """``[H, W, C]`` to ``[C]``: the mean of each channel."""

    def _add(self, builder, in_shape):
        builder.call("nanonn_net_builder_add_global_avg_pool2d")
        return {}


class Flatten(Layer):
    """Each sample to a vector."""

    def _add(self, builder, in_shape):
        builder.call("nanonn_net_builder_add_flatten")
        return {}


class Reshape(Layer):
    """Each sample to ``output_shape`` (1 to 3 dimensions; one of them may be -1)."""

    def __init__(self, *output_shape):
        if len(output_shape) == 1 and not isinstance(output_shape[0], int):
            output_shape = tuple(output_shape[0])
        self.output_shape = tuple(int(d) for d in output_shape)

    def _add(self, builder, in_shape):
        dims = list(self.output_shape)
        if dims.count(-1) == 1:
            known = _prod(d for d in dims if d != -1)
            if known > 0 and _prod(in_shape) % known == 0:
                dims[dims.index(-1)] = _prod(in_shape) // known
        dims = _sizes(*dims)
        array = (ctypes.c_size_t * max(len(dims), 1))(*dims)
        builder.call("nanonn_net_builder_add_reshape", array, len(dims))
        return {}


class Dropout(Layer):
    """Inverted dropout keeping each value with probability ``keep_prob`` (tinynn's
    convention), active only in the "TRAIN" phase."""

    def __init__(self, keep_prob=0.5):
        self.keep_prob = float(keep_prob)

    def _add(self, builder, in_shape):
        builder.call("nanonn_net_builder_add_dropout", self.keep_prob)
        return {}


class BatchNormalization(Layer):
    """Batch normalisation over the last dimension (features, or channels of NHWC images).
    ``momentum`` is the weight of the old running value (tinynn: 0.99)."""

    def __init__(self, momentum=0.99, epsilon=1e-5):
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def _add(self, builder, in_shape):
        channels = in_shape[-1]
        builder.call("nanonn_net_builder_add_batch_norm", channels, self.momentum, self.epsilon)
        return {"gamma": (channels,), "beta": (channels,)}


class RNN(Layer):
    """An Elman (tanh) RNN over ``[T, features]`` sequences (nanonn's RNN): the last hidden
    state ``[num_hidden]``, or every one (``return_sequences=True``) ``[T, num_hidden]``."""

    _add_fn = "nanonn_net_builder_add_rnn"

    def __init__(self, num_hidden, return_sequences=False):
        self.num_hidden = _sizes(num_hidden)[0]
        self.return_sequences = bool(return_sequences)

    def _add(self, builder, in_shape):
        builder.call(self._add_fn, in_shape[-1], self.num_hidden, int(self.return_sequences))
        return {"params": None}


class LSTM(RNN):
    """An LSTM over ``[T, features]`` sequences (forget-gate bias 1.0)."""

    _add_fn = "nanonn_net_builder_add_lstm"


def _prod(values):
    out = 1
    for v in values:
        out *= int(v)
    return out
