"""Net: a list of layers (tinynn's ``tinynn.core.net.Net``), and the C network builder it
becomes when a model is built."""

import ctypes
import os

from .. import _lib
from .._lib import Status
from .layer import Layer

__all__ = ["Net"]


class Builder:
    """Owns a ``NanonnNetBuilder``."""

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def new(cls, input_shape):
        dims = [int(d) for d in input_shape]
        if not 1 <= len(dims) <= 3 or min(dims) < 1:
            raise _lib.error(
                Status.SHAPE_MISMATCH,
                "a sample must have 1 to 3 dimensions, each at least 1, not %r"
                % (tuple(input_shape),),
            )
        handle = ctypes.c_void_p()
        array = (ctypes.c_size_t * len(dims))(*dims)
        _lib.check(_lib.lib().nanonn_net_builder_new(array, len(dims), ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def from_file(cls, path):
        handle = ctypes.c_void_p()
        _lib.check(_lib.lib().nanonn_net_builder_from_file(_path(path), ctypes.byref(handle)))
        return cls(handle)

    @property
    def handle(self):
        return self._handle

    def call(self, function, *args):
        """``function(builder, *args)``, raising :class:`nanonn.Error` on failure."""
        _lib.check(getattr(_lib.lib(), function)(self._handle, *args))

    def output_shape(self):
        dims = (ctypes.c_size_t * 3)()
        rank = ctypes.c_size_t()
        self.call("nanonn_net_builder_output_shape", dims, 3, ctypes.byref(rank))
        return tuple(dims[: rank.value])

    def layer_count(self):
        count = ctypes.c_size_t()
        self.call("nanonn_net_builder_layer_count", ctypes.byref(count))
        return count.value

    def close(self):
        if self._handle is not None and self._handle.value:
            _lib.lib().nanonn_net_builder_free(self._handle)
        self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass


def _path(path):
    return os.fsencode(os.fspath(path))


class Net:
    """The layers of a network, in order. Attached to a :class:`nanonn.Model`, it also gives
    the parameters (``net.params``) and the phase."""

    def __init__(self, layers):
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError("layer %d is %r, not a nanonn layer" % (i, layer))
        self._model = None
        self._phase = "TRAIN"

    def __repr__(self):
        return "\n".join(repr(layer) for layer in self.layers)

    def build(self, input_shape):
        """A C builder of these layers for samples of ``input_shape``, and the names and shapes
        of every layer's parameters."""
        builder = Builder.new(input_shape)
        shape = builder.output_shape()
        param_shapes = []
        for layer in self.layers:
            param_shapes.append(layer._add(builder, shape))
            shape = builder.output_shape()
        return builder, param_shapes

    def _attached(self):
        if self._model is None:
            raise _lib.error(Status.INVALID_STATE, "this Net is not part of a Model yet")
        return self._model

    @property
    def params(self):
        """The parameters: one dict per layer, name -> numpy array (a copy), e.g.
        ``{"w": (784, 400) array, "b": (400,) array}`` for a Dense layer, ``{}`` for a
        layer without parameters (RNN/LSTM: ``{"params": flat array}``). Assign the same
        structure (or one flat array) to replace them."""
        return self._attached().get_structured_params()

    @params.setter
    def params(self, values):
        self._attached().set_structured_params(values)

    def get_phase(self):
        return self._model.get_phase() if self._model is not None else self._phase

    def set_phase(self, phase):
        if self._model is not None:
            self._model.set_phase(phase)
        else:
            self._phase = _check_phase(phase)

    def init_params(self, input_shape):
        """Builds the attached model for samples of ``input_shape`` (tinynn initialises the
        parameters this way)."""
        self._attached().build(input_shape)


def _check_phase(phase):
    if phase not in ("TRAIN", "TEST"):
        raise ValueError('phase must be "TRAIN" or "TEST", not %r' % (phase,))
    return phase
