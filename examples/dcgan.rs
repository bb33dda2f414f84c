//! A DCGAN on MNIST (Radford et al., 2015): a generator of transposed convolutions learns to
//! draw digits from noise by fooling a convolutional discriminator.
//!
//! ```text
//! cargo run --release --example dcgan -- [--epochs 3] [--batch-size 64] [--lr 0.0002] [--latent 64]
//!                                        [--g-channels 32] [--d-channels 32] [--samples 1000]
//!                                        [--seed 31] [--train-size 60000] [--data data/mnist]
//!                                        [--classifier PATH] [--classifier-epochs 20]
//! ```
//! - generator: dense `latent → 7·7·2C` → reshape `[7, 7, 2C]` → batch-norm → ReLU →
//!   transposed conv 4×4/2 → `[14, 14, C]` → batch-norm → ReLU → transposed conv 4×4/2 →
//!   `[28, 28, 1]` → tanh (`C = --g-channels`);
//! - discriminator: conv 4×4/2 ×D → LeakyReLU(0.2) → conv 4×4/2 ×2D → LeakyReLU(0.2) →
//!   dense 1 (a logit), sigmoid cross-entropy (`D = --d-channels`);
//! - Adam(2e-4, β₁ = 0.5) for both, real images scaled to `[-1, 1]`, the non-saturating
//!   generator loss.
//!
//! **The gradient with respect to the discriminator's input.** Training the generator needs
//! `∂L/∂x` of the discriminator's *input* (the fake images), which `Model::backward` skips
//! (training a network never needs it): `Model::backward_to_input` computes it into a buffer
//! the example owns, and the generator backpropagates it with `Net::backward`.
//!
//! **Quality.** After every epoch the example draws `--samples` digits and classifies them with
//! the project's MNIST classifier: tinynn's MLP in the seed configuration of
//! `examples/mnist.rs`, trained here for `--classifier-epochs` (20 by default, ≈ 0.98 test
//! accuracy, ~40 s), or a model file given by
//! `--classifier` (e.g. one saved by `cargo run --release --example mnist -- --save mlp.nnf`). It prints the share of samples classified with confidence ≥ 0.9 and
//! how many of the 10 digits those confident samples cover, and writes `out/dcgan_epoch<N>.png`
//! (the same 100 noise vectors every epoch) and `out/dcgan.png` (the last).
//!
//! **Results** (default seed, measured on a shared 2-core machine, about 65–80 s per epoch):
//! with the 20-epoch classifier (confident on ~0.98 of the real test digits), the confident
//! share is 0.730 / 0.744 / 0.740 after epochs 1 / 2 / 3 (the default), all 10 digits covered.
//! A classifier trained for only 3 epochs (`--classifier-epochs 3`, confident on 0.943 of the
//! real digits; measured with an earlier build, whose kernels rounded differently) is less
//! sure of everything: 0.424 / 0.402 / 0.500, 0.56 by epoch 8–10.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use nanonn::data::{Batches, Mnist, gather, gather_labels};
use nanonn::format::{self, ModelFile};
use nanonn::prelude::*;

/// The GAN's sizes and training settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Passes over the 60 000 training digits.
    pub epochs: usize,
    /// Real (and fake) images per step.
    pub batch_size: usize,
    /// Adam's learning rate for both networks.
    pub lr: f32,
    /// Length of the noise vector.
    pub latent: usize,
    /// Generator width `C` (`2C` channels at 7×7, `C` at 14×14).
    pub g_channels: usize,
    /// Discriminator width `D` (`D` channels at 14×14, `2D` at 7×7).
    pub d_channels: usize,
    /// Seed of both networks, the noise and the batch order.
    pub seed: u64,
    /// Training digits used (the first ones; all 60 000 by default).
    pub train_size: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            epochs: 3,
            batch_size: 64,
            lr: 2e-4,
            latent: 64,
            g_channels: 32,
            d_channels: 32,
            seed: 31,
            train_size: 60_000,
        }
    }
}

/// MNIST images as NHWC samples.
const IMAGE: Shape = Shape::new(&[28, 28, 1]);

/// The generator's layers.
pub fn generator(cfg: &Config) -> Vec<AnyLayer<'static>> {
    let (z, c) = (cfg.latent, cfg.g_channels);
    let up = |c_in, c_out| {
        ConvTranspose2D::new(c_in, c_out, (4, 4))
            .stride((2, 2))
            .padding(Padding::Same)
    };
    vec![
        Dense::new(z, 7 * 7 * 2 * c).into(),
        Reshape::new(Shape::new(&[7, 7, 2 * c])).into(),
        BatchNorm::new(2 * c).into(),
        Activation::ReLU.into(),
        up(2 * c, c).into(), // [14, 14, C]
        BatchNorm::new(c).into(),
        Activation::ReLU.into(),
        up(c, 1).into(), // [28, 28, 1]
        Activation::Tanh.into(),
    ]
}

/// The discriminator's layers.
pub fn discriminator(cfg: &Config) -> Vec<AnyLayer<'static>> {
    let d = cfg.d_channels;
    let down = |c_in, c_out| {
        Conv2D::new(c_in, c_out, (4, 4))
            .stride((2, 2))
            .padding(Padding::Same)
    };
    let leaky = Activation::LeakyReLU { slope: 0.2 };
    vec![
        down(1, d).into(), // [14, 14, D]
        leaky.into(),
        down(d, 2 * d).into(), // [7, 7, 2D]
        leaky.into(),
        Flatten.into(),
        Dense::new(7 * 7 * 2 * d, 1).into(),
    ]
}

type Generator = Model<'static, Mse, Adam, Vec<f32>>;
type Discriminator = Model<'static, SigmoidCrossEntropy, Adam, Vec<f32>>;

/// The two networks, trained together.
pub struct Gan {
    /// The generator (its loss is unused: its output gradient comes from the discriminator).
    pub g: Generator,
    /// The discriminator, planned for a batch of real and fake images together.
    pub d: Discriminator,
    /// `∂(generator loss)/∂(fake images)`, from the discriminator's `backward_to_input`.
    grad: Vec<f32>,
    latent: usize,
    batch: usize,
    rng: Rng,
    z: Vec<f32>,
    d_input: Vec<f32>,
    d_targets: Vec<f32>,
}

/// Losses of one [`Gan::step`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StepLosses {
    /// The discriminator's loss on real and fake images, before its update.
    pub d: f32,
    /// The generator's (non-saturating) loss, before its update.
    pub g: f32,
}

impl Gan {
    /// Builds both networks for batches of `cfg.batch_size` real images.
    pub fn new(cfg: &Config) -> Result<Gan, String> {
        let e = |e: Error| e.to_string();
        let batch = cfg.batch_size.max(1);
        let adam = || Adam::new(cfg.lr).with_betas(0.5, 0.999);
        let g = Model::owned(
            generator(cfg),
            Shape::vector(cfg.latent),
            batch,
            Mse,
            adam(),
            cfg.seed,
        )
        .map_err(e)?;
        let grad = vec![0.0; batch * IMAGE.numel()];
        let d = Model::owned(
            discriminator(cfg),
            IMAGE,
            2 * batch,
            SigmoidCrossEntropy,
            adam(),
            cfg.seed ^ 0xd,
        )
        .map_err(e)?;
        Ok(Gan {
            g,
            d,
            grad,
            latent: cfg.latent,
            batch,
            rng: Rng::new(cfg.seed ^ 0x2a7e),
            z: vec![0.0; batch * cfg.latent],
            d_input: vec![0.0; 2 * batch * IMAGE.numel()],
            d_targets: vec![0.0; 2 * batch],
        })
    }

    /// One step on a batch of real images (values in `[-1, 1]`, `[b, 784]` flat, `b ≤ batch`):
    /// the discriminator learns on the real images and as many fakes, then the generator learns
    /// from the discriminator's judgement of those same fakes.
    pub fn step(&mut self, real: &[f32]) -> Result<StepLosses, String> {
        let e = |e: Error| e.to_string();
        let d = IMAGE.numel();
        let b = real.len() / d;
        if b == 0 || b > self.batch || real.len() != b * d {
            return Err(format!(
                "a batch of 1 to {} images of {d} values",
                self.batch
            ));
        }
        let z = &mut self.z[..b * self.latent];
        z.iter_mut().for_each(|v| *v = self.rng.normal());
        self.fake(b)?;
        // Discriminator: real → 1, fake → 0.
        self.d_input[..b * d].copy_from_slice(real);
        self.d_targets[..b].fill(1.0);
        self.d_targets[b..2 * b].fill(0.0);
        let x =
            Tensor::new(&self.d_input[..2 * b * d], IMAGE.batched(2 * b).map_err(e)?).map_err(e)?;
        let t = Tensor::matrix(&self.d_targets[..2 * b], 2 * b, 1).map_err(e)?;
        let d_loss = self.d.train_step(x, Targets::Values(t)).map_err(e)?;
        let g_loss = self.update_generator(b)?;
        Ok(StepLosses {
            d: d_loss,
            g: g_loss,
        })
    }

    /// One generator update alone, on the noise `z` (`[b, latent]`); returns the generator's
    /// loss before the update. (`step` does this after the discriminator's update.)
    pub fn generator_step(&mut self, z: &[f32]) -> Result<f32, String> {
        let b = z.len() / self.latent;
        if b == 0 || b > self.batch || z.len() != b * self.latent {
            return Err(format!(
                "1 to {} noise vectors of {}",
                self.batch, self.latent
            ));
        }
        self.z[..z.len()].copy_from_slice(z);
        self.fake(b)?;
        self.update_generator(b)
    }

    /// Runs the generator (training mode) on the first `b` noise vectors of `self.z` and puts
    /// the fakes in the second half of the discriminator's input. The generator keeps its
    /// activations for [`Gan::update_generator`].
    fn fake(&mut self, b: usize) -> Result<(), String> {
        let e = |e: Error| e.to_string();
        let d = IMAGE.numel();
        let z = Tensor::matrix(&self.z[..b * self.latent], b, self.latent).map_err(e)?;
        let fake = self.g.forward(z).map_err(e)?;
        self.d_input[b * d..2 * b * d].copy_from_slice(fake.data());
        Ok(())
    }

    /// The generator learns to make the discriminator say 1 for the fakes from the last
    /// [`Gan::fake`]. The discriminator's parameter gradients from this pass are never applied
    /// (its next update overwrites them).
    fn update_generator(&mut self, b: usize) -> Result<f32, String> {
        let e = |e: Error| e.to_string();
        let d = IMAGE.numel();
        let fake = &self.d_input[b * d..2 * b * d];
        self.d
            .forward(Tensor::new(fake, IMAGE.batched(b).map_err(e)?).map_err(e)?)
            .map_err(e)?;
        self.d_targets[..b].fill(1.0);
        let t = Tensor::matrix(&self.d_targets[..b], b, 1).map_err(e)?;
        let grad = &mut self.grad[..b * d];
        let g_loss = self
            .d
            .backward_to_input(Targets::Values(t), grad)
            .map_err(e)?;
        // ∂(generator loss)/∂(fakes), backpropagated through the generator.
        let dy = Tensor::new(grad, IMAGE.batched(b).map_err(e)?).map_err(e)?;
        self.g.net_mut().backward(dy).map_err(e)?;
        self.g.apply_grad().map_err(e)?;
        Ok(g_loss)
    }

    /// Draws one image per noise vector in `z` (`[n, latent]`), in `[-1, 1]`, with the
    /// generator in evaluation mode (running batch-norm statistics).
    pub fn generate(&mut self, z: &[f32]) -> Result<Vec<f32>, String> {
        let mut out = Vec::with_capacity(z.len() / self.latent * IMAGE.numel());
        for zs in z.chunks(self.batch * self.latent) {
            let x = Tensor::matrix(zs, zs.len() / self.latent, self.latent)
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(self.g.predict(x).map_err(|e| e.to_string())?.data());
        }
        Ok(out)
    }

    /// `n` noise vectors from `rng`.
    pub fn noise(&self, n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n * self.latent).map(|_| rng.normal()).collect()
    }
}

/// The generator's parameter gradients of its loss on the noise `z`, without updating
/// anything (for checking them).
pub fn generator_grads(gan: &mut Gan, z: &[f32]) -> Result<Vec<f32>, String> {
    let e = |e: Error| e.to_string();
    let b = z.len() / gan.latent;
    let d = IMAGE.numel();
    gan.z[..z.len()].copy_from_slice(z);
    gan.fake(b)?;
    let fake = &gan.d_input[b * d..2 * b * d];
    gan.d
        .forward(Tensor::new(fake, IMAGE.batched(b).map_err(e)?).map_err(e)?)
        .map_err(e)?;
    gan.d_targets[..b].fill(1.0);
    let t = Tensor::matrix(&gan.d_targets[..b], b, 1).map_err(e)?;
    let grad = &mut gan.grad[..b * d];
    gan.d
        .backward_to_input(Targets::Values(t), grad)
        .map_err(e)?;
    let dy = Tensor::new(grad, IMAGE.batched(b).map_err(e)?).map_err(e)?;
    gan.g.net_mut().backward(dy).map_err(e)?;
    Ok(gan.g.net().grads().to_vec())
}

/// An MNIST classifier for the quality figure, planned for inference.
pub type Classifier = Net<'static, Vec<f32>>;

/// Trains tinynn's MNIST MLP (784-400-100-10) for `epochs` and returns it with its test
/// accuracy.
pub fn train_classifier(
    mnist: &Mnist,
    epochs: usize,
    seed: u64,
) -> Result<(Classifier, f32), String> {
    let e = |e: Error| e.to_string();
    let layers = || -> [AnyLayer<'static>; 5] {
        [
            Dense::new(784, 400).into(),
            Activation::ReLU.into(),
            Dense::new(400, 100).into(),
            Activation::ReLU.into(),
            Dense::new(100, 10).into(),
        ]
    };
    let (batch, d) = (128, Mnist::IMAGE_LEN);
    let input = Shape::vector(d);
    let optimizer = Adam::new(1e-3);
    let mut model =
        Model::owned(layers(), input, batch, SoftmaxCrossEntropy, optimizer, seed).map_err(e)?;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let (mut xb, mut yb) = (vec![0.0; batch * d], vec![0u32; batch]);
    for epoch in 0..epochs {
        let batches = Batches::new(mnist.train_len(), batch, Some(&mut rng)).map_err(e)?;
        let bar = common::progress_bar(batches.len() as u64, format!("classifier epoch {epoch}"));
        for idx in &batches {
            let b = idx.len();
            gather(idx, &mnist.train_images, d, &mut xb[..b * d]).map_err(e)?;
            gather_labels(idx, &mnist.train_labels, &mut yb[..b]).map_err(e)?;
            let x = Tensor::matrix(&xb[..b * d], b, d).map_err(e)?;
            model.train_step(x, Targets::Classes(&yb[..b])).map_err(e)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    let mut net = Net::owned(layers(), input, 256, Purpose::Inference, 0).map_err(e)?;
    net.params_mut().copy_from_slice(model.net().params());
    let probs = classify(&mut net, &mnist.test_images)?;
    let hits = probs
        .chunks(10)
        .zip(&mnist.test_labels)
        .filter(|&(p, &l)| nanonn::metrics::argmax(p) == l as usize)
        .count();
    Ok((net, hits as f32 / mnist.test_len().max(1) as f32))
}

/// Loads a classifier from a nanonn model file (with MNIST-sized inputs and 10 outputs).
pub fn load_classifier(path: &str) -> Result<Classifier, String> {
    let bytes = format::read(path).map_err(|e| e.to_string())?;
    let file = ModelFile::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
    if file.input_shape().numel() != Mnist::IMAGE_LEN || file.output_shape().numel() != 10 {
        return Err(format!(
            "{path}: not an MNIST classifier (784 inputs, 10 outputs)"
        ));
    }
    let layers = file.layers().map_err(|e| e.to_string())?;
    let mut net = Net::owned(layers, file.input_shape(), 256, Purpose::Inference, 0)
        .map_err(|e| e.to_string())?;
    file.load_into(&mut net)
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(net)
}

/// Class probabilities (softmax of the classifier's logits) of `images` (flat, `[0, 1]`).
pub fn classify(net: &mut Classifier, images: &[f32]) -> Result<Vec<f32>, String> {
    let e = |e: Error| e.to_string();
    let (d, batch) = (Mnist::IMAGE_LEN, net.plan().batch());
    let mut probs = Vec::with_capacity(images.len() / d * 10);
    for xs in images.chunks(batch * d) {
        let shape = net.input_shape().batched(xs.len() / d).map_err(e)?;
        let logits = net.forward(Tensor::new(xs, shape).map_err(e)?).map_err(e)?;
        for row in logits.data().chunks(10) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
            probs.extend(row.iter().map(|&v| (v - max).exp() / sum));
        }
    }
    Ok(probs)
}

/// How convincing a set of generated digits is to a classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    /// Share of samples whose most likely class has probability ≥ 0.9.
    pub confident: f32,
    /// How many confident samples went to each digit.
    pub per_class: [usize; 10],
}

impl Quality {
    /// Scores class probabilities (`[n, 10]`, from [`classify`]).
    pub fn from_probs(probs: &[f32]) -> Quality {
        let mut per_class = [0; 10];
        let mut n = 0;
        for row in probs.chunks(10) {
            n += 1;
            let best = nanonn::metrics::argmax(row);
            if row[best] >= 0.9 {
                per_class[best] += 1;
            }
        }
        let confident = per_class.iter().sum::<usize>() as f32 / n.max(1) as f32;
        Quality {
            confident,
            per_class,
        }
    }

    /// How many of the 10 digits the confident samples cover.
    pub fn classes(&self) -> usize {
        self.per_class.iter().filter(|&&c| c > 0).count()
    }
}

/// Images in `[-1, 1]` mapped to `[0, 1]`.
pub fn to_unit(images: &[f32]) -> Vec<f32> {
    images.iter().map(|v| (v + 1.0) * 0.5).collect()
}

const USAGE: &str = "usage: dcgan [--epochs N] [--batch-size N] [--lr F] [--latent N] [--g-channels N] [--d-channels N] [--samples N] [--seed N] [--train-size N] [--data DIR] [--classifier PATH] [--classifier-epochs N]";

fn run() -> Result<(), String> {
    let e = |e: Error| e.to_string();
    let mut cfg = Config::default();
    let (mut data, mut classifier_path, mut samples) = (common::mnist_dir(), None, 1000usize);
    let mut classifier_epochs = 20usize;
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--epochs" => cfg.epochs = common::parse(v)?,
            "--batch-size" => cfg.batch_size = common::parse(v)?,
            "--lr" => cfg.lr = common::parse(v)?,
            "--latent" => cfg.latent = common::parse(v)?,
            "--g-channels" => cfg.g_channels = common::parse(v)?,
            "--d-channels" => cfg.d_channels = common::parse(v)?,
            "--samples" => samples = common::parse(v)?,
            "--seed" => cfg.seed = common::parse(v)?,
            "--train-size" => cfg.train_size = common::parse(v)?,
            "--data" => data = v.to_string(),
            "--classifier" => classifier_path = Some(v.to_string()),
            "--classifier-epochs" => classifier_epochs = common::parse(v)?,
            _ => return Err("unknown flag".into()),
        }
        Ok(())
    })?;
    let sizes = [cfg.batch_size, cfg.latent, cfg.g_channels, cfg.d_channels];
    let no_classifier = classifier_path.is_none() && classifier_epochs == 0;
    if sizes.contains(&0) || samples == 0 || cfg.train_size == 0 || no_classifier {
        return Err(format!("sizes must be at least 1\n{USAGE}"));
    }
    let mnist = Mnist::load(&data).map_err(|e| e.to_string())?;
    let mut classifier = match &classifier_path {
        Some(path) => load_classifier(path)?,
        None => {
            let start = Instant::now();
            let (net, acc) = train_classifier(&mnist, classifier_epochs, cfg.seed)?;
            eprintln!(
                "classifier: MNIST MLP, {classifier_epochs} epochs, test accuracy {acc:.4} ({:.1}s)",
                start.elapsed().as_secs_f64()
            );
            net
        }
    };
    let d = Mnist::IMAGE_LEN;
    let real_quality = Quality::from_probs(&classify(&mut classifier, &mnist.test_images)?);
    eprintln!(
        "for reference, the classifier is confident on {:.3} of the real test digits",
        real_quality.confident
    );
    let mut gan = Gan::new(&cfg)?;
    eprintln!(
        "nanonn DCGAN: generator {} parameters, discriminator {} parameters",
        gan.g.plan().param_count(),
        gan.d.plan().param_count()
    );
    let real: Vec<f32> = mnist.train_images.iter().map(|v| v * 2.0 - 1.0).collect();
    let n = cfg.train_size.min(mnist.train_len());
    let mut rng = Rng::new(cfg.seed ^ 0xba7c);
    let mut sample_rng = Rng::new(cfg.seed ^ 0x5a3);
    let grid_z = gan.noise(100, &mut sample_rng);
    let eval_z = gan.noise(samples, &mut sample_rng);
    let mut xb = vec![0.0; cfg.batch_size * d];
    let mut quality = Quality::from_probs(&[]);
    let start = Instant::now();
    for epoch in 0..cfg.epochs {
        let batches = Batches::new(n, cfg.batch_size, Some(&mut rng)).map_err(e)?;
        let bar = common::progress_bar(batches.len() as u64, format!("epoch {epoch}"));
        let t0 = Instant::now();
        let mut sum = StepLosses::default();
        for idx in &batches {
            let b = idx.len();
            gather(idx, &real, d, &mut xb[..b * d]).map_err(e)?;
            let l = gan.step(&xb[..b * d])?;
            sum.d += l.d;
            sum.g += l.g;
            bar.inc(1);
        }
        let seconds = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let steps = batches.len().max(1) as f32;
        let grid = to_unit(&gan.generate(&grid_z)?);
        let rows: Vec<&[f32]> = grid.chunks(10 * d).collect();
        let pic = common::image::gray_grid(&rows, 10, 28, (0.0, 1.0), 2, 2);
        pic.save(common::out_dir().join(format!("dcgan_epoch{epoch}.png")))?;
        pic.save(common::out_dir().join("dcgan.png"))?;
        let fakes = to_unit(&gan.generate(&eval_z)?);
        quality = Quality::from_probs(&classify(&mut classifier, &fakes)?);
        println!(
            "Epoch {epoch} d_loss={:.4} g_loss={:.4} confident={:.3} classes={} time={seconds:.2}s",
            sum.d / steps,
            sum.g / steps,
            quality.confident,
            quality.classes()
        );
    }
    eprintln!(
        "confident samples per digit: {:?}; wrote {} ({:.1}s of GAN training)",
        quality.per_class,
        common::out_dir().join("dcgan.png").display(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "confident={:.3} classes={}",
        quality.confident,
        quality.classes()
    );
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
