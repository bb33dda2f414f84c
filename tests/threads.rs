//! With `rayon`, the thread count must not change a single bit of training: the same seed
//! gives the same weights on 1, 2 or 3 threads (the GEMM partition does not depend on the
//! pool, and each element is summed in the same order whoever computes it).
#![cfg(feature = "rayon")]

use nanonn::kernels::gemm_scratch_len;
use nanonn::prelude::*;

/// Wide enough that the first layer's products need the most scratch of the network: a plan
/// made in a smaller pool is then short of what the pool it trains in would give them.
const INPUT: usize = 384;
const BATCH: usize = 64;
const CLASSES: usize = 10;

/// Wide enough that every product of the first two layers is split across threads.
fn mlp() -> [AnyLayer<'static>; 5] {
    [
        Dense::new(INPUT, 256).into(),
        Activation::ReLU.into(),
        Dense::new(256, 128).into(),
        Activation::ReLU.into(),
        Dense::new(128, CLASSES).into(),
    ]
}

fn data(seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    // Every third input column is zero in every sample (as MNIST's border is), so the first
    // layer's products leave those columns out (`kernels::gemm_skip_zeros`).
    let x = (0..4 * BATCH * INPUT)
        .map(|i| {
            let v = rng.uniform_range(-1.0, 1.0);
            if (i % INPUT).is_multiple_of(3) {
                0.0
            } else {
                v
            }
        })
        .collect();
    let y = (0..4 * BATCH).map(|_| rng.below(CLASSES) as u32).collect();
    (x, y)
}

/// Trains for `steps` steps with the model built in a pool of `plan_threads` threads and
/// trained in one of `train_threads`; returns the weights' bits and the last loss.
fn train(plan_threads: usize, train_threads: usize, steps: usize) -> (Vec<u32>, f32) {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let (x, y) = data(11);
    let mut model = pool(plan_threads).install(|| {
        Model::owned(
            mlp(),
            Shape::vector(INPUT),
            BATCH,
            SoftmaxCrossEntropy,
            Adam::new(1e-3),
            5,
        )
        .unwrap()
    });
    let loss = pool(train_threads).install(|| {
        let mut loss = 0.0;
        for s in 0..steps {
            let b = s % 4;
            let xb = Tensor::matrix(&x[b * BATCH * INPUT..(b + 1) * BATCH * INPUT], BATCH, INPUT)
                .unwrap();
            loss = model
                .train_step(xb, Targets::Classes(&y[b * BATCH..(b + 1) * BATCH]))
                .unwrap();
        }
        loss
    });
    let bits = model.net().params().iter().map(|v| v.to_bits()).collect();
    (bits, loss)
}

#[test]
fn thread_count_does_not_change_the_weights() {
    let (one, loss) = train(1, 1, 6);
    assert!(loss.is_finite());
    for threads in [2, 3] {
        let (many, many_loss) = train(threads, threads, 6);
        assert!(one == many, "{threads} threads changed the weights");
        assert_eq!(loss.to_bits(), many_loss.to_bits());
    }
    // A plan made in a 1-thread pool (less scratch: the products fall back to fewer
    // workers, and still leave out the zero columns) and one made for 3 threads but run on
    // 2 give the same weights too.
    assert!(train(1, 2, 6).0 == one);
    assert!(train(1, 3, 6).0 == one);
    assert!(train(3, 2, 6).0 == one);
    // Training did something: the weights after 6 steps differ from those after 0.
    assert!(train(1, 1, 0).0 != one);
}

#[test]
fn the_plan_reserves_scratch_per_thread() {
    // The products above are large enough to split: a 2-thread pool plans more scratch than
    // a 1-thread one (one packed A block per worker), so the threads really run.
    let len = |n: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        pool.install(|| gemm_scratch_len(BATCH, 256, INPUT))
    };
    assert!(len(2) > len(1), "{} <= {}", len(2), len(1));
}
