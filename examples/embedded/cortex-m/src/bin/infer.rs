//! MNIST inference on the device: the host-trained 784-64-10 network, its model file read in
//! place from flash, over 300 test images. Prints the accuracy and the `key=value` lines the
//! host computed (`assets/expected.txt`), checks them, and exits 0 only if all match.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use nanonn_cortex_m::shared::{self, INFER_BATCH, PIXELS};
use nanonn_cortex_m::{Expect, TARGET, assets, exit, stack};

nanonn_cortex_m::exit_on_hard_fault!();

/// Working memory reserved for the network (activations; the weights stay in flash). nanonn's
/// plan for this model must fit: checked below, before anything is built.
const MEMORY_FLOATS: usize = 128;
static mut MEMORY: [f32; MEMORY_FLOATS] = [0.0; MEMORY_FLOATS];
/// One batch of inputs, converted from bytes.
static mut INPUT: [f32; INFER_BATCH * PIXELS] = [0.0; INFER_BATCH * PIXELS];

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: `main` runs once and never returns, and no interrupt handler uses these
    // statics, so these are the only references to them there will ever be.
    let (memory, input) = unsafe { (&mut *addr_of_mut!(MEMORY), &mut *addr_of_mut!(INPUT)) };
    hprintln!("nanonn: MNIST inference on {}", TARGET);

    let needed = match shared::infer_floats(assets::MODEL) {
        Ok(n) => n,
        Err(e) => fail(e),
    };
    hprintln!(
        "memory: nanonn plan {} bytes, reserved {} bytes (+ {} bytes of input); model file {} bytes in flash",
        needed * 4,
        MEMORY_FLOATS * 4,
        INFER_BATCH * PIXELS * 4,
        assets::MODEL.len()
    );
    if needed > MEMORY_FLOATS {
        fail("the plan needs more memory than MEMORY_FLOATS reserves");
    }
    let r = match shared::infer(
        assets::MODEL,
        assets::TEST_IMAGES,
        assets::TEST_LABELS,
        &mut memory[..],
        &mut input[..],
    ) {
        Ok(r) => r,
        Err(e) => fail(e),
    };
    hprintln!(
        "weights: {} parameters {}",
        r.params,
        if r.weights_in_place {
            "read in place from flash"
        } else {
            "COPIED (the model is not aligned)"
        }
    );
    let mut expect = Expect::default();
    expect.report(&r);
    hprintln!(
        "stack: peak {} of {} bytes",
        stack::peak(),
        stack::available()
    );
    assert!(r.weights_in_place, "the weights must be used in place");
    assert_eq!(
        expect.mismatches, 0,
        "the device's lines differ from the host's"
    );
    hprintln!("ok: {} lines equal the host's", expect.checked);
    exit(true)
}

fn fail(e: impl core::fmt::Display) -> ! {
    hprintln!("error: {}", e);
    exit(false)
}
