//! Products with a mostly-zero left operand, as the MNIST MLP's first layer computes them:
//! `gemm_skip_zeros` against the dense `gemm` and `matrixmultiply::sgemm` on the same data.
//!
//! A is a real MNIST batch (128 images, ~19 % nonzero pixels) from `data/mnist`: the forward
//! product `x·W` (128×784·784×400) and the weight gradient `xᵀ·∂y` (784×128·128×400). The
//! throughput counts the dense product's `2·m·n·k` operations, so "elem/s" reads as the
//! FLOP/s a dense kernel would need to match. One thread, timed by the thread's CPU time
//! (`benches/common/cpu_time.rs`).
//!
//! Run: `cargo bench --bench sparse` (add `-- --quick` for a fast look).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nanonn::data::Mnist;
use nanonn::kernels::{gemm, gemm_scratch_len, gemm_skip_zeros, gemm_skip_zeros_scratch_len};

mod common {
    pub mod baseline;
    pub mod cpu_time;
    pub mod inputs;
}
use common::baseline::{matrixmultiply_sgemm, one_thread};
use common::cpu_time::ThreadCpuTime;
use common::inputs::filled;

fn bench_skip_zeros(c: &mut Criterion<ThreadCpuTime>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");
    let data = Mnist::load(dir).expect("MNIST in data/mnist");
    let (batch, inputs, outputs) = (128, 784, 400);
    // Every 7th image, as a shuffled batch would mix them.
    let x: Vec<f32> = data
        .train_images
        .chunks_exact(inputs)
        .step_by(7)
        .take(batch)
        .flatten()
        .copied()
        .collect();
    let nonzero = x.iter().filter(|v| **v != 0.0).count() as f64 / x.len() as f64;
    eprintln!(
        "nanonn kernel path: {}; batch nonzeros: {:.1} %",
        nanonn::kernels::selected(),
        100.0 * nonzero
    );
    let w = filled(inputs * outputs, 1);
    let dy = filled(batch * outputs, 2);
    // (name, trans_a, m, n, k, B)
    let cases = [
        ("x·W 128x784x400", false, batch, outputs, inputs, &w),
        ("xT·dy 784x128x400", true, inputs, outputs, batch, &dy),
    ];
    for (name, trans_a, m, n, k, b) in cases {
        let mut group = c.benchmark_group(format!("mnist {name}"));
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        let mut out = vec![0.0f32; m * n];
        let len = gemm_skip_zeros_scratch_len(m, n, k).max(gemm_scratch_len(m, n, k));
        let mut scratch = vec![0.0f32; len];
        group.bench_function("nanonn::kernels::gemm_skip_zeros", |bench| {
            one_thread(|| {
                bench.iter(|| {
                    let (x, b) = (black_box(&x), black_box(b));
                    gemm_skip_zeros(trans_a, m, n, k, x, b, &mut out, &mut scratch).unwrap();
                    black_box(&mut out);
                })
            })
        });
        group.bench_function("nanonn::kernels::gemm", |bench| {
            one_thread(|| {
                bench.iter(|| {
                    let (x, b) = (black_box(&x), black_box(b));
                    gemm(trans_a, false, m, n, k, x, b, 0.0, &mut out, &mut scratch).unwrap();
                    black_box(&mut out);
                })
            })
        });
        group.bench_function("matrixmultiply::sgemm", |bench| {
            bench.iter(|| {
                matrixmultiply_sgemm(trans_a, (m, n, k), black_box(&x), black_box(b), &mut out);
                black_box(&mut out);
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = sparse;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_skip_zeros
}
criterion_main!(sparse);
