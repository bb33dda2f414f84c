//! Convolution throughput: nanonn's im2col + GEMM kernels against the direct nested-loop twin.
//!
//! Shapes (NHWC, weights `[KH, KW, C_in, C_out]`):
//! - LeNet-like: 28×28×1 → 5×5×32 and 12×12×32 → 5×5×64, batch 64 (the `mnist_cnn` example);
//! - ResNet-like: 56×56×64 → 3×3×64 with padding 1, batch 8.
//!
//! For each: the forward pass, both backward products (weight gradient, input gradient) and
//! the scalar forward twin. Throughput is `2·N·OH·OW·KH·KW·C_in·C_out` elements per pass, so
//! criterion's "elem/s" reads as FLOP/s. The fast kernels gather im2col in blocks of the
//! layers' default size ([`IM2COL_FLOATS`]); a last group compares block sizes (rows of
//! `col` per pass) on the second LeNet layer, from 64 rows to its whole batch (4096 rows).
//!
//! Run: `cargo bench --bench conv` (add `-- --quick` for a fast look).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common {
    pub mod inputs;
}
use common::inputs::filled;
use nanonn::kernels::{
    Window2d, conv2d_backward_data, conv2d_backward_weights, conv2d_data_scratch_len,
    conv2d_forward, conv2d_forward_reference, conv2d_forward_scratch_len,
    conv2d_weights_scratch_len,
};
use nanonn::layers::IM2COL_FLOATS;

struct Case {
    name: &'static str,
    window: Window2d,
    batch: usize,
}

fn cases() -> [Case; 3] {
    [
        Case {
            name: "lenet1 28x28x1 k5x5x32 b64",
            window: Window2d::new((28, 28, 1), 32, (5, 5)),
            batch: 64,
        },
        Case {
            name: "lenet2 12x12x32 k5x5x64 b64",
            window: Window2d::new((12, 12, 32), 64, (5, 5)),
            batch: 64,
        },
        Case {
            name: "resnet 56x56x64 k3x3x64 pad1 b8",
            window: Window2d {
                pad_top: 1,
                pad_bottom: 1,
                pad_left: 1,
                pad_right: 1,
                ..Window2d::new((56, 56, 64), 64, (3, 3))
            },
            batch: 8,
        },
    ]
}

struct Operands {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    y: Vec<f32>,
}

fn operands(g: &Window2d, n: usize) -> Operands {
    let (oh, ow) = g.output_size().expect("valid benchmark shape");
    Operands {
        x: filled(n * g.height * g.width * g.in_channels, 1),
        w: filled(g.col_width() * g.out_channels, 2),
        b: filled(g.out_channels, 3),
        y: filled(n * oh * ow * g.out_channels, 4),
    }
}

fn bench_conv(c: &mut Criterion) {
    for case in cases() {
        let (g, n) = (case.window, case.batch);
        let rows = IM2COL_FLOATS / g.col_width();
        let mut group = c.benchmark_group(format!("conv {}", case.name));
        group.throughput(Throughput::Elements(g.flops(n)));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        let Operands { x, w, b, mut y } = operands(&g, n);
        let mut dx = x.clone();
        let mut dw = w.clone();
        let mut db = b.clone();
        let len = conv2d_forward_scratch_len(&g, n, rows)
            .max(conv2d_weights_scratch_len(&g, n, rows))
            .max(conv2d_data_scratch_len(&g, n, rows));
        let mut scratch = vec![0.0; len];
        group.bench_function("forward", |bench| {
            bench.iter(|| {
                conv2d_forward(&g, n, rows, &x, &w, Some(&b), &mut y, &mut scratch).unwrap();
                black_box(&y);
            })
        });
        group.bench_function("backward weights", |bench| {
            bench.iter(|| {
                let db = Some(&mut db[..]);
                conv2d_backward_weights(&g, n, rows, &x, &y, &mut dw, db, &mut scratch).unwrap();
                black_box(&dw);
            })
        });
        group.bench_function("backward data", |bench| {
            bench.iter(|| {
                conv2d_backward_data(&g, n, rows, &y, &w, &mut dx, &mut scratch).unwrap();
                black_box(&dx);
            })
        });
        group.bench_function("forward scalar twin", |bench| {
            bench.iter(|| {
                conv2d_forward_reference(&g, n, &x, &w, Some(&b), &mut y).unwrap();
                black_box(&y);
            })
        });
        group.finish();
    }
}

fn bench_block(c: &mut Criterion) {
    let case = &cases()[1];
    let (g, n) = (case.window, case.batch);
    let mut group = c.benchmark_group(format!("block {}", case.name));
    group.throughput(Throughput::Elements(g.flops(n)));
    group.sample_size(10);
    let Operands { x, w, b, mut y } = operands(&g, n);
    for rows in [64, 256, 1024, 4096] {
        let mut scratch = vec![0.0; conv2d_forward_scratch_len(&g, n, rows)];
        group.bench_function(format!("forward {rows} rows"), |bench| {
            bench.iter(|| {
                conv2d_forward(&g, n, rows, &x, &w, Some(&b), &mut y, &mut scratch).unwrap();
                black_box(&y);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_conv, bench_block);
criterion_main!(benches);
