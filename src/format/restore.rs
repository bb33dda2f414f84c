//! From a parsed [`ModelFile`] to a working network: build one (in place or copied), load
//! weights into an existing one, or resume training from a checkpoint.

use super::read::ModelFile;
use super::{FileError, TrainingState};
use crate::layers::Layer;
use crate::loss::Loss;
use crate::model::Model;
use crate::net::Net;
use crate::optim::Optimizer;
use crate::plan::{Plan, Purpose};

impl<'b> ModelFile<'b> {
    /// Exactly how many `f32` of memory [`ModelFile::inference_net`] needs for batches of at
    /// most `batch`: without the parameters when they can be used in place
    /// ([`ModelFile::params_in_place`]), with them otherwise.
    pub fn inference_floats(&self, batch: usize) -> Result<usize, FileError> {
        // In place, as in `inference_net`: one list of layers and one plan on the stack.
        let mut layers = heapless::Vec::new();
        self.push_layers(&mut layers)?;
        let (input, purpose) = (self.input_shape(), Purpose::Inference);
        let mut plan = Plan::empty(input, batch, purpose);
        plan.replan(&layers, input, batch, purpose)?;
        if self.params_in_place().is_some() {
            plan.borrow_params();
        }
        Ok(plan.floats())
    }

    /// Builds the file's network for inference in `memory` (at least
    /// [`ModelFile::inference_floats`] elements). The parameters are used in place when
    /// possible — the network then borrows the file's bytes — and copied otherwise; the
    /// persistent buffers are always copied (layers may write them).
    pub fn inference_net<M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        batch: usize,
        memory: M,
    ) -> Result<Net<'b, M>, FileError> {
        match self.params_in_place() {
            Some(params) => {
                // In place (see `net.rs`): the layers go straight into the network's list.
                let mut net = Net::empty(memory);
                let input = self.input_shape();
                net.assemble(input, batch, Purpose::Inference, 0, Some(params), |list| {
                    self.push_layers(list)
                })?;
                self.copy_buffers(net.buffers_mut())?;
                Ok(net)
            }
            None => self.net(batch, Purpose::Inference, memory),
        }
    }

    /// Builds the file's network for `purpose` in `memory` (at least
    /// `Plan::new(&file.layers()?, file.input_shape(), batch, purpose)?.floats()` elements)
    /// with copies of its parameters and buffers — e.g. to fine-tune a saved model. Training
    /// state is not restored (the network's generator starts from seed 0; see
    /// [`Net::set_rng`]); [`ModelFile::restore`] does that.
    pub fn net<'n, M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        batch: usize,
        purpose: Purpose,
        memory: M,
    ) -> Result<Net<'n, M>, FileError> {
        let mut net = Net::empty(memory);
        net.assemble(self.input_shape(), batch, purpose, 0, None, |list| {
            self.push_layers(list)
        })?;
        self.copy_params(net.params_mut())?;
        self.copy_buffers(net.buffers_mut())?;
        Ok(net)
    }

    /// Builds the file's network for `purpose` in memory it allocates.
    #[cfg(feature = "alloc")]
    pub fn owned_net<'n>(
        &self,
        batch: usize,
        purpose: Purpose,
    ) -> Result<Net<'n, alloc::vec::Vec<f32>>, FileError> {
        let plan = Plan::new(&self.layers()?, self.input_shape(), batch, purpose)?;
        self.net(batch, purpose, alloc::vec![0.0; plan.floats()])
    }

    /// Checks that `net` has this file's architecture: the same input shape and, layer by
    /// layer, the same layer name (e.g. "Dense", "Tanh"), output shape, parameter count and
    /// buffer count.
    pub fn check_matches<M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        net: &Net<'_, M>,
    ) -> Result<(), FileError> {
        let mismatch = |what, layer| Err(FileError::Mismatch { what, layer });
        if net.input_shape() != self.input_shape() {
            return mismatch("the input shapes differ", None);
        }
        if net.layers().len() != self.layer_count() {
            return mismatch("the numbers of layers differ", None);
        }
        let slots = net.plan().slots();
        self.for_each_record(|i, rec| {
            let (layer, slot) = (&net.layers()[i], &slots[i]);
            if layer.name() != rec.layer.name() {
                return mismatch("the layer kinds differ", Some(i));
            }
            if slot.output != rec.output {
                return mismatch("the output shapes differ", Some(i));
            }
            if slot.params.len() != rec.params || slot.buffers.len() != rec.buffers {
                return mismatch("the parameter or buffer counts differ", Some(i));
            }
            Ok(())
        })
    }

    /// Copies this file's parameters and buffers into `net`, after checking that it has the
    /// same architecture ([`ModelFile::check_matches`]). A network whose parameters are
    /// borrowed cannot be loaded into.
    pub fn load_into<M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        net: &mut Net<'_, M>,
    ) -> Result<(), FileError> {
        self.check_matches(net)?;
        if net.params_borrowed() {
            return Err(FileError::Mismatch {
                what: "the network's parameters are borrowed read-only",
                layer: None,
            });
        }
        self.copy_params(net.params_mut())?;
        self.copy_buffers(net.buffers_mut())
    }

    /// Resumes training: restores `model`'s parameters, buffers, optimizer state, step
    /// counter, learning rate and network generator from this checkpoint, so that training
    /// on continues bit for bit as if it had never stopped. Returns the training state, whose
    /// `user_rng` and `user_data` the caller restores on its side.
    ///
    /// Nothing is changed unless everything matches: the architecture, the optimizer's name
    /// and its state size.
    pub fn restore<L: Loss, O: Optimizer, M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        model: &mut Model<'_, L, O, M>,
    ) -> Result<&TrainingState, FileError> {
        let t = self.check_checkpoint(model.net(), model.optimizer())?;
        self.apply_net(model.net_mut(), t)?;
        apply_optimizer(model.optimizer_mut(), t);
        Ok(t)
    }

    /// [`ModelFile::restore`] for a network and an optimizer used without a [`Model`].
    pub fn restore_net<M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        net: &mut Net<'_, M>,
        optimizer: &mut dyn Optimizer,
    ) -> Result<&TrainingState, FileError> {
        let t = self.check_checkpoint(net, optimizer)?;
        self.apply_net(net, t)?;
        apply_optimizer(optimizer, t);
        Ok(t)
    }

    fn check_checkpoint<M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        net: &Net<'_, M>,
        optimizer: &dyn Optimizer,
    ) -> Result<&TrainingState, FileError> {
        let t = self.training().ok_or(FileError::NotACheckpoint)?;
        let mismatch = |what| Err(FileError::Mismatch { what, layer: None });
        if optimizer.name() != t.optimizer.as_str() {
            return mismatch("the checkpoint was written with another optimizer");
        }
        if optimizer.state_per_param() != t.state_per_param {
            return mismatch("the optimizer keeps a different amount of state");
        }
        if net.optimizer_state().len() != self.param_count() * t.state_per_param {
            return mismatch("the network is not planned for training with this optimizer");
        }
        self.check_matches(net)?;
        Ok(t)
    }

    fn apply_net<M: AsRef<[f32]> + AsMut<[f32]>>(
        &self,
        net: &mut Net<'_, M>,
        t: &TrainingState,
    ) -> Result<(), FileError> {
        self.load_into(net)?;
        self.copy_optimizer_state(net.optimizer_state_mut())?;
        net.set_rng(t.net_rng.clone());
        Ok(())
    }
}

fn apply_optimizer(optimizer: &mut dyn Optimizer, t: &TrainingState) {
    optimizer.set_steps(t.steps);
    optimizer.set_lr(t.lr);
}
