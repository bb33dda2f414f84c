//! Regression losses: mean squared error, mean absolute error and Huber.
//!
//! All three compare predictions with [`Targets::Values`] of the same shape, sum over the
//! elements of a sample and average over the batch, as tinynn does. Class labels make no sense
//! here and are rejected with [`crate::ErrorKind::InvalidConfig`].

use crate::error::{Error, Result};
use crate::kernels;
use crate::loss::validate::{CheckedTargets, check};
use crate::loss::{Loss, Targets};
use crate::tensor::Tensor;

/// The elementwise kernels all have this shape: `(pred, target, grad, scale) -> scaled sum`.
type Kernel = fn(&[f32], &[f32], Option<&mut [f32]>, f32) -> Result<f32>;

/// Runs the shared checks, rejects class labels with `labels_error`, then runs the kernel.
fn run(
    labels_error: &'static str,
    p: Tensor<'_>,
    t: Targets<'_>,
    grad: Option<&mut [f32]>,
    kernel: impl FnOnce(&[f32], &[f32], Option<&mut [f32]>, f32) -> Result<f32>,
) -> Result<f32> {
    if let Targets::Classes(_) = t {
        return Err(Error::config(labels_error));
    }
    match check(p, t, grad.as_deref().map(<[f32]>::len))? {
        (c, CheckedTargets::Values(t)) => kernel(c.preds, t, grad, c.scale),
        (_, CheckedTargets::Labels(_)) => Err(Error::config(labels_error)),
    }
}

/// Implements [`Loss`] for a regression loss through `run`.
macro_rules! regression_loss {
    ($ty:ty, $name:literal, |$s:ident| $kernel:expr) => {
        impl $ty {
            const LABELS_ERROR: &'static str = concat!(
                $name,
                " needs Targets::Values of the predictions' shape, not class labels"
            );
        }

        impl Loss for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn loss(&self, predictions: Tensor<'_>, targets: Targets<'_>) -> Result<f32> {
                let $s = self;
                run(Self::LABELS_ERROR, predictions, targets, None, $kernel)
            }

            fn loss_and_grad(
                &self,
                predictions: Tensor<'_>,
                targets: Targets<'_>,
                grad: &mut [f32],
            ) -> Result<f32> {
                let $s = self;
                run(
                    Self::LABELS_ERROR,
                    predictions,
                    targets,
                    Some(grad),
                    $kernel,
                )
            }
        }
    };
}

/// Mean squared error, tinynn style: `0.5 · Σ (p − t)² / batch`, gradient `(p − t) / batch`.
///
/// The `0.5` makes the gradient the plain residual; the sum runs over all elements of a
/// sample, the mean over the batch only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mse;

regression_loss!(Mse, "Mse", |_s| kernels::squared_error as Kernel);

/// Mean absolute error: `Σ |p − t| / batch`, gradient `sign(p − t) / batch` with
/// `sign(0) = 0` (an exact fit gets no push).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mae;

regression_loss!(Mae, "Mae", |_s| kernels::absolute_error as Kernel);

/// Huber loss: with `d = p − t`, `½ d²` where `|d| ≤ delta` and `delta · (|d| − ½ delta)`
/// beyond, summed over a sample and averaged over the batch. The gradient is
/// `clamp(d, −delta, delta) / batch`: squared error for small residuals, absolute error
/// (bounded pull) for outliers.
///
/// `delta` must be finite and positive (checked on every call, as an
/// [`crate::ErrorKind::InvalidConfig`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Huber {
    /// Where the loss turns from quadratic to linear (tinynn's default: 1.0).
    pub delta: f32,
}

impl Huber {
    /// A Huber loss with the given `delta`.
    pub const fn new(delta: f32) -> Self {
        Huber { delta }
    }
}

impl Default for Huber {
    /// `delta = 1.0`, as in tinynn.
    fn default() -> Self {
        Huber { delta: 1.0 }
    }
}

regression_loss!(Huber, "Huber", |s| |p: &[f32], t: &[f32], g, k| {
    kernels::huber(p, t, s.delta, g, k)
});
