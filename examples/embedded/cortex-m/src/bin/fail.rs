//! Negative control for the checks: runs the real inference, then pretends the device got one
//! image wrong and checks that against the host's lines with the very code `infer` uses. The
//! check must fail, and the failed assertion must end QEMU with a non-zero status; CI requires
//! exactly that.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use nanonn_cortex_m::shared::{self, INFER_BATCH, PIXELS};
use nanonn_cortex_m::{Expect, assets, exit};

nanonn_cortex_m::exit_on_hard_fault!();

static mut MEMORY: [f32; 128] = [0.0; 128];
static mut INPUT: [f32; INFER_BATCH * PIXELS] = [0.0; INFER_BATCH * PIXELS];

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and never returns, and no interrupt handler uses these
    // statics, so these are the only references to them there will ever be.
    let (memory, input) = unsafe { (&mut *addr_of_mut!(MEMORY), &mut *addr_of_mut!(INPUT)) };
    hprintln!("negative control: one miss is injected; this run must FAIL");
    let mut r = match shared::infer(
        assets::MODEL,
        assets::TEST_IMAGES,
        assets::TEST_LABELS,
        &mut memory[..],
        &mut input[..],
    ) {
        Ok(r) => r,
        Err(e) => {
            hprintln!("error: {}", e);
            exit(false)
        }
    };
    r.accuracy.hit_num -= 1;
    let mut expect = Expect::default();
    expect.report(&r);
    assert_eq!(
        expect.mismatches, 0,
        "the device's lines differ from the host's"
    );
    hprintln!("the check did not notice the injected miss");
    exit(true)
}
