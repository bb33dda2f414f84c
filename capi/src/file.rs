//! Model files (`docs/model-format.md`): save a model to a path or a buffer, load weights or
//! a whole training checkpoint back.

use core::ffi::{CStr, c_char};
use std::path::PathBuf;

use nn::format::{self, Checkpoint, ModelFile};

use crate::config::NanonnFileKind;
use crate::model::NanonnModel;
use crate::status::{
    Failure, NanonnStatus, Outcome, guard, handle, handle_mut, optional_slice, out_ptr, slice_mut,
    write_out,
};

/// A path from C: NUL-terminated bytes (any bytes on Unix, UTF-8 elsewhere).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub(crate) unsafe fn path_bytes(path: *const c_char) -> Outcome<PathBuf> {
    if path.is_null() {
        return Err(Failure::null("path"));
    }
    // SAFETY: the caller's contract.
    let c = unsafe { CStr::from_ptr(path) };
    if c.is_empty() {
        return Err(Failure::argument("path is empty"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        c.to_str()
            .map(PathBuf::from)
            .map_err(|_| Failure::argument("path is not valid UTF-8"))
    }
}

/// Reads a whole file.
pub(crate) fn read_path(path: &std::path::Path) -> Outcome<Vec<u8>> {
    Ok(format::read(path)?)
}

/// Writes `model` as a file of `kind` into `out`, returning the bytes written, or counts
/// them when `out` is `None`.
fn encode(model: &NanonnModel, kind: u32, out: Option<&mut [u8]>) -> Outcome<usize> {
    let m = model.model();
    let checkpoint = match NanonnFileKind::from_u32(kind)? {
        NanonnFileKind::Weights => None,
        NanonnFileKind::Checkpoint => Some(Checkpoint::new(m.optimizer())),
    };
    Ok(match out {
        None => format::required_bytes(m.net(), checkpoint.as_ref())?,
        Some(buf) => format::write(m.net(), checkpoint.as_ref(), buf)?,
    })
}

/// Loads from the parsed `file`: the weights (and persistent buffers) for `WEIGHTS`, all of
/// the training state for `CHECKPOINT`. Nothing changes unless the file fits the model.
fn decode(model: &mut NanonnModel, kind: u32, file: &ModelFile<'_>) -> Outcome {
    match NanonnFileKind::from_u32(kind)? {
        NanonnFileKind::Weights => file.load_into(model.model_mut().net_mut())?,
        NanonnFileKind::Checkpoint => {
            file.restore(model.model_mut())?;
            // The restored step counter decides where a schedule is.
            let schedule = model.schedule().clone();
            model.set_schedule(schedule);
        }
    }
    Ok(())
}

/// Saves the model to `path` as a `NanonnFileKind` (WEIGHTS, or CHECKPOINT to resume
/// training later). Atomic: a failure leaves any previous file at `path` intact.
///
/// # Safety
/// `model` is NULL or a live model; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_save(
    model: *const NanonnModel,
    path: *const c_char,
    kind: u32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: the caller's contract.
        let path = unsafe { path_bytes(path) }?;
        let mut bytes = vec![0u8; encode(m, kind, None)?];
        encode(m, kind, Some(&mut bytes))?;
        format::save_bytes(&path, &bytes)?;
        Ok(())
    })
}

/// The exact size in bytes of the model saved as a `NanonnFileKind`, in `*bytes_out`.
///
/// # Safety
/// `model` is NULL or a live model; `bytes_out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_save_size(
    model: *const NanonnModel,
    kind: u32,
    bytes_out: *mut usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        out_ptr(bytes_out, "bytes_out")?;
        let n = encode(m, kind, None)?;
        // SAFETY: checked above.
        unsafe { write_out(bytes_out, n) };
        Ok(())
    })
}

/// Saves the model as a `NanonnFileKind` into `buffer[0..len]` (at least
/// `nanonn_model_save_size` bytes; no heap is used) and writes the size to `*written_out`.
///
/// # Safety
/// `model` is NULL or a live model; `buffer` has `len` writable bytes; `written_out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_save_to_buffer(
    model: *const NanonnModel,
    kind: u32,
    buffer: *mut u8,
    len: usize,
    written_out: *mut usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        out_ptr(written_out, "written_out")?;
        // SAFETY: the caller's contract for the pair.
        let buf = unsafe { slice_mut(buffer, len, "buffer") }?;
        let n = encode(m, kind, Some(buf))?;
        // SAFETY: checked above.
        unsafe { write_out(written_out, n) };
        Ok(())
    })
}

/// Loads the model file at `path` into the model, which must have the file's architecture:
/// for `NANONN_FILE_KIND_WEIGHTS` its weights (from any model file); for
/// `NANONN_FILE_KIND_CHECKPOINT` its whole training state (a checkpoint written with the same
/// optimizer), so that training continues bit for bit. The model is unchanged on failure.
///
/// # Safety
/// `model` is NULL or a live model; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_load(
    model: *mut NanonnModel,
    path: *const c_char,
    kind: u32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        // SAFETY: the caller's contract.
        let path = unsafe { path_bytes(path) }?;
        NanonnFileKind::from_u32(kind)?;
        let bytes = read_path(&path)?;
        let file = ModelFile::parse(&bytes)
            .map_err(|e| Failure::from(e).prefixed(&path.display().to_string()))?;
        decode(m, kind, &file)
    })
}

/// `nanonn_model_load` from the model file held in `bytes[0..len]` (no heap is used).
///
/// # Safety
/// `model` is NULL or a live model; `bytes` has `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_load_from_buffer(
    model: *mut NanonnModel,
    bytes: *const u8,
    len: usize,
    kind: u32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        // SAFETY: the caller's contract for the pair.
        let bytes = unsafe { optional_slice(bytes, len, "bytes") }?;
        NanonnFileKind::from_u32(kind)?;
        decode(m, kind, &ModelFile::parse(bytes)?)
    })
}
