//! Elementwise kernels at the MNIST MLP's sizes (784-400-100-10, batch 128): each fast
//! kernel (on the path `NANONN_KERNEL` selects, see `nanonn::kernels::selected`) beside its
//! scalar `*_reference` twin.
//!
//! - Adam update over 355,110 parameters (the MLP's parameter count);
//! - ReLU forward and backward on 128×400;
//! - softmax cross-entropy with labels, with its gradient, on 128×10;
//! - sigmoid, tanh and GELU forward (and GELU backward) on 128×400.
//!
//! Throughput is in elements (parameters, activations, logits).
//!
//! Run: `cargo bench --bench elementwise` (add `-- --quick` for a fast look; prefix
//! `NANONN_KERNEL=portable` to compare the `wide` path with the `core::arch` ones).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common {
    pub mod inputs;
}
use common::inputs::filled;
use nanonn::kernels::{
    Activation, AdamHyper, DecayRates, activation_backward, activation_backward_reference,
    activation_forward, activation_forward_reference, adam_update, adam_update_reference,
    softmax_cross_entropy_labels, softmax_cross_entropy_labels_reference,
};

/// 784·400 + 400 + 400·100 + 100 + 100·10 + 10.
const MLP_PARAMS: usize = 355_110;
const BATCH: usize = 128;
const HIDDEN: usize = 400;
const CLASSES: usize = 10;

fn bench_adam(c: &mut Criterion) {
    eprintln!("nanonn kernel path: {}", nanonn::kernels::selected());
    let n = MLP_PARAMS;
    let mut group = c.benchmark_group(format!("adam {n}"));
    group.throughput(Throughput::Elements(n as u64));
    let grads = filled(n, 1);
    let mut params = filled(n, 2);
    let mut m = vec![0.0f32; n];
    let mut v = vec![0.0f32; n];
    let h = AdamHyper {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 10,
        decay: DecayRates::default(),
    };
    group.bench_function(nanonn::kernels::selected().name(), |b| {
        b.iter(|| adam_update(&mut params, black_box(&grads), &mut m, &mut v, h).unwrap())
    });
    group.bench_function("reference", |b| {
        b.iter(|| adam_update_reference(&mut params, black_box(&grads), &mut m, &mut v, h).unwrap())
    });
    group.finish();
}

fn bench_activations(c: &mut Criterion) {
    let n = BATCH * HIDDEN;
    let x: Vec<f32> = filled(n, 3).iter().map(|v| 4.0 * v).collect();
    let dy = filled(n, 4);
    let mut y = vec![0.0f32; n];
    let mut dx = vec![0.0f32; n];
    let acts = [
        ("relu", Activation::ReLU),
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("gelu", Activation::GELU),
    ];
    for (name, act) in acts {
        let mut group = c.benchmark_group(format!("{name} forward {BATCH}x{HIDDEN}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("fast", |b| {
            b.iter(|| activation_forward(act, black_box(&x), &mut y).unwrap())
        });
        group.bench_function("reference", |b| {
            b.iter(|| activation_forward_reference(act, black_box(&x), &mut y).unwrap())
        });
        group.finish();
        if !matches!(act, Activation::ReLU | Activation::GELU) {
            continue;
        }
        activation_forward(act, &x, &mut y).unwrap();
        let mut group = c.benchmark_group(format!("{name} backward {BATCH}x{HIDDEN}"));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("fast", |b| {
            b.iter(|| activation_backward(act, black_box(&x), &y, &dy, &mut dx).unwrap())
        });
        group.bench_function("reference", |b| {
            b.iter(|| activation_backward_reference(act, black_box(&x), &y, &dy, &mut dx).unwrap())
        });
        group.finish();
    }
}

fn bench_softmax_ce(c: &mut Criterion) {
    let n = BATCH * CLASSES;
    let logits: Vec<f32> = filled(n, 5).iter().map(|v| 8.0 * v).collect();
    let labels: Vec<u32> = (0..BATCH).map(|i| (i * 7 % CLASSES) as u32).collect();
    let mut grad = vec![0.0f32; n];
    let scale = 1.0 / BATCH as f32;
    let mut group = c.benchmark_group(format!("softmax-ce {BATCH}x{CLASSES}"));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("fast", |b| {
        b.iter(|| {
            let g = Some(&mut grad[..]);
            softmax_cross_entropy_labels(black_box(&logits), CLASSES, &labels, g, scale).unwrap()
        })
    });
    group.bench_function("reference", |b| {
        b.iter(|| {
            let (x, g) = (black_box(&logits), Some(&mut grad[..]));
            softmax_cross_entropy_labels_reference(x, CLASSES, &labels, g, scale).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_adam, bench_activations, bench_softmax_ce);
criterion_main!(benches);
