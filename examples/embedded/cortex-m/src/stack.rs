//! A stack gauge: fill the free RAM below the stack with a pattern at start-up, and later
//! count how much of it the stack has overwritten. The RAM table of the README comes from
//! this and the linker's `.data`/`.bss`.
//!
//! cortex-m-rt puts the stack at the top of RAM, growing down towards the statics; nothing
//! stops it there, so the peak is worth knowing.

use core::ptr::addr_of;

const PATTERN: u32 = 0xCAFE_F00D;
/// Words just below the current stack pointer left alone when painting (the frame of
/// [`paint`] itself and its callees).
const GUARD_WORDS: usize = 64;

unsafe extern "C" {
    /// End of the statics (`.bss`/`.uninit`), defined by cortex-m-rt's `link.x`.
    static _stack_end: u32;
    /// Top of RAM, where the stack starts, defined by cortex-m-rt's `link.x`.
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    (
        addr_of!(_stack_end) as usize,
        addr_of!(_stack_start) as usize,
    )
}

/// Bytes between the end of the statics and the top of RAM: all the stack can have.
pub fn available() -> usize {
    let (low, high) = bounds();
    high - low
}

/// Fills the unused stack with the pattern. Call first thing in `main`.
pub fn paint() {
    let (low, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let end = sp.saturating_sub(4 * GUARD_WORDS);
    let mut at = low;
    while at < end {
        // SAFETY: `low..end` lies between the end of every static and below the live part
        // of the stack (the current stack pointer minus a guard for this function's own
        // frame), so no Rust object lives there; `at` is 4-byte aligned (the linker aligns
        // `_stack_end` to 4) and inside RAM. Volatile: the compiler must not drop the
        // writes, which nothing in the program reads but `peak`.
        unsafe { core::ptr::write_volatile(at as *mut u32, PATTERN) };
        at += 4;
    }
}

/// The deepest the stack has been since [`paint`], in bytes (a lower bound: a frame that
/// wrote the pattern itself would not show).
pub fn peak() -> usize {
    let (low, high) = bounds();
    let mut at = low;
    // SAFETY: `low..high` is RAM and `at` stays 4-byte aligned inside it. The words below
    // the deepest frame belong to no Rust object; the loop stops at the first word the stack
    // has written, so at most one word of a live frame is read, through a raw pointer (no
    // reference is made, nothing is written).
    while at < high && unsafe { core::ptr::read_volatile(at as *const u32) } == PATTERN {
        at += 4;
    }
    high - at
}
