"""Optimizers and learning-rate schedulers, named and parametrised as in tinynn
(``tinynn.core.optimizer``).

An optimizer is a description: nanonn keeps its state (Adam's moments, ...) inside the C
model. Its ``lr`` attribute stays live: the model hands the current ``optimizer.lr`` to the
library before every ``apply_grad``, so tinynn's schedulers, which set ``optimizer.lr``, work
unchanged. The other hyper-parameters are read once, when the model is built.

``weight_decay`` is tinynn's: decoupled (``params -= lr * weight_decay * params`` after the
step, as AdamW).
"""

import ctypes
import math

from .. import _lib

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Adagrad",
    "RMSProp",
    "Adadelta",
    "Adam",
    "RAdam",
    "BaseScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "LinearLR",
    "CyclicalLR",
    "CosineLR",
]


class Optimizer:
    """An optimizer: ``_kind`` is a ``NanonnOptimizer`` value."""

    _kind = None

    def __init__(self, lr, weight_decay=0.0):
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)

    def _fill(self, config):
        """Sets the fields this optimizer has beyond the library's defaults."""

    def _config(self):
        config = _lib.OptimizerConfig()
        _lib.check(
            _lib.lib().nanonn_optimizer_config_default(self._kind, self.lr, ctypes.byref(config))
        )
        self._fill(config)
        if self.weight_decay:
            config.weight_decay_kind = 2  # NANONN_WEIGHT_DECAY_DECOUPLED, as tinynn
            config.weight_decay = self.weight_decay
        return config

    def __repr__(self):
        fields = ", ".join("%s=%r" % kv for kv in vars(self).items() if not kv[0].startswith("_"))
        return "%s(%s)" % (self.__class__.__name__, fields)


class SGD(Optimizer):
    """Plain gradient descent."""

    _kind = 0

    def __init__(self, lr=0.01, weight_decay=0.0):
        super().__init__(lr, weight_decay)


class Momentum(Optimizer):
    """``acc = momentum * acc + grad; params -= lr * acc`` (optionally Nesterov)."""

    _kind = 1

    def __init__(self, lr, momentum=0.9, weight_decay=0.0, nesterov=False):
        super().__init__(lr, weight_decay)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _fill(self, config):
        config.momentum = self.momentum
        config.nesterov = int(self.nesterov)


class Adagrad(Optimizer):
    """AdaGrad."""

    _kind = 2

    def __init__(self, lr, weight_decay=0.0, epsilon=1e-8):
        super().__init__(lr, weight_decay)
        self.epsilon = float(epsilon)

    def _fill(self, config):
        config.eps = self.epsilon


class RMSProp(Optimizer):
    """RMSProp: a running mean of squared gradients (weight ``decay``), with momentum."""

    _kind = 3

    def __init__(self, lr=0.01, decay=0.99, momentum=0.0, epsilon=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.decay = float(decay)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def _fill(self, config):
        config.rho = self.decay
        config.momentum = self.momentum
        config.eps = self.epsilon


class Adadelta(Optimizer):
    """Adadelta."""

    _kind = 4

    def __init__(self, lr=1.0, weight_decay=0.0, decay=0.9, epsilon=1e-8):
        super().__init__(lr, weight_decay)
        self.decay = float(decay)
        self.epsilon = float(epsilon)

    def _fill(self, config):
        config.rho = self.decay
        config.eps = self.epsilon


class Adam(Optimizer):
    """Adam."""

    _kind = 5

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)

    def _fill(self, config):
        config.beta1 = self.beta1
        config.beta2 = self.beta2
        config.eps = self.epsilon


class RAdam(Adam):
    """Rectified Adam."""

    _kind = 6


# --- schedulers (tinynn's: each ``step()`` sets ``optimizer.lr``) ------------------------------


class BaseScheduler:
    """Adjusts ``optimizer.lr`` on every ``step()``; returns the new rate."""

    def __init__(self, optimizer):
        self._optimizer = optimizer
        self._initial_lr = self.curr_lr
        self._t = 0

    def step(self):
        self._t += 1
        self._optimizer.lr = self._compute_lr()
        return self.curr_lr

    def _compute_lr(self):
        raise NotImplementedError

    @property
    def curr_lr(self):
        return self._optimizer.lr


class StepLR(BaseScheduler):
    """Multiplies the rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if step_size < 1:
            raise ValueError("step_size must be at least 1, not %r" % (step_size,))
        self._step_size = step_size
        self._gamma = gamma

    def _compute_lr(self):
        decay = self._gamma if self._t % self._step_size == 0 else 1.0
        return decay * self.curr_lr


class MultiStepLR(BaseScheduler):
    """Multiplies the rate by ``gamma`` at each of the increasing ``milestones``."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        super().__init__(optimizer)
        milestones = [int(m) for m in milestones]
        if any(a >= b for a, b in zip(milestones, milestones[1:])):
            raise ValueError("milestones must be increasing: %r" % (milestones,))
        self._milestones = milestones
        self._gamma = gamma

    def _compute_lr(self):
        decay = self._gamma if self._t in self._milestones else 1.0
        return decay * self.curr_lr


class ExponentialLR(BaseScheduler):
    """``lr = initial_lr * decay_rate ** (t / decay_steps)`` for the first ``decay_steps``."""

    def __init__(self, optimizer, decay_steps, decay_rate=1 / math.e):
        super().__init__(optimizer)
        self._decay_steps = decay_steps
        self._decay_rate = decay_rate

    def _compute_lr(self):
        if self._t <= self._decay_steps:
            return self._initial_lr * self._decay_rate ** (self._t / self._decay_steps)
        return self.curr_lr


class LinearLR(BaseScheduler):
    """Linear decay to ``final_lr`` over ``decay_steps`` steps after ``start_step``."""

    def __init__(self, optimizer, decay_steps, final_lr=1e-6, start_step=0):
        super().__init__(optimizer)
        if decay_steps <= 0:
            raise ValueError("decay_steps must be positive, not %r" % (decay_steps,))
        self._lr_delta = (final_lr - self._initial_lr) / decay_steps
        self._final_lr = final_lr
        self._decay_steps = decay_steps
        self._start_step = start_step

    def _compute_lr(self):
        if self._start_step < self._t <= self._start_step + self._decay_steps:
            return self.curr_lr + self._lr_delta
        return self.curr_lr


class CyclicalLR(BaseScheduler):
    """A triangle wave between ``min_lr`` and ``max_lr`` with a period of
    ``cyclical_steps``."""

    def __init__(self, optimizer, cyclical_steps, max_lr=1e-2, min_lr=1e-3):
        super().__init__(optimizer)
        if cyclical_steps <= 2 or max_lr < min_lr:
            raise ValueError("need cyclical_steps > 2 and max_lr >= min_lr")
        self._cyclical_steps = cyclical_steps
        self._abs_lr_delta = 2 * (max_lr - min_lr) / cyclical_steps

    def _compute_lr(self):
        if self._t % self._cyclical_steps < self._cyclical_steps // 2:
            return self.curr_lr + self._abs_lr_delta
        return self.curr_lr - self._abs_lr_delta


class CosineLR(BaseScheduler):
    """Cosine annealing (not in tinynn): from the initial rate at step 0 to ``min_lr`` at
    ``total_steps``, then ``min_lr`` — nanonn's ``CosineLr``."""

    def __init__(self, optimizer, total_steps, min_lr=0.0):
        super().__init__(optimizer)
        if total_steps < 1:
            raise ValueError("total_steps must be at least 1, not %r" % (total_steps,))
        self._total = total_steps
        self._min_lr = min_lr

    def _compute_lr(self):
        t = min(self._t, self._total)
        cos = 0.5 * (1.0 + math.cos(math.pi * t / self._total))
        return self._min_lr + (self._initial_lr - self._min_lr) * cos
