//! Losses: a scalar value and its gradient with respect to the predictions.
//!
//! All losses are **averaged over the batch** (summed over the other dimensions), as in
//! tinynn, so the gradient is divided by the batch size too.

use crate::error::Result;
use crate::tensor::Tensor;

/// What a loss compares the predictions with.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class index per sample (`0..classes`), for classification losses.
    Classes(&'a [u32]),
    /// A tensor of the predictions' shape: one-hot or soft labels, or regression targets.
    Values(Tensor<'a>),
}

/// A loss function.
pub trait Loss {
    /// A short name for messages ("SoftmaxCrossEntropy").
    fn name(&self) -> &'static str;

    /// The mean loss over the batch.
    fn loss(&self, predictions: Tensor<'_>, targets: Targets<'_>) -> Result<f32>;

    /// The mean loss over the batch, and `∂loss/∂predictions` written into `grad`
    /// (same length as the predictions).
    fn loss_and_grad(
        &self,
        predictions: Tensor<'_>,
        targets: Targets<'_>,
        grad: &mut [f32],
    ) -> Result<f32>;
}

mod cross_entropy;
mod regression;
mod validate;

#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod tests;

pub use cross_entropy::{SigmoidCrossEntropy, SoftmaxCrossEntropy};
pub use regression::{Huber, Mae, Mse};
