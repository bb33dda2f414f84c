//! Negative control for the fault handler: executes an undefined instruction. The fault must
//! be reported and end QEMU with a non-zero status, not hang until the timeout.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;

nanonn_cortex_m::exit_on_hard_fault!();

#[entry]
fn main() -> ! {
    hprintln!("negative control: an undefined instruction; this run must FAIL with a HardFault");
    // Never returns: the fault handler exits. Were the fault lost, QEMU would spin here
    // until `timeout` ends it with status 124, which CI tells apart from a reported fault.
    cortex_m::asm::udf()
}
