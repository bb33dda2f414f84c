//! Writing a model file into a caller-provided `&mut [u8]` (no heap).
//!
//! The layout is computed by running the same section writers over a byte counter first,
//! so [`required_bytes`] and [`write()`] cannot disagree.

use super::bytes::Writer;
use super::layer_codec::{self, MAX_PAYLOAD};
use super::{
    ALIGN, CRC_OFFSET, CRC_START, FileError, HEADER_LEN, MAGIC, OPTIMIZER_NAME_LEN,
    SECTION_ENTRY_LEN, VERSION, crc32, section,
};
use crate::layers::Layer;
use crate::net::Net;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::tensor::Shape;

/// What a training checkpoint stores besides the network: the optimizer (its state lives in
/// the network's memory), and room for the caller's own state — typically the data
/// shuffler's generator and the position in the epoch — so that resuming is bit-identical.
///
/// Learning-rate schedules in nanonn are pure functions of the step counter, so the step is
/// all a schedule needs.
#[derive(Clone, Copy)]
pub struct Checkpoint<'c> {
    /// The optimizer being trained with: its name, step counter and learning rate are
    /// stored, and the network's optimizer-state region with them.
    pub optimizer: &'c dyn Optimizer,
    /// A generator of the caller's to store (e.g. the one that shuffles the data).
    pub user_rng: Option<&'c Rng>,
    /// Four numbers of the caller's to store (e.g. epoch and batch index).
    pub user_data: [u64; 4],
}

impl<'c> Checkpoint<'c> {
    /// A checkpoint of training with `optimizer`, with no user state.
    pub fn new(optimizer: &'c dyn Optimizer) -> Checkpoint<'c> {
        Checkpoint {
            optimizer,
            user_rng: None,
            user_data: [0; 4],
        }
    }

    /// Also stores `rng` (e.g. the data shuffler's generator).
    pub fn with_user_rng(mut self, rng: &'c Rng) -> Checkpoint<'c> {
        self.user_rng = Some(rng);
        self
    }

    /// Also stores four numbers of the caller's.
    pub fn with_user_data(mut self, data: [u64; 4]) -> Checkpoint<'c> {
        self.user_data = data;
        self
    }
}

/// Exactly how many bytes [`write()`] needs for `net` (and `checkpoint`, if given).
///
/// Errors if a layer cannot be saved (a custom layer) or the checkpoint does not fit the
/// network (its optimizer state is not the size the optimizer needs).
pub fn required_bytes<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    checkpoint: Option<&Checkpoint<'_>>,
) -> Result<usize, FileError> {
    let mut w = Writer::counter();
    write_into(net, checkpoint, &mut w)?;
    Ok(w.pos())
}

/// Writes `net` (and `checkpoint`, if given) as a model file at the start of `out` and
/// returns the number of bytes written, [`required_bytes`] of them.
pub fn write<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    checkpoint: Option<&Checkpoint<'_>>,
    out: &mut [u8],
) -> Result<usize, FileError> {
    let needed = required_bytes(net, checkpoint)?;
    if out.len() < needed {
        return Err(FileError::BufferTooSmall {
            needed,
            got: out.len(),
        });
    }
    let mut w = Writer::new(&mut out[..needed]);
    write_into(net, checkpoint, &mut w)?;
    let bytes = w.written();
    let crc = crc32(&bytes[CRC_START..]);
    bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(needed)
}

/// The sections of a file, in order.
fn kinds(checkpoint: bool) -> &'static [u32] {
    use section::*;
    if checkpoint {
        &[NET, PARAMS, BUFFERS, TRAINING, OPTIMIZER_STATE]
    } else {
        &[NET, PARAMS, BUFFERS]
    }
}

/// Writes (or counts) the whole file with a zero CRC.
fn write_into<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    checkpoint: Option<&Checkpoint<'_>>,
    w: &mut Writer<'_>,
) -> Result<(), FileError> {
    if let Some(c) = checkpoint {
        check_checkpoint(net, c)?;
    }
    let kinds = kinds(checkpoint.is_some());
    // Lay the sections out by counting each one.
    let mut spans = [(0usize, 0usize); 5];
    let mut pos = HEADER_LEN + kinds.len() * SECTION_ENTRY_LEN;
    for (span, &kind) in spans.iter_mut().zip(kinds) {
        pos = pos.next_multiple_of(ALIGN);
        let mut counter = Writer::counter();
        write_section(kind, net, checkpoint, &mut counter)?;
        *span = (pos, counter.pos());
        pos = pos.checked_add(counter.pos()).ok_or(FileError::Malformed {
            what: "file size overflows usize",
            offset: pos,
        })?;
    }
    w.bytes(&MAGIC)?;
    w.u32(VERSION)?;
    w.u32(0)?; // CRC, filled in by `write`
    w.u64(pos as u64)?;
    w.u32(kinds.len() as u32)?;
    w.u32(0)?; // flags
    for (&(offset, len), &kind) in spans.iter().zip(kinds) {
        w.u32(kind)?;
        w.u32(0)?; // every section this version writes is required
        w.u64(offset as u64)?;
        w.u64(len as u64)?;
    }
    for (&(offset, _), &kind) in spans.iter().zip(kinds) {
        w.pad_to(ALIGN)?;
        debug_assert_eq!(w.pos(), offset);
        write_section(kind, net, checkpoint, w)?;
    }
    Ok(())
}

fn check_checkpoint<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    c: &Checkpoint<'_>,
) -> Result<(), FileError> {
    let per = c.optimizer.state_per_param();
    if per.checked_mul(net.plan().param_count()) != Some(net.optimizer_state().len()) {
        return Err(FileError::Mismatch {
            what: "the network's optimizer state is not the size this optimizer needs \
                   (plan the network for training with it)",
            layer: None,
        });
    }
    if !c.optimizer.lr().is_finite() {
        return Err(FileError::Mismatch {
            what: "the optimizer's learning rate is not finite",
            layer: None,
        });
    }
    if c.optimizer.name().len() > OPTIMIZER_NAME_LEN {
        return Err(FileError::Mismatch {
            what: "optimizer names are at most 16 bytes",
            layer: None,
        });
    }
    Ok(())
}

fn write_section<M: AsRef<[f32]> + AsMut<[f32]>>(
    kind: u32,
    net: &Net<'_, M>,
    checkpoint: Option<&Checkpoint<'_>>,
    w: &mut Writer<'_>,
) -> Result<(), FileError> {
    match (kind, checkpoint) {
        (section::NET, _) => write_net(net, w),
        (section::PARAMS, _) => w.f32s(net.params()),
        (section::BUFFERS, _) => w.f32s(net.buffers()),
        (section::TRAINING, Some(c)) => write_training(net, c, w),
        (section::OPTIMIZER_STATE, Some(_)) => w.f32s(net.optimizer_state()),
        _ => Ok(()),
    }
}

fn write_shape(shape: Shape, w: &mut Writer<'_>) -> Result<(), FileError> {
    w.u32(shape.rank() as u32)?;
    for i in 0..4 {
        // Shape dimensions are at most u32::MAX by construction.
        w.u32(shape.dim(i).unwrap_or(0) as u32)?;
    }
    Ok(())
}

fn write_net<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    w: &mut Writer<'_>,
) -> Result<(), FileError> {
    let plan = net.plan();
    write_shape(plan.input_shape(), w)?;
    w.u32(net.layers().len() as u32)?;
    w.u64(plan.param_count() as u64)?;
    w.u64(plan.regions().buffers as u64)?;
    for (index, (layer, slot)) in net.layers().iter().zip(plan.slots()).enumerate() {
        let mut payload = [0u8; MAX_PAYLOAD];
        let mut pw = Writer::new(&mut payload);
        let kind = layer_codec::encode(layer, index, &mut pw).map_err(|e| match e {
            FileError::BufferTooSmall { .. } => FileError::UnsupportedLayer {
                index,
                name: layer.name(),
            },
            other => other,
        })?;
        let len = pw.pos();
        w.u32(kind)?;
        w.u32(len as u32)?;
        write_shape(slot.output, w)?;
        w.u32(0)?; // reserved
        w.u64(slot.params.len() as u64)?;
        w.u64(slot.buffers.len() as u64)?;
        w.bytes(&payload[..len])?;
    }
    Ok(())
}

fn write_training<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    c: &Checkpoint<'_>,
    w: &mut Writer<'_>,
) -> Result<(), FileError> {
    let mut name = [0u8; OPTIMIZER_NAME_LEN];
    let n = c.optimizer.name().len().min(OPTIMIZER_NAME_LEN);
    name[..n].copy_from_slice(&c.optimizer.name().as_bytes()[..n]);
    w.bytes(&name)?;
    w.u32(c.optimizer.state_per_param() as u32)?;
    w.f32(c.optimizer.lr())?;
    w.u64(c.optimizer.steps())?;
    for s in net.rng().state() {
        w.u64(s)?;
    }
    w.u32(c.user_rng.is_some() as u32)?;
    w.u32(0)?; // reserved
    let user = c.user_rng.map(Rng::state).unwrap_or([0; 4]);
    for s in user.into_iter().chain(c.user_data) {
        w.u64(s)?;
    }
    Ok(())
}
