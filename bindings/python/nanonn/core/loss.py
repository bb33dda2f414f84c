"""Losses, named as in tinynn (``tinynn.core.loss``). Each is batch-averaged, as tinynn's.

They are descriptions for :class:`nanonn.core.model.Model`: nanonn computes the loss and its
gradient inside the library, on the predictions of the last ``forward``.
"""

from .. import _lib

__all__ = ["Loss", "SoftmaxCrossEntropy", "SigmoidCrossEntropy", "MSE", "MAE", "Huber"]


class Loss:
    """A loss: ``kind`` is a ``NanonnLoss`` value."""

    _kind = None

    def _config(self):
        return _lib.LossConfig(kind=self._kind, delta=float(getattr(self, "delta", 0.0)))

    def __repr__(self):
        return "%s()" % self.__class__.__name__


class SoftmaxCrossEntropy(Loss):
    """Softmax, then cross-entropy; targets are class indices or one-hot (or soft) rows."""

    _kind = 0


class SigmoidCrossEntropy(Loss):
    """Sigmoid, then binary cross-entropy per output; targets of the predictions' shape."""

    _kind = 1


class MSE(Loss):
    """``0.5 * sum((p - t)^2) / batch``."""

    _kind = 2


class MAE(Loss):
    """``sum(|p - t|) / batch``."""

    _kind = 3


class Huber(Loss):
    """Huber loss with threshold ``delta`` (tinynn's default 1.0)."""

    _kind = 4

    def __init__(self, delta=1.0):
        self.delta = float(delta)

    def __repr__(self):
        return "Huber(delta=%r)" % self.delta
