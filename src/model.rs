//! Model: a [`Net`] with its loss and optimizer — tinynn's `forward`, `backward`,
//! `apply_grad`, plus a one-call [`Model::train_step`].
//!
//! ```
//! use nanonn::prelude::*;
//!
//! let layers: [AnyLayer; 3] = [Dense::new(2, 8).into(), Activation::Tanh.into(), Dense::new(8, 1).into()];
//! let optimizer = Adam::new(0.05);
//! let plan = Plan::training(&layers, Shape::vector(2), 4, &optimizer)?;
//! let mut memory = vec![0.0f32; plan.floats()]; // or a `static` array on a microcontroller
//! let mut model = Model::new(layers, Shape::vector(2), 4, Mse, optimizer, &mut memory[..], 42)?;
//!
//! // Learn XOR.
//! let x = Tensor::matrix(&[0., 0., 0., 1., 1., 0., 1., 1.], 4, 2)?;
//! let y = Tensor::matrix(&[0., 1., 1., 0.], 4, 1)?;
//! let mut loss = f32::INFINITY;
//! for _ in 0..500 {
//!     loss = model.train_step(x, Targets::Values(y))?;
//! }
//! assert!(loss < 0.01, "{loss}");
//! # Ok::<(), nanonn::Error>(())
//! ```

use crate::error::Result;
use crate::layers::{AnyLayer, Mode};
use crate::loss::{Loss, Targets};
use crate::net::Net;
use crate::optim::Optimizer;
use crate::plan::{Plan, Purpose};
use crate::tensor::{Shape, Tensor};

/// A network, a loss and an optimizer, trained together.
pub struct Model<'a, L, O, M = &'a mut [f32]> {
    net: Net<'a, M>,
    loss: L,
    optimizer: O,
}

impl<'a, L: Loss, O: Optimizer, M: AsMut<[f32]> + AsRef<[f32]>> Model<'a, L, O, M> {
    /// Builds a model for training in `memory`, which must hold at least
    /// `Plan::training(&layers, input, batch, &optimizer)?.floats()` elements.
    ///
    /// Errors if a hyper-parameter of `optimizer` is invalid ([`Optimizer::validate`]),
    /// before `memory` is touched, rather than at the first training step.
    pub fn new(
        layers: impl IntoIterator<Item = AnyLayer<'a>>,
        input: Shape,
        batch: usize,
        loss: L,
        optimizer: O,
        memory: M,
        seed: u64,
    ) -> Result<Self> {
        optimizer.validate()?;
        let purpose = Purpose::Training {
            optimizer_state_per_param: optimizer.state_per_param(),
        };
        // Built in place (see `net.rs`): a `Net` is about 10 KB on a 32-bit target, and
        // `Model { net: Net::new(..)?, .. }` would hold two of them on the stack at once.
        let mut model = Model {
            net: Net::empty(memory),
            loss,
            optimizer,
        };
        model
            .net
            .assemble(input, batch, purpose, seed, None, |list| {
                crate::net::push_layers(list, layers)
            })?;
        Ok(model)
    }

    /// Forward pass in training mode; returns the predictions.
    pub fn forward(&mut self, x: Tensor<'_>) -> Result<Tensor<'_>> {
        if self.net.mode() != Mode::Train {
            self.net.set_mode(Mode::Train)?;
        }
        self.net.forward(x)
    }

    /// Loss of the last `forward`'s predictions against `targets`; backpropagates and
    /// leaves the gradients in the network. Returns the loss (an error if it is not finite).
    pub fn backward(&mut self, targets: Targets<'_>) -> Result<f32> {
        self.net.backward_loss(&self.loss, targets)
    }

    /// [`Model::backward`], and also the loss's gradient with respect to the last forward's
    /// input, written to `grad_input` (`batch × input size` floats). See
    /// [`Net::backward_to_input`] for why it is a separate call.
    pub fn backward_to_input(
        &mut self,
        targets: Targets<'_>,
        grad_input: &mut [f32],
    ) -> Result<f32> {
        self.net
            .backward_loss_to_input(&self.loss, targets, grad_input)
    }

    /// Applies one optimizer step with the gradients of the last `backward`.
    pub fn apply_grad(&mut self) -> Result<()> {
        self.net.apply_grad(&mut self.optimizer)
    }

    /// `forward`, `backward` and `apply_grad` in one call; returns the loss.
    ///
    /// The same arithmetic as the three calls, without copying `x` into the network's
    /// memory (the backward pass reads it where it is): so the step leaves no forward pass
    /// for a later `backward`, which needs a `forward` first.
    pub fn train_step(&mut self, x: Tensor<'_>, targets: Targets<'_>) -> Result<f32> {
        if self.net.mode() != Mode::Train {
            self.net.set_mode(Mode::Train)?;
        }
        let loss = self.net.train_pass(x, &self.loss, targets)?;
        self.apply_grad()?;
        Ok(loss)
    }

    /// Forward pass in evaluation mode (no dropout, running statistics); returns the
    /// predictions.
    pub fn predict(&mut self, x: Tensor<'_>) -> Result<Tensor<'_>> {
        if self.net.mode() != Mode::Eval {
            self.net.set_mode(Mode::Eval)?;
        }
        self.net.forward(x)
    }

    /// The loss of the predictions for `x` against `targets`, in evaluation mode.
    pub fn evaluate_loss(&mut self, x: Tensor<'_>, targets: Targets<'_>) -> Result<f32> {
        let loss = &self.loss;
        if self.net.mode() != Mode::Eval {
            self.net.set_mode(Mode::Eval)?;
        }
        let preds = self.net.forward(x)?;
        loss.loss(preds, targets)
    }

    /// Sets the optimizer's learning rate (call with a schedule's value before a step).
    pub fn set_lr(&mut self, lr: f32) {
        self.optimizer.set_lr(lr);
    }

    /// Optimizer steps taken so far.
    pub fn steps(&self) -> u64 {
        self.optimizer.steps()
    }

    /// The network.
    pub fn net(&self) -> &Net<'a, M> {
        &self.net
    }

    /// The network, mutably (e.g. to load parameters).
    pub fn net_mut(&mut self) -> &mut Net<'a, M> {
        &mut self.net
    }

    /// The memory plan.
    pub fn plan(&self) -> &Plan {
        self.net.plan()
    }

    /// The loss.
    pub fn loss(&self) -> &L {
        &self.loss
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The optimizer, mutably.
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }
}

#[cfg(feature = "alloc")]
impl<'a, L: Loss, O: Optimizer> Model<'a, L, O, alloc::vec::Vec<f32>> {
    /// Builds a model that allocates exactly the memory its plan needs. Errors like
    /// [`Model::new`], a bad optimizer hyper-parameter included.
    pub fn owned(
        layers: impl IntoIterator<Item = AnyLayer<'a>>,
        input: Shape,
        batch: usize,
        loss: L,
        optimizer: O,
        seed: u64,
    ) -> Result<Self> {
        optimizer.validate()?;
        let purpose = Purpose::Training {
            optimizer_state_per_param: optimizer.state_per_param(),
        };
        let net = Net::owned(layers, input, batch, purpose, seed)?;
        Ok(Model {
            net,
            loss,
            optimizer,
        })
    }
}
