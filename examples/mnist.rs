//! tinynn's MNIST MLP: 784-400-100-10, ReLU, softmax cross-entropy, Adam(1e-3), batch 128.
//!
//! ```text
//! cargo run --release --example mnist -- [--epochs 20] [--batch-size 128] [--lr 0.001] [--seed 31] [--data data/mnist]
//!                                         [--save PATH] [--load PATH] [--threads N]
//! ```
//! Prints one line per epoch in tinynn's form, with the epoch's training wall time, and
//! `test_accuracy=0.XXXX` last.
//!
//! `--save PATH` writes a training checkpoint (weights, Adam state, step, shuffler) after every
//! epoch, atomically; `--load PATH` resumes from one (or starts from the weights of a
//! weights-only file), `--epochs` counting from the start of the original run. Evaluate a saved
//! file with `examples/mnist_infer.rs`.
//!
//! `--threads N` (default 1) trains on a rayon pool of `N` threads, which needs the `rayon`
//! feature: `cargo run --release --features rayon --example mnist -- --threads 2`. The weights
//! are bit-identical for every `N`.

use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use nanonn::data::{Batches, Mnist, gather_labels, gather_pixels};
use nanonn::format::{self, Checkpoint, ModelFile};
use nanonn::metrics::{Accuracy, accuracy};
use nanonn::prelude::*;

struct Args {
    epochs: usize,
    batch_size: usize,
    lr: f32,
    seed: u64,
    data: String,
    save: Option<String>,
    load: Option<String>,
    threads: usize,
}

const USAGE: &str = "usage: mnist [--epochs N] [--batch-size N] [--lr F] [--seed N] [--data DIR] [--save PATH] [--load PATH] [--threads N]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        epochs: 20,
        batch_size: 128,
        lr: 1e-3,
        seed: 31,
        data: concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist").to_string(),
        save: None,
        load: None,
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}\n{USAGE}");
        match flag.as_str() {
            "--epochs" => args.epochs = value.parse().map_err(|e| bad(&e))?,
            "--batch-size" => args.batch_size = value.parse().map_err(|e| bad(&e))?,
            "--lr" => args.lr = value.parse().map_err(|e| bad(&e))?,
            "--seed" => args.seed = value.parse().map_err(|e| bad(&e))?,
            "--data" => args.data = value,
            "--save" => args.save = Some(value),
            "--load" => args.load = Some(value),
            "--threads" => args.threads = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| in_pool(a.threads, || run(&a))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `f` on a rayon pool of `threads` threads: the GEMMs and the optimizer step of
/// training split over them. The model is built inside the pool, so its memory plan reserves
/// packing scratch per thread. Idle workers wait actively (see `nanonn::pool`).
#[cfg(feature = "rayon")]
fn in_pool(threads: usize, f: impl FnOnce() -> Result<(), String> + Send) -> Result<(), String> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    let pool = pool.map_err(|e| format!("--threads {threads}: {e}"))?;
    nanonn::pool::install_active(&pool, f)
}

/// Without the `rayon` feature there is one thread.
#[cfg(not(feature = "rayon"))]
fn in_pool(threads: usize, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    if threads > 1 {
        return Err(format!(
            "--threads {threads} needs the `rayon` feature: \
             cargo run --release --features rayon --example mnist -- --threads {threads}"
        ));
    }
    f()
}

fn run(args: &Args) -> Result<(), String> {
    let mnist = Mnist::load(&args.data).map_err(|e| e.to_string())?;
    let layers: [AnyLayer; 5] = [
        Dense::new(784, 400).into(),
        Activation::ReLU.into(),
        Dense::new(400, 100).into(),
        Activation::ReLU.into(),
        Dense::new(100, 10).into(),
    ];
    let input = Shape::vector(Mnist::IMAGE_LEN);
    let optimizer = Adam::new(args.lr);
    let plan =
        Plan::training(&layers, input, args.batch_size, &optimizer).map_err(|e| e.to_string())?;
    eprintln!(
        "nanonn MNIST MLP 784-400-100-10: {} parameters, {} bytes of memory for training at batch {}",
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
    let mut start_epoch = 0;
    if let Some(path) = &args.load {
        let bytes = format::read(path).map_err(|e| e.to_string())?;
        let file = ModelFile::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
        match file.training() {
            Some(_) => {
                let t = file
                    .restore(&mut model)
                    .map_err(|e| format!("{path}: {e}"))?;
                rng = t.user_rng.clone().unwrap_or(rng);
                start_epoch = t.user_data[0] as usize;
                eprintln!(
                    "resuming {path} after epoch {start_epoch}, step {}",
                    t.steps
                );
            }
            None => {
                file.load_into(model.net_mut())
                    .map_err(|e| format!("{path}: {e}"))?;
                eprintln!("starting from the weights in {path}");
            }
        }
    }
    let (n, d) = (mnist.train_len(), Mnist::IMAGE_LEN);
    let mut xb = vec![0.0f32; args.batch_size * d];
    let mut yb = vec![0u32; args.batch_size];
    let mut test_acc = Accuracy::default();
    for epoch in start_epoch..args.epochs {
        let bar = progress_bar(n.div_ceil(args.batch_size) as u64, epoch);
        let start = Instant::now();
        for idx in &Batches::new(n, args.batch_size, Some(&mut rng)).map_err(|e| e.to_string())? {
            let b = idx.len();
            gather_pixels(idx, &mnist.train_pixels, d, &mut xb[..b * d])
                .map_err(|e| e.to_string())?;
            gather_labels(idx, &mnist.train_labels, &mut yb[..b]).map_err(|e| e.to_string())?;
            let x = Tensor::matrix(&xb[..b * d], b, d).map_err(|e| e.to_string())?;
            model
                .train_step(x, Targets::Classes(&yb[..b]))
                .map_err(|e| format!("epoch {epoch}: {e}"))?;
            bar.inc(1);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        test_acc = evaluate(&mut model, &mnist, args.batch_size)?;
        println!("Epoch {epoch} {test_acc} time={seconds:.2}s");
        if let Some(path) = &args.save {
            // The shuffler as it is now draws the next epoch's order: resuming replays it.
            let c = Checkpoint::new(model.optimizer())
                .with_user_rng(&rng)
                .with_user_data([epoch as u64 + 1, 0, 0, 0]);
            format::save(path, model.net(), Some(&c)).map_err(|e| e.to_string())?;
        }
    }
    if start_epoch >= args.epochs {
        test_acc = evaluate(&mut model, &mnist, args.batch_size)?;
    }
    println!("test_accuracy={:.4}", test_acc.accuracy());
    Ok(())
}

fn evaluate<M: AsMut<[f32]> + AsRef<[f32]>>(
    model: &mut Model<'_, SoftmaxCrossEntropy, Adam, M>,
    mnist: &Mnist,
    batch: usize,
) -> Result<Accuracy, String> {
    let d = Mnist::IMAGE_LEN;
    let mut total = Accuracy::default();
    for (xs, ys) in mnist
        .test_images
        .chunks(batch * d)
        .zip(mnist.test_labels.chunks(batch))
    {
        let x = Tensor::matrix(xs, ys.len(), d).map_err(|e| e.to_string())?;
        let logits = model.predict(x).map_err(|e| e.to_string())?;
        total += accuracy(logits.data(), Mnist::CLASSES, ys).map_err(|e| e.to_string())?;
    }
    Ok(total)
}

fn progress_bar(len: u64, epoch: usize) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("epoch {epoch}"));
    bar
}
