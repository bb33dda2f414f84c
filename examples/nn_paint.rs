//! nn_paint (tinynn's regression example): an MLP learns a picture's colour as a function of
//! the pixel position, `(x, y) → (r, g, b)`, and repaints it.
//!
//! ```text
//! cargo run --release --example nn_paint -- [--size 128] [--epochs 60] [--batch-size 128] [--lr 0.002]
//!                                           [--frequencies 6] [--hidden 128] [--seed 31]
//! ```
//! The picture is drawn here in code (a sunset: sky gradient, sun, hills, a house), so nothing
//! is downloaded. Each pixel's input is its position `(x, y) ∈ [-1, 1]²` plus, unlike tinynn's
//! plain MLP, `--frequencies K` Fourier features `sin(2ᵏπx), cos(2ᵏπx), sin(2ᵏπy), cos(2ᵏπy)`
//! for `k < K` (Tancik et al., 2020): a plain MLP of (x, y) learns smooth gradients quickly
//! but blurs sharp edges for a long time (`--frequencies 0` shows it). The network is
//! dense 128-128-128 with ReLU, then 3 sigmoid outputs, trained with MSE and Adam under a
//! cosine learning-rate decay. Prints the PSNR of the whole repainted picture after every
//! epoch, and writes `out/nn_paint.png`: the original on the left, the painting on the right.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use common::image::Picture;
use nanonn::prelude::*;
use nanonn::schedule::CosineLr;

/// What to learn and how.
#[derive(Clone, Debug)]
pub struct Config {
    /// The picture is `size × size` pixels.
    pub size: usize,
    /// Passes over all pixels.
    pub epochs: usize,
    /// Pixels per step.
    pub batch_size: usize,
    /// Adam's starting learning rate (decayed along a cosine to 1/50 of it).
    pub lr: f32,
    /// Fourier-feature octaves per coordinate (0: the plain `(x, y)` input).
    pub frequencies: usize,
    /// Width of the three hidden layers.
    pub hidden: usize,
    /// Seed of the initial weights and of the pixel order.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            size: 128,
            epochs: 60,
            batch_size: 128,
            lr: 2e-3,
            frequencies: 6,
            hidden: 128,
            seed: 31,
        }
    }
}

/// How much of a pixel of width `pixel` a shape covers, from the signed distance of the
/// pixel's centre to the shape's edge (negative inside): a one-pixel linear ramp.
fn coverage(signed_distance: f32, pixel: f32) -> f32 {
    (0.5 - signed_distance / pixel).clamp(0.0, 1.0)
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

/// Where the stars are, in picture coordinates (`[0, 1]²`, y down).
const STARS: [(f32, f32); 7] = [
    (0.08, 0.07),
    (0.22, 0.16),
    (0.37, 0.05),
    (0.52, 0.13),
    (0.90, 0.08),
    (0.78, 0.20),
    (0.12, 0.30),
];

/// The picture to learn: `size × size` RGB values in `[0, 1]`, row-major `[y, x, channel]`.
/// Shapes have anti-aliased edges (one pixel wide), as a photograph's would.
pub fn target_image(size: usize) -> Vec<f32> {
    let px = 1.0 / size as f32;
    let mut out = Vec::with_capacity(size * size * 3);
    for row in 0..size {
        for col in 0..size {
            let (u, v) = ((col as f32 + 0.5) * px, (row as f32 + 0.5) * px);
            // Sky: deep blue at the top to orange at the horizon, with a few stars.
            let mut c = mix([0.10, 0.12, 0.45], [0.98, 0.55, 0.25], (v / 0.75).min(1.0));
            for (i, &(sx, sy)) in STARS.iter().enumerate() {
                let d = ((u - sx).powi(2) + (v - sy).powi(2)).sqrt();
                let r = 0.006 + 0.003 * (i % 3) as f32;
                c = mix(c, [1.0, 1.0, 0.9], coverage(d - r, px));
            }
            // Sun, with a faint halo.
            let d = ((u - 0.68).powi(2) + (v - 0.42).powi(2)).sqrt();
            c = mix(
                c,
                [1.0, 0.85, 0.35],
                0.35 * (1.0 - (d - 0.14) / 0.12).clamp(0.0, 1.0),
            );
            c = mix(c, [1.0, 0.93, 0.45], coverage(d - 0.14, px));
            // Far hills, then a ploughed field in curved stripes, darker towards the bottom.
            let far = 0.62 + 0.05 * (u * 9.0 + 1.0).sin();
            c = mix(c, [0.30, 0.42, 0.55], coverage(far - v, px));
            let near = 0.72 + 0.04 * (u * 5.0 + 2.0).sin();
            let shade = ((v - 0.7) / 0.3).max(0.0);
            let grass = mix([0.35, 0.70, 0.25], [0.10, 0.35, 0.12], shade);
            let furrow = mix([0.55, 0.45, 0.20], [0.30, 0.22, 0.10], shade);
            let phase = (v - near) * 140.0 + 2.0 * (u * 3.0).sin();
            let field = mix(grass, furrow, coverage(-phase.sin() / 140.0, px));
            c = mix(c, field, coverage(near - v, px));
            // A tree: trunk and round crown.
            let trunk = (u - 0.84).abs().max((v - 0.70).abs() - 0.06) - 0.012;
            c = mix(c, [0.35, 0.22, 0.10], coverage(trunk, px));
            let crown = ((u - 0.84).powi(2) + (v - 0.58).powi(2)).sqrt() - 0.07;
            c = mix(c, [0.12, 0.45, 0.18], coverage(crown, px));
            // House: walls, roof, window.
            let wall = (u - 0.26).abs().max((v - 0.72).abs()) - 0.09;
            c = mix(c, [0.85, 0.20, 0.18], coverage(wall, px));
            let roof = (v - 0.63).max((0.50 + 1.18 * (u - 0.26).abs() - v) / 1.55);
            c = mix(c, [0.35, 0.18, 0.12], coverage(roof, px));
            let window = (u - 0.26).abs().max((v - 0.72).abs()) - 0.03;
            c = mix(c, [0.95, 0.90, 0.55], coverage(window, px));
            out.extend_from_slice(&c);
        }
    }
    out
}

/// Number of inputs per pixel for `frequencies` octaves.
pub fn input_len(frequencies: usize) -> usize {
    2 + 4 * frequencies
}

/// The network's input for every pixel, `[size · size, input_len]`: `(x, y)` in `[-1, 1]`
/// and the Fourier features.
pub fn features(size: usize, frequencies: usize) -> Vec<f32> {
    let d = input_len(frequencies);
    let mut out = Vec::with_capacity(size * size * d);
    for row in 0..size {
        for col in 0..size {
            let x = (col as f32 + 0.5) / size as f32 * 2.0 - 1.0;
            let y = (row as f32 + 0.5) / size as f32 * 2.0 - 1.0;
            out.extend_from_slice(&[x, y]);
            for k in 0..frequencies {
                let w = std::f32::consts::PI * (1u32 << k) as f32;
                out.extend_from_slice(&[
                    (w * x).sin(),
                    (w * x).cos(),
                    (w * y).sin(),
                    (w * y).cos(),
                ]);
            }
        }
    }
    out
}

/// Peak signal-to-noise ratio of `a` against `b` for values in `[0, 1]`, in dB:
/// `10 · log10(1 / MSE)`.
pub fn psnr(a: &[f32], b: &[f32]) -> f32 {
    let mse = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>() / a.len() as f32;
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

/// Trains on `target` (from [`target_image`]`(cfg.size)`), calling `report(epoch, psnr,
/// seconds)` after every epoch, and returns the last painting and its PSNR.
pub fn train(
    cfg: &Config,
    target: &[f32],
    mut report: impl FnMut(usize, f32, f64),
) -> Result<(Vec<f32>, f32), String> {
    let e = |e: Error| e.to_string();
    let pixels = cfg.size * cfg.size;
    if target.len() != pixels * 3 {
        return Err(format!(
            "target has {} values, not {}",
            target.len(),
            pixels * 3
        ));
    }
    let (d, h) = (input_len(cfg.frequencies), cfg.hidden);
    let inputs = features(cfg.size, cfg.frequencies);
    let layers: [AnyLayer; 8] = [
        Dense::new(d, h).into(),
        Activation::ReLU.into(),
        Dense::new(h, h).into(),
        Activation::ReLU.into(),
        Dense::new(h, h).into(),
        Activation::ReLU.into(),
        Dense::new(h, 3).into(),
        Activation::Sigmoid.into(),
    ];
    let batch = cfg.batch_size.max(1);
    let mut model = Model::owned(
        layers,
        Shape::vector(d),
        batch,
        Mse,
        Adam::new(cfg.lr),
        cfg.seed,
    )
    .map_err(e)?;
    let steps = (cfg.epochs * pixels.div_ceil(batch)).max(1) as u64;
    let schedule = CosineLr::new(cfg.lr, cfg.lr / 50.0, steps).map_err(e)?;
    let mut rng = Rng::new(cfg.seed ^ 0x9a1e);
    let mut order: Vec<usize> = (0..pixels).collect();
    let (mut xb, mut yb) = (vec![0.0; batch * d], vec![0.0; batch * 3]);
    let mut painting = vec![0.0; pixels * 3];
    let mut quality = paint(&mut model, &inputs, d, batch, &mut painting, target)?;
    for epoch in 0..cfg.epochs {
        let start = Instant::now();
        rng.shuffle(&mut order);
        for idx in order.chunks(batch) {
            let b = idx.len();
            for (k, &i) in idx.iter().enumerate() {
                xb[k * d..(k + 1) * d].copy_from_slice(&inputs[i * d..(i + 1) * d]);
                yb[k * 3..(k + 1) * 3].copy_from_slice(&target[i * 3..(i + 1) * 3]);
            }
            let x = Tensor::matrix(&xb[..b * d], b, d).map_err(e)?;
            let y = Tensor::matrix(&yb[..b * 3], b, 3).map_err(e)?;
            model.set_lr(schedule.lr(model.steps()));
            model.train_step(x, Targets::Values(y)).map_err(e)?;
        }
        let seconds = start.elapsed().as_secs_f64();
        quality = paint(&mut model, &inputs, d, batch, &mut painting, target)?;
        report(epoch, quality, seconds);
    }
    Ok((painting, quality))
}

/// Repaints every pixel into `painting` and returns its PSNR against `target`.
fn paint<M: AsMut<[f32]> + AsRef<[f32]>>(
    model: &mut Model<'_, Mse, Adam, M>,
    inputs: &[f32],
    d: usize,
    batch: usize,
    painting: &mut [f32],
    target: &[f32],
) -> Result<f32, String> {
    for (xs, out) in inputs.chunks(batch * d).zip(painting.chunks_mut(batch * 3)) {
        let x = Tensor::matrix(xs, xs.len() / d, d).map_err(|e| e.to_string())?;
        let y = model.predict(x).map_err(|e| e.to_string())?;
        out.copy_from_slice(y.data());
    }
    Ok(psnr(painting, target))
}

/// The original and the painting side by side, each pixel drawn `scale × scale`.
pub fn side_by_side(size: usize, original: &[f32], painting: &[f32], scale: usize) -> Picture {
    let (side, gap) = (size * scale, 8);
    let mut pic = Picture::new(2 * side + 3 * gap, side + 2 * gap, [40, 40, 48]);
    pic.blit(gap, gap, original, (size, size, 3), (0.0, 1.0), scale);
    pic.blit(
        2 * gap + side,
        gap,
        painting,
        (size, size, 3),
        (0.0, 1.0),
        scale,
    );
    pic
}

const USAGE: &str = "usage: nn_paint [--size N] [--epochs N] [--batch-size N] [--lr F] [--frequencies K] [--hidden N] [--seed N]";

fn run() -> Result<(), String> {
    let mut cfg = Config::default();
    common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--size" => cfg.size = common::parse(v)?,
            "--epochs" => cfg.epochs = common::parse(v)?,
            "--batch-size" => cfg.batch_size = common::parse(v)?,
            "--lr" => cfg.lr = common::parse(v)?,
            "--frequencies" => cfg.frequencies = common::parse(v)?,
            "--hidden" => cfg.hidden = common::parse(v)?,
            "--seed" => cfg.seed = common::parse(v)?,
            _ => return Err("unknown flag".into()),
        }
        Ok(())
    })?;
    if cfg.size == 0 || cfg.batch_size == 0 || cfg.hidden == 0 || cfg.frequencies > 16 {
        return Err(format!(
            "--size, --batch-size and --hidden must be at least 1, --frequencies at most 16\n{USAGE}"
        ));
    }
    eprintln!(
        "nanonn nn_paint: {}×{} picture, inputs (x, y) + {} Fourier octaves, MLP {}-{h}-{h}-{h}-3",
        cfg.size,
        cfg.size,
        cfg.frequencies,
        input_len(cfg.frequencies),
        h = cfg.hidden
    );
    let target = target_image(cfg.size);
    let start = Instant::now();
    let (painting, quality) = train(&cfg, &target, |epoch, psnr, seconds| {
        println!("Epoch {epoch} psnr={psnr:.2}dB time={seconds:.2}s");
    })?;
    let path = common::out_dir().join("nn_paint.png");
    side_by_side(cfg.size, &target, &painting, 2).save(&path)?;
    eprintln!(
        "wrote {} ({:.1}s in all)",
        path.display(),
        start.elapsed().as_secs_f64()
    );
    println!("psnr={quality:.2}");
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
