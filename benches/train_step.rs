//! One full training step of tinynn's MNIST MLP (784-400-100-10, ReLU, softmax cross-entropy,
//! Adam 1e-3) at batch 128, and its three parts, so that an epoch's time can be read off
//! (469 steps) and attributed.
//!
//! Throughput is the step's arithmetic in FLOP (`2·m·n·k` per matrix product: the forward
//! product of each Dense layer, its weight gradient, and the input gradient of the two upper
//! layers), so criterion's "elem/s" reads as FLOP/s. The `apply_grad` part reports
//! parameters per second instead.
//!
//! Run: `cargo bench --bench train_step` (one thread), or with `--features rayon` to add
//! the same step on a 2-thread pool.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nanonn::prelude::*;

const BATCH: usize = 128;
const SIZES: [usize; 4] = [784, 400, 100, 10];

fn layers() -> [AnyLayer<'static>; 5] {
    [
        Dense::new(784, 400).into(),
        Activation::ReLU.into(),
        Dense::new(400, 100).into(),
        Activation::ReLU.into(),
        Dense::new(100, 10).into(),
    ]
}

/// FLOP of one training step: forward and weight gradient for each layer, input gradient
/// for all but the first.
fn step_flops() -> u64 {
    let mut flops = 0;
    for (i, pair) in SIZES.windows(2).enumerate() {
        let product = 2 * BATCH * pair[0] * pair[1];
        flops += if i == 0 { 2 * product } else { 3 * product };
    }
    flops as u64
}

/// A real MNIST batch (every 7th training image, as a shuffled batch would mix them) from
/// `data/mnist`: its black pixels matter, since `Dense` leaves out the batch's all-zero
/// input columns.
fn batch() -> (Vec<f32>, Vec<u32>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");
    let data = nanonn::data::Mnist::load(dir).expect("MNIST in data/mnist");
    let x = data
        .train_images
        .chunks_exact(784)
        .step_by(7)
        .take(BATCH)
        .flatten()
        .copied()
        .collect();
    let y = data
        .train_labels
        .iter()
        .step_by(7)
        .take(BATCH)
        .copied()
        .collect();
    (x, y)
}

type Mlp = Model<'static, SoftmaxCrossEntropy, Adam, Vec<f32>>;

fn model() -> Mlp {
    let input = Shape::vector(784);
    Model::owned(
        layers(),
        input,
        BATCH,
        SoftmaxCrossEntropy,
        Adam::new(1e-3),
        31,
    )
    .expect("the MLP fits")
}

/// Runs `f` here, or on `pool` with its other workers waiting actively.
fn on<R: Send>(pool: Option<&rayon_pool::Pool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        #[cfg(feature = "rayon")]
        Some(pool) => nanonn::pool::install_active(pool, f),
        _ => f(),
    }
}

fn bench_parts(c: &mut Criterion, group_name: &str, pool: Option<&rayon_pool::Pool>) {
    let (xs, ys) = batch();
    let x = Tensor::matrix(&xs, BATCH, 784).expect("batch shape");
    // Built on the pool, so that the plan reserves packing scratch for each of its threads.
    let mut m = on(pool, model);
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(step_flops()));
    group.bench_function("train_step", |b| {
        on(pool, || {
            b.iter(|| black_box(m.train_step(x, Targets::Classes(&ys)).expect("step")))
        })
    });
    group.bench_function("forward + backward", |b| {
        on(pool, || {
            b.iter(|| {
                m.forward(x).expect("forward");
                black_box(m.backward(Targets::Classes(&ys)).expect("backward"))
            })
        })
    });
    let params = m.net().params().len() as u64;
    group.throughput(Throughput::Elements(params));
    group.bench_function("apply_grad (Adam, per parameter)", |b| {
        on(pool, || b.iter(|| m.apply_grad().expect("Adam step")))
    });
    group.finish();
}

fn bench_step(c: &mut Criterion) {
    println!("kernel path: {:?}", nanonn::kernels::selected());
    bench_parts(c, "mnist mlp step, batch 128, 1 thread", None);
    #[cfg(feature = "rayon")]
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a 2-thread pool");
        bench_parts(c, "mnist mlp step, batch 128, 2 threads", Some(&pool));
    }
}

/// The pool type, or a stand-in that cannot be made without `rayon`.
mod rayon_pool {
    #[cfg(feature = "rayon")]
    pub type Pool = rayon::ThreadPool;
    #[cfg(not(feature = "rayon"))]
    pub enum Pool {}
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
