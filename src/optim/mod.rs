//! Optimizers: turn gradients into parameter updates.
//!
//! Every optimizer updates the network's flat parameter slice in place from the flat gradient
//! slice, in one fused pass (the update loops are in [`crate::kernels`]). Per-parameter state
//! (momentum, moment estimates) lives in a caller-provided slice of
//! `state_per_param() * params.len()` floats that the [`crate::plan::Plan`] reserves.
//!
//! Sorted by increasing complexity: [`Sgd`], [`Momentum`], [`Adagrad`], [`RMSProp`],
//! [`Adadelta`], [`Adam`], [`RAdam`].

use crate::error::Result;

/// How weight decay is applied.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum WeightDecay {
    /// No weight decay.
    #[default]
    None,
    /// Classic L2 regularisation: `grad += decay * param` before the update.
    L2(f32),
    /// Decoupled weight decay (AdamW): `param -= lr * decay * param`, separately from the
    /// gradient-based update.
    Decoupled(f32),
}

/// An optimizer: computes and applies the step for every parameter.
pub trait Optimizer {
    /// A short name for messages ("Adam").
    fn name(&self) -> &'static str;

    /// Floats of state kept per parameter (Adam: 2, SGD: 0).
    fn state_per_param(&self) -> usize;

    /// The current learning rate.
    fn lr(&self) -> f32;

    /// Sets the learning rate (schedules call this before each step).
    fn set_lr(&mut self, lr: f32);

    /// Number of steps taken so far.
    fn steps(&self) -> u64;

    /// Sets the step counter (used when resuming from a checkpoint).
    fn set_steps(&mut self, steps: u64);

    /// Checks the hyper-parameters (learning rate, decay coefficients, `eps`, weight decay)
    /// without taking a step: the same checks, in the same order and with the same errors, as
    /// [`step`](Optimizer::step). [`Model::new`](crate::model::Model::new) calls it, so a bad
    /// value is reported when the model is built instead of at its first training step.
    ///
    /// The default accepts everything, for optimizers without hyper-parameters to check. An
    /// optimizer that wraps others must forward it, or it hides their errors until `step`.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Applies one update: `params -= step(grads)`. `state` holds
    /// `state_per_param() * params.len()` floats, zero before the first step.
    ///
    /// Errors if the slice lengths disagree or a hyper-parameter is invalid (see
    /// [`validate`](Optimizer::validate)).
    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()>;
}

mod adam;
mod adaptive;
mod common;
mod sgd;
#[cfg(test)]
mod tests;

pub use adam::{Adam, RAdam};
pub use adaptive::{Adadelta, Adagrad, RMSProp};
pub use sgd::{Momentum, Sgd};
