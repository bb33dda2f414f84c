//! Short runs of the code of the examples `nn_paint`, `autoencoder`, `dcgan` and `dqn` on
//! tiny sizes, so that they cannot rot. Each example file is included here as a module (its
//! `main` goes unused) and its pieces are called directly.
#![cfg(feature = "std")]
// Every example is its own program with its own copy of `examples/common/`, so including them
// all here loads that folder once per example.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/autoencoder.rs"]
mod autoencoder;
#[path = "../examples/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../examples/dcgan.rs"]
mod dcgan;
#[allow(dead_code)]
#[path = "../examples/dqn.rs"]
mod dqn;
#[allow(dead_code)]
#[path = "../examples/nn_paint.rs"]
mod nn_paint;

use nanonn::data::Mnist;
use nanonn::prelude::*;

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nanonn-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

// ---- shared helpers -------------------------------------------------------------------

#[test]
fn png_files_round_trip() {
    let mut pic = common::image::Picture::new(5, 3, [1, 2, 3]);
    pic.put(4, 2, [250, 0, 7]);
    pic.put(9, 9, [9, 9, 9]); // outside: ignored
    let path = temp_path("round_trip.png");
    pic.save(&path).unwrap();
    let back = common::image::Picture::load(&path).unwrap();
    assert_eq!(back, pic);
    assert_eq!(back.get(4, 2), [250, 0, 7]);
    assert_eq!(back.get(0, 0), [1, 2, 3]);
}

#[test]
fn grids_place_each_image_in_its_cell() {
    // Two rows of two 2×2 images, scale 1, gap 1: 7×7 pixels.
    let row0 = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
    let row1 = [0.5; 8];
    let pic = common::image::gray_grid(&[&row0, &row1], 2, 2, (0.0, 1.0), 1, 1);
    assert_eq!((pic.width, pic.height), (7, 7));
    assert_eq!(pic.get(1, 1), [0; 3]); // first image, black
    assert_eq!(pic.get(4, 2), [255; 3]); // second image, white
    assert_eq!(pic.get(2, 5), [128; 3]); // second row
    assert_eq!(pic.get(3, 1), [40, 40, 48]); // the gap between the first two
}

#[test]
fn plot_ticks_are_round_and_the_plot_draws_its_lines() {
    use common::plot::{HLine, Plot, Series, nice_step, render};
    assert_eq!(nice_step(200.0, 8), 50.0); // 25 rounds up to 50
    assert_eq!(nice_step(1.0, 5), 0.2);
    assert_eq!(nice_step(7.0, 7), 1.0);
    assert_eq!(nice_step(30.0, 10), 5.0);
    assert_eq!(common::font::text_width("ab", 2), 22);
    let values = [10.0, 20.0, 30.0];
    let plot = Plot {
        title: "t",
        x_label: "x",
        y_label: "y",
        first_x: 0.0,
        series: vec![Series {
            label: "s",
            values: &values,
            colour: [0, 200, 0],
            thickness: 2,
        }],
        hlines: vec![HLine {
            y: 25.0,
            label: "h",
            colour: [200, 0, 0],
        }],
    };
    let pic = render(&plot, 300, 200);
    assert_eq!((pic.width, pic.height), (300, 200));
    let count = |c: [u8; 3]| pic.pixels.chunks(3).filter(|p| *p == c).count();
    assert!(count([0, 200, 0]) > 100, "the series is drawn");
    assert!(count([200, 0, 0]) > 100, "the reference line is drawn");
}

// ---- nn_paint -------------------------------------------------------------------------

#[test]
fn nn_paint_psnr_and_features_follow_their_formulas() {
    // MSE 0.01 → 20 dB.
    assert!((nn_paint::psnr(&[0.0; 4], &[0.1; 4]) - 20.0).abs() < 1e-3);
    // A 2×2 picture with one octave: pixel (0, 0) sits at x = y = -0.5.
    let f = nn_paint::features(2, 1);
    assert_eq!(f.len(), 4 * nn_paint::input_len(1));
    let expect = [-0.5, -0.5, -1.0, 0.0, -1.0, 0.0];
    for (a, b) in f[..6].iter().zip(expect) {
        assert!((a - b).abs() < 1e-6, "{f:?}");
    }
    let image = nn_paint::target_image(8);
    assert_eq!(image.len(), 8 * 8 * 3);
    assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn nn_paint_learns_a_tiny_picture() {
    let cfg = nn_paint::Config {
        size: 16,
        epochs: 8,
        batch_size: 32,
        lr: 5e-3,
        frequencies: 3,
        hidden: 32,
        seed: 1,
    };
    let target = nn_paint::target_image(cfg.size);
    // The best constant colour (the mean of each channel) as a baseline.
    let mut mean = [0.0f32; 3];
    for px in target.chunks(3) {
        (0..3).for_each(|c| mean[c] += px[c] / 256.0);
    }
    let flat: Vec<f32> = (0..256).flat_map(|_| mean).collect();
    let baseline = nn_paint::psnr(&flat, &target);
    let mut history = Vec::new();
    let (painting, psnr) = nn_paint::train(&cfg, &target, |_, p, _| history.push(p)).unwrap();
    assert_eq!(history.len(), 8);
    assert_eq!(painting.len(), target.len());
    assert!((nn_paint::psnr(&painting, &target) - psnr).abs() < 1e-4);
    assert!(
        psnr > baseline + 3.0,
        "psnr {psnr} vs constant colour {baseline}"
    );
    assert!(psnr > history[0], "{history:?}");
    let pic = nn_paint::side_by_side(16, &target, &painting, 2);
    assert_eq!((pic.width, pic.height), (2 * 32 + 3 * 8, 32 + 2 * 8));
}

// ---- autoencoder ----------------------------------------------------------------------

fn mnist() -> Mnist {
    Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist")).unwrap()
}

#[test]
fn autoencoders_reduce_their_test_error() {
    let data = mnist();
    let d = Mnist::IMAGE_LEN;
    let train = &data.train_images[..512 * d];
    let test = &data.test_images[..64 * d];
    for (arch, images) in [
        (autoencoder::Arch::Dense, 512),
        (autoencoder::Arch::Conv, 256),
    ] {
        let before = autoencoder::Config {
            epochs: 0,
            batch_size: 32,
            lr: 2e-3,
            seed: 3,
        };
        let after = autoencoder::Config {
            epochs: 2,
            ..before.clone()
        };
        let (_, mse0) = autoencoder::train(arch, &before, train, test, |_, _, _| ()).unwrap();
        let mut epochs = 0;
        let (mut model, mse) =
            autoencoder::train(arch, &after, &train[..images * d], test, |_, _, _| {
                epochs += 1
            })
            .unwrap();
        assert_eq!(epochs, 2);
        assert!(mse < 0.8 * mse0, "{arch:?}: test MSE {mse0} -> {mse}");
        let out = autoencoder::reconstruct(&mut model, &test[..3 * d]).unwrap();
        assert_eq!(out.len(), 3 * d);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let examples = autoencoder::one_of_each(&data.test_images, &data.test_labels);
    assert_eq!(examples.len(), 10 * d);
    // The first test "0" is test image 3.
    assert_eq!(&examples[..d], &data.test_images[3 * d..4 * d]);
    assert_eq!(data.test_labels[3], 0);
}

// ---- dcgan ----------------------------------------------------------------------------

fn tiny_gan() -> dcgan::Gan {
    let cfg = dcgan::Config {
        batch_size: 3,
        latent: 4,
        g_channels: 2,
        d_channels: 2,
        lr: 1e-3,
        ..dcgan::Config::default()
    };
    dcgan::Gan::new(&cfg).unwrap()
}

/// The generator's parameter gradient, backpropagated through the discriminator by way of
/// `Model::backward_to_input`, matches central finite differences of the generator's loss.
#[test]
fn dcgan_generator_gradient_matches_finite_differences() {
    let mut gan = tiny_gan();
    let z = gan.noise(3, &mut Rng::new(5));
    let ones = [1.0f32; 3];
    let image = Shape::new(&[28, 28, 1]);
    let loss = |gan: &mut dcgan::Gan| -> f64 {
        let x = Tensor::matrix(&z, 3, 4).unwrap();
        let fake = gan.g.forward(x).unwrap().data().to_vec();
        let x = Tensor::new(&fake, image.batched(3).unwrap()).unwrap();
        let t = Tensor::matrix(&ones, 3, 1).unwrap();
        gan.d.evaluate_loss(x, Targets::Values(t)).unwrap() as f64
    };
    let grads = dcgan::generator_grads(&mut gan, &z).unwrap();
    let n = grads.len();
    let (mut checked, mut close) = (0, 0);
    for i in (0..n).step_by(n / 40 + 1) {
        let h = 1e-3f32;
        let p = gan.g.net().params()[i];
        gan.g.net_mut().params_mut()[i] = p + h;
        let up = loss(&mut gan);
        gan.g.net_mut().params_mut()[i] = p - h;
        let down = loss(&mut gan);
        gan.g.net_mut().params_mut()[i] = p;
        let numeric = (up - down) / (2.0 * h as f64);
        let analytic = grads[i] as f64;
        let err = (numeric - analytic).abs() / (numeric.abs() + analytic.abs()).max(1e-3);
        // A ReLU or LeakyReLU kink inside ±h can spoil a few differences, not many.
        assert!(
            err < 0.15,
            "param {i}: analytic {analytic} numeric {numeric}"
        );
        checked += 1;
        close += usize::from(err < 0.03);
    }
    assert!(
        checked >= 30 && close * 10 >= checked * 9,
        "{close} of {checked}"
    );
}

#[test]
fn dcgan_generator_step_lowers_its_loss_and_step_trains_both() {
    let mut gan = tiny_gan();
    let z = gan.noise(3, &mut Rng::new(9));
    let first = gan.generator_step(&z).unwrap();
    let second = gan.generator_step(&z).unwrap();
    assert!(second < first, "generator loss {first} -> {second}");

    let (g0, d0) = (gan.g.net().params().to_vec(), gan.d.net().params().to_vec());
    let mut rng = Rng::new(2);
    let real: Vec<f32> = (0..3 * 784).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let losses = gan.step(&real).unwrap();
    assert!(losses.d.is_finite() && losses.g.is_finite());
    assert_ne!(gan.g.net().params(), &g0[..]);
    assert_ne!(gan.d.net().params(), &d0[..]);
    assert!(gan.step(&real[..10]).is_err(), "a partial image is refused");
    let images = gan.generate(&gan.noise(5, &mut rng)).unwrap();
    assert_eq!(images.len(), 5 * 784);
    assert!(images.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn dcgan_quality_counts_confident_samples_per_class() {
    let mut probs = vec![0.0f32; 4 * 10];
    probs[3] = 0.95; // sample 0: a confident 3
    probs[10 + 3] = 0.5; // sample 1: not confident
    probs[10 + 4] = 0.5;
    probs[20 + 7] = 0.9; // sample 2: a confident 7 (0.9 counts)
    probs[30 + 3] = 0.99; // sample 3: another 3
    let q = dcgan::Quality::from_probs(&probs);
    assert_eq!(q.confident, 0.75);
    assert_eq!(q.classes(), 2);
    assert_eq!(q.per_class[3], 2);

    let layers: [AnyLayer; 1] = [Dense::new(784, 10).into()];
    let mut net = Net::owned(layers, Shape::vector(784), 4, Purpose::Inference, 1).unwrap();
    let images = vec![0.3f32; 6 * 784];
    let p = dcgan::classify(&mut net, &images).unwrap();
    assert_eq!(p.len(), 60);
    for row in p.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(row.iter().all(|&v| v > 0.0));
    }
    assert_eq!(dcgan::to_unit(&[-1.0, 0.0, 1.0]), [0.0, 0.5, 1.0]);
}

// ---- dqn ------------------------------------------------------------------------------

#[test]
fn cartpole_steps_by_the_classic_equations() {
    // From rest, pushed right: temp = 10/1.1, θ̈ = -temp / (0.5·(4/3 - 0.1/1.1)),
    // ẍ = temp - 0.05·θ̈/1.1; Euler moves the velocities only.
    let mut env = dqn::CartPole::new(200);
    let s = env.step(1).unwrap();
    let temp = 10.0 / 1.1;
    let theta_acc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
    let x_acc = temp - 0.05 * theta_acc / 1.1;
    let expect = [0.0, 0.02 * x_acc, 0.0, 0.02 * theta_acc];
    for (a, b) in s.state.iter().zip(expect) {
        assert!((a - b).abs() < 1e-12, "{:?} vs {expect:?}", s.state);
    }
    assert!((expect[1] - 0.195_122).abs() < 1e-5 && (expect[3] + 0.292_683).abs() < 1e-5);
    assert_eq!((s.reward, s.terminated, s.truncated), (1.0, false, false));
    assert!(env.step(2).is_err());

    // Leaning past 12°: the episode ends.
    env.state = [0.0, 0.0, 0.2, 1.0];
    assert!(env.step(0).unwrap().terminated);
    // Off the track.
    env.state = [2.39, 1.0, 0.0, 0.0];
    assert!(env.step(1).unwrap().terminated);
    // The step limit truncates without failing.
    let mut env = dqn::CartPole::new(3);
    env.reset(&mut Rng::new(1));
    let last = (0..3).map(|i| env.step(i % 2).unwrap()).last().unwrap();
    assert!(last.truncated && !last.terminated);
}

#[test]
fn dqn_runs_deterministically_and_reports_when_solved() {
    let cfg = dqn::Config {
        episodes: 6,
        batch_size: 8,
        learn_start: 16,
        target_every: 20,
        epsilon_steps: 100,
        hidden: 8,
        ..dqn::Config::default()
    };
    let mut seen = Vec::new();
    let a = dqn::train(&cfg, |e, r, m| seen.push((e, r, m))).unwrap();
    let b = dqn::train(&cfg, |_, _, _| ()).unwrap();
    assert_eq!(a, b, "same seed, same run");
    assert_eq!(a.returns.len(), 6);
    assert_eq!(a.steps as f32, a.returns.iter().sum::<f32>());
    assert_eq!(seen.last().unwrap().2, dqn::running_mean(&a.returns, 100));
    assert!(a.returns.iter().all(|&r| (1.0..=200.0).contains(&r)));
    // A bar of 0 over a window of 2 is met after the second episode.
    let easy = dqn::Config {
        window: 2,
        solved_at: 0.0,
        ..cfg.clone()
    };
    let c = dqn::train(&easy, |_, _, _| ()).unwrap();
    assert_eq!((c.solved, c.returns.len()), (Some(1), 2));
    assert_eq!(dqn::running_mean(&[1.0, 2.0, 3.0, 5.0], 2), 4.0);
    let pic = dqn::plot(&a.returns, 100, 195.0);
    assert_eq!((pic.width, pic.height), (800, 450));
}
