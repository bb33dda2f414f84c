//! Reading a model file from a `&[u8]` (no heap, no copy of the tensors).
//!
//! [`ModelFile::parse`] checks everything once — magic, version, length, CRC-32, the section
//! table, every layer record against the layer it decodes to, tensor sizes and finiteness —
//! so that nothing after it can fail on a bad file. The order matters: magic and version are
//! checked before the CRC (so a file from a newer nanonn says "unsupported version", not
//! "corrupted"), and no length read from the file is trusted before it has been compared
//! with the bytes actually there, so a damaged file can neither panic nor allocate.

use core::ops::Range;

use super::bytes::Reader;
use super::layer_codec;
use super::{
    ALIGN, CRC_START, FileError, HEADER_LEN, MAGIC, MAX_SECTIONS, NET_HEADER_LEN,
    OPTIMIZER_NAME_LEN, SECTION_ENTRY_LEN, TRAINING_LEN, VERSION, crc32, section,
};
use crate::layers::{AnyLayer, Layer, Mode};
use crate::plan::MAX_LAYERS;
use crate::rng::Rng;
use crate::tensor::Shape;

/// The training state a checkpoint stores besides the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingState {
    /// Name of the optimizer the checkpoint was written with ([`crate::optim::Optimizer::name`]).
    pub optimizer: heapless::String<OPTIMIZER_NAME_LEN>,
    /// Floats of optimizer state per parameter.
    pub state_per_param: usize,
    /// The optimizer's learning rate.
    pub lr: f32,
    /// Optimizer steps taken.
    pub steps: u64,
    /// The network's random generator (dropout).
    pub net_rng: Rng,
    /// The caller's generator, if one was stored ([`super::Checkpoint::user_rng`]).
    pub user_rng: Option<Rng>,
    /// The caller's four numbers ([`super::Checkpoint::user_data`]).
    pub user_data: [u64; 4],
}

/// A parsed, verified model file borrowing its bytes.
#[derive(Clone, Debug)]
pub struct ModelFile<'b> {
    bytes: &'b [u8],
    version: u32,
    input: Shape,
    output: Shape,
    layer_count: usize,
    /// Where the layer records are in `bytes`.
    records: Range<usize>,
    param_count: usize,
    buffer_count: usize,
    params_at: usize,
    buffers_at: usize,
    training: Option<TrainingState>,
    optimizer_state_at: usize,
}

/// What a layer record says, and the layer it decodes to.
pub(crate) struct Record<'x> {
    pub(crate) layer: AnyLayer<'x>,
    pub(crate) output: Shape,
    pub(crate) params: usize,
    pub(crate) buffers: usize,
}

fn malformed(what: &'static str, offset: usize) -> FileError {
    FileError::Malformed { what, offset }
}

impl<'b> ModelFile<'b> {
    /// Parses and verifies a model file. `bytes` may be longer than the file (a flash
    /// partition): bytes past the file's recorded length are ignored.
    ///
    /// Errors: [`FileError::BadMagic`], [`FileError::UnsupportedVersion`],
    /// [`FileError::Truncated`], [`FileError::ChecksumMismatch`], and, for a file whose
    /// checksum matches but whose structure does not, [`FileError::Malformed`] and friends.
    pub fn parse(bytes: &'b [u8]) -> Result<ModelFile<'b>, FileError> {
        let head = &bytes[..bytes.len().min(MAGIC.len())];
        if head != &MAGIC[..head.len()] {
            return Err(FileError::BadMagic);
        }
        if let Some(v) = bytes.get(8..12) {
            let found = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            if found == 0 || found > VERSION {
                return Err(FileError::UnsupportedVersion {
                    found,
                    supported: VERSION,
                });
            }
        }
        if bytes.len() < HEADER_LEN {
            return Err(FileError::Truncated {
                needed: HEADER_LEN as u64,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes, 0);
        r.take(MAGIC.len(), "magic")?;
        let version = r.u32("version")?;
        let stored = r.u32("checksum")?;
        let file_len = r.u64("file length")?;
        if file_len > bytes.len() as u64 {
            return Err(FileError::Truncated {
                needed: file_len,
                got: bytes.len(),
            });
        }
        // file_len <= bytes.len(), so it fits a usize.
        let bytes = &bytes[..file_len as usize];
        if bytes.len() < HEADER_LEN {
            return Err(malformed("file length is smaller than the header", 16));
        }
        let computed = crc32(&bytes[CRC_START..]);
        if computed != stored {
            return Err(FileError::ChecksumMismatch { stored, computed });
        }
        let [net, params, buffers, training, optimizer] = parse_table(&mut r, bytes)?;
        let mut file = parse_net(bytes, version, net)?;
        let params = params.ok_or(malformed("no parameter section", HEADER_LEN))?;
        file.params_at = tensor_at(bytes, params, file.param_count, "parameters")?;
        let buffers = buffers.ok_or(malformed("no buffer section", HEADER_LEN))?;
        file.buffers_at = tensor_at(bytes, buffers, file.buffer_count, "buffers")?;
        match (training, optimizer) {
            (None, None) => {}
            (Some(t), Some(o)) => {
                let at = t.start;
                let training = parse_training(bytes, t)?;
                let count = file
                    .param_count
                    .checked_mul(training.state_per_param)
                    .ok_or(malformed("optimizer state size overflows", at))?;
                file.optimizer_state_at = tensor_at(bytes, o, count, "optimizer state")?;
                file.training = Some(training);
            }
            _ => {
                return Err(malformed(
                    "a checkpoint needs both a training and an optimizer-state section",
                    HEADER_LEN,
                ));
            }
        }
        Ok(file)
    }

    /// The format version the file was written in.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file's bytes (exactly its recorded length).
    pub fn bytes(&self) -> &'b [u8] {
        self.bytes
    }

    /// Per-sample input shape of the network.
    pub fn input_shape(&self) -> Shape {
        self.input
    }

    /// Per-sample output shape of the network.
    pub fn output_shape(&self) -> Shape {
        self.output
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.layer_count
    }

    /// Number of parameters.
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// Number of persistent buffer values.
    pub fn buffer_count(&self) -> usize {
        self.buffer_count
    }

    /// The checkpoint's training state, or `None` for a weights-only file.
    pub fn training(&self) -> Option<&TrainingState> {
        self.training.as_ref()
    }

    /// The layers, rebuilt from the file (for any lifetime, as they borrow nothing).
    pub fn layers<'x>(&self) -> Result<heapless::Vec<AnyLayer<'x>, MAX_LAYERS>, FileError> {
        let mut out = heapless::Vec::new();
        self.push_layers(&mut out)?;
        Ok(out)
    }

    /// Appends the file's layers to `out` in place (a network's own list, so that building
    /// one does not hold a second ~6 KB list on the stack).
    pub(crate) fn push_layers<'x>(
        &self,
        out: &mut heapless::Vec<AnyLayer<'x>, MAX_LAYERS>,
    ) -> Result<(), FileError> {
        self.for_each_record(|_, rec| {
            out.push(rec.layer).map_err(|_| {
                FileError::from(crate::Error::new(crate::ErrorKind::CapacityExceeded {
                    what: "layers",
                    capacity: MAX_LAYERS,
                }))
            })
        })
    }

    /// Calls `f` with every layer record, in order.
    pub(crate) fn for_each_record<'x>(
        &self,
        mut f: impl FnMut(usize, Record<'x>) -> Result<(), FileError>,
    ) -> Result<(), FileError> {
        let mut r = Reader::new(&self.bytes[self.records.clone()], self.records.start);
        let mut shape = self.input;
        for index in 0..self.layer_count {
            let rec = read_record(&mut r, index, shape)?;
            shape = rec.output;
            f(index, rec)?;
        }
        Ok(())
    }

    /// The parameters as `&[f32]` right where they are in the file — no copy — when that is
    /// possible: on a little-endian target, with the file at a 4-byte aligned address (then
    /// every tensor is, as tensors sit at multiples of [`super::ALIGN`] in the file).
    /// `None` otherwise; use [`ModelFile::copy_params`] then.
    pub fn params_in_place(&self) -> Option<&'b [f32]> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let raw = &self.bytes[self.params_at..self.params_at + 4 * self.param_count];
        if !(raw.as_ptr() as usize).is_multiple_of(core::mem::align_of::<f32>()) {
            return None;
        }
        // SAFETY: `raw` is a live shared borrow of exactly `param_count * 4` bytes for 'b, so
        // the pointer is non-null and valid for reads of `param_count` f32s for 'b, and no one
        // can write them meanwhile; the address was just checked to be aligned for f32; every
        // bit pattern is a valid f32 and, on this little-endian target, the file's
        // little-endian encoding is the in-memory one; the length fits isize as `raw` does.
        Some(unsafe { core::slice::from_raw_parts(raw.as_ptr().cast::<f32>(), self.param_count) })
    }

    /// Copies the parameters into `out`, which must hold exactly [`ModelFile::param_count`].
    pub fn copy_params(&self, out: &mut [f32]) -> Result<(), FileError> {
        self.check_len(out, self.param_count, "parameters")?;
        copy_tensor(self.bytes, self.params_at, out)
    }

    /// Copies the persistent buffers into `out`, which must hold exactly
    /// [`ModelFile::buffer_count`].
    pub fn copy_buffers(&self, out: &mut [f32]) -> Result<(), FileError> {
        self.check_len(out, self.buffer_count, "buffers")?;
        copy_tensor(self.bytes, self.buffers_at, out)
    }

    /// Copies a checkpoint's optimizer state into `out` (exactly
    /// `param_count * state_per_param` floats).
    pub fn copy_optimizer_state(&self, out: &mut [f32]) -> Result<(), FileError> {
        let t = self.training.as_ref().ok_or(FileError::NotACheckpoint)?;
        let count = self.param_count * t.state_per_param;
        self.check_len(out, count, "optimizer state")?;
        copy_tensor(self.bytes, self.optimizer_state_at, out)
    }

    fn check_len(&self, out: &[f32], expected: usize, what: &'static str) -> Result<(), FileError> {
        if out.len() == expected {
            Ok(())
        } else {
            Err(FileError::Net(crate::Error::length(
                what,
                expected,
                out.len(),
            )))
        }
    }
}

/// Copies the `out.len()` floats at byte `at`; `at` and the count were checked by `parse`.
fn copy_tensor(bytes: &[u8], at: usize, out: &mut [f32]) -> Result<(), FileError> {
    let src = bytes
        .get(at..)
        .and_then(|b| b.get(..out.len().checked_mul(4)?))
        .ok_or(malformed("tensor runs past the end of the file", at))?;
    for (o, c) in out.iter_mut().zip(src.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Ok(())
}

/// Reads the section table; returns the byte range of each known section (NET, PARAMS,
/// BUFFERS, TRAINING, OPTIMIZER_STATE).
fn parse_table(r: &mut Reader<'_>, bytes: &[u8]) -> Result<[Option<Range<usize>>; 5], FileError> {
    let count_at = r.offset();
    let count = r.u32("section count")? as usize;
    if count > MAX_SECTIONS {
        return Err(malformed("more sections than a file may have", count_at));
    }
    r.reserved()?;
    let table_end = HEADER_LEN + count * SECTION_ENTRY_LEN;
    let table = bytes.get(HEADER_LEN..table_end).ok_or(malformed(
        "section table runs past the end of the file",
        HEADER_LEN,
    ))?;
    let mut t = Reader::new(table, HEADER_LEN);
    let mut found: [Option<Range<usize>>; 5] = Default::default();
    for _ in 0..count {
        let at = t.offset();
        let kind = t.u32("section kind")?;
        let flags = t.u32("section flags")?;
        let offset = t.usize("section offset")?;
        let len = t.usize("section length")?;
        if flags & !section::FLAG_OPTIONAL != 0 {
            return Err(malformed("unknown section flags", at));
        }
        let end = offset
            .checked_add(len)
            .filter(|&e| offset >= table_end && e <= bytes.len())
            .ok_or(malformed("section lies outside the file", at))?;
        let slot = match kind {
            section::NET..=section::OPTIMIZER_STATE => &mut found[kind as usize - 1],
            _ if flags & section::FLAG_OPTIONAL != 0 => continue,
            _ => return Err(FileError::UnknownSection { kind }),
        };
        if slot.is_some() {
            return Err(malformed("section appears twice", at));
        }
        let tensor = matches!(
            kind,
            section::PARAMS | section::BUFFERS | section::OPTIMIZER_STATE
        );
        if tensor && (offset % ALIGN != 0 || len % 4 != 0) {
            return Err(malformed("tensor section is not aligned", at));
        }
        *slot = Some(offset..end);
    }
    Ok(found)
}

/// Checks that `range` holds exactly `count` finite floats; returns its offset.
fn tensor_at(
    bytes: &[u8],
    range: Range<usize>,
    count: usize,
    what: &'static str,
) -> Result<usize, FileError> {
    if count.checked_mul(4) != Some(range.len()) {
        return Err(malformed(
            match what {
                "parameters" => "parameter section size differs from the layers' parameter count",
                "buffers" => "buffer section size differs from the layers' buffer count",
                _ => "optimizer-state section size differs from parameters × state per parameter",
            },
            range.start,
        ));
    }
    let at = range.start;
    for (index, c) in bytes[range].chunks_exact(4).enumerate() {
        if !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite() {
            return Err(FileError::NonFinite { what, index });
        }
    }
    Ok(at)
}

fn read_shape(r: &mut Reader<'_>, what: &'static str) -> Result<Shape, FileError> {
    let at = r.offset();
    let rank = r.u32(what)? as usize;
    let mut dims = [0usize; 4];
    for d in &mut dims {
        *d = r.u32(what)? as usize;
    }
    if rank == 0 || rank > 4 || dims[rank..].iter().any(|&d| d != 0) {
        return Err(malformed(what, at));
    }
    Shape::try_new(&dims[..rank]).map_err(|_| malformed(what, at))
}

/// Reads one layer record and checks it against the layer it decodes to, given its input.
pub(crate) fn read_record<'x>(
    r: &mut Reader<'_>,
    index: usize,
    input: Shape,
) -> Result<Record<'x>, FileError> {
    let at = r.offset();
    let kind = r.u32("layer kind")?;
    let len = r.u32("layer payload length")? as usize;
    let output = read_shape(r, "layer output shape")?;
    r.reserved()?;
    let params = r.usize("layer parameter count")?;
    let buffers = r.usize("layer buffer count")?;
    let payload_at = r.offset();
    let payload = r.take(len, "layer payload")?;
    let layer = layer_codec::decode(kind, payload, payload_at, index)?;
    let got = layer
        .output_shape(input)
        .and_then(|s| s.batched(1).map(|_| s))
        .map_err(|e| FileError::Net(e.in_layer(index, layer.name())))?;
    if got != output {
        return Err(malformed(
            "layer output shape differs from the recorded one",
            at,
        ));
    }
    if layer.param_len() != params {
        return Err(malformed(
            "layer parameter count differs from the recorded one",
            at,
        ));
    }
    if layer.memory(input, 1, Mode::Eval).buffers != buffers {
        return Err(malformed(
            "layer buffer count differs from the recorded one",
            at,
        ));
    }
    Ok(Record {
        layer,
        output,
        params,
        buffers,
    })
}

fn parse_net<'b>(
    bytes: &'b [u8],
    version: u32,
    range: Option<Range<usize>>,
) -> Result<ModelFile<'b>, FileError> {
    let range = range.ok_or(malformed("no network section", HEADER_LEN))?;
    let start = range.start;
    let mut r = Reader::new(&bytes[range], start);
    let input = read_shape(&mut r, "input shape")?;
    if input.batched(1).is_err() {
        return Err(malformed("input shape has more than 3 dimensions", start));
    }
    let count_at = r.offset();
    let layer_count = r.u32("layer count")? as usize;
    if layer_count == 0 || layer_count > MAX_LAYERS {
        return Err(malformed("layer count is 0 or above MAX_LAYERS", count_at));
    }
    let param_count = r.usize("parameter count")?;
    let buffer_count = r.usize("buffer count")?;
    let records_start = start + NET_HEADER_LEN;
    let (mut shape, mut params, mut buffers) = (input, 0usize, 0usize);
    for index in 0..layer_count {
        let rec: Record<'static> = read_record(&mut r, index, shape)?;
        shape = rec.output;
        params = params
            .checked_add(rec.params)
            .ok_or(malformed("parameter count overflows", start))?;
        buffers = buffers
            .checked_add(rec.buffers)
            .ok_or(malformed("buffer count overflows", start))?;
    }
    if r.remaining() != 0 {
        return Err(malformed(
            "network section is longer than its layers",
            r.offset(),
        ));
    }
    if params != param_count || buffers != buffer_count {
        return Err(malformed(
            "parameter or buffer total differs from the sum over layers",
            start,
        ));
    }
    Ok(ModelFile {
        bytes,
        version,
        input,
        output: shape,
        layer_count,
        records: records_start..r.offset(),
        param_count,
        buffer_count,
        params_at: 0,
        buffers_at: 0,
        training: None,
        optimizer_state_at: 0,
    })
}

fn parse_training(bytes: &[u8], range: Range<usize>) -> Result<TrainingState, FileError> {
    let start = range.start;
    if range.len() != TRAINING_LEN {
        return Err(malformed("training section has the wrong size", start));
    }
    let mut r = Reader::new(&bytes[range], start);
    let raw = r.take(OPTIMIZER_NAME_LEN, "optimizer name")?;
    let n = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let mut optimizer = heapless::String::new();
    core::str::from_utf8(&raw[..n])
        .ok()
        .filter(|_| raw[n..].iter().all(|&b| b == 0))
        .and_then(|s| optimizer.push_str(s).ok())
        .ok_or(malformed("optimizer name is not zero-padded UTF-8", start))?;
    let state_per_param = r.u32("optimizer state per parameter")? as usize;
    let lr = r.finite_f32("learning rate")?;
    let steps = r.u64("optimizer steps")?;
    let mut rng = [0u64; 4];
    for s in &mut rng {
        *s = r.u64("network generator")?;
    }
    let flags_at = r.offset();
    let flags = r.u32("training flags")?;
    if flags > 1 {
        return Err(malformed("unknown training flags", flags_at));
    }
    r.reserved()?;
    let (mut user, mut user_data) = ([0u64; 4], [0u64; 4]);
    for s in user.iter_mut().chain(&mut user_data) {
        *s = r.u64("user state")?;
    }
    Ok(TrainingState {
        optimizer,
        state_per_param,
        lr,
        steps,
        net_rng: Rng::from_state(rng),
        user_rng: (flags == 1).then(|| Rng::from_state(user)),
        user_data,
    })
}
