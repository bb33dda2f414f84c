"""The package's C declarations, structs and constants are the header's
(include/nanonn.h): a change in the C API fails here instead of corrupting memory."""

import ctypes
import re

import pytest

import nanonn
from nanonn import _lib
from nanonn.core import layer, loss, optimizer

from conftest import HEADER

pytestmark = pytest.mark.skipif(not HEADER.is_file(), reason="no include/nanonn.h here")


def header_text():
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_every_prototype_is_the_headers():
    header = _lib.parse_declarations(header_text())
    ours = _lib.parse_declarations(_lib.PROTOTYPES)
    assert len(header) > 40 and len(ours) > 40
    for name, signature in ours.items():
        assert name in header, "%s is not in nanonn.h" % name
        assert signature == header[name], name


def test_the_parser_reads_pointers_and_void():
    decls = _lib.parse_declarations(
        "NanonnStatus nanonn_f(const float *x, size_t n, T **out); uint32_t nanonn_g(void);"
    )
    assert decls["nanonn_f"] == ("NanonnStatus", ["const float *", "size_t", "T **"])
    assert decls["nanonn_g"] == ("uint32_t", [])


CTYPES = {
    "size_t": ctypes.c_size_t,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "float": ctypes.c_float,
}


@pytest.mark.parametrize("name", sorted(_lib.STRUCTS))
def test_structs_match_field_for_field(name):
    m = re.search(r"typedef struct \{([^{}]*)\} %s;" % name, header_text(), re.S)
    assert m, name
    fields = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        fm = re.match(r"^(\w+) (\w+)(?:\[(\d+)\])?$", decl)
        assert fm, decl
        c_type, field, count = fm.groups()
        t = CTYPES[c_type]
        fields.append((field, t * int(count) if count else t))
    ours = _lib.STRUCTS[name]._fields_
    assert [f for f, _ in ours] == [f for f, _ in fields]
    for (field, t1), (_, t2) in zip(ours, fields):
        assert ctypes.sizeof(t1) == ctypes.sizeof(t2) and t1._type_ == t2._type_, field


def enum_values():
    return {k: int(v) for k, v in re.findall(r"\b(NANONN_[A-Z0-9_]+) = (\d+)", header_text())}


def test_status_codes():
    values = enum_values()
    statuses = {k: v for k, v in values.items() if k.startswith("NANONN_STATUS_")}
    assert len(statuses) == 17
    for key, value in statuses.items():
        assert getattr(nanonn.Status, key[len("NANONN_STATUS_"):]) == value


def test_enum_values_of_layers_losses_optimizers():
    v = enum_values()
    pairs = [
        (layer.ReLU, "ACTIVATION_RELU"),
        (layer.LeakyReLU, "ACTIVATION_LEAKY_RELU"),
        (layer.Sigmoid, "ACTIVATION_SIGMOID"),
        (layer.Tanh, "ACTIVATION_TANH"),
        (layer.Softplus, "ACTIVATION_SOFTPLUS"),
        (layer.ELU, "ACTIVATION_ELU"),
        (layer.GELU, "ACTIVATION_GELU"),
        (loss.SoftmaxCrossEntropy, "LOSS_SOFTMAX_CROSS_ENTROPY"),
        (loss.SigmoidCrossEntropy, "LOSS_SIGMOID_CROSS_ENTROPY"),
        (loss.MSE, "LOSS_MSE"),
        (loss.MAE, "LOSS_MAE"),
        (loss.Huber, "LOSS_HUBER"),
        (optimizer.SGD, "OPTIMIZER_SGD"),
        (optimizer.Momentum, "OPTIMIZER_MOMENTUM"),
        (optimizer.Adagrad, "OPTIMIZER_ADAGRAD"),
        (optimizer.RMSProp, "OPTIMIZER_RMSPROP"),
        (optimizer.Adadelta, "OPTIMIZER_ADADELTA"),
        (optimizer.Adam, "OPTIMIZER_ADAM"),
        (optimizer.RAdam, "OPTIMIZER_RADAM"),
    ]
    for cls, name in pairs:
        assert cls._kind == v["NANONN_" + name], name
    assert (v["NANONN_PADDING_VALID"], v["NANONN_PADDING_SAME"], v["NANONN_PADDING_EXPLICIT"]) == (
        0,
        1,
        2,
    )
    assert (v["NANONN_FILE_KIND_WEIGHTS"], v["NANONN_FILE_KIND_CHECKPOINT"]) == (0, 1)
    assert v["NANONN_WEIGHT_DECAY_DECOUPLED"] == 2


def test_versions_agree():
    text = HEADER.read_text()
    major = int(re.search(r"#define NANONN_VERSION_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"#define NANONN_VERSION_MINOR (\d+)", text).group(1))
    assert (major, minor) == _lib.API_VERSION
    assert nanonn.version().startswith("%d.%d." % (major, minor))
    assert nanonn.__version__ == nanonn.version()
