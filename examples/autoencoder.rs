//! An MNIST autoencoder (tinynn's unsupervised example): the network squeezes each digit
//! through a 32-number code and paints it back; the loss is the pixel-wise squared error
//! against its own input, so no labels are used.
//!
//! ```text
//! cargo run --release --example autoencoder -- [--arch both|dense|conv] [--epochs 5] [--batch-size 64]
//!                                              [--lr 0.001] [--seed 31] [--data data/mnist]
//! ```
//! Two architectures, trained one after the other (`--arch both`, the default):
//! - **dense**: 784-256-ReLU-32 (code) | 32-256-ReLU-784-sigmoid;
//! - **conv** (NHWC `[28, 28, 1]`): conv 3×3/2 ×16 → ReLU → conv 3×3/2 ×32 → ReLU → dense 32
//!   (code) | dense 1568 → ReLU → reshape `[7, 7, 32]` → transposed conv 4×4/2 ×16 → ReLU →
//!   transposed conv 4×4/2 ×1 → sigmoid.
//!
//! Both train with MSE and Adam. Prints each epoch's mean test reconstruction error per pixel,
//! `test_mse_<arch>=…` last, and writes `out/autoencoder.png`: the first test image of each
//! digit on the top row and its reconstructions below it (dense, then conv).

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use nanonn::data::{Batches, Mnist, gather};
use nanonn::prelude::*;

/// Which autoencoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Dense layers on the flat 784 pixels.
    Dense,
    /// Convolutions down, transposed convolutions up, on `[28, 28, 1]` images.
    Conv,
}

/// Size of the code each digit is squeezed through.
pub const CODE: usize = 32;

impl Arch {
    /// The name used in flags and output.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Dense => "dense",
            Arch::Conv => "conv",
        }
    }

    /// Per-sample input (and output) shape.
    pub fn shape(self) -> Shape {
        match self {
            Arch::Dense => Shape::vector(Mnist::IMAGE_LEN),
            Arch::Conv => Shape::new(&[28, 28, 1]),
        }
    }

    /// The layers, encoder then decoder.
    pub fn layers(self) -> Vec<AnyLayer<'static>> {
        let down = |c_in, c_out| {
            Conv2D::new(c_in, c_out, (3, 3))
                .stride((2, 2))
                .padding(Padding::Same)
        };
        let up = |c_in, c_out| {
            ConvTranspose2D::new(c_in, c_out, (4, 4))
                .stride((2, 2))
                .padding(Padding::Same)
        };
        match self {
            Arch::Dense => vec![
                Dense::new(784, 256).into(),
                Activation::ReLU.into(),
                Dense::new(256, CODE).into(),
                Dense::new(CODE, 256).into(),
                Activation::ReLU.into(),
                Dense::new(256, 784).into(),
                Activation::Sigmoid.into(),
            ],
            Arch::Conv => vec![
                down(1, 16).into(), // [14, 14, 16]
                Activation::ReLU.into(),
                down(16, 32).into(), // [7, 7, 32]
                Activation::ReLU.into(),
                Flatten.into(),
                Dense::new(7 * 7 * 32, CODE).into(),
                Dense::new(CODE, 7 * 7 * 32).into(),
                Activation::ReLU.into(),
                Reshape::new(Shape::new(&[7, 7, 32])).into(),
                up(32, 16).into(), // [14, 14, 16]
                Activation::ReLU.into(),
                up(16, 1).into(), // [28, 28, 1]
                Activation::Sigmoid.into(),
            ],
        }
    }
}

/// How to train.
#[derive(Clone, Debug)]
pub struct Config {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f32,
    /// Seed of the weights and of the batch order.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            epochs: 5,
            batch_size: 64,
            lr: 1e-3,
            seed: 31,
        }
    }
}

/// A trained autoencoder.
pub type Autoencoder = Model<'static, Mse, Adam, Vec<f32>>;

/// Trains `arch` on `train` (flat images of 784 values in `[0, 1]`), calling
/// `report(epoch, test_mse, seconds)` after each epoch with the error on `test`, and returns
/// the model and its last test error (the mean squared error per pixel).
pub fn train(
    arch: Arch,
    cfg: &Config,
    train: &[f32],
    test: &[f32],
    mut report: impl FnMut(usize, f32, f64),
) -> Result<(Autoencoder, f32), String> {
    let e = |e: Error| e.to_string();
    let d = Mnist::IMAGE_LEN;
    let (n, batch) = (train.len() / d, cfg.batch_size.max(1));
    let shape = arch.shape();
    let optimizer = Adam::new(cfg.lr);
    let mut model =
        Model::owned(arch.layers(), shape, batch, Mse, optimizer, cfg.seed).map_err(e)?;
    let mut rng = Rng::new(cfg.seed ^ 0xa0e);
    let mut xb = vec![0.0; batch * d];
    let mut mse = test_mse(&mut model, test)?;
    for epoch in 0..cfg.epochs {
        let batches = Batches::new(n, batch, Some(&mut rng)).map_err(e)?;
        let bar = common::progress_bar(
            batches.len() as u64,
            format!("{} epoch {epoch}", arch.name()),
        );
        let start = Instant::now();
        for idx in &batches {
            let b = idx.len();
            gather(idx, train, d, &mut xb[..b * d]).map_err(e)?;
            let x = Tensor::new(&xb[..b * d], shape.batched(b).map_err(e)?).map_err(e)?;
            model.train_step(x, Targets::Values(x)).map_err(e)?;
            bar.inc(1);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        mse = test_mse(&mut model, test)?;
        report(epoch, mse, seconds);
    }
    Ok((model, mse))
}

/// The reconstructions of `images` (flat, 784 values each).
pub fn reconstruct(model: &mut Autoencoder, images: &[f32]) -> Result<Vec<f32>, String> {
    let d = Mnist::IMAGE_LEN;
    let batch = model.plan().batch();
    let shape = model.net().input_shape();
    let mut out = Vec::with_capacity(images.len());
    for xs in images.chunks(batch * d) {
        let shape = shape.batched(xs.len() / d).map_err(|e| e.to_string())?;
        let x = Tensor::new(xs, shape).map_err(|e| e.to_string())?;
        out.extend_from_slice(model.predict(x).map_err(|e| e.to_string())?.data());
    }
    Ok(out)
}

/// Mean squared error per pixel of the reconstructions of `images`.
pub fn test_mse(model: &mut Autoencoder, images: &[f32]) -> Result<f32, String> {
    let out = reconstruct(model, images)?;
    let sum: f64 = out
        .iter()
        .zip(images)
        .map(|(a, b)| ((a - b) * (a - b)) as f64)
        .sum();
    Ok((sum / images.len().max(1) as f64) as f32)
}

/// The first test image of each digit, in order 0..9 (flat, 784 values each).
pub fn one_of_each(images: &[f32], labels: &[u32]) -> Vec<f32> {
    let d = Mnist::IMAGE_LEN;
    let mut out = Vec::with_capacity(10 * d);
    for digit in 0..10 {
        if let Some(i) = labels.iter().position(|&l| l == digit) {
            out.extend_from_slice(&images[i * d..(i + 1) * d]);
        }
    }
    out
}

const USAGE: &str = "usage: autoencoder [--arch both|dense|conv] [--epochs N] [--batch-size N] [--lr F] [--seed N] [--data DIR]";

fn run() -> Result<(), String> {
    let mut cfg = Config::default();
    let mut archs = vec![Arch::Dense, Arch::Conv];
    let mut data = common::mnist_dir();
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--arch" => {
                archs = match v {
                    "both" => vec![Arch::Dense, Arch::Conv],
                    "dense" => vec![Arch::Dense],
                    "conv" => vec![Arch::Conv],
                    _ => return Err("expected both, dense or conv".into()),
                }
            }
            "--epochs" => cfg.epochs = common::parse(v)?,
            "--batch-size" => cfg.batch_size = common::parse(v)?,
            "--lr" => cfg.lr = common::parse(v)?,
            "--seed" => cfg.seed = common::parse(v)?,
            "--data" => data = v.to_string(),
            _ => return Err("unknown flag".into()),
        }
        Ok(())
    })?;
    if cfg.batch_size == 0 {
        return Err(format!("--batch-size must be at least 1\n{USAGE}"));
    }
    let mnist = Mnist::load(&data).map_err(|e| e.to_string())?;
    let examples = one_of_each(&mnist.test_images, &mnist.test_labels);
    let mut rows = vec![examples.clone()];
    let mut results = Vec::new();
    for arch in archs {
        let params = Plan::new(
            &arch.layers(),
            arch.shape(),
            1,
            nanonn::plan::Purpose::Inference,
        )
        .map_err(|e| e.to_string())?
        .param_count();
        eprintln!(
            "nanonn MNIST autoencoder ({}): {params} parameters",
            arch.name()
        );
        let (mut model, mse) = train(
            arch,
            &cfg,
            &mnist.train_images,
            &mnist.test_images,
            |epoch, mse, s| {
                println!(
                    "Epoch {epoch} {} test_mse={mse:.5} time={s:.2}s",
                    arch.name()
                );
            },
        )?;
        rows.push(reconstruct(&mut model, &examples)?);
        results.push((arch, mse));
    }
    let rows: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let path = common::out_dir().join("autoencoder.png");
    common::image::gray_grid(&rows, 10, 28, (0.0, 1.0), 2, 4).save(&path)?;
    eprintln!("wrote {}", path.display());
    for (arch, mse) in results {
        println!("test_mse_{}={mse:.5}", arch.name());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
