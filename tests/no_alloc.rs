//! A forward, backward or optimizer step never allocates: proved with a counting global
//! allocator around the calls of a real training step.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nanonn::prelude::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts them.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn training_and_inference_steps_do_not_allocate() {
    let layers: [AnyLayer; 5] = [
        Dense::new(20, 33).into(),
        Activation::ReLU.into(),
        Dense::new(33, 17).into(),
        Activation::GELU.into(),
        Dense::new(17, 4).into(),
    ];
    let optimizer = Adam::new(1e-3);
    let plan = Plan::training(&layers, Shape::vector(20), 16, &optimizer).unwrap();
    let mut memory = vec![0.0f32; plan.floats()];
    let mut model = Model::new(
        layers,
        Shape::vector(20),
        16,
        SoftmaxCrossEntropy,
        optimizer,
        &mut memory[..],
        1,
    )
    .unwrap();
    let x: Vec<f32> = (0..16 * 20).map(|i| (i % 7) as f32 * 0.1).collect();
    let y: Vec<u32> = (0..16).map(|i| i % 4).collect();
    let xt = Tensor::matrix(&x, 16, 20).unwrap();

    // The counter must see allocations when there are some.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))) > 0);

    let n = allocations_during(|| {
        for _ in 0..3 {
            model.forward(xt).unwrap();
            model.backward(Targets::Classes(&y)).unwrap();
            model.apply_grad().unwrap();
            model.train_step(xt, Targets::Classes(&y)).unwrap();
            model.predict(xt).unwrap();
        }
    });
    assert_eq!(n, 0, "the training step allocated {n} times");
}
