//! The enums and configuration structs of the C ABI, and their checked conversion to core
//! types.
//!
//! # Why enums cross the ABI as `uint32_t`
//! A Rust enum that receives a value that is none of its variants is undefined behaviour, and
//! C lets callers pass any integer. So functions take `uint32_t`, and the enums below exist
//! only to give the header named constants (`NANONN_ACTIVATION_RELU`, ...); every value is
//! checked with `from_u32` and an unknown one is `NANONN_STATUS_INVALID_ENUM`.

use nn::layers::{Activation, Padding};
use nn::loss::{Huber, Loss, Mae, Mse, SigmoidCrossEntropy, SoftmaxCrossEntropy, Targets};
use nn::optim::{Adadelta, Adagrad, Adam, Momentum, Optimizer, RAdam, RMSProp, Sgd, WeightDecay};
use nn::tensor::Tensor;

use crate::status::{Failure, Outcome, flag};

/// Maps a `u32` to the enum variant with that discriminant.
macro_rules! from_u32 {
    ($ty:ident, $what:literal, [$($variant:ident),* $(,)?]) => {
        impl $ty {
            pub(crate) fn from_u32(value: u32) -> Outcome<$ty> {
                $(if value == $ty::$variant as u32 {
                    return Ok($ty::$variant);
                })*
                Err(Failure::bad_enum($what, value))
            }
        }
    };
}

/// Elementwise activations (`nanonn_net_builder_add_activation`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnActivation {
    /// `max(x, 0)`.
    Relu = 0,
    /// `x` if `x > 0`, else `param * x` (tinynn's slope: 0.2).
    LeakyRelu = 1,
    /// `1 / (1 + e^-x)`.
    Sigmoid = 2,
    /// `tanh(x)`.
    Tanh = 3,
    /// `ln(1 + e^x)`.
    Softplus = 4,
    /// `x` if `x > 0`, else `param * (e^x - 1)` (usually 1.0).
    Elu = 5,
    /// `x * Phi(x)`, the exact GELU.
    Gelu = 6,
}
from_u32!(
    NanonnActivation,
    "NanonnActivation",
    [Relu, LeakyRelu, Sigmoid, Tanh, Softplus, Elu, Gelu]
);

impl NanonnActivation {
    pub(crate) fn to_core(self, param: f32) -> Activation {
        match self {
            NanonnActivation::Relu => Activation::ReLU,
            NanonnActivation::LeakyRelu => Activation::LeakyReLU { slope: param },
            NanonnActivation::Sigmoid => Activation::Sigmoid,
            NanonnActivation::Tanh => Activation::Tanh,
            NanonnActivation::Softplus => Activation::Softplus,
            NanonnActivation::Elu => Activation::ELU { alpha: param },
            NanonnActivation::Gelu => Activation::GELU,
        }
    }
}

/// How a sliding window treats the image border (`NanonnConv2dConfig::padding`,
/// `NanonnPool2dConfig::padding`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnPadding {
    /// No padding.
    Valid = 0,
    /// TensorFlow's "same" padding (`out = ceil(in / stride)`; transposed: `in * stride`).
    Same = 1,
    /// The `pad_top`, `pad_bottom`, `pad_left`, `pad_right` fields.
    Explicit = 2,
}
from_u32!(NanonnPadding, "NanonnPadding", [Valid, Same, Explicit]);

/// The losses (`NanonnLossConfig::kind`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnLoss {
    /// Softmax then cross-entropy; targets are class labels or one-hot rows.
    SoftmaxCrossEntropy = 0,
    /// Sigmoid then binary cross-entropy per output.
    SigmoidCrossEntropy = 1,
    /// `0.5 * sum((p - t)^2) / batch`.
    Mse = 2,
    /// `sum |p - t| / batch`.
    Mae = 3,
    /// Huber loss with `NanonnLossConfig::delta`.
    Huber = 4,
}
from_u32!(
    NanonnLoss,
    "NanonnLoss",
    [SoftmaxCrossEntropy, SigmoidCrossEntropy, Mse, Mae, Huber]
);

/// The optimizers (`NanonnOptimizerConfig::kind`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnOptimizer {
    /// Plain gradient descent.
    Sgd = 0,
    /// SGD with momentum (optionally Nesterov).
    Momentum = 1,
    /// Adagrad.
    Adagrad = 2,
    /// RMSProp (optionally with momentum).
    Rmsprop = 3,
    /// Adadelta.
    Adadelta = 4,
    /// Adam (AdamW with decoupled weight decay).
    Adam = 5,
    /// Rectified Adam.
    Radam = 6,
}
from_u32!(
    NanonnOptimizer,
    "NanonnOptimizer",
    [Sgd, Momentum, Adagrad, Rmsprop, Adadelta, Adam, Radam]
);

/// Weight decay (`NanonnOptimizerConfig::weight_decay_kind`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnWeightDecay {
    /// No weight decay.
    None = 0,
    /// L2 regularisation: `grad += weight_decay * param`.
    L2 = 1,
    /// Decoupled (AdamW): `param -= lr * weight_decay * param`.
    Decoupled = 2,
}
from_u32!(
    NanonnWeightDecay,
    "NanonnWeightDecay",
    [None, L2, Decoupled]
);

/// What a model file holds, or what to take from one (`nanonn_model_save*`, `nanonn_model_load*`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnFileKind {
    /// The network and its weights: enough to predict or to fine-tune.
    Weights = 0,
    /// The weights plus the training state (optimizer state, step, learning rate, random
    /// generator): loading it resumes training bit for bit.
    Checkpoint = 1,
}
from_u32!(NanonnFileKind, "NanonnFileKind", [Weights, Checkpoint]);

/// A loss and its parameter.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NanonnLossConfig {
    /// A `NanonnLoss`.
    pub kind: u32,
    /// Huber's `delta` (> 0; tinynn's default is 1.0). Ignored by the other losses.
    pub delta: f32,
}

/// An optimizer and its hyper-parameters. Fill one with `nanonn_optimizer_config_default`,
/// then change what you need; fields an optimizer does not use are ignored.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NanonnOptimizerConfig {
    /// A `NanonnOptimizer`.
    pub kind: u32,
    /// Learning rate (finite, >= 0).
    pub lr: f32,
    /// Momentum (MOMENTUM, RMSPROP), in [0, 1).
    pub momentum: f32,
    /// Nesterov look-ahead (MOMENTUM): 0 or 1.
    pub nesterov: u32,
    /// Decay of the running mean square (RMSPROP, ADADELTA), in [0, 1).
    pub rho: f32,
    /// First-moment decay (ADAM, RADAM), in [0, 1).
    pub beta1: f32,
    /// Second-moment decay (ADAM, RADAM), in [0, 1).
    pub beta2: f32,
    /// Numerical guard (all but SGD and MOMENTUM), > 0.
    pub eps: f32,
    /// A `NanonnWeightDecay`.
    pub weight_decay_kind: u32,
    /// The weight-decay coefficient (finite, >= 0).
    pub weight_decay: f32,
}

/// A 2-D (transposed) convolution on NHWC images (`[height, width, channels]` per sample).
/// Zero means "the default" for the stride and dilation fields, so a zero-initialised struct
/// with the channels and kernel set is a plain stride-1, unpadded convolution with a bias.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NanonnConv2dConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride (0 = 1).
    pub stride_h: usize,
    /// Horizontal stride (0 = 1).
    pub stride_w: usize,
    /// Vertical dilation (0 = 1).
    pub dilation_h: usize,
    /// Horizontal dilation (0 = 1).
    pub dilation_w: usize,
    /// A `NanonnPadding`.
    pub padding: u32,
    /// Rows of padding above (EXPLICIT only; must be 0 otherwise).
    pub pad_top: usize,
    /// Rows of padding below (EXPLICIT only).
    pub pad_bottom: usize,
    /// Columns of padding on the left (EXPLICIT only).
    pub pad_left: usize,
    /// Columns of padding on the right (EXPLICIT only).
    pub pad_right: usize,
    /// Extra output rows at the bottom (transposed convolution only; less than the stride).
    pub output_padding_h: usize,
    /// Extra output columns on the right (transposed convolution only).
    pub output_padding_w: usize,
    /// 1 for no bias, 0 (the default) for a bias.
    pub no_bias: u32,
}

/// A 2-D pooling window on NHWC images.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NanonnPool2dConfig {
    /// Window height.
    pub kernel_h: usize,
    /// Window width.
    pub kernel_w: usize,
    /// Vertical stride (0 = the window height: windows do not overlap).
    pub stride_h: usize,
    /// Horizontal stride (0 = the window width).
    pub stride_w: usize,
    /// A `NanonnPadding` (padding positions are never a maximum and not counted in a mean).
    pub padding: u32,
    /// Rows of padding above (EXPLICIT only; must be 0 otherwise).
    pub pad_top: usize,
    /// Rows of padding below (EXPLICIT only).
    pub pad_bottom: usize,
    /// Columns of padding on the left (EXPLICIT only).
    pub pad_left: usize,
    /// Columns of padding on the right (EXPLICIT only).
    pub pad_right: usize,
}

/// Reads the padding fields shared by both configs.
pub(crate) fn padding(kind: u32, pads: [usize; 4]) -> Outcome<Padding> {
    let [top, bottom, left, right] = pads;
    let kind = NanonnPadding::from_u32(kind)?;
    if kind != NanonnPadding::Explicit && pads != [0; 4] {
        return Err(Failure::argument(
            "pad_top/pad_bottom/pad_left/pad_right are only for NANONN_PADDING_EXPLICIT",
        ));
    }
    Ok(match kind {
        NanonnPadding::Valid => Padding::Valid,
        NanonnPadding::Same => Padding::Same,
        NanonnPadding::Explicit => Padding::Explicit {
            top,
            bottom,
            left,
            right,
        },
    })
}

/// `0` means 1 (stride, dilation).
pub(crate) fn or_one(v: usize) -> usize {
    if v == 0 { 1 } else { v }
}

/// Every loss, as one type the model can hold.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AnyLoss {
    SoftmaxCrossEntropy(SoftmaxCrossEntropy),
    SigmoidCrossEntropy(SigmoidCrossEntropy),
    Mse(Mse),
    Mae(Mae),
    Huber(Huber),
}

macro_rules! each_loss {
    ($self:expr, $l:ident => $body:expr) => {
        match $self {
            AnyLoss::SoftmaxCrossEntropy($l) => $body,
            AnyLoss::SigmoidCrossEntropy($l) => $body,
            AnyLoss::Mse($l) => $body,
            AnyLoss::Mae($l) => $body,
            AnyLoss::Huber($l) => $body,
        }
    };
}

impl Loss for AnyLoss {
    fn name(&self) -> &'static str {
        each_loss!(self, l => l.name())
    }
    fn loss(&self, predictions: Tensor<'_>, targets: Targets<'_>) -> nn::Result<f32> {
        each_loss!(self, l => l.loss(predictions, targets))
    }
    fn loss_and_grad(
        &self,
        predictions: Tensor<'_>,
        targets: Targets<'_>,
        grad: &mut [f32],
    ) -> nn::Result<f32> {
        each_loss!(self, l => l.loss_and_grad(predictions, targets, grad))
    }
}

impl NanonnLossConfig {
    pub(crate) fn to_core(self) -> Outcome<AnyLoss> {
        Ok(match NanonnLoss::from_u32(self.kind)? {
            NanonnLoss::SoftmaxCrossEntropy => AnyLoss::SoftmaxCrossEntropy(SoftmaxCrossEntropy),
            NanonnLoss::SigmoidCrossEntropy => AnyLoss::SigmoidCrossEntropy(SigmoidCrossEntropy),
            NanonnLoss::Mse => AnyLoss::Mse(Mse),
            NanonnLoss::Mae => AnyLoss::Mae(Mae),
            NanonnLoss::Huber => {
                if !(self.delta.is_finite() && self.delta > 0.0) {
                    return Err(Failure::argument("Huber delta must be finite and > 0"));
                }
                AnyLoss::Huber(Huber::new(self.delta))
            }
        })
    }
}

/// Every optimizer, as one type the model can hold.
#[derive(Clone, Debug)]
pub(crate) enum AnyOptimizer {
    Sgd(Sgd),
    Momentum(Momentum),
    Adagrad(Adagrad),
    Rmsprop(RMSProp),
    Adadelta(Adadelta),
    Adam(Adam),
    RAdam(RAdam),
}

macro_rules! each_optimizer {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            AnyOptimizer::Sgd($o) => $body,
            AnyOptimizer::Momentum($o) => $body,
            AnyOptimizer::Adagrad($o) => $body,
            AnyOptimizer::Rmsprop($o) => $body,
            AnyOptimizer::Adadelta($o) => $body,
            AnyOptimizer::Adam($o) => $body,
            AnyOptimizer::RAdam($o) => $body,
        }
    };
}

impl Optimizer for AnyOptimizer {
    fn name(&self) -> &'static str {
        each_optimizer!(self, o => o.name())
    }
    fn state_per_param(&self) -> usize {
        each_optimizer!(self, o => o.state_per_param())
    }
    fn lr(&self) -> f32 {
        each_optimizer!(self, o => o.lr())
    }
    fn set_lr(&mut self, lr: f32) {
        each_optimizer!(self, o => o.set_lr(lr))
    }
    fn steps(&self) -> u64 {
        each_optimizer!(self, o => o.steps())
    }
    fn set_steps(&mut self, steps: u64) {
        each_optimizer!(self, o => o.set_steps(steps))
    }
    fn validate(&self) -> nn::Result<()> {
        each_optimizer!(self, o => o.validate())
    }
    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> nn::Result<()> {
        each_optimizer!(self, o => o.step(params, grads, state))
    }
}

impl NanonnOptimizerConfig {
    /// The core's defaults for `kind` with learning rate `lr`.
    pub(crate) fn defaults(kind: NanonnOptimizer, lr: f32) -> NanonnOptimizerConfig {
        let mut c = NanonnOptimizerConfig {
            kind: kind as u32,
            lr,
            momentum: 0.0,
            nesterov: 0,
            rho: 0.0,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            weight_decay_kind: NanonnWeightDecay::None as u32,
            weight_decay: 0.0,
        };
        match kind {
            NanonnOptimizer::Sgd => {}
            NanonnOptimizer::Momentum => {
                let m = Momentum::new(lr);
                (c.momentum, c.nesterov) = (m.momentum, m.nesterov as u32);
            }
            NanonnOptimizer::Adagrad => c.eps = Adagrad::new(lr).eps,
            NanonnOptimizer::Rmsprop => {
                let r = RMSProp::new(lr);
                (c.rho, c.eps, c.momentum) = (r.rho, r.eps, r.momentum);
            }
            NanonnOptimizer::Adadelta => {
                let a = Adadelta::new(lr);
                (c.rho, c.eps) = (a.rho, a.eps);
            }
            NanonnOptimizer::Adam | NanonnOptimizer::Radam => {
                let a = Adam::new(lr);
                (c.beta1, c.beta2, c.eps) = (a.beta1, a.beta2, a.eps);
            }
        }
        c
    }

    /// The optimizer this config describes, with every hyper-parameter checked now (rather
    /// than at the first training step).
    pub(crate) fn to_core(self) -> Outcome<AnyOptimizer> {
        let decay = match NanonnWeightDecay::from_u32(self.weight_decay_kind)? {
            NanonnWeightDecay::None => WeightDecay::None,
            NanonnWeightDecay::L2 => WeightDecay::L2(self.weight_decay),
            NanonnWeightDecay::Decoupled => WeightDecay::Decoupled(self.weight_decay),
        };
        let c = self;
        let opt = match NanonnOptimizer::from_u32(self.kind)? {
            NanonnOptimizer::Sgd => AnyOptimizer::Sgd(Sgd::new(c.lr).with_weight_decay(decay)),
            NanonnOptimizer::Momentum => AnyOptimizer::Momentum(
                Momentum::new(c.lr)
                    .with_momentum(c.momentum)
                    .with_nesterov(flag(c.nesterov, "nesterov")?)
                    .with_weight_decay(decay),
            ),
            NanonnOptimizer::Adagrad => {
                AnyOptimizer::Adagrad(Adagrad::new(c.lr).with_eps(c.eps).with_weight_decay(decay))
            }
            NanonnOptimizer::Rmsprop => AnyOptimizer::Rmsprop(
                RMSProp::new(c.lr)
                    .with_rho(c.rho)
                    .with_eps(c.eps)
                    .with_momentum(c.momentum)
                    .with_weight_decay(decay),
            ),
            NanonnOptimizer::Adadelta => AnyOptimizer::Adadelta(
                Adadelta::new(c.lr)
                    .with_rho(c.rho)
                    .with_eps(c.eps)
                    .with_weight_decay(decay),
            ),
            NanonnOptimizer::Adam => AnyOptimizer::Adam(
                Adam::new(c.lr)
                    .with_betas(c.beta1, c.beta2)
                    .with_eps(c.eps)
                    .with_weight_decay(decay),
            ),
            NanonnOptimizer::Radam => AnyOptimizer::RAdam(
                RAdam::new(c.lr)
                    .with_betas(c.beta1, c.beta2)
                    .with_eps(c.eps)
                    .with_weight_decay(decay),
            ),
        };
        opt.validate()?;
        Ok(opt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_reject_unknown_values() {
        for v in 0..7 {
            assert_eq!(NanonnActivation::from_u32(v).unwrap() as u32, v);
            assert_eq!(NanonnOptimizer::from_u32(v).unwrap() as u32, v);
        }
        let e = NanonnActivation::from_u32(7).unwrap_err();
        assert_eq!(e.message, "7 is not a valid NanonnActivation");
        assert!(NanonnLoss::from_u32(5).is_err());
        assert!(NanonnPadding::from_u32(u32::MAX).is_err());
        assert!(NanonnFileKind::from_u32(2).is_err());
        assert!(NanonnWeightDecay::from_u32(3).is_err());
    }

    #[test]
    fn optimizer_defaults_build_and_bad_values_are_refused_early() {
        for v in 0..7 {
            let kind = NanonnOptimizer::from_u32(v).unwrap();
            let opt = NanonnOptimizerConfig::defaults(kind, 0.01)
                .to_core()
                .unwrap();
            assert_eq!(opt.lr(), 0.01);
            assert_eq!(opt.steps(), 0);
        }
        let mut c = NanonnOptimizerConfig::defaults(NanonnOptimizer::Adam, 1e-3);
        assert_eq!((c.beta1, c.beta2, c.eps), (0.9, 0.999, 1e-8));
        c.beta1 = 1.0;
        let e = c.to_core().unwrap_err();
        assert_eq!(e.message, "invalid configuration: beta1 must be in [0, 1)");
        let mut m = NanonnOptimizerConfig::defaults(NanonnOptimizer::Momentum, 0.1);
        m.nesterov = 2;
        assert!(m.to_core().is_err());
        let mut s = NanonnOptimizerConfig::defaults(NanonnOptimizer::Sgd, -1.0);
        assert!(s.to_core().is_err());
        s.lr = 0.1;
        s.weight_decay_kind = 9;
        assert_eq!(
            s.to_core().unwrap_err().status,
            crate::status::NanonnStatus::InvalidEnum
        );
    }

    #[test]
    fn huber_needs_a_positive_delta() {
        let huber = |delta| NanonnLossConfig { kind: 4, delta }.to_core();
        assert!(huber(0.0).is_err() && huber(f32::NAN).is_err());
        assert_eq!(huber(1.5).unwrap().name(), "Huber");
        assert!(
            NanonnLossConfig {
                kind: 0,
                delta: 0.0
            }
            .to_core()
            .is_ok()
        );
    }

    #[test]
    fn explicit_pads_only_with_explicit_padding() {
        assert_eq!(padding(0, [0; 4]).unwrap(), Padding::Valid);
        assert!(padding(1, [1, 0, 0, 0]).is_err());
        assert_eq!(
            padding(2, [1, 2, 3, 4]).unwrap(),
            Padding::Explicit {
                top: 1,
                bottom: 2,
                left: 3,
                right: 4
            }
        );
    }
}
