//! `NanonnModel`: a network with its loss, optimizer and learning-rate schedule, in memory
//! the library allocates (`nanonn_model_new`) or in memory the caller provides
//! (`nanonn_model_new_in`).
//!
//! # A model in the caller's memory
//! `nanonn_model_new_in` puts *everything* in the caller's block: the model object itself at
//! the first 64-byte boundary, then every parameter, gradient, optimizer state, activation
//! and scratch float. So from `nanonn_model_new_in` on — training, prediction, evaluation,
//! saving to a buffer, freeing — no call touches the heap (only a failing call may allocate,
//! for its error message). The block may have any alignment: `nanonn_model_bytes_needed`
//! counts the worst-case padding, and the same size works for every address.

use core::ffi::c_void;
use core::mem::{align_of, size_of};

use nn::Shape;
use nn::layers::AnyLayer;
use nn::model::Model;
use nn::optim::Optimizer;
use nn::plan::{MAX_LAYERS, Plan};

use crate::builder::NanonnNetBuilder;
use crate::config::{AnyLoss, AnyOptimizer, NanonnLossConfig, NanonnOptimizerConfig};
use crate::schedule::Schedule;
use crate::status::{
    Failure, NanonnStatus, Outcome, guard, guard_void, handle, out_ptr, write_out,
};

/// Alignment of the model object and of its floats inside caller memory.
const BLOCK_ALIGN: usize = 64;

/// Where a model's floats live.
pub(crate) enum Memory {
    /// Allocated by `nanonn_model_new`.
    Owned(Vec<f32>),
    /// Inside the caller's block (`nanonn_model_new_in`), which outlives the model by
    /// contract.
    Borrowed(&'static mut [f32]),
}

impl AsRef<[f32]> for Memory {
    fn as_ref(&self) -> &[f32] {
        match self {
            Memory::Owned(v) => v,
            Memory::Borrowed(s) => s,
        }
    }
}

impl AsMut<[f32]> for Memory {
    fn as_mut(&mut self) -> &mut [f32] {
        match self {
            Memory::Owned(v) => v,
            Memory::Borrowed(s) => s,
        }
    }
}

/// A trainable network: layers, loss, optimizer, schedule and all their memory.
pub struct NanonnModel {
    model: Model<'static, AnyLoss, AnyOptimizer, Memory>,
    schedule: Schedule,
    /// Whether this object lives in the caller's block (freed by dropping in place).
    in_place: bool,
}

/// Sizes shown to C by `nanonn_model_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NanonnModelInfo {
    /// Rank of a sample (1 to 3).
    pub input_rank: usize,
    /// A sample's dimensions (unused ones are 0).
    pub input_dims: [usize; 3],
    /// Floats per input sample (the product of the dimensions).
    pub input_size: usize,
    /// Rank of an output row.
    pub output_rank: usize,
    /// An output row's dimensions (unused ones are 0).
    pub output_dims: [usize; 3],
    /// Floats per output row (e.g. 10 logits).
    pub output_size: usize,
    /// The largest batch `nanonn_model_train_step` takes (prediction and evaluation take any
    /// number of samples and split them).
    pub batch_size: usize,
    /// Number of layers.
    pub layer_count: usize,
    /// Number of trainable parameters.
    pub param_count: usize,
    /// Bytes of the model's floats (parameters, gradients, optimizer state, activations,
    /// scratch), as planned.
    pub memory_bytes: usize,
    /// Training steps taken.
    pub steps: u64,
    /// The learning rate the next training step will use.
    pub lr: f32,
}

fn dims3(shape: Shape) -> [usize; 3] {
    let mut out = [0; 3];
    for (o, d) in out.iter_mut().zip(shape.dims()) {
        *o = d;
    }
    out
}

/// What a model is made from, checked and planned.
struct Parts {
    layers: heapless::Vec<AnyLayer<'static>, MAX_LAYERS>,
    input: Shape,
    loss: AnyLoss,
    optimizer: AnyOptimizer,
    plan: Plan,
}

/// Reads and plans a model's description.
///
/// # Safety
/// Each pointer is NULL or valid for reads.
unsafe fn parts(
    builder: *const NanonnNetBuilder,
    loss: *const NanonnLossConfig,
    optimizer: *const NanonnOptimizerConfig,
    batch: usize,
) -> Outcome<Parts> {
    // SAFETY: the caller's contract.
    let (b, l, o) = unsafe {
        (
            handle(builder, "builder")?,
            handle(loss, "loss")?,
            handle(optimizer, "optimizer")?,
        )
    };
    let (loss, optimizer) = (l.to_core()?, o.to_core()?);
    let layers = b.layers()?;
    let plan = Plan::training(&layers, b.input(), batch, &optimizer)?;
    Ok(Parts {
        layers,
        input: b.input(),
        loss,
        optimizer,
        plan,
    })
}

/// The model object's size rounded up to the block alignment.
fn header_len() -> usize {
    size_of::<NanonnModel>().next_multiple_of(BLOCK_ALIGN)
}

/// Bytes `nanonn_model_new_in` needs for a plan of `plan_bytes`, at any address.
fn block_bytes(plan_bytes: usize) -> Outcome<usize> {
    (BLOCK_ALIGN - 1)
        .checked_add(header_len())
        .and_then(|n| n.checked_add(plan_bytes))
        .ok_or_else(|| Failure::argument("the model's memory size overflows size_t"))
}

const _: () = assert!(align_of::<NanonnModel>() <= BLOCK_ALIGN);

impl NanonnModel {
    pub(crate) fn model(&self) -> &Model<'static, AnyLoss, AnyOptimizer, Memory> {
        &self.model
    }

    pub(crate) fn model_mut(&mut self) -> &mut Model<'static, AnyLoss, AnyOptimizer, Memory> {
        &mut self.model
    }

    pub(crate) fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Follows `schedule` from now on; the optimizer's rate becomes the next step's at once.
    pub(crate) fn set_schedule(&mut self, schedule: Schedule) {
        if let Some(lr) = schedule.lr(self.model.steps()) {
            self.model.set_lr(lr);
        }
        self.schedule = schedule;
    }

    /// The rate the next step will use.
    pub(crate) fn current_lr(&self) -> f32 {
        self.schedule
            .lr(self.model.steps())
            .unwrap_or(self.model.optimizer().lr())
    }

    pub(crate) fn input(&self) -> Shape {
        self.model.net().input_shape()
    }

    pub(crate) fn output(&self) -> Shape {
        self.model.net().output_shape()
    }

    fn info(&self) -> NanonnModelInfo {
        let plan = self.model.plan();
        let (input, output) = (self.input(), self.output());
        NanonnModelInfo {
            input_rank: input.rank(),
            input_dims: dims3(input),
            input_size: input.numel(),
            output_rank: output.rank(),
            output_dims: dims3(output),
            output_size: output.numel(),
            batch_size: plan.batch(),
            layer_count: plan.slots().len(),
            param_count: plan.param_count(),
            memory_bytes: plan.bytes(),
            steps: self.model.steps(),
            lr: self.current_lr(),
        }
    }
}

/// Fills `*out` with the defaults of optimizer `kind` (a `NanonnOptimizer`) and learning
/// rate `lr`: ADAM/RADAM betas 0.9, 0.999, eps 1e-8; MOMENTUM 0.9; RMSPROP rho 0.99,
/// eps 1e-8; ADADELTA rho 0.9, eps 1e-6; ADAGRAD eps 1e-8; no weight decay.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_optimizer_config_default(
    kind: u32,
    lr: f32,
    out: *mut NanonnOptimizerConfig,
) -> NanonnStatus {
    guard(|| {
        out_ptr(out, "out")?;
        let kind = crate::config::NanonnOptimizer::from_u32(kind)?;
        // SAFETY: checked above.
        unsafe { write_out(out, NanonnOptimizerConfig::defaults(kind, lr)) };
        Ok(())
    })
}

/// Bytes of caller memory `nanonn_model_new_in` needs to train the builder's network with
/// this loss and optimizer in batches of at most `batch` - for a block at any address.
///
/// # Safety
/// `builder`, `loss`, `optimizer` are NULL or valid; `bytes_out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_bytes_needed(
    builder: *const NanonnNetBuilder,
    loss: *const NanonnLossConfig,
    optimizer: *const NanonnOptimizerConfig,
    batch: usize,
    bytes_out: *mut usize,
) -> NanonnStatus {
    guard(|| {
        out_ptr(bytes_out, "bytes_out")?;
        // SAFETY: forwarded contract.
        let p = unsafe { parts(builder, loss, optimizer, batch) }?;
        let bytes = block_bytes(p.plan.bytes())?;
        // SAFETY: checked above.
        unsafe { write_out(bytes_out, bytes) };
        Ok(())
    })
}

/// Makes a model of the builder's network, trained with `loss` and `optimizer` in batches of
/// at most `batch`, in memory the library allocates; parameters are initialised from `seed`
/// (the same seed gives bit-identical training). Free it with `nanonn_model_free`.
///
/// # Safety
/// `builder`, `loss`, `optimizer` are NULL or valid; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_new(
    builder: *const NanonnNetBuilder,
    loss: *const NanonnLossConfig,
    optimizer: *const NanonnOptimizerConfig,
    batch: usize,
    seed: u64,
    out: *mut *mut NanonnModel,
) -> NanonnStatus {
    guard(|| {
        out_ptr(out, "out")?;
        // SAFETY: forwarded contract.
        let p = unsafe { parts(builder, loss, optimizer, batch) }?;
        let memory = Memory::Owned(vec![0.0; p.plan.floats()]);
        let model = Model::new(p.layers, p.input, batch, p.loss, p.optimizer, memory, seed)?;
        let boxed = Box::new(NanonnModel {
            model,
            schedule: Schedule::default(),
            in_place: false,
        });
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(boxed)) };
        Ok(())
    })
}

/// `nanonn_model_new` in the caller's block `memory[0..memory_len]` (any alignment, at least
/// `nanonn_model_bytes_needed` bytes): the model object and all its floats live there, and
/// neither this call nor any later call on the model uses the heap. The block must stay valid
/// and untouched until `nanonn_model_free`, which does not free the block itself.
///
/// # Safety
/// `builder`, `loss`, `optimizer` are NULL or valid; `memory` is NULL or `memory_len`
/// writable bytes used by nothing else until the model is freed; `out` is writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nanonn_model_new_in(
    builder: *const NanonnNetBuilder,
    loss: *const NanonnLossConfig,
    optimizer: *const NanonnOptimizerConfig,
    batch: usize,
    seed: u64,
    memory: *mut c_void,
    memory_len: usize,
    out: *mut *mut NanonnModel,
) -> NanonnStatus {
    guard(|| {
        out_ptr(out, "out")?;
        if memory.is_null() {
            return Err(Failure::null("memory"));
        }
        // SAFETY: forwarded contract.
        let p = unsafe { parts(builder, loss, optimizer, batch) }?;
        let needed = block_bytes(p.plan.bytes())?;
        if memory_len < needed {
            return Err(nn::Error::new(nn::ErrorKind::OutOfMemory {
                what: "the model (see nanonn_model_bytes_needed)",
                needed_bytes: needed,
                available_bytes: memory_len,
            })
            .into());
        }
        let base = memory.cast::<u8>();
        let offset = base.align_offset(BLOCK_ALIGN);
        if offset >= BLOCK_ALIGN {
            return Err(Failure::new(
                NanonnStatus::Misaligned,
                "memory cannot be aligned on this platform",
            ));
        }
        // SAFETY: offset + header + floats <= BLOCK_ALIGN - 1 + header + plan.bytes() =
        // needed <= memory_len, so every pointer below stays inside the caller's block.
        let (header, floats) = unsafe {
            let header = base.add(offset);
            let floats = header.add(header_len()).cast::<f32>();
            // Initialise the floats before making a slice of them (the block may be fresh
            // from malloc); the header is written whole below.
            floats.write_bytes(0, p.plan.floats());
            (
                header.cast::<NanonnModel>(),
                core::slice::from_raw_parts_mut(floats, p.plan.floats()),
            )
        };
        let memory = Memory::Borrowed(floats);
        let model = Model::new(p.layers, p.input, batch, p.loss, p.optimizer, memory, seed)?;
        // SAFETY: `header` is 64-byte aligned, inside the block, and followed by
        // header_len() >= size_of::<NanonnModel>() bytes that the floats do not overlap.
        unsafe {
            header.write(NanonnModel {
                model,
                schedule: Schedule::default(),
                in_place: true,
            });
            write_out(out, header);
        }
        Ok(())
    })
}

/// Frees a model (NULL is ignored). For a model made by `nanonn_model_new_in` this only ends
/// the model; the caller's block is theirs to reuse or free afterwards.
///
/// # Safety
/// `model` is NULL or a live model, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_free(model: *mut NanonnModel) {
    if model.is_null() {
        return;
    }
    guard_void(|| {
        // SAFETY: a live model, made by one of the two constructors, freed once.
        unsafe {
            if (*model).in_place {
                core::ptr::drop_in_place(model);
            } else {
                drop(Box::from_raw(model));
            }
        }
    });
}

/// The model's sizes and training progress, in `*out`.
///
/// # Safety
/// `model` is NULL or a live model; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_info(
    model: *const NanonnModel,
    out: *mut NanonnModelInfo,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        out_ptr(out, "out")?;
        // SAFETY: checked above.
        unsafe { write_out(out, m.info()) };
        Ok(())
    })
}
