//! # The C ABI of nanonn
//!
//! `extern "C"` functions over the core crate, built as `libnanonn.a` and `libnanonn.so`, with
//! the header `include/nanonn.h` generated from this crate by cbindgen. The conventions, which
//! the header repeats:
//!
//! - **Names** are `nanonn_<object>_<verb>`; objects are opaque handles (`NanonnNetBuilder`,
//!   `NanonnModel`) made by `_new` (or `_from_*`) and released by `_free`; `_free(NULL)` does
//!   nothing.
//! - **Every function returns a `NanonnStatus`** (`NANONN_STATUS_OK` = 0), except `_free`,
//!   the version getters, `nanonn_status_name` and `nanonn_last_error_message`. On failure,
//!   `nanonn_last_error_message()` says what went wrong, in a sentence that names the value
//!   (`layer 1 (Dense): input shape [400] does not match the expected [300]`); it is
//!   thread-local and valid until the thread's next call of a status-returning function or of
//!   a `_free`.
//! - **Outputs come last** and are written only on success: a failed call leaves `*out`
//!   untouched.
//! - **Buffers are pointer + length pairs**, lengths in elements (floats, labels, bytes),
//!   checked exactly: NULL, misaligned, wrong lengths and overlapping outputs are statuses.
//! - **Enums are passed as `uint32_t`** and checked (`NANONN_STATUS_INVALID_ENUM`): C can pass
//!   any integer, and a Rust enum holding an invalid value would be undefined behaviour.
//! - **No panic crosses the ABI**: every function body runs under `catch_unwind`; a panic (a
//!   nanonn bug) becomes `NANONN_STATUS_PANIC` with its message. (Built with `panic = "abort"`,
//!   a panic would abort the process instead; it still never unwinds into C.)
//! - **Threads**: a handle may move between threads but must not be used by two at once.
//!   Different handles are independent.
//! - **Memory**: `nanonn_model_new` allocates; `nanonn_model_bytes_needed` +
//!   `nanonn_model_new_in` run a model entirely in a block the caller provides, with no heap.
#![deny(missing_docs)]

// The order of these modules is the order of the functions in the header.
mod status;

mod config;

mod builder;

mod model;

mod run;
mod train_parts;

mod schedule;

mod file;

pub use builder::NanonnNetBuilder;
pub use config::{
    NanonnActivation, NanonnConv2dConfig, NanonnFileKind, NanonnLoss, NanonnLossConfig,
    NanonnOptimizer, NanonnOptimizerConfig, NanonnPadding, NanonnPool2dConfig, NanonnWeightDecay,
};
pub use model::{NanonnModel, NanonnModelInfo};
pub use status::NanonnStatus;

use core::ffi::c_char;

/// The major version of the library this header belongs to.
pub const NANONN_VERSION_MAJOR: u32 = 0;
/// The minor version.
pub const NANONN_VERSION_MINOR: u32 = 1;
/// The patch version.
pub const NANONN_VERSION_PATCH: u32 = 0;
/// Most layers a network can hold.
pub const NANONN_MAX_LAYERS: usize = 64;
/// Most milestones `nanonn_model_set_multi_step_lr` takes.
pub const NANONN_MAX_MILESTONES: usize = 16;

/// The library's version, `"MAJOR.MINOR.PATCH"` (static; never NULL).
#[unsafe(no_mangle)]
pub extern "C" fn nanonn_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH`: compare it
/// with the header's `NANONN_VERSION_*` to detect a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn nanonn_version_number() -> u32 {
    NANONN_VERSION_MAJOR * 10000 + NANONN_VERSION_MINOR * 100 + NANONN_VERSION_PATCH
}

/// Counts this thread's heap allocations, for the tests that prove a call allocates nothing.
#[cfg(test)]
pub(crate) mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: forwards to the system allocator; the counter is a const-initialised
    // thread-local `Cell`, which never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: the caller's contract, forwarded.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract, forwarded.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: the caller's contract, forwarded.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations made by this thread so far.
    pub(crate) fn allocations() -> usize {
        COUNT.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_crates() {
        let v = |s: &str| s.parse::<u32>().unwrap();
        assert_eq!(NANONN_VERSION_MAJOR, v(env!("CARGO_PKG_VERSION_MAJOR")));
        assert_eq!(NANONN_VERSION_MINOR, v(env!("CARGO_PKG_VERSION_MINOR")));
        assert_eq!(NANONN_VERSION_PATCH, v(env!("CARGO_PKG_VERSION_PATCH")));
        // The C library carries the core's version.
        let core = include_str!("../../Cargo.toml");
        let line = format!("version = \"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(
            core.lines().any(|l| l == line),
            "core version differs from {line}"
        );
        assert_eq!(NANONN_MAX_LAYERS, nn::plan::MAX_LAYERS);
        assert_eq!(NANONN_MAX_MILESTONES, nn::schedule::MAX_MILESTONES);
        assert_eq!(nanonn_version_number(), 100);
        // SAFETY: a static NUL-terminated string.
        let s = unsafe { core::ffi::CStr::from_ptr(nanonn_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
