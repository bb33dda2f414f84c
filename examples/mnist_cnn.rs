//! A small CNN on MNIST: conv 5×5×32 → max-pool 2 → ReLU → conv 5×5×64 → max-pool 2 → ReLU →
//! flatten → dense 10, softmax cross-entropy, Adam with the learning rate decayed along a
//! cosine to 1/100 of `--lr` over the whole run.
//!
//! (ReLU after pooling computes the same function as before it — both are monotone — on a
//! quarter of the values.)
//!
//! ```text
//! cargo run --release --example mnist_cnn -- [--epochs 3] [--batch-size 32] [--lr 0.001] [--seed 31] [--data data/mnist]
//! ```
//! Images are NHWC `[28, 28, 1]`. Prints one line per epoch in tinynn's form, with the epoch's
//! training wall time, and `test_accuracy=0.XXXX` last.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use nanonn::data::{Batches, Mnist, gather_labels, gather_pixels};
use nanonn::metrics::Accuracy;
use nanonn::prelude::*;
use nanonn::schedule::{CosineLr, LrSchedule};

struct Args {
    epochs: usize,
    batch_size: usize,
    lr: f32,
    seed: u64,
    data: String,
}

const USAGE: &str =
    "usage: mnist_cnn [--epochs N] [--batch-size N] [--lr F] [--seed N] [--data DIR]";

/// MNIST images as NHWC samples.
const IMAGE: Shape = Shape::new(&[28, 28, 1]);

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        epochs: 3,
        batch_size: 32,
        lr: 1e-3,
        seed: 31,
        data: common::mnist_dir(),
    };
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--epochs" => args.epochs = common::parse(v)?,
            "--batch-size" => args.batch_size = common::parse(v)?,
            "--lr" => args.lr = common::parse(v)?,
            "--seed" => args.seed = common::parse(v)?,
            "--data" => args.data = v.to_string(),
            _ => return Err("unknown flag".into()),
        }
        Ok(())
    })?;
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mnist = Mnist::load(&args.data).map_err(|e| e.to_string())?;
    let layers: [AnyLayer; 8] = [
        Conv2D::new(1, 32, (5, 5)).into(), // [28, 28, 1] -> [24, 24, 32]
        MaxPool2D::new((2, 2)).into(),     // -> [12, 12, 32]
        Activation::ReLU.into(),
        Conv2D::new(32, 64, (5, 5)).into(), // -> [8, 8, 64]
        MaxPool2D::new((2, 2)).into(),      // -> [4, 4, 64]
        Activation::ReLU.into(),
        Flatten.into(),
        Dense::new(4 * 4 * 64, 10).into(),
    ];
    let optimizer = Adam::new(args.lr);
    let plan =
        Plan::training(&layers, IMAGE, args.batch_size, &optimizer).map_err(|e| e.to_string())?;
    eprintln!(
        "nanonn MNIST CNN c5x5x32-p2-c5x5x64-p2-d10 (NHWC): {} parameters, {} bytes of memory for training at batch {}",
        plan.param_count(),
        plan.bytes(),
        args.batch_size
    );
    let mut model = Model::owned(
        layers,
        IMAGE,
        args.batch_size,
        SoftmaxCrossEntropy,
        optimizer,
        args.seed,
    )
    .map_err(|e| e.to_string())?;

    let mut rng = Rng::new(args.seed ^ 0x5eed);
    let (n, d) = (mnist.train_len(), Mnist::IMAGE_LEN);
    let total_steps = (args.epochs * n.div_ceil(args.batch_size)) as u64;
    let schedule =
        CosineLr::new(args.lr, args.lr / 100.0, total_steps.max(1)).map_err(|e| e.to_string())?;
    let mut xb = vec![0.0f32; args.batch_size * d];
    let mut yb = vec![0u32; args.batch_size];
    let mut test_acc = Accuracy::default();
    for epoch in 0..args.epochs {
        let bar =
            common::progress_bar(n.div_ceil(args.batch_size) as u64, format!("epoch {epoch}"));
        let start = Instant::now();
        for idx in &Batches::new(n, args.batch_size, Some(&mut rng)).map_err(|e| e.to_string())? {
            let b = idx.len();
            gather_pixels(idx, &mnist.train_pixels, d, &mut xb[..b * d])
                .map_err(|e| e.to_string())?;
            gather_labels(idx, &mnist.train_labels, &mut yb[..b]).map_err(|e| e.to_string())?;
            let x = images(&xb[..b * d], b)?;
            model.set_lr(schedule.lr(model.steps()));
            model
                .train_step(x, Targets::Classes(&yb[..b]))
                .map_err(|e| format!("epoch {epoch}: {e}"))?;
            bar.inc(1);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        test_acc = common::mnist_accuracy(&mut model, &mnist, args.batch_size, IMAGE)?;
        println!("Epoch {epoch} {test_acc} time={seconds:.2}s");
    }
    if args.epochs == 0 {
        test_acc = common::mnist_accuracy(&mut model, &mnist, args.batch_size, IMAGE)?;
    }
    println!("test_accuracy={:.4}", test_acc.accuracy());
    Ok(())
}

/// A batch of `b` flat 784-pixel images viewed as `[b, 28, 28, 1]`.
fn images(data: &[f32], b: usize) -> Result<Tensor<'_>, String> {
    let shape = IMAGE.batched(b).map_err(|e| e.to_string())?;
    Tensor::new(data, shape).map_err(|e| e.to_string())
}
