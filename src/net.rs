//! Net: a sequence of layers run forward and backward over one block of memory.
//!
//! As in tinynn, a `Net` runs its layers in order on the way forward and in reverse on the
//! way back, and exposes every parameter and gradient. Unlike tinynn it owns no heap: all its
//! buffers live in the memory `M` given to [`Net::new`] (a `&mut [f32]`, or with `alloc` a
//! `Vec<f32>`), laid out by a [`Plan`]. An inference network can also read its parameters from
//! a slice it borrows instead ([`Net::with_params`]), e.g. weights left in flash.

use crate::error::{Error, ErrorKind, Result, check_finite};
use crate::kernels::{check_finite_split, copy_finite};
use crate::layers::{AnyLayer, BackwardCtx, ForwardCtx, Layer, Mode};
use crate::optim::Optimizer;
use crate::plan::{MAX_LAYERS, Plan, Purpose};
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor, TensorMut};

/// A sequential network living in caller-provided memory `M`.
pub struct Net<'a, M = &'a mut [f32]> {
    layers: heapless::Vec<AnyLayer<'a>, MAX_LAYERS>,
    plan: Plan,
    mem: M,
    /// Parameters borrowed from outside `mem` ([`Net::with_params`]); `None` when they live
    /// in `mem`.
    borrowed: Option<&'a [f32]>,
    rng: Rng,
    mode: Mode,
    /// Batch size of the last training-mode forward pass, which `backward` needs.
    ready_batch: Option<usize>,
}

/// The disjoint regions of a network's memory, borrowed at once.
struct Parts<'m> {
    params: &'m mut [f32],
    buffers: &'m mut [f32],
    grads: &'m mut [f32],
    opt: &'m mut [f32],
    cache: &'m mut [f32],
    acts: &'m mut [f32],
    back: [&'m mut [f32]; 2],
    scratch: &'m mut [f32],
}

fn split<'m>(mem: &'m mut [f32], plan: &Plan) -> Parts<'m> {
    let r = plan.regions();
    let mem = &mut mem[..plan.floats()];
    let (params, rest) = mem.split_at_mut(r.params);
    let (buffers, rest) = rest.split_at_mut(r.buffers);
    let (grads, rest) = rest.split_at_mut(r.grads);
    let (opt, rest) = rest.split_at_mut(r.optimizer_state);
    let (cache, rest) = rest.split_at_mut(r.cache);
    let (acts, rest) = rest.split_at_mut(r.activations);
    let (b0, rest) = rest.split_at_mut(r.backprop_buffer);
    let (b1, scratch) = rest.split_at_mut(r.backprop_buffer);
    Parts {
        params,
        buffers,
        grads,
        opt,
        cache,
        acts,
        back: [b0, b1],
        scratch,
    }
}

/// The fixed-capacity list of layers a network keeps.
pub(crate) type LayerList<'a> = heapless::Vec<AnyLayer<'a>, MAX_LAYERS>;

/// Appends `layers` to the list a network keeps, in place.
pub(crate) fn push_layers<'a>(
    list: &mut LayerList<'a>,
    layers: impl IntoIterator<Item = AnyLayer<'a>>,
) -> Result<()> {
    for layer in layers {
        list.push(layer).map_err(|_| {
            Error::new(ErrorKind::CapacityExceeded {
                what: "layers",
                capacity: MAX_LAYERS,
            })
        })?;
    }
    Ok(())
}

// How a network is built without copying it around. A `Net` is big on a microcontroller
// (about 10 KB on a 32-bit target: room for `MAX_LAYERS` layers and as many plan slots), and
// building it from values — collect the layers, make a `Plan`, then `Net { .. }` inside
// `Ok(..)` — leaves several copies of it on the stack at once. Instead, every constructor
// starts from an empty network (`Net::empty`: nothing to copy but lengths), pushes the
// layers into it, plans in place (`Plan::replan`) and initialises the memory
// (`Net::finish`), all through `&mut self`; only the finished value is moved, once.
// `Model::new` and `ModelFile::inference_net` do the same on their own values. (Building
// the returned `Result` itself in place, `let mut r = Ok(empty); if let Ok(v) = &mut r ..`,
// was measured to cost one more copy on thumbv7em, not one fewer.)

impl<'a, M: AsMut<[f32]> + AsRef<[f32]>> Net<'a, M> {
    /// Builds a network of `layers` for per-sample inputs of shape `input`, batches of at most
    /// `batch`, in `memory`, and initialises its parameters from `seed`.
    ///
    /// `memory` must hold at least [`Plan::floats`] elements of the corresponding plan
    /// (`Plan::new(&layers, input, batch, purpose)`); otherwise this returns
    /// [`ErrorKind::OutOfMemory`] with both sizes in bytes.
    pub fn new(
        layers: impl IntoIterator<Item = AnyLayer<'a>>,
        input: Shape,
        batch: usize,
        purpose: Purpose,
        memory: M,
        seed: u64,
    ) -> Result<Self> {
        let mut net = Net::empty(memory);
        net.assemble(input, batch, purpose, seed, None, |list| {
            push_layers(list, layers)
        })?;
        Ok(net)
    }

    /// Builds an inference network that reads its parameters from `params` instead of copying
    /// them into `memory` — for weights that stay in flash or in a loaded file (see
    /// [`crate::format::ModelFile::inference_net`]). `params` holds every layer's parameters
    /// in order, exactly [`Plan::param_count`] of them, and must be finite; `memory` needs
    /// [`Plan::inference_borrowed`]`(..).floats()` elements. Persistent buffers start at their
    /// initial values; set them with [`Net::buffers_mut`].
    pub fn with_params(
        layers: impl IntoIterator<Item = AnyLayer<'a>>,
        input: Shape,
        batch: usize,
        params: &'a [f32],
        memory: M,
    ) -> Result<Self> {
        let mut net = Net::empty(memory);
        net.assemble(input, batch, Purpose::Inference, 0, Some(params), |list| {
            push_layers(list, layers)
        })?;
        Ok(net)
    }

    /// A network with no layers and an empty plan, for [`Net::assemble`] to fill in place.
    #[inline]
    pub(crate) fn empty(memory: M) -> Self {
        Net {
            layers: heapless::Vec::new(),
            plan: Plan::empty(Shape::vector(0), 0, Purpose::Inference),
            mem: memory,
            borrowed: None,
            rng: Rng::new(0),
            mode: Mode::Eval,
            ready_batch: None,
        }
    }

    /// Builds the network in place (see the note above this `impl`): `add_layers` pushes the
    /// layers, then the plan is made, and the memory checked and initialised. With `params`,
    /// an inference network that borrows them ([`Net::with_params`]); `purpose` must then be
    /// inference. Errors come in the order [`Net::new`] documents; on error `self` is no
    /// usable network and is to be dropped.
    pub(crate) fn assemble<E: From<Error>>(
        &mut self,
        input: Shape,
        batch: usize,
        purpose: Purpose,
        seed: u64,
        params: Option<&'a [f32]>,
        add_layers: impl FnOnce(&mut LayerList<'a>) -> core::result::Result<(), E>,
    ) -> core::result::Result<(), E> {
        self.layers.clear();
        add_layers(&mut self.layers)?;
        self.plan_layers(input, batch, purpose, params)?;
        self.finish(seed)?;
        Ok(())
    }

    /// Plans `self.layers` in place and checks `params` against the plan.
    fn plan_layers(
        &mut self,
        input: Shape,
        batch: usize,
        purpose: Purpose,
        params: Option<&'a [f32]>,
    ) -> Result<()> {
        self.plan.replan(&self.layers, input, batch, purpose)?;
        if let Some(params) = params {
            self.plan.borrow_params();
            let plan = &self.plan;
            if params.len() != plan.param_count() {
                return Err(Error::length(
                    "parameters",
                    plan.param_count(),
                    params.len(),
                ));
            }
            check_finite("parameters", params)?;
        }
        self.borrowed = params;
        Ok(())
    }

    /// Checks and initialises the memory of a planned network: zeroes it, initialises the
    /// parameters (unless borrowed) from `seed` and the buffers, and sets the mode.
    fn finish(&mut self, seed: u64) -> Result<()> {
        let plan = &self.plan;
        let purpose = plan.purpose();
        let available = self.mem.as_ref().len();
        if available < plan.floats() {
            return Err(Error::new(ErrorKind::OutOfMemory {
                what: "the network",
                needed_bytes: plan.bytes(),
                available_bytes: available * 4,
            }));
        }
        // Choose the kernel path now (it may read an environment variable, which allocates),
        // so that no forward or backward pass does it.
        let _ = crate::kernels::selected();
        let mut rng = Rng::new(seed);
        let mem = self.mem.as_mut();
        mem[..plan.floats()].fill(0.0);
        let parts = split(mem, plan);
        for (i, (layer, slot)) in self.layers.iter().zip(plan.slots()).enumerate() {
            if self.borrowed.is_none() {
                layer
                    .init_params(&mut parts.params[slot.params.clone()], &mut rng)
                    .map_err(|e| e.in_layer(i, layer.name()))?;
            }
            layer.init_buffers(&mut parts.buffers[slot.buffers.clone()]);
        }
        self.mode = match purpose {
            Purpose::Inference => Mode::Eval,
            Purpose::Training { .. } => Mode::Train,
        };
        self.rng = rng.fork();
        self.ready_batch = None;
        Ok(())
    }

    /// The memory plan this network was built with.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[AnyLayer<'a>] {
        &self.layers
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> Shape {
        self.plan.input_shape()
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> Shape {
        self.plan.output_shape()
    }

    /// Training or evaluation.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Switches between training and evaluation. A network planned for inference only
    /// refuses [`Mode::Train`].
    pub fn set_mode(&mut self, mode: Mode) -> Result<()> {
        if mode == Mode::Train && !self.trains() {
            return Err(Error::state(
                "this network was planned for inference; plan it for training to train it",
            ));
        }
        self.mode = mode;
        self.ready_batch = None;
        Ok(())
    }

    fn trains(&self) -> bool {
        matches!(self.plan.purpose(), Purpose::Training { .. })
    }

    /// All parameters, layer after layer (see [`Net::layer_params`] for each layer's part).
    pub fn params(&self) -> &[f32] {
        match self.borrowed {
            Some(params) => params,
            None => &self.mem.as_ref()[..self.plan.regions().params],
        }
    }

    /// All parameters, mutably (e.g. to load weights). Empty for a network whose parameters
    /// are borrowed ([`Net::with_params`]): those are read-only.
    pub fn params_mut(&mut self) -> &mut [f32] {
        let n = self.plan.regions().params;
        &mut self.mem.as_mut()[..n]
    }

    /// Whether the parameters are borrowed read-only ([`Net::with_params`]).
    pub fn params_borrowed(&self) -> bool {
        self.borrowed.is_some()
    }

    /// All gradients from the last `backward`, with the layout of [`Net::params`] (empty for
    /// an inference network).
    pub fn grads(&self) -> &[f32] {
        let r = self.plan.regions();
        let start = r.params + r.buffers;
        &self.mem.as_ref()[start..start + r.grads]
    }

    /// All persistent layer buffers (running statistics), layer after layer.
    pub fn buffers(&self) -> &[f32] {
        let r = self.plan.regions();
        &self.mem.as_ref()[r.params..r.params + r.buffers]
    }

    /// All persistent layer buffers, mutably (to restore them from a saved model).
    pub fn buffers_mut(&mut self) -> &mut [f32] {
        let r = self.plan.regions();
        &mut self.mem.as_mut()[r.params..r.params + r.buffers]
    }

    /// Layer `index`, its parameters and its gradients (tinynn's per-layer `params` and
    /// `grads`), or `None` past the last layer.
    pub fn layer_params(&self, index: usize) -> Option<(&AnyLayer<'a>, &[f32], &[f32])> {
        let slot = self.plan.slots().get(index)?;
        let grads = self.grads();
        let g = if grads.is_empty() {
            grads
        } else {
            &grads[slot.params.clone()]
        };
        Some((&self.layers[index], &self.params()[slot.params.clone()], g))
    }

    /// The network's random generator (dropout), e.g. to store it in a checkpoint.
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// Replaces the network's random generator (to resume from a checkpoint bit for bit).
    pub fn set_rng(&mut self, rng: Rng) {
        self.rng = rng;
    }

    /// Runs the layers forward on a batch `x` of shape `[n, ..input]` with `1 ≤ n ≤`
    /// the planned batch, and returns the output `[n, ..output]`.
    ///
    /// Errors on a wrong shape, a batch of 0 or larger than planned, or a NaN/infinity in
    /// `x`; after the last of these (found while `x` is copied in) the previous forward
    /// pass is gone too, so a `backward` needs a new `forward`.
    pub fn forward(&mut self, x: Tensor<'_>) -> Result<Tensor<'_>> {
        let n = self.forward_from(x, true)?;
        self.output(n)
    }

    /// [`Net::forward`], returning the batch size; with `keep_input` false a training
    /// forward leaves `x` where it is instead of copying it into the network's memory, and
    /// the backward pass must then be given `x` again ([`Net::train_pass`]).
    fn forward_from(&mut self, x: Tensor<'_>, keep_input: bool) -> Result<usize> {
        let n = self.check_input(x)?;
        self.ready_batch = None;
        let training_layout = self.trains();
        let Net {
            layers,
            plan,
            mem,
            borrowed,
            rng,
            mode,
            ..
        } = self;
        let mode = *mode;
        let parts = split(mem.as_mut(), plan);
        let Parts {
            params,
            buffers,
            cache,
            acts,
            scratch,
            ..
        } = parts;
        let params: &[f32] = match *borrowed {
            Some(p) => p,
            None => params,
        };
        let ping = plan.pingpong_len();
        // The input is checked for NaN and infinity here, and in training copied where
        // the backward pass finds it, in one pass split over the threads.
        let copy_input = training_layout && keep_input;
        if copy_input {
            copy_finite("input", x.data(), &mut acts[..x.data().len()])?;
        } else {
            check_finite_split("input", x.data())?;
        }
        for (i, (layer, slot)) in layers.iter_mut().zip(plan.slots()).enumerate() {
            let xs = slot.input.batched(n)?;
            let ys = slot.output.batched(n)?;
            let (xd, yd): (&[f32], &mut [f32]) = if training_layout {
                let (lo, hi) = acts.split_at_mut(plan.boundary_offset(i + 1));
                let xo = plan.boundary_offset(i);
                let xd = if i == 0 && !copy_input {
                    x.data()
                } else {
                    &lo[xo..xo + xs.numel()]
                };
                (xd, &mut hi[..ys.numel()])
            } else {
                let (a, b) = acts.split_at_mut(ping);
                let (src, dst) = if i % 2 == 0 { (b, a) } else { (a, b) };
                let src: &[f32] = if i == 0 { x.data() } else { &src[..xs.numel()] };
                (src, &mut dst[..ys.numel()])
            };
            let ctx = ForwardCtx {
                params: &params[slot.params.clone()],
                buffers: &mut buffers[slot.buffers.clone()],
                cache: &mut cache[slot.cache.clone()],
                scratch: &mut scratch[..],
                rng: &mut *rng,
                mode,
            };
            layer
                .forward(Tensor::new(xd, xs)?, TensorMut::new(yd, ys)?, ctx)
                .map_err(|e| e.in_layer(i, layer.name()))?;
        }
        if mode == Mode::Train && copy_input {
            self.ready_batch = Some(n);
        }
        Ok(n)
    }

    /// A training forward and backward pass on `x`, its loss's gradient written straight
    /// into the backward buffer; returns the loss. [`crate::model::Model::train_step`]'s
    /// pass.
    ///
    /// Why not `forward` then `backward_loss`: `forward` copies the input into the network's
    /// memory, for a backward pass called later; here `x` is still borrowed when the
    /// backward pass runs, so the first layer reads it where it is (on MNIST's 128 × 784
    /// input the copy was ~19 µs of a ~1.3 ms step on one thread). Afterwards the network
    /// holds no input, so a `backward` call needs a `forward` first again.
    pub(crate) fn train_pass<L: crate::loss::Loss + ?Sized>(
        &mut self,
        x: Tensor<'_>,
        loss: &L,
        targets: crate::loss::Targets<'_>,
    ) -> Result<f32> {
        if self.mode != Mode::Train || !self.trains() {
            return Err(Error::state(
                "a training step needs a network planned for training, in training mode",
            ));
        }
        let n = self.forward_from(x, false)?;
        self.ready_batch = Some(n);
        let value = self.loss_backward(loss, targets, None, Some(x.data()));
        self.ready_batch = None;
        value
    }

    /// The batch size of `x`, checked against the network's input shape and plan (its
    /// values are checked for NaN and infinity afterwards, in the pass that copies them
    /// in training or on their own otherwise).
    fn check_input(&self, x: Tensor<'_>) -> Result<usize> {
        let n = x.batch();
        if x.shape().rank() == 0 || x.shape().inner() != self.input_shape() {
            let expected = self.input_shape().batched(n.max(1))?;
            return Err(Error::shape("input", expected, x.shape()));
        }
        if n == 0 {
            return Err(Error::config("batch size must be at least 1"));
        }
        if n > self.plan.batch() {
            return Err(Error::new(ErrorKind::BatchTooLarge {
                got: n,
                max: self.plan.batch(),
            }));
        }
        Ok(n)
    }

    /// Where the output of the last layer lives, for a batch of `n`.
    fn output_range(&self, n: usize) -> core::ops::Range<usize> {
        let r = self.plan.regions();
        let acts = r.params + r.buffers + r.grads + r.optimizer_state + r.cache;
        let len = n * self.output_shape().numel();
        let layers = self.layers.len();
        let off = if self.trains() {
            self.plan.boundary_offset(layers)
        } else if layers % 2 == 1 {
            0
        } else {
            self.plan.pingpong_len()
        };
        acts + off..acts + off + len
    }

    fn output(&self, n: usize) -> Result<Tensor<'_>> {
        let range = self.output_range(n);
        Tensor::new(&self.mem.as_ref()[range], self.output_shape().batched(n)?)
    }

    /// Backpropagates `grad_output = ∂L/∂output` (shape `[n, ..output]` of the last
    /// training-mode `forward`) and writes every parameter gradient.
    pub fn backward(&mut self, grad_output: Tensor<'_>) -> Result<()> {
        self.backward_given(grad_output, None)
    }

    /// [`Net::backward`], and also `∂L/∂input` of the last forward, written to `grad_input`
    /// (`batch × input size` floats, batch-first like the input).
    ///
    /// Why a separate call: training a network never needs the gradient with respect to its
    /// own input, so `backward` skips the first layer's input gradient. A network that
    /// learns through another one does need it — a GAN's generator learns from the
    /// discriminator's gradient with respect to the generated images. The caller provides
    /// the buffer, so nothing is planned or allocated for the networks that do not.
    pub fn backward_to_input(
        &mut self,
        grad_output: Tensor<'_>,
        grad_input: &mut [f32],
    ) -> Result<()> {
        self.backward_given(grad_output, Some(grad_input))
    }

    /// Checks `grad_output` (and `grad_input`), copies it into the backward buffer and
    /// backpropagates.
    fn backward_given(
        &mut self,
        grad_output: Tensor<'_>,
        grad_input: Option<&mut [f32]>,
    ) -> Result<()> {
        let n = self.ready_for_backward()?;
        if let Some(g) = &grad_input {
            self.check_input_grad(n, g)?;
        }
        let expected = self.output_shape().batched(n)?;
        if grad_output.shape() != expected {
            return Err(Error::shape(
                "output gradient",
                expected,
                grad_output.shape(),
            ));
        }
        check_finite("output gradient", grad_output.data())?;
        let slot = self.layers.len() % 2;
        let parts = split(self.mem.as_mut(), &self.plan);
        parts.back[slot][..expected.numel()].copy_from_slice(grad_output.data());
        self.backward_from_buffer(n, grad_input, None)
    }

    /// Errors unless `grad_input` holds exactly the `n` samples of the network's input.
    fn check_input_grad(&self, n: usize, grad_input: &[f32]) -> Result<()> {
        let expected = self.input_shape().numel().saturating_mul(n);
        if grad_input.len() != expected {
            return Err(Error::length("input gradient", expected, grad_input.len()));
        }
        Ok(())
    }

    /// Computes `loss` on the last forward's output against `targets`, writes its gradient
    /// straight into the backward buffer, backpropagates, and returns the loss.
    pub fn backward_loss<L: crate::loss::Loss + ?Sized>(
        &mut self,
        loss: &L,
        targets: crate::loss::Targets<'_>,
    ) -> Result<f32> {
        self.loss_backward(loss, targets, None, None)
    }

    /// [`Net::backward_loss`], and also `∂loss/∂input` written to `grad_input` (see
    /// [`Net::backward_to_input`]).
    pub fn backward_loss_to_input<L: crate::loss::Loss + ?Sized>(
        &mut self,
        loss: &L,
        targets: crate::loss::Targets<'_>,
        grad_input: &mut [f32],
    ) -> Result<f32> {
        self.loss_backward(loss, targets, Some(grad_input), None)
    }

    /// `input`: the last forward's input when that forward did not copy it
    /// ([`Net::train_pass`]).
    fn loss_backward<L: crate::loss::Loss + ?Sized>(
        &mut self,
        loss: &L,
        targets: crate::loss::Targets<'_>,
        grad_input: Option<&mut [f32]>,
        input: Option<&[f32]>,
    ) -> Result<f32> {
        let n = self.ready_for_backward()?;
        if let Some(g) = &grad_input {
            self.check_input_grad(n, g)?;
        }
        let out = self.output_range(n);
        let shape = self.output_shape().batched(n)?;
        let acts_start = {
            let r = self.plan.regions();
            r.params + r.buffers + r.grads + r.optimizer_state + r.cache
        };
        let slot = self.layers.len() % 2;
        let parts = split(self.mem.as_mut(), &self.plan);
        let preds = &parts.acts[out.start - acts_start..out.end - acts_start];
        let grad = &mut parts.back[slot][..shape.numel()];
        let value = loss.loss_and_grad(Tensor::new(preds, shape)?, targets, grad)?;
        if !value.is_finite() {
            return Err(Error::new(ErrorKind::NonFinite {
                what: "loss",
                index: 0,
            }));
        }
        self.backward_from_buffer(n, grad_input, input)?;
        Ok(value)
    }

    fn ready_for_backward(&self) -> Result<usize> {
        if !self.trains() {
            return Err(Error::state(
                "backward needs a network planned for training",
            ));
        }
        self.ready_batch
            .ok_or(Error::state("backward needs a training-mode forward first"))
    }

    /// Runs the layers backwards; `∂L/∂output` is in backward buffer `layers % 2`. The first
    /// layer's input gradient goes to `grad_input` (length checked by the caller), if given.
    /// The first layer's input is `input` if given (a forward that did not copy it), else
    /// the copy in the network's memory.
    fn backward_from_buffer(
        &mut self,
        n: usize,
        mut grad_input: Option<&mut [f32]>,
        input: Option<&[f32]>,
    ) -> Result<()> {
        let Net {
            layers, plan, mem, ..
        } = self;
        let Parts {
            params,
            buffers,
            grads,
            cache,
            acts,
            back,
            scratch,
            ..
        } = split(mem.as_mut(), plan);
        let [b0, b1] = back;
        for (i, (layer, slot)) in layers.iter_mut().zip(plan.slots()).enumerate().rev() {
            let xs = slot.input.batched(n)?;
            let ys = slot.output.batched(n)?;
            let xo = plan.boundary_offset(i);
            let yo = plan.boundary_offset(i + 1);
            // ∂y of layer i is in buffer (i + 1) % 2; its ∂x goes to buffer i % 2.
            let (dy, dx): (&[f32], &mut [f32]) = if (i + 1) % 2 == 0 {
                (&b0[..], &mut b1[..])
            } else {
                (&b1[..], &mut b0[..])
            };
            let dx = if i == 0 {
                match grad_input.take() {
                    Some(g) => Some(TensorMut::new(g, xs)?),
                    None => None,
                }
            } else {
                Some(TensorMut::new(&mut dx[..xs.numel()], xs)?)
            };
            let ctx = BackwardCtx {
                params: &params[slot.params.clone()],
                grads: &mut grads[slot.params.clone()],
                buffers: &mut buffers[slot.buffers.clone()],
                cache: &mut cache[slot.cache.clone()],
                scratch: &mut scratch[..],
            };
            layer
                .backward(
                    Tensor::new(
                        match input {
                            Some(x) if i == 0 => x,
                            _ => &acts[xo..xo + xs.numel()],
                        },
                        xs,
                    )?,
                    Tensor::new(&acts[yo..yo + ys.numel()], ys)?,
                    Tensor::new(&dy[..ys.numel()], ys)?,
                    dx,
                    ctx,
                )
                .map_err(|e| e.in_layer(i, layer.name()))?;
        }
        Ok(())
    }

    /// Applies one `optimizer` step to every parameter, from the gradients of the last
    /// `backward`, using the optimizer-state region of this network's memory.
    pub fn apply_grad<O: Optimizer + ?Sized>(&mut self, optimizer: &mut O) -> Result<()> {
        if !self.trains() {
            return Err(Error::state(
                "apply_grad needs a network planned for training",
            ));
        }
        let need = optimizer.state_per_param() * self.plan.param_count();
        let have = self.plan.regions().optimizer_state;
        if need != have {
            return Err(Error::length(
                "optimizer state (planned for another optimizer)",
                have,
                need,
            ));
        }
        let parts = split(self.mem.as_mut(), &self.plan);
        optimizer.step(parts.params, parts.grads, parts.opt)
    }

    /// The optimizer state region (e.g. for checkpoints).
    pub fn optimizer_state(&self) -> &[f32] {
        let r = self.plan.regions();
        let start = r.params + r.buffers + r.grads;
        &self.mem.as_ref()[start..start + r.optimizer_state]
    }

    /// The optimizer state region, mutably (to resume from a checkpoint).
    pub fn optimizer_state_mut(&mut self) -> &mut [f32] {
        let r = self.plan.regions();
        let start = r.params + r.buffers + r.grads;
        &mut self.mem.as_mut()[start..start + r.optimizer_state]
    }
}

#[cfg(feature = "alloc")]
impl<'a> Net<'a, alloc::vec::Vec<f32>> {
    /// Builds a network that allocates exactly the memory its plan needs.
    pub fn owned(
        layers: impl IntoIterator<Item = AnyLayer<'a>>,
        input: Shape,
        batch: usize,
        purpose: Purpose,
        seed: u64,
    ) -> Result<Self> {
        let mut net = Net::empty(alloc::vec::Vec::new());
        push_layers(&mut net.layers, layers)?;
        net.plan_layers(input, batch, purpose, None)?;
        net.mem = alloc::vec![0.0; net.plan.floats()];
        net.finish(seed)?;
        Ok(net)
    }
}
