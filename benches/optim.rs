//! The Adam update over the MNIST MLP's 355,110 parameters: on the kernel path
//! `NANONN_KERNEL` selects (see `nanonn::kernels::selected`; the benchmark's name says
//! which), beside its scalar `*_reference` twin. Throughput is in parameters.
//!
//! The update is compute-bound (a square root and a division per parameter, and the rest
//! of the formula), not memory-bound: it costs about the same per parameter at 8k
//! parameters (in L2) as at 355k. So the path matters, and each is run in turn:
//!
//! ```text
//! for k in avx512 avx2 portable; do NANONN_KERNEL=$k cargo bench --bench optim; done
//! ```
//!
//! (add `-- --quick` for a fast look). Every path gives the same bits as the scalar twin.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nanonn::kernels::{AdamHyper, DecayRates, adam_update, adam_update_reference, selected};

/// 784·400 + 400 + 400·100 + 100 + 100·10 + 10.
const MLP_PARAMS: usize = 355_110;

/// Deterministic values in [-1, 1) without a random-number dependency.
fn filled(len: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn bench_adam(c: &mut Criterion) {
    let n = MLP_PARAMS;
    let mut group = c.benchmark_group(format!("adam_update {n}"));
    group.throughput(Throughput::Elements(n as u64));
    group.measurement_time(Duration::from_secs(3));
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
    group.bench_function(selected().name(), |b| {
        b.iter(|| adam_update(&mut params, black_box(&grads), &mut m, &mut v, h).unwrap())
    });
    group.bench_function("reference", |b| {
        b.iter(|| adam_update_reference(&mut params, black_box(&grads), &mut m, &mut v, h).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_adam);
criterion_main!(benches);
