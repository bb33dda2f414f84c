//! nanonn on a Cortex-M: what the firmware binaries (`src/bin/`) share.
//!
//! - [`shared`]: the inference and training runs, also compiled on the host by
//!   `tests/embedded_host.rs`, so both sides run the same code;
//! - [`assets`]: the model file and images, embedded in flash with `include_bytes!`;
//! - output and exit through semihosting ([`hprintln!`](cortex_m_semihosting::hprintln),
//!   [`exit`]), a HardFault handler that exits non-zero ([`exit_on_hard_fault!`]), and a
//!   stack gauge ([`stack`]).
//!
//! There is no allocator: no `#[global_allocator]`, no `alloc` crate. Every buffer is a
//! `static` array sized from a constant, checked against nanonn's plan at run time.
#![no_std]
#![deny(missing_docs)]

pub mod assets;
pub mod shared;
pub mod stack;

use cortex_m_rt::ExceptionFrame;
use cortex_m_semihosting::{debug, hprintln};
// The panic handler: prints the panic message on the host and exits QEMU with status 1.
use panic_semihosting as _;

/// Ends the program: QEMU exits with status 0 on `success`, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a semihosting host (a real board with no debugger attached).
    loop {
        cortex_m::asm::wfi();
    }
}

/// Reports a hard fault (where it happened) and exits with failure, so a crash fails the
/// run instead of hanging until the timeout.
pub fn hard_fault(frame: &ExceptionFrame) -> ! {
    hprintln!(
        "HardFault: pc={:#010x} lr={:#010x} xpsr={:#010x}",
        frame.pc(),
        frame.lr(),
        frame.xpsr()
    );
    exit(false)
}

/// Installs a HardFault handler that calls [`hard_fault`]. Invoke once in each binary (an
/// exception handler must be defined in the final program to be linked in).
#[macro_export]
macro_rules! exit_on_hard_fault {
    () => {
        #[cortex_m_rt::exception]
        unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::hard_fault(frame)
        }
    };
}

/// The target this firmware was built for, for the log.
pub const TARGET: &str = if cfg!(target_abi = "eabihf") {
    "thumbv7em-none-eabihf (Cortex-M4F, FPU)"
} else {
    "thumbv6m-none-eabi (Cortex-M0+, no FPU)"
};

/// Prints the lines of a run's report (a `Display` of `key=value` lines) and checks each
/// against the host's line for the same key in [`assets::EXPECTED`].
///
/// Lines whose key the host did not record (none are expected to be missing) count as
/// mismatches too, so a renamed key cannot pass silently.
pub struct Expect {
    line: [u8; 1280],
    len: usize,
    /// Lines checked.
    pub checked: usize,
    /// Lines that differ from the host's, or that the host does not have.
    pub mismatches: usize,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            line: [0; 1280],
            len: 0,
            checked: 0,
            mismatches: 0,
        }
    }
}

impl Expect {
    /// Prints and checks `report` (a final newline is implied).
    pub fn report(&mut self, report: impl core::fmt::Display) {
        use core::fmt::Write;
        // `write_str` never fails (over-long lines are cut and then mismatch).
        let _ = writeln!(self, "{report}");
    }

    fn finish_line(&mut self) {
        let line = core::str::from_utf8(&self.line[..self.len]).unwrap_or("<not utf-8>");
        hprintln!("{}", line);
        let (key, _) = line.split_once('=').unwrap_or((line, ""));
        match assets::expected(key) {
            Some(want) if line.len() == key.len() + 1 + want.len() && line.ends_with(want) => {}
            Some(want) => {
                hprintln!("MISMATCH: the host has {}={}", key, want);
                self.mismatches += 1;
            }
            None => {
                hprintln!("MISMATCH: the host has no line {}", key);
                self.mismatches += 1;
            }
        }
        self.checked += 1;
        self.len = 0;
    }
}

impl core::fmt::Write for Expect {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.finish_line();
            } else if self.len < self.line.len() {
                self.line[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}
