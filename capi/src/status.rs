//! Status codes, the thread-local last-error message, the panic boundary, and the checks
//! every pointer from C goes through.
//!
//! Every status-returning function runs its body inside [`guard`]: the body returns
//! `Result<(), Failure>`, a failure becomes a [`NanonnStatus`] plus a message stored for
//! [`nanonn_last_error_message`], and a panic is caught (`catch_unwind`) and reported as
//! [`NanonnStatus::Panic`] — no unwinding ever crosses the C ABI.

use core::cell::RefCell;
use core::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use nn::format::FileError;
use nn::{Error, ErrorKind};

/// The result of every status-returning nanonn function: `NANONN_STATUS_OK` (0) or the kind
/// of failure; `nanonn_last_error_message()` then says what exactly went wrong.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanonnStatus {
    /// Success.
    Ok = 0,
    /// A required pointer (handle, buffer, output) was NULL.
    NullPointer = 1,
    /// An enum argument (activation, loss, optimizer, padding, ...) is not one of its values.
    InvalidEnum = 2,
    /// A value is out of its range (batch size 0, negative learning rate, flag not 0 or 1,
    /// overlapping buffers, ...).
    InvalidArgument = 3,
    /// Shapes do not fit: layers that do not chain, an input of the wrong shape.
    ShapeMismatch = 4,
    /// A pointer+length pair has the wrong length.
    LengthMismatch = 5,
    /// The caller's memory or output buffer is too small.
    BufferTooSmall = 6,
    /// A `float` or `uint32_t` pointer is not aligned to 4 bytes.
    Misaligned = 7,
    /// A class label is not below the number of classes.
    LabelOutOfRange = 8,
    /// A NaN or an infinity where finite numbers are required (input, targets, loss).
    NonFinite = 9,
    /// Too many layers (or schedule milestones) for a fixed-capacity list.
    CapacityExceeded = 10,
    /// More samples than the batch the model was planned for.
    BatchTooLarge = 11,
    /// The call is not allowed in the object's current state.
    InvalidState = 12,
    /// The bytes are not a valid model file (bad magic, unsupported version, truncated,
    /// checksum mismatch, malformed).
    FileInvalid = 13,
    /// The model file is valid but does not fit this model (another architecture or
    /// optimizer, or not a checkpoint).
    FileMismatch = 14,
    /// Reading or writing a file failed (the message has the operating system's reason).
    Io = 15,
    /// nanonn panicked: a bug in nanonn, caught before it could cross into C. The message
    /// has the panic's text. The handle involved should be freed and not used again.
    Panic = 16,
}

impl NanonnStatus {
    /// Every status, in code order (for `nanonn_status_name`).
    const ALL: [NanonnStatus; 17] = [
        NanonnStatus::Ok,
        NanonnStatus::NullPointer,
        NanonnStatus::InvalidEnum,
        NanonnStatus::InvalidArgument,
        NanonnStatus::ShapeMismatch,
        NanonnStatus::LengthMismatch,
        NanonnStatus::BufferTooSmall,
        NanonnStatus::Misaligned,
        NanonnStatus::LabelOutOfRange,
        NanonnStatus::NonFinite,
        NanonnStatus::CapacityExceeded,
        NanonnStatus::BatchTooLarge,
        NanonnStatus::InvalidState,
        NanonnStatus::FileInvalid,
        NanonnStatus::FileMismatch,
        NanonnStatus::Io,
        NanonnStatus::Panic,
    ];

    /// The C name, NUL-terminated.
    fn name(self) -> &'static str {
        match self {
            NanonnStatus::Ok => "NANONN_STATUS_OK\0",
            NanonnStatus::NullPointer => "NANONN_STATUS_NULL_POINTER\0",
            NanonnStatus::InvalidEnum => "NANONN_STATUS_INVALID_ENUM\0",
            NanonnStatus::InvalidArgument => "NANONN_STATUS_INVALID_ARGUMENT\0",
            NanonnStatus::ShapeMismatch => "NANONN_STATUS_SHAPE_MISMATCH\0",
            NanonnStatus::LengthMismatch => "NANONN_STATUS_LENGTH_MISMATCH\0",
            NanonnStatus::BufferTooSmall => "NANONN_STATUS_BUFFER_TOO_SMALL\0",
            NanonnStatus::Misaligned => "NANONN_STATUS_MISALIGNED\0",
            NanonnStatus::LabelOutOfRange => "NANONN_STATUS_LABEL_OUT_OF_RANGE\0",
            NanonnStatus::NonFinite => "NANONN_STATUS_NON_FINITE\0",
            NanonnStatus::CapacityExceeded => "NANONN_STATUS_CAPACITY_EXCEEDED\0",
            NanonnStatus::BatchTooLarge => "NANONN_STATUS_BATCH_TOO_LARGE\0",
            NanonnStatus::InvalidState => "NANONN_STATUS_INVALID_STATE\0",
            NanonnStatus::FileInvalid => "NANONN_STATUS_FILE_INVALID\0",
            NanonnStatus::FileMismatch => "NANONN_STATUS_FILE_MISMATCH\0",
            NanonnStatus::Io => "NANONN_STATUS_IO\0",
            NanonnStatus::Panic => "NANONN_STATUS_PANIC\0",
        }
    }
}

/// A failed call: its status and the message for `nanonn_last_error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: NanonnStatus,
    pub(crate) message: String,
}

/// Shorthand for `Err(Failure)`.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

impl Failure {
    pub(crate) fn new(status: NanonnStatus, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A NULL pointer where `what` was required.
    pub(crate) fn null(what: &str) -> Failure {
        Failure::new(NanonnStatus::NullPointer, format!("{what} is NULL"))
    }

    /// `value` is not one of the values of the enum `what`.
    pub(crate) fn bad_enum(what: &str, value: u32) -> Failure {
        Failure::new(
            NanonnStatus::InvalidEnum,
            format!("{value} is not a valid {what}"),
        )
    }

    /// The same failure with `prefix: ` in front of its message (e.g. a file's path).
    pub(crate) fn prefixed(mut self, prefix: &str) -> Failure {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    pub(crate) fn argument(message: impl Into<String>) -> Failure {
        Failure::new(NanonnStatus::InvalidArgument, message)
    }

    pub(crate) fn length(what: &str, expected: impl core::fmt::Display, got: usize) -> Failure {
        Failure::new(
            NanonnStatus::LengthMismatch,
            format!("{what} has {got} elements, expected {expected}"),
        )
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match e.kind {
            ErrorKind::ShapeMismatch { .. } => NanonnStatus::ShapeMismatch,
            ErrorKind::LengthMismatch { .. } => NanonnStatus::LengthMismatch,
            ErrorKind::OutOfMemory { .. } => NanonnStatus::BufferTooSmall,
            ErrorKind::LabelOutOfRange { .. } => NanonnStatus::LabelOutOfRange,
            ErrorKind::NonFinite { .. } => NanonnStatus::NonFinite,
            ErrorKind::InvalidConfig { .. } => NanonnStatus::InvalidArgument,
            ErrorKind::CapacityExceeded { .. } => NanonnStatus::CapacityExceeded,
            ErrorKind::BatchTooLarge { .. } => NanonnStatus::BatchTooLarge,
            ErrorKind::InvalidState { .. } => NanonnStatus::InvalidState,
            _ => NanonnStatus::InvalidArgument,
        };
        Failure::new(status, e.to_string())
    }
}

impl From<FileError> for Failure {
    fn from(e: FileError) -> Failure {
        let status = match &e {
            FileError::Net(inner) => return Failure::from(*inner),
            FileError::Io { .. } => NanonnStatus::Io,
            FileError::BufferTooSmall { .. } => NanonnStatus::BufferTooSmall,
            FileError::Mismatch { .. }
            | FileError::NotACheckpoint
            | FileError::UnsupportedLayer { .. } => NanonnStatus::FileMismatch,
            _ => NanonnStatus::FileInvalid,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    /// The message of the last failed call on this thread, NUL-terminated; `"\0"` after a
    /// successful one. The buffer keeps its capacity, so clearing it does not allocate.
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

fn set_last_error(message: &str) {
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            // An interior NUL would cut the C string short: replace it.
            buf.extend(message.bytes().map(|b| if b == 0 { b'?' } else { b }));
            buf.push(0);
        }
    });
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            buf.push(0);
        }
    });
}

fn panic_message(payload: &(dyn core::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("internal error: nanonn panicked: {text}")
}

/// Runs `body` behind the panic boundary and turns its outcome into a status, setting or
/// clearing this thread's last-error message.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> NanonnStatus {
    // AssertUnwindSafe: after a panic the handle involved may hold half-updated numbers (never
    // invalid memory); the status tells the caller, and the documentation asks them to free it.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            clear_last_error();
            NanonnStatus::Ok
        }
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(payload) => {
            set_last_error(&panic_message(&*payload));
            NanonnStatus::Panic
        }
    }
}

/// The panic boundary for functions that return nothing (`_free`): a panic is swallowed (and
/// its message stored), because there is no status to return it in.
pub(crate) fn guard_void(body: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        set_last_error(&panic_message(&*payload));
    }
}

/// Borrows the object behind a handle, or fails with `NullPointer`.
///
/// # Safety
/// `ptr` is NULL or a live handle of this type, used by no other thread during the call.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Outcome<&'a T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid; `as_ref` handles NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// [`handle`], mutably.
///
/// # Safety
/// As for [`handle`], and no other reference to the object exists during the call.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Outcome<&'a mut T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid and unaliased.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// Checks a C pointer+length pair for what Rust needs of a slice: non-NULL, aligned for `T`,
/// and at most `isize::MAX` bytes.
fn check_pair<T>(ptr: *const T, len: usize, what: &str) -> Outcome {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    if !ptr.is_aligned() {
        return Err(Failure::new(
            NanonnStatus::Misaligned,
            format!(
                "{what} ({ptr:p}) is not aligned to {} bytes",
                core::mem::align_of::<T>()
            ),
        ));
    }
    if len
        .checked_mul(core::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Failure::argument(format!(
            "{what}: a length of {len} elements is impossibly large"
        )));
    }
    Ok(())
}

/// Borrows `len` elements at `ptr` (NULL is refused even when `len` is 0).
///
/// # Safety
/// When non-NULL, `ptr` points to `len` initialised elements that nothing writes during the
/// call.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Outcome<&'a [T]> {
    check_pair(ptr, len, what)?;
    // SAFETY: non-NULL, aligned, size checked above; validity is the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// [`slice`] for optional arrays: NULL is accepted (as empty) when `len` is 0.
///
/// # Safety
/// As for [`slice`].
pub(crate) unsafe fn optional_slice<'a, T>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Outcome<&'a [T]> {
    if ptr.is_null() && len == 0 {
        return Ok(&[]);
    }
    // SAFETY: forwarded contract.
    unsafe { slice(ptr, len, what) }
}

/// Borrows `len` writable elements at `ptr`.
///
/// # Safety
/// When non-NULL, `ptr` points to `len` writable elements that nothing else accesses during
/// the call.
pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize, what: &str) -> Outcome<&'a mut [T]> {
    check_pair(ptr.cast_const(), len, what)?;
    // SAFETY: non-NULL, aligned, size checked above; validity is the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// Refuses an output buffer that overlaps an input (Rust may not read memory it writes
/// through another reference).
pub(crate) fn check_disjoint<A, B>(input: &[A], output: &[B], what: &str) -> Outcome {
    let a = input.as_ptr_range();
    let b = output.as_ptr_range();
    let (a0, a1, b0, b1) = (
        a.start as usize,
        a.end as usize,
        b.start as usize,
        b.end as usize,
    );
    if a0 < b1 && b0 < a1 {
        return Err(Failure::argument(format!(
            "{what}: the output buffer overlaps an input buffer"
        )));
    }
    Ok(())
}

/// Writes `value` through an output pointer (called last, once everything has succeeded).
///
/// # Safety
/// `out` was checked non-NULL by [`out_ptr`] and points to writable memory for a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: the caller's contract; `write` does not drop the old (uninitialised) value.
    unsafe { out.write(value) }
}

/// Checks an output pointer before any work is done, so that a NULL output fails early and
/// leaves everything untouched.
pub(crate) fn out_ptr<T>(out: *mut T, what: &str) -> Outcome {
    if out.is_null() {
        return Err(Failure::null(what));
    }
    if !out.is_aligned() {
        return Err(Failure::new(
            NanonnStatus::Misaligned,
            format!("{what} is not aligned"),
        ));
    }
    Ok(())
}

/// Reads a 0/1 flag.
pub(crate) fn flag(value: u32, what: &str) -> Outcome<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Failure::argument(format!("{what} must be 0 or 1, not {v}"))),
    }
}

/// The message of the last failed nanonn call on this thread, or `""` if the last call
/// succeeded. Never NULL. The string stays valid until the next call, on this thread, of a
/// function that returns a `NanonnStatus` or of a `_free`: copy it to keep it. (This getter,
/// `nanonn_status_name` and the version getters leave it as it is.)
#[unsafe(no_mangle)]
pub extern "C" fn nanonn_last_error_message() -> *const c_char {
    static EMPTY: &[u8] = b"\0";
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|cell| cell.try_borrow().map(|b| b.as_ptr()).ok())
            .ok()
            .flatten()
    })
    .ok()
    .flatten()
    .unwrap_or(EMPTY.as_ptr())
    .cast()
}

/// The name of a status code as a static string (`"NANONN_STATUS_SHAPE_MISMATCH"`), or
/// `"NANONN_STATUS_UNKNOWN"` for a number that is not one. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn nanonn_status_name(status: u32) -> *const c_char {
    let name = NanonnStatus::ALL
        .get(status as usize)
        .map_or("NANONN_STATUS_UNKNOWN\0", |s| s.name());
    name.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: never NULL, NUL-terminated, read before the next call.
        unsafe { CStr::from_ptr(nanonn_last_error_message()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn guard_sets_and_clears_the_message() {
        let s = guard(|| Err(Failure::argument("bad\0thing")));
        assert_eq!(s, NanonnStatus::InvalidArgument);
        assert_eq!(last(), "bad?thing");
        assert_eq!(guard(|| Ok(())), NanonnStatus::Ok);
        assert_eq!(last(), "");
    }

    #[test]
    fn guard_catches_panics() {
        let s = guard(|| panic!("boom {}", 7));
        assert_eq!(s, NanonnStatus::Panic);
        assert!(last().ends_with("boom 7"), "{}", last());
        guard_void(|| panic!("in free"));
        assert!(last().ends_with("in free"));
    }

    #[test]
    fn status_names_follow_the_codes() {
        for (i, s) in NanonnStatus::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
        }
        // SAFETY: static NUL-terminated strings.
        let name = |v| {
            unsafe { CStr::from_ptr(nanonn_status_name(v)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(name(0), "NANONN_STATUS_OK");
        assert_eq!(name(4), "NANONN_STATUS_SHAPE_MISMATCH");
        assert_eq!(name(16), "NANONN_STATUS_PANIC");
        assert_eq!(name(17), "NANONN_STATUS_UNKNOWN");
        assert_eq!(name(u32::MAX), "NANONN_STATUS_UNKNOWN");
    }

    #[test]
    fn pointer_checks() {
        let data = [1.0f32, 2.0, 3.0];
        // SAFETY: valid pointers or NULL; the misaligned one is refused before any read.
        unsafe {
            assert_eq!(slice(data.as_ptr(), 3, "x").unwrap(), &data);
            let e = slice::<f32>(core::ptr::null(), 0, "x").unwrap_err();
            assert_eq!(
                (e.status, e.message.as_str()),
                (NanonnStatus::NullPointer, "x is NULL")
            );
            assert!(
                optional_slice::<u64>(core::ptr::null(), 0, "m")
                    .unwrap()
                    .is_empty()
            );
            assert!(optional_slice::<u64>(core::ptr::null(), 1, "m").is_err());
            let odd = data.as_ptr().cast::<u8>().add(1).cast::<f32>();
            assert_eq!(
                slice(odd, 1, "x").unwrap_err().status,
                NanonnStatus::Misaligned
            );
            let huge = slice(data.as_ptr(), usize::MAX / 2, "x").unwrap_err();
            assert_eq!(huge.status, NanonnStatus::InvalidArgument);
        }
        assert!(check_disjoint(&data[..2], &data[1..], "t").is_err());
        assert!(check_disjoint(&data[..1], &data[1..], "t").is_ok());
        assert!(flag(1, "f").unwrap());
        assert!(flag(2, "f").is_err());
    }
}
