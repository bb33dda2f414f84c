//! The memory plan: how many bytes a network needs, computed before anything is built.
//!
//! A [`Plan`] walks the layers once, checks that their shapes chain, and lays out every
//! buffer the network will use inside one `[f32]` slice:
//!
//! ```text
//! training:  | params | buffers | grads | optimizer state | cache | activations (every boundary) | ∂ ping | ∂ pong | scratch |
//! inference: | params | buffers |                           cache | activations ping | pong         |                 scratch |
//! ```
//!
//! `params` and `buffers` (non-trainable values such as batch-norm's running statistics) are
//! the model; everything else is working memory. An inference plan made with
//! [`Plan::inference_borrowed`] has an empty `params` region: the network reads its
//! parameters from a slice it borrows (e.g. a model file in flash, see [`crate::format`]).
//! Training keeps the output of every layer for the backward pass (plus a copy of the input);
//! inference only needs two buffers that layers write alternately, which is why it needs less.
//! Sizes are exact: [`Plan::bytes`] is precisely what [`crate::net::Net::new`] will use.

use core::ops::Range;

use crate::error::{Error, ErrorKind, Result};
use crate::layers::{AnyLayer, Layer, Mode};
use crate::optim::Optimizer;
use crate::tensor::Shape;

/// Most layers a network can hold (the plan and the net keep per-layer records in
/// fixed-capacity arrays, so no heap is needed).
pub const MAX_LAYERS: usize = 64;

/// What the memory is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Forward passes only (evaluation mode).
    Inference,
    /// Forward, backward and optimizer steps.
    Training {
        /// Floats of optimizer state per parameter ([`Optimizer::state_per_param`]).
        optimizer_state_per_param: usize,
    },
}

/// Where one layer's pieces live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSlot {
    /// Per-sample input shape.
    pub input: Shape,
    /// Per-sample output shape.
    pub output: Shape,
    /// The layer's parameters (and gradients, at the same offsets) within the parameter
    /// region.
    pub params: Range<usize>,
    /// The layer's persistent buffers within the buffer region.
    pub buffers: Range<usize>,
    /// The layer's cache within the cache region.
    pub cache: Range<usize>,
}

/// Sizes, in `f32` elements, of each region of a network's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regions {
    /// Trainable parameters (0 when they are borrowed, see [`Plan::inference_borrowed`]).
    pub params: usize,
    /// Persistent non-trainable layer values (running statistics).
    pub buffers: usize,
    /// Gradients (training only; same layout as `params`).
    pub grads: usize,
    /// Optimizer state (training only).
    pub optimizer_state: usize,
    /// Per-layer values kept from forward to backward (masks).
    pub cache: usize,
    /// Layer outputs (and, for training, a copy of the input).
    pub activations: usize,
    /// Each of the two buffers that carry gradients backwards (training only).
    pub backprop_buffer: usize,
    /// Scratch shared by all layers, the size of the largest need.
    pub scratch: usize,
}

impl Regions {
    /// Total `f32` elements.
    pub fn total(&self) -> Option<usize> {
        [
            self.params,
            self.buffers,
            self.grads,
            self.optimizer_state,
            self.cache,
            self.activations,
            self.backprop_buffer,
            self.backprop_buffer,
            self.scratch,
        ]
        .iter()
        .try_fold(0usize, |acc, &n| acc.checked_add(n))
    }
}

/// The checked layer shapes and the exact memory layout of a network.
#[derive(Clone, Debug)]
pub struct Plan {
    input: Shape,
    batch: usize,
    purpose: Purpose,
    regions: Regions,
    floats: usize,
    /// Number of parameters, also when they live outside the memory (`regions.params == 0`).
    param_count: usize,
    /// Whether the parameters are borrowed from outside the memory.
    borrowed_params: bool,
    slots: heapless::Vec<LayerSlot, MAX_LAYERS>,
    /// Largest per-sample element count over the layer outputs.
    widest_output: usize,
}

fn overflow() -> Error {
    Error::config("the network's memory size overflows usize")
}

fn add(a: usize, b: usize) -> Result<usize> {
    a.checked_add(b).ok_or_else(overflow)
}

fn mul(a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(overflow)
}

impl Plan {
    /// Plans `layers` for samples of shape `input` (per sample, e.g. `[784]`) in batches of
    /// at most `batch`.
    ///
    /// Errors if the layer list is empty or longer than [`MAX_LAYERS`], `batch` is 0, or a
    /// layer does not accept the previous layer's output (the error names the layer).
    pub fn new(
        layers: &[AnyLayer<'_>],
        input: Shape,
        batch: usize,
        purpose: Purpose,
    ) -> Result<Plan> {
        let mut plan = Plan::empty(input, batch, purpose);
        plan.replan(layers, input, batch, purpose)?;
        Ok(plan)
    }

    /// A plan for no layers, to be filled in place by [`Plan::replan`]. Cheap: the slot
    /// array stays uninitialised.
    pub(crate) fn empty(input: Shape, batch: usize, purpose: Purpose) -> Plan {
        Plan {
            input,
            batch,
            purpose,
            regions: Regions::default(),
            floats: 0,
            param_count: 0,
            borrowed_params: false,
            slots: heapless::Vec::new(),
            widest_output: 0,
        }
    }

    /// Plans `layers` into `self`, in place: [`Plan::new`] without a second `Plan` (about
    /// 4 KB on a 32-bit target) on the stack. On error `self` is no valid plan.
    #[inline(never)]
    pub(crate) fn replan(
        &mut self,
        layers: &[AnyLayer<'_>],
        input: Shape,
        batch: usize,
        purpose: Purpose,
    ) -> Result<()> {
        *self = Plan::empty(input, batch, purpose);
        if batch == 0 {
            return Err(Error::config("batch size must be at least 1"));
        }
        if layers.is_empty() {
            return Err(Error::config("a network needs at least one layer"));
        }
        if layers.len() > MAX_LAYERS {
            return Err(Error::new(ErrorKind::CapacityExceeded {
                what: "layers",
                capacity: MAX_LAYERS,
            }));
        }
        input.batched(batch)?;
        let mode = match purpose {
            Purpose::Inference => Mode::Eval,
            Purpose::Training { .. } => Mode::Train,
        };
        let (mut params, mut buffers, mut cache, mut scratch) = (0usize, 0usize, 0usize, 0usize);
        let mut boundary_sum = input.checked_numel().ok_or_else(overflow)?;
        let mut widest_output = 0usize;
        let mut shape = input;
        for (index, layer) in layers.iter().enumerate() {
            let output = layer
                .output_shape(shape)
                .and_then(|s| s.batched(batch).map(|_| s))
                .map_err(|e| e.in_layer(index, layer.name()))?;
            let out_len = output.checked_numel().ok_or_else(overflow)?;
            let mem = layer.memory(shape, batch, mode);
            let p = layer.param_len();
            let slot = LayerSlot {
                input: shape,
                output,
                params: params..add(params, p)?,
                buffers: buffers..add(buffers, mem.buffers)?,
                cache: cache..add(cache, mem.cache)?,
            };
            params = slot.params.end;
            buffers = slot.buffers.end;
            cache = slot.cache.end;
            scratch = scratch.max(mem.scratch);
            boundary_sum = add(boundary_sum, out_len)?;
            widest_output = widest_output.max(out_len);
            // Capacity was checked above, so this push cannot fail.
            let _ = self.slots.push(slot);
            shape = output;
        }
        let mut regions = Regions {
            params,
            buffers,
            cache,
            scratch,
            ..Regions::default()
        };
        match purpose {
            Purpose::Inference => {
                regions.activations = mul(2, mul(batch, widest_output)?)?;
            }
            Purpose::Training {
                optimizer_state_per_param,
            } => {
                regions.grads = params;
                regions.optimizer_state = mul(params, optimizer_state_per_param)?;
                regions.activations = mul(batch, boundary_sum)?;
                regions.backprop_buffer = mul(batch, widest_output)?;
            }
        }
        let floats = regions.total().ok_or_else(overflow)?;
        mul(floats, 4)?;
        self.regions = regions;
        self.floats = floats;
        self.param_count = params;
        self.widest_output = widest_output;
        Ok(())
    }

    /// Turns an inference plan into [`Plan::inference_borrowed`]'s, in place.
    pub(crate) fn borrow_params(&mut self) {
        self.floats -= self.regions.params;
        self.regions.params = 0;
        self.borrowed_params = true;
    }

    /// Plans for training with `optimizer`.
    #[inline]
    pub fn training<O: Optimizer>(
        layers: &[AnyLayer<'_>],
        input: Shape,
        batch: usize,
        optimizer: &O,
    ) -> Result<Plan> {
        let optimizer_state_per_param = optimizer.state_per_param();
        Plan::new(
            layers,
            input,
            batch,
            Purpose::Training {
                optimizer_state_per_param,
            },
        )
    }

    /// Plans for inference only (less memory: no gradients, no optimizer state, two
    /// activation buffers).
    #[inline]
    pub fn inference(layers: &[AnyLayer<'_>], input: Shape, batch: usize) -> Result<Plan> {
        Plan::new(layers, input, batch, Purpose::Inference)
    }

    /// Plans for inference with parameters that stay outside the network's memory, borrowed
    /// by [`crate::net::Net::with_params`] — a model read in place from flash needs no RAM
    /// for its weights. The `params` region is empty; slots keep their offsets, which now
    /// index the borrowed slice.
    pub fn inference_borrowed(layers: &[AnyLayer<'_>], input: Shape, batch: usize) -> Result<Plan> {
        let mut plan = Plan::empty(input, batch, Purpose::Inference);
        plan.replan(layers, input, batch, Purpose::Inference)?;
        plan.borrow_params();
        Ok(plan)
    }

    /// Whether the parameters live outside the memory ([`Plan::inference_borrowed`]).
    pub fn params_borrowed(&self) -> bool {
        self.borrowed_params
    }

    /// Exactly how many bytes the network needs.
    pub fn bytes(&self) -> usize {
        self.floats * core::mem::size_of::<f32>()
    }

    /// Exactly how many `f32` elements the network needs (`bytes() / 4`).
    pub fn floats(&self) -> usize {
        self.floats
    }

    /// Size of each region, in `f32` elements.
    pub fn regions(&self) -> Regions {
        self.regions
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// Per-sample output shape of the last layer.
    pub fn output_shape(&self) -> Shape {
        self.slots.last().map(|s| s.output).unwrap_or(self.input)
    }

    /// Largest batch the memory is planned for.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// What the memory is for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// Where each layer's parameters and state live.
    pub fn slots(&self) -> &[LayerSlot] {
        &self.slots
    }

    /// Offset of activation boundary `i` (0 = input, `i` = output of layer `i - 1`) within the
    /// activation region, for training plans.
    pub(crate) fn boundary_offset(&self, i: usize) -> usize {
        let mut off = 0;
        let mut shape = self.input;
        for slot in self.slots.iter().take(i) {
            off += self.batch * shape.numel();
            shape = slot.output;
        }
        off
    }

    /// Elements of each of the two inference activation buffers.
    pub(crate) fn pingpong_len(&self) -> usize {
        self.batch * self.widest_output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Activation, Dense};

    fn mlp() -> [AnyLayer<'static>; 5] {
        [
            Dense::new(784, 400).into(),
            Activation::ReLU.into(),
            Dense::new(400, 100).into(),
            Activation::ReLU.into(),
            Dense::new(100, 10).into(),
        ]
    }

    #[test]
    fn training_needs_more_than_inference() {
        let layers = mlp();
        let p = 784 * 400 + 400 + 400 * 100 + 100 + 100 * 10 + 10;
        let t = Plan::new(
            &layers,
            Shape::vector(784),
            128,
            Purpose::Training {
                optimizer_state_per_param: 2,
            },
        )
        .unwrap();
        let i = Plan::inference(&layers, Shape::vector(784), 128).unwrap();
        assert_eq!(t.param_count(), p);
        assert_eq!(t.regions().optimizer_state, 2 * p);
        assert_eq!(
            t.regions().activations,
            128 * (784 + 400 + 400 + 100 + 100 + 10)
        );
        assert_eq!(i.regions().activations, 2 * 128 * 400);
        assert!(i.bytes() < t.bytes());
        assert_eq!(t.bytes(), 4 * t.floats());
        assert_eq!(t.output_shape(), Shape::vector(10));
        assert_eq!(t.boundary_offset(2), 128 * (784 + 400));
        let b = Plan::inference_borrowed(&layers, Shape::vector(784), 128).unwrap();
        assert!(b.params_borrowed() && !i.params_borrowed());
        assert_eq!((b.param_count(), b.regions().params), (p, 0));
        assert_eq!(b.floats(), i.floats() - p);
        assert_eq!(b.slots()[2].params, i.slots()[2].params);
    }

    #[test]
    fn mismatched_layers_name_the_layer() {
        let layers: [AnyLayer<'static>; 3] = [
            Dense::new(4, 3).into(),
            Activation::Tanh.into(),
            Dense::new(5, 2).into(),
        ];
        let e = Plan::inference(&layers, Shape::vector(4), 1).unwrap_err();
        assert_eq!(
            format!("{e}"),
            "layer 2 (Dense): input shape [3] does not match the expected [5]"
        );
        assert!(Plan::inference(&layers[..1], Shape::vector(4), 0).is_err());
        assert!(Plan::inference(&[], Shape::vector(4), 1).is_err());
    }
}
