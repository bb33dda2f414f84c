"""nanonn for Python: tinynn's API over nanonn's C library.

::

    from nanonn import Net, Dense, ReLU, Model, SoftmaxCrossEntropy, Adam

    net = Net([Dense(400), ReLU(), Dense(100), ReLU(), Dense(10)])
    model = Model(net=net, loss=SoftmaxCrossEntropy(), optimizer=Adam(lr=1e-3))
    pred = model.forward(x)                       # float32 (N, 784) -> (N, 10)
    loss, grads = model.backward(pred, labels)    # class indices or one-hot rows
    model.apply_grad(grads)

The modules also follow tinynn's layout (``nanonn.core.layer``, ``nanonn.core.model``,
``nanonn.utils.data_iterator``, ...), so a tinynn script ports by changing its imports.
"""

from ._lib import Error, LibraryNotFound, Status, library_path
from .core.layer import (
    ELU,
    GELU,
    LSTM,
    RNN,
    Activation,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softplus,
    Tanh,
)
from .core.loss import MAE, MSE, Huber, Loss, SigmoidCrossEntropy, SoftmaxCrossEntropy
from .core.model import Grads, Model
from .core.net import Net
from .core.optimizer import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    CosineLR,
    CyclicalLR,
    ExponentialLR,
    LinearLR,
    Momentum,
    MultiStepLR,
    Optimizer,
    RAdam,
    RMSProp,
    StepLR,
)
from .utils.data_iterator import Batch, BatchIterator
from .utils.metric import accuracy
from .utils.seeder import random_seed

__version__ = "0.1.0"

__all__ = [
    "ELU",
    "GELU",
    "LSTM",
    "RNN",
    "Activation",
    "AvgPool2D",
    "BatchNormalization",
    "Conv2D",
    "ConvTranspose2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "CosineLR",
    "CyclicalLR",
    "ExponentialLR",
    "LinearLR",
    "Momentum",
    "MultiStepLR",
    "Optimizer",
    "RAdam",
    "RMSProp",
    "StepLR",
    "Error",
    "LibraryNotFound",
    "Status",
    "library_path",
    "MAE",
    "MSE",
    "Huber",
    "Loss",
    "SigmoidCrossEntropy",
    "SoftmaxCrossEntropy",
    "Grads",
    "Model",
    "Net",
    "Batch",
    "BatchIterator",
    "accuracy",
    "random_seed",
    "version",
]


def version():
    """The version of the loaded C library (``"0.1.0"``)."""
    from ._lib import lib

    return lib().nanonn_version().decode()
