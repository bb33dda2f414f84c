//! The no_std paths of model files never allocate: writing into a caller's buffer, parsing,
//! building a network that borrows the weights in place, predicting, and restoring a
//! checkpoint — proved with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nanonn::format::{self, Checkpoint, ModelFile};
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

fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let out = f();
    (out, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

/// A 64-byte aligned byte buffer, like a model placed in flash.
#[repr(C, align(64))]
struct Flash([u8; 16384]);

fn layers() -> [AnyLayer<'static>; 5] {
    [
        Dense::new(8, 16).into(),
        BatchNorm::new(16).into(),
        Activation::GELU.into(),
        Dropout::new(0.9).into(),
        Dense::new(16, 3).into(),
    ]
}

#[test]
fn write_parse_predict_and_restore_without_a_heap() {
    let optimizer = Adam::new(0.01);
    let plan = Plan::training(&layers(), Shape::vector(8), 4, &optimizer).unwrap();
    let mut train_mem = vec![0.0f32; plan.floats()];
    let mut model = Model::new(
        layers(),
        Shape::vector(8),
        4,
        Mse,
        optimizer,
        &mut train_mem[..],
        1,
    )
    .unwrap();
    let x: Vec<f32> = (0..32).map(|i| (i % 5) as f32 * 0.2).collect();
    let y: Vec<f32> = (0..12).map(|i| (i % 2) as f32).collect();
    let (xt, yt) = (
        Tensor::matrix(&x, 4, 8).unwrap(),
        Tensor::matrix(&y, 4, 3).unwrap(),
    );
    model.train_step(xt, Targets::Values(yt)).unwrap();
    let mut flash = Box::new(Flash([0; 16384]));
    let mut infer_mem = vec![0.0f32; 4096];
    let mut restore_mem = vec![0.0f32; plan.floats()];
    let mut expected = [0.0f32; 12];
    expected.copy_from_slice(model.predict(xt).unwrap().data());
    // The counter sees allocations when there are some.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))).1 > 0);

    let (len, n) = allocations_during(|| {
        let c = Checkpoint::new(model.optimizer());
        let len = format::required_bytes(model.net(), Some(&c)).unwrap();
        format::write(model.net(), Some(&c), &mut flash.0).unwrap();
        len
    });
    assert_eq!(n, 0, "writing allocated");

    let n = allocations_during(|| {
        let file = ModelFile::parse(&flash.0[..len]).unwrap();
        assert!(file.params_in_place().is_some());
        let need = file.inference_floats(4).unwrap();
        let mut net = file.inference_net(4, &mut infer_mem[..need]).unwrap();
        assert!(net.params_borrowed());
        assert_eq!(net.forward(xt).unwrap().data(), &expected);
    })
    .1;
    assert_eq!(n, 0, "reading and predicting allocated");

    let mut resumed = Model::new(
        layers(),
        Shape::vector(8),
        4,
        Mse,
        Adam::new(0.01),
        &mut restore_mem[..],
        2,
    )
    .unwrap();
    let n = allocations_during(|| {
        let file = ModelFile::parse(&flash.0[..len]).unwrap();
        file.restore(&mut resumed).unwrap();
    })
    .1;
    assert_eq!(n, 0, "restoring allocated");
    assert_eq!(resumed.net().params(), model.net().params());
    assert_eq!(resumed.steps(), 1);
}
