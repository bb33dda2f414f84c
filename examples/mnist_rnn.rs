//! MNIST with an LSTM: each image is read as a sequence of 28 rows of 28 pixels (input
//! `[28, 28]`), an LSTM with HIDDEN units keeps its last hidden state, and a Dense layer maps it
//! to the 10 classes; softmax cross-entropy, Adam, batch 128.
//!
//! ```text
//! cargo run --release --example mnist_rnn -- [--epochs EPOCHS] [--batch-size 128] [--lr LR] [--seed 31] [--data data/mnist]
//! ```
//! Prints one line per epoch in tinynn's form, with the epoch's training wall time, and
//! `test_accuracy=0.XXXX` last.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use nanonn::data::{Batches, Mnist, gather_labels, gather_pixels};
use nanonn::metrics::Accuracy;
use nanonn::prelude::*;

/// Defaults: chosen to pass 0.97 test accuracy in a few minutes on two CPU cores.
const EPOCHS: usize = 4;
const LR: f32 = 3e-3;
const HIDDEN: usize = 64;

struct Args {
    epochs: usize,
    batch_size: usize,
    lr: f32,
    hidden: usize,
    seed: u64,
    data: String,
}

const USAGE: &str =
    "usage: mnist_rnn [--epochs N] [--batch-size N] [--lr F] [--hidden N] [--seed N] [--data DIR]";

/// Rows per image = time steps, and pixels per row = features per step.
const SIDE: usize = 28;

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        epochs: EPOCHS,
        batch_size: 128,
        lr: LR,
        hidden: HIDDEN,
        seed: 31,
        data: common::mnist_dir(),
    };
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--epochs" => args.epochs = common::parse(v)?,
            "--batch-size" => args.batch_size = common::parse(v)?,
            "--lr" => args.lr = common::parse(v)?,
            "--hidden" => args.hidden = common::parse(v)?,
            "--seed" => args.seed = common::parse(v)?,
            "--data" => args.data = v.to_string(),
            _ => return Err("unknown flag".into()),
        }
        Ok(())
    })?;
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    if args.hidden == 0 {
        return Err("--hidden must be at least 1".into());
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
    let layers: [AnyLayer; 2] = [
        Lstm::new(SIDE, args.hidden).max_len(SIDE).into(),
        Dense::new(args.hidden, Mnist::CLASSES).into(),
    ];
    let input = Shape::matrix(SIDE, SIDE);
    let optimizer = Adam::new(args.lr);
    let plan =
        Plan::training(&layers, input, args.batch_size, &optimizer).map_err(|e| e.to_string())?;
    eprintln!(
        "nanonn MNIST LSTM (28 steps x 28 pixels, {} hidden) + Dense 10: {} parameters, {} bytes of memory for training at batch {}",
        args.hidden,
        plan.param_count(),
        plan.bytes(),
        args.batch_size
    );
    let mut model = Model::owned(
        layers,
        input,
        args.batch_size,
        SoftmaxCrossEntropy,
        optimizer,
        args.seed,
    )
    .map_err(|e| e.to_string())?;

    let mut rng = Rng::new(args.seed ^ 0x5eed);
    let (n, d) = (mnist.train_len(), Mnist::IMAGE_LEN);
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
            let x = Tensor::new(&xb[..b * d], Shape::new(&[b, SIDE, SIDE]))
                .map_err(|e| e.to_string())?;
            model
                .train_step(x, Targets::Classes(&yb[..b]))
                .map_err(|e| format!("epoch {epoch}: {e}"))?;
            bar.inc(1);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        test_acc = common::mnist_accuracy(
            &mut model,
            &mnist,
            args.batch_size,
            Shape::new(&[SIDE, SIDE]),
        )?;
        println!("Epoch {epoch} {test_acc} time={seconds:.2}s");
    }
    if args.epochs == 0 {
        test_acc = common::mnist_accuracy(
            &mut model,
            &mnist,
            args.batch_size,
            Shape::new(&[SIDE, SIDE]),
        )?;
    }
    println!("test_accuracy={:.4}", test_acc.accuracy());
    Ok(())
}
