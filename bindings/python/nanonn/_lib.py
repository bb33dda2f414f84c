"""The shared library (libnanonn) through ctypes: finding it, the C prototypes, the structs,
and turning a failed call's status into a :class:`nanonn.Error`.

The prototypes below are the C declarations of ``include/nanonn.h`` (parameter names
included), parsed here into ctypes signatures; ``tests/test_header.py`` checks that they still
match the header, so a change in the C API cannot silently desynchronise the package.

Where the library is looked for, in order:

1. the file named by the environment variable ``NANONN_LIB`` (only there, if it is set);
2. next to this package (``pip install`` copies it there);
3. ``target/release/`` of the repository this package sits in (a source checkout after
   ``cargo build --release -p nanonn-capi``), then ``$CARGO_TARGET_DIR/release/``.
"""

import ctypes
import os
import re
import sys
from pathlib import Path

__all__ = ["Error", "Status", "lib", "library_path", "check", "LIBRARY_NAME"]

#: The file name of the shared library on this platform.
if sys.platform == "darwin":
    LIBRARY_NAME = "libnanonn.dylib"
elif os.name == "nt":
    LIBRARY_NAME = "nanonn.dll"
else:
    LIBRARY_NAME = "libnanonn.so"

#: The C API version this package speaks (``NANONN_VERSION_MAJOR/MINOR``).
API_VERSION = (0, 1)


class Status:
    """The C API's status codes (``NanonnStatus``)."""

    OK = 0
    NULL_POINTER = 1
    INVALID_ENUM = 2
    INVALID_ARGUMENT = 3
    SHAPE_MISMATCH = 4
    LENGTH_MISMATCH = 5
    BUFFER_TOO_SMALL = 6
    MISALIGNED = 7
    LABEL_OUT_OF_RANGE = 8
    NON_FINITE = 9
    CAPACITY_EXCEEDED = 10
    BATCH_TOO_LARGE = 11
    INVALID_STATE = 12
    FILE_INVALID = 13
    FILE_MISMATCH = 14
    IO = 15
    PANIC = 16

    @classmethod
    def name(cls, status):
        """``"SHAPE_MISMATCH"`` for 4, ``"UNKNOWN"`` for a number that is not a status."""
        for key, value in vars(cls).items():
            if key.isupper() and value == status:
                return key
        return "UNKNOWN"


class Error(Exception):
    """A failed nanonn call: ``status`` is the C status code (a :class:`Status` value),
    ``status_name`` its name, ``message`` what went wrong (nanonn's sentence)."""

    def __init__(self, status, message):
        super().__init__("%s: %s" % (Status.name(status), message))
        self.status = status
        self.status_name = Status.name(status)
        self.message = message


# --- structs (field for field as in nanonn.h) -------------------------------------------------

_size = ctypes.c_size_t
_u32 = ctypes.c_uint32
_f32 = ctypes.c_float


class Conv2dConfig(ctypes.Structure):
    """``NanonnConv2dConfig``."""

    _fields_ = [
        ("in_channels", _size),
        ("out_channels", _size),
        ("kernel_h", _size),
        ("kernel_w", _size),
        ("stride_h", _size),
        ("stride_w", _size),
        ("dilation_h", _size),
        ("dilation_w", _size),
        ("padding", _u32),
        ("pad_top", _size),
        ("pad_bottom", _size),
        ("pad_left", _size),
        ("pad_right", _size),
        ("output_padding_h", _size),
        ("output_padding_w", _size),
        ("no_bias", _u32),
    ]


class Pool2dConfig(ctypes.Structure):
    """``NanonnPool2dConfig``."""

    _fields_ = [
        ("kernel_h", _size),
        ("kernel_w", _size),
        ("stride_h", _size),
        ("stride_w", _size),
        ("padding", _u32),
        ("pad_top", _size),
        ("pad_bottom", _size),
        ("pad_left", _size),
        ("pad_right", _size),
    ]


class OptimizerConfig(ctypes.Structure):
    """``NanonnOptimizerConfig``."""

    _fields_ = [
        ("kind", _u32),
        ("lr", _f32),
        ("momentum", _f32),
        ("nesterov", _u32),
        ("rho", _f32),
        ("beta1", _f32),
        ("beta2", _f32),
        ("eps", _f32),
        ("weight_decay_kind", _u32),
        ("weight_decay", _f32),
    ]


class LossConfig(ctypes.Structure):
    """``NanonnLossConfig``."""

    _fields_ = [("kind", _u32), ("delta", _f32)]


class ModelInfo(ctypes.Structure):
    """``NanonnModelInfo``."""

    _fields_ = [
        ("input_rank", _size),
        ("input_dims", _size * 3),
        ("input_size", _size),
        ("output_rank", _size),
        ("output_dims", _size * 3),
        ("output_size", _size),
        ("batch_size", _size),
        ("layer_count", _size),
        ("param_count", _size),
        ("memory_bytes", _size),
        ("steps", ctypes.c_uint64),
        ("lr", _f32),
    ]


STRUCTS = {
    "NanonnConv2dConfig": Conv2dConfig,
    "NanonnPool2dConfig": Pool2dConfig,
    "NanonnOptimizerConfig": OptimizerConfig,
    "NanonnLossConfig": LossConfig,
    "NanonnModelInfo": ModelInfo,
}

# --- prototypes --------------------------------------------------------------------------------

#: The C declarations this package calls, exactly as in include/nanonn.h.
PROTOTYPES = """
const char *nanonn_version(void);
uint32_t nanonn_version_number(void);
const char *nanonn_last_error_message(void);
const char *nanonn_status_name(uint32_t status);
NanonnStatus nanonn_net_builder_new(const size_t *input_dims, size_t input_rank, NanonnNetBuilder **out);
void nanonn_net_builder_free(NanonnNetBuilder *builder);
NanonnStatus nanonn_net_builder_layer_count(const NanonnNetBuilder *builder, size_t *out);
NanonnStatus nanonn_net_builder_output_shape(const NanonnNetBuilder *builder, size_t *dims_out, size_t dims_len, size_t *rank_out);
NanonnStatus nanonn_net_builder_add_dense(NanonnNetBuilder *builder, size_t inputs, size_t outputs);
NanonnStatus nanonn_net_builder_add_activation(NanonnNetBuilder *builder, uint32_t activation, float param);
NanonnStatus nanonn_net_builder_add_conv2d(NanonnNetBuilder *builder, const NanonnConv2dConfig *config);
NanonnStatus nanonn_net_builder_add_conv_transpose2d(NanonnNetBuilder *builder, const NanonnConv2dConfig *config);
NanonnStatus nanonn_net_builder_add_max_pool2d(NanonnNetBuilder *builder, const NanonnPool2dConfig *config);
NanonnStatus nanonn_net_builder_add_avg_pool2d(NanonnNetBuilder *builder, const NanonnPool2dConfig *config);
NanonnStatus nanonn_net_builder_add_global_avg_pool2d(NanonnNetBuilder *builder);
NanonnStatus nanonn_net_builder_add_flatten(NanonnNetBuilder *builder);
NanonnStatus nanonn_net_builder_add_reshape(NanonnNetBuilder *builder, const size_t *dims, size_t rank);
NanonnStatus nanonn_net_builder_add_batch_norm(NanonnNetBuilder *builder, size_t channels, float momentum, float eps);
NanonnStatus nanonn_net_builder_add_dropout(NanonnNetBuilder *builder, float keep_prob);
NanonnStatus nanonn_net_builder_add_rnn(NanonnNetBuilder *builder, size_t input_size, size_t hidden_size, uint32_t return_sequences);
NanonnStatus nanonn_net_builder_add_lstm(NanonnNetBuilder *builder, size_t input_size, size_t hidden_size, uint32_t return_sequences);
NanonnStatus nanonn_net_builder_from_file(const char *path, NanonnNetBuilder **out);
NanonnStatus nanonn_optimizer_config_default(uint32_t kind, float lr, NanonnOptimizerConfig *out);
NanonnStatus nanonn_model_new(const NanonnNetBuilder *builder, const NanonnLossConfig *loss, const NanonnOptimizerConfig *optimizer, size_t batch, uint64_t seed, NanonnModel **out);
void nanonn_model_free(NanonnModel *model);
NanonnStatus nanonn_model_info(const NanonnModel *model, NanonnModelInfo *out);
NanonnStatus nanonn_model_train_step(NanonnModel *model, const float *x, size_t x_len, const uint32_t *labels, size_t labels_len, float *loss_out);
NanonnStatus nanonn_model_train_step_values(NanonnModel *model, const float *x, size_t x_len, const float *y, size_t y_len, float *loss_out);
NanonnStatus nanonn_model_predict(NanonnModel *model, const float *x, size_t x_len, float *out, size_t out_len);
NanonnStatus nanonn_model_evaluate(NanonnModel *model, const float *x, size_t x_len, const uint32_t *labels, size_t labels_len, float *loss_out, float *accuracy_out);
NanonnStatus nanonn_model_get_params(const NanonnModel *model, float *out, size_t len);
NanonnStatus nanonn_model_set_params(NanonnModel *model, const float *params, size_t len);
NanonnStatus nanonn_model_forward(NanonnModel *model, const float *x, size_t x_len, float *out, size_t out_len);
NanonnStatus nanonn_model_backward(NanonnModel *model, const uint32_t *labels, size_t labels_len, float *loss_out);
NanonnStatus nanonn_model_backward_values(NanonnModel *model, const float *y, size_t y_len, float *loss_out);
NanonnStatus nanonn_model_apply_grad(NanonnModel *model);
NanonnStatus nanonn_model_get_grads(const NanonnModel *model, float *out, size_t len);
NanonnStatus nanonn_model_layer_params(const NanonnModel *model, size_t layer, size_t *first_out, size_t *count_out);
NanonnStatus nanonn_model_set_lr(NanonnModel *model, float lr);
NanonnStatus nanonn_model_save(const NanonnModel *model, const char *path, uint32_t kind);
NanonnStatus nanonn_model_save_size(const NanonnModel *model, uint32_t kind, size_t *bytes_out);
NanonnStatus nanonn_model_save_to_buffer(const NanonnModel *model, uint32_t kind, uint8_t *buffer, size_t len, size_t *written_out);
NanonnStatus nanonn_model_load(NanonnModel *model, const char *path, uint32_t kind);
NanonnStatus nanonn_model_load_from_buffer(NanonnModel *model, const uint8_t *bytes, size_t len, uint32_t kind);
"""

_SCALARS = {
    "void": None,
    "NanonnStatus": ctypes.c_int,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "float": ctypes.c_float,
}

_DECL = re.compile(r"^\s*(.+?)\s*\b(nanonn_\w+)\s*\((.*)\)\s*;\s*$")


def _norm_type(c_type):
    """``"const  float*"`` -> ``"const float *"``, ``"T**"`` -> ``"T **"``."""
    c_type = re.sub(r"\s*\*\s*", "*", " ".join(c_type.split()))
    return re.sub(r"([^*])\*", r"\1 *", c_type).strip()


def _split_type_name(param):
    """``"const float *x"`` -> ``("const float *", "x")``; ``"void"`` -> ``("void", None)``."""
    param = " ".join(param.split())
    if param == "void":
        return "void", None
    m = re.match(r"^(.*?)\s*(\w+)$", param)
    return _norm_type(m.group(1)), m.group(2)


def parse_declarations(text):
    """``{name: (return_type, [param_type, ...])}`` of every ``nanonn_*`` function declared in
    C source ``text`` (one declaration per statement; comments must already be removed).
    Types are normalised (``"const float *"``); parameter names are dropped."""
    out = {}
    for stmt in text.split(";"):
        # Whatever precedes the declaration in the same statement (`extern "C" {`, a closing
        # brace) ends at the last brace.
        stmt = " ".join(re.split(r"[{}]", stmt)[-1].split())
        m = _DECL.match(stmt + ";")
        if not m:
            continue
        ret, name, params = m.groups()
        ret = _norm_type(ret)
        types = [_split_type_name(p)[0] for p in params.split(",")]
        out[name] = (ret, [] if types == ["void"] else types)
    return out


def _ctype(c_type):
    if c_type == "const char *":
        return ctypes.c_char_p
    if c_type.endswith("*"):
        return ctypes.c_void_p
    return _SCALARS[c_type]


class LibraryNotFound(OSError):
    """libnanonn could not be found or loaded."""


def _candidates():
    env = os.environ.get("NANONN_LIB")
    if env:
        return [Path(env)]
    here = Path(__file__).resolve().parent
    found = [here / LIBRARY_NAME]
    repo = here.parent.parent.parent
    if (repo / "capi" / "Cargo.toml").is_file():
        found.append(repo / "target" / "release" / LIBRARY_NAME)
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        found.append(Path(target) / "release" / LIBRARY_NAME)
    return found


_LIB = None
_PATH = None


def _load():
    tried = []
    for path in _candidates():
        if not path.is_file():
            tried.append("%s (missing)" % path)
            continue
        try:
            handle = ctypes.CDLL(str(path))
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        for name, (ret, params) in parse_declarations(PROTOTYPES).items():
            try:
                fn = getattr(handle, name)
            except AttributeError:
                raise LibraryNotFound(
                    "%s lacks %s: it is older than this package; rebuild it with "
                    "`cargo build --release -p nanonn-capi`" % (path, name)
                ) from None
            fn.restype = _ctype(ret)
            fn.argtypes = [_ctype(p) for p in params]
        number = handle.nanonn_version_number()
        if (number // 10000, number // 100 % 100) != API_VERSION:
            raise LibraryNotFound(
                "%s is nanonn %s, but this package speaks the C API %d.%d"
                % (path, handle.nanonn_version().decode(), *API_VERSION)
            )
        return handle, path
    raise LibraryNotFound(
        "libnanonn not found; set NANONN_LIB to its path, reinstall with "
        "`pip install ./bindings/python`, or run `cargo build --release -p nanonn-capi` in the "
        "repository. Tried: " + "; ".join(tried)
    )


def lib():
    """The loaded library (loaded on first use)."""
    global _LIB, _PATH
    if _LIB is None:
        _LIB, _PATH = _load()
    return _LIB


def library_path():
    """The path of the loaded library."""
    lib()
    return _PATH


def check(status):
    """Raises :class:`Error` with nanonn's message unless ``status`` is OK."""
    if status != Status.OK:
        message = lib().nanonn_last_error_message().decode("utf-8", "replace")
        raise Error(status, message)


def error(status, message):
    """An :class:`Error` made on the Python side (same form as the library's)."""
    return Error(status, message)
