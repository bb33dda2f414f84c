//! Training from scratch on the device: a 196-32-10 MLP on 1000 MNIST images averaged down to
//! 14×14, with Adam, for a few epochs; held-out accuracy on 300 test images after each. Prints
//! the memory nanonn planned next to what this binary reserves, the loss falling and the
//! accuracy rising, checks every line against the host's run of the same code, and exits 0
//! only if they match and the held-out accuracy reaches 0.80.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use nanonn_cortex_m::shared::{self, SMALL_PIXELS, TRAIN_BATCH, TrainData};
use nanonn_cortex_m::{Expect, TARGET, assets, exit, stack};

nanonn_cortex_m::exit_on_hard_fault!();

/// Memory reserved for training: parameters, gradients, Adam's two moments, every layer's
/// activations, the backward buffers and GEMM scratch. nanonn's plan must fit: checked below.
const MEMORY_FLOATS: usize = 30_070;
static mut MEMORY: [f32; MEMORY_FLOATS] = [0.0; MEMORY_FLOATS];
/// One batch of inputs and labels.
static mut X: [f32; TRAIN_BATCH * SMALL_PIXELS] = [0.0; TRAIN_BATCH * SMALL_PIXELS];
static mut Y: [u32; TRAIN_BATCH] = [0; TRAIN_BATCH];

/// Held-out accuracy the run must reach (chance is 0.10).
const MIN_ACCURACY: f32 = 0.80;

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: `main` runs once and never returns, and no interrupt handler uses these
    // statics, so these are the only references to them there will ever be.
    let (memory, x, y) = unsafe {
        (
            &mut *addr_of_mut!(MEMORY),
            &mut *addr_of_mut!(X),
            &mut *addr_of_mut!(Y),
        )
    };
    hprintln!("nanonn: MNIST training from scratch on {}", TARGET);

    let plan = match shared::train_plan() {
        Ok(p) => p,
        Err(e) => fail(e),
    };
    let r = plan.regions();
    hprintln!(
        "memory: nanonn plan {} bytes, reserved {} bytes (+ {} bytes of batch input)",
        plan.bytes(),
        MEMORY_FLOATS * 4,
        (x.len() + y.len()) * 4
    );
    hprintln!(
        "  plan in floats: params {} grads {} adam {} activations {} backward 2x{} scratch {}",
        r.params,
        r.grads,
        r.optimizer_state,
        r.activations,
        r.backprop_buffer,
        r.scratch
    );
    if plan.floats() > MEMORY_FLOATS {
        fail("the plan needs more memory than MEMORY_FLOATS reserves");
    }
    let data = TrainData {
        train_images: assets::TRAIN14_IMAGES,
        train_labels: assets::TRAIN14_LABELS,
        held_images: assets::TEST14_IMAGES,
        held_labels: assets::TEST_LABELS,
    };
    let mut expect = Expect::default();
    let result = shared::train(data, &mut memory[..], &mut x[..], &mut y[..], |epoch| {
        expect.report(epoch)
    });
    let t = match result {
        Ok(t) => t,
        Err(e) => fail(e),
    };
    expect.report(&t);
    hprintln!(
        "stack: peak {} of {} bytes",
        stack::peak(),
        stack::available()
    );
    assert!(
        t.held.accuracy() >= MIN_ACCURACY,
        "held-out accuracy {} is below {}",
        t.held.accuracy(),
        MIN_ACCURACY
    );
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
