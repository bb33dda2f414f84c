//! GEMM throughput: nanonn's `gemm` against `matrixmultiply::sgemm` and the scalar reference.
//!
//! Shapes are `m×k×n` (C is m×n, the summed dimension is k): the 784-400-100-10 MLP with
//! batch 128 (forward, and the weight gradient `Xᵀ·dY` with `trans_a`), and square sizes.
//! Throughput is `2·m·n·k` elements, so criterion's "elem/s" reads as FLOP/s.
//! Everything runs on one thread (`matrixmultiply` is built without its `threading` feature;
//! with nanonn's `rayon` feature its product runs in a pool of one) and is timed by the
//! thread's CPU time, not wall time, so that a busy machine still gives comparable numbers
//! (`benches/common/cpu_time.rs`). nanonn uses the kernel path
//! [`nanonn::kernels::selected`] picks (printed first; force one with `NANONN_KERNEL`).
//! The scalar twin is left out above 256³, where it takes seconds per call.
//!
//! Run: `cargo bench --bench gemm` (add `-- --quick` for a fast look). With
//! `--features rayon`, the group `gemm 512x512x512 threads` compares 1 and 2 threads.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nanonn::kernels::{gemm, gemm_reference, gemm_scratch_len};

mod common {
    pub mod baseline;
    pub mod cpu_time;
    pub mod inputs;
}
use common::baseline::{matrixmultiply_sgemm, one_thread};
use common::cpu_time::ThreadCpuTime;
use common::inputs::filled;
#[cfg(feature = "rayon")]
use nanonn::pool::install_active as active_workers;

/// One benchmarked product: `C (m×n) = op(A) (m×k) · B (k×n)`.
struct Shape {
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
}

const SHAPES: [Shape; 7] = [
    Shape {
        m: 128,
        k: 784,
        n: 400,
        trans_a: false,
    },
    Shape {
        m: 784,
        k: 128,
        n: 400,
        trans_a: true,
    },
    Shape {
        m: 128,
        k: 400,
        n: 100,
        trans_a: false,
    },
    Shape {
        m: 128,
        k: 100,
        n: 10,
        trans_a: false,
    },
    Shape {
        m: 256,
        k: 256,
        n: 256,
        trans_a: false,
    },
    Shape {
        m: 512,
        k: 512,
        n: 512,
        trans_a: false,
    },
    Shape {
        m: 1024,
        k: 1024,
        n: 1024,
        trans_a: false,
    },
];

/// nanonn, matrixmultiply and the scalar twin at each shape, on one thread, timed by the
/// thread's CPU time (see `common::cpu_time`).
fn bench_gemm(c: &mut Criterion<ThreadCpuTime>) {
    eprintln!("nanonn kernel path: {}", nanonn::kernels::selected());
    for s in &SHAPES {
        let Shape { m, k, n, trans_a } = *s;
        let name = format!("gemm {m}x{k}x{n}{}", if trans_a { " trans_a" } else { "" });
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));

        let a = filled(m * k, 1);
        let b = filled(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let mut scratch = vec![0.0f32; gemm_scratch_len(m, n, k)];

        group.bench_function("nanonn::kernels::gemm", |bench| {
            one_thread(|| {
                bench.iter(|| {
                    gemm(
                        trans_a,
                        false,
                        m,
                        n,
                        k,
                        black_box(&a),
                        black_box(&b),
                        0.0,
                        &mut out,
                        &mut scratch,
                    )
                    .unwrap();
                    black_box(&mut out);
                })
            })
        });

        group.bench_function("matrixmultiply::sgemm", |bench| {
            bench.iter(|| {
                matrixmultiply_sgemm(trans_a, (m, n, k), black_box(&a), black_box(&b), &mut out);
                black_box(&mut out);
            })
        });

        if m * n * k <= 256 * 256 * 256 {
            group.bench_function("gemm_reference", |bench| {
                bench.iter(|| {
                    gemm_reference(
                        trans_a,
                        false,
                        m,
                        n,
                        k,
                        black_box(&a),
                        black_box(&b),
                        0.0,
                        &mut out,
                    )
                    .unwrap();
                    black_box(&mut out);
                })
            });
        }
        group.finish();
    }
}

/// 512³ on rayon pools of 1 and 2 threads (the scratch is planned for 2). While a pool is
/// measured, its other workers wait actively (see `active_workers`).
#[cfg(feature = "rayon")]
fn bench_threads(c: &mut Criterion) {
    let n = 512;
    let mut group = c.benchmark_group("gemm 512x512x512 threads");
    group.throughput(Throughput::Elements((2 * n * n * n) as u64));
    let a = filled(n * n, 1);
    let b = filled(n * n, 2);
    let mut out = vec![0.0f32; n * n];
    let pools: Vec<_> = [1, 2]
        .iter()
        .map(|&t| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build();
            (t, pool.expect("a rayon pool"))
        })
        .collect();
    let mut scratch = vec![0.0f32; pools[1].1.install(|| gemm_scratch_len(n, n, n))];
    for (threads, pool) in &pools {
        group.bench_function(format!("{threads} threads"), |bench| {
            active_workers(pool, || {
                bench.iter(|| {
                    let (a, b) = (black_box(&a), black_box(&b));
                    gemm(false, false, n, n, n, a, b, 0.0, &mut out, &mut scratch).unwrap();
                    black_box(&mut out);
                })
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "rayon"))]
fn bench_threads(_: &mut Criterion) {}

criterion_group! {
    name = single_thread;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_gemm
}
criterion_group!(threads, bench_threads);
criterion_main!(single_thread, threads);
