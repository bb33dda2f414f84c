//! The Cortex-M firmware (`examples/embedded/`) and the host compute the same numbers.
//!
//! The firmware checks its output against `examples/embedded/assets/expected.txt`, the lines
//! the host printed running the same code (`shared.rs`, included here) on the same assets
//! (`assets.rs`, included here). These tests keep that file true:
//!
//! - on the portable kernels — the device's path — the host reproduces every line bit for
//!   bit: inference logits, predictions, and the whole training run down to the trained
//!   weights. The portable kernels use no fused multiply-add unless the build enables FMA,
//!   and sum in the same order on SSE2 as on a Cortex-M, so the device's results are the
//!   host's exactly (`.ci/embedded.sh` checks that under QEMU, on a Cortex-M4F and on a
//!   Cortex-M0+ build with software floating point);
//! - on the fast kernels (AVX2/AVX-512 with FMA, other blocking) the logits agree within
//!   [`LOGIT_TOLERANCE`] (batch-1 inference takes the same unpacked path on every kernel
//!   family and is in fact bit-identical), the predictions are the same, and training, whose
//!   backward products do take the FMA kernels, still learns to within 0.03 of the device's
//!   accuracy;
//! - both agree with an independent `f64` evaluation of the network written out below.
#![cfg(feature = "std")]

use std::fmt::Write as _;

use nanonn::data::read_idx;
use nanonn::format::ModelFile;
use nanonn::kernels::{KERNEL_ENV, KernelPath, selected};

#[allow(dead_code)] // the firmware uses all of it; these tests only part
#[path = "../examples/embedded/cortex-m/src/shared.rs"]
mod shared;

#[allow(dead_code)]
#[path = "../examples/embedded/cortex-m/src/assets.rs"]
mod assets;

use shared::{CLASSES, PIXELS, SMALL_PIXELS};

/// How far a logit may be from the `f64` evaluation, relative to the sum of the magnitudes
/// of the terms that make it (`Σ|w·x| + |b|` at each layer, propagated). Measured: 4.9e-8 on
/// every host path (scalar, portable, AVX2, AVX-512: at batch 1 they round alike) and on the
/// device, whose first logits are checked too; a sum of `k` f32 terms may be off by up to
/// `k·2⁻²⁴` of it, which this bound allows for about 17 terms of bad luck in a row.
const LOGIT_TOLERANCE: f32 = 1e-6;

/// Whether `wide`'s `mul_add` is fused in this build (its x86 FMA and aarch64 NEON paths).
const PORTABLE_FUSES: bool = cfg!(any(
    target_feature = "fma",
    all(target_arch = "aarch64", target_feature = "neon")
));

const REGENERATE: &str = "regenerate the expectations with \
    `NANONN_KERNEL=portable cargo run --release --example embedded_assets -- --reuse-model` \
    (after a deliberate change of the portable kernels' arithmetic)";

fn expected_lines() -> Vec<&'static str> {
    assets::EXPECTED
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn expected(key: &str) -> &'static str {
    assets::expected(key).unwrap_or_else(|| panic!("expected.txt has no {key}"))
}

fn run_inference() -> shared::Inference {
    let floats = shared::infer_floats(assets::MODEL).unwrap();
    let mut memory = vec![0.0f32; floats];
    let mut input = vec![0.0f32; shared::INFER_BATCH * PIXELS];
    shared::infer(
        assets::MODEL,
        assets::TEST_IMAGES,
        assets::TEST_LABELS,
        &mut memory,
        &mut input,
    )
    .unwrap()
}

/// The training run; returns the log lines and the result.
fn run_training() -> (Vec<shared::Epoch>, shared::Training) {
    let plan = shared::train_plan().unwrap();
    let mut memory = vec![0.0f32; plan.floats()];
    let mut x = vec![0.0f32; shared::TRAIN_BATCH * SMALL_PIXELS];
    let mut y = vec![0u32; shared::TRAIN_BATCH];
    let data = shared::TrainData {
        train_images: assets::TRAIN14_IMAGES,
        train_labels: assets::TRAIN14_LABELS,
        held_images: assets::TEST14_IMAGES,
        held_labels: assets::TEST_LABELS,
    };
    let mut epochs = Vec::new();
    let t = shared::train(data, &mut memory, &mut x, &mut y, |e| epochs.push(*e)).unwrap();
    (epochs, t)
}

/// Reruns `test` in a child process with the portable kernels forced (the kernel path is
/// chosen once per process, from the environment), and checks that it ran and passed.
fn rerun_on_portable(test: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(KERNEL_ENV, "portable")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} on the portable kernels failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn portable_kernels_reproduce_the_device_lines_bit_for_bit() {
    if selected() != KernelPath::Portable {
        return rerun_on_portable("portable_kernels_reproduce_the_device_lines_bit_for_bit");
    }
    if PORTABLE_FUSES {
        // `wide` fuses multiply-adds when the build has FMA (x86-64 with `-C target-cpu=native`,
        // aarch64): then even the portable path rounds differently from a Cortex-M, and only
        // the tolerance test applies.
        eprintln!("this build's portable kernels fuse multiply-adds; bit-identity not checked");
        return;
    }
    let mut host = String::new();
    writeln!(host, "{}", run_inference()).unwrap();
    let (epochs, training) = run_training();
    for e in &epochs {
        writeln!(host, "{e}").unwrap();
    }
    writeln!(host, "{training}").unwrap();
    let host: Vec<&str> = host.lines().collect();
    let want = expected_lines();
    for (h, w) in host.iter().zip(&want) {
        assert_eq!(
            h, w,
            "the host's line differs from expected.txt; {REGENERATE}"
        );
    }
    assert_eq!(host.len(), want.len(), "{REGENERATE}");
}

/// `x` through the file's Dense–ReLU–Dense network in `f64`; also returns, per logit, the
/// sum of the magnitudes of its terms (the scale of its rounding error).
fn reference_logits(file: &ModelFile<'_>, x: &[f32]) -> ([f64; CLASSES], [f64; CLASSES]) {
    let params = file.params_in_place().expect("aligned little-endian model");
    let hidden = (file.param_count() - CLASSES) / (PIXELS + 1 + CLASSES);
    assert_eq!(
        hidden * (PIXELS + 1) + hidden * CLASSES + CLASSES,
        file.param_count(),
        "a 784-h-10 network"
    );
    // Dense stores W as [inputs, outputs] row-major, then the bias.
    let (w1, rest) = params.split_at(PIXELS * hidden);
    let (b1, rest) = rest.split_at(hidden);
    let (w2, b2) = rest.split_at(hidden * CLASSES);
    let mut h = vec![0.0f64; hidden];
    let mut h_mag = vec![0.0f64; hidden];
    for j in 0..hidden {
        let (mut s, mut m) = (f64::from(b1[j]), f64::from(b1[j]).abs());
        for i in 0..PIXELS {
            let t = f64::from(x[i]) * f64::from(w1[i * hidden + j]);
            s += t;
            m += t.abs();
        }
        // A pre-activation near 0 may land on either side of the ReLU in f32: keep its
        // magnitude either way.
        (h[j], h_mag[j]) = (s.max(0.0), m);
    }
    let (mut out, mut mag) = ([0.0f64; CLASSES], [0.0f64; CLASSES]);
    for k in 0..CLASSES {
        out[k] = f64::from(b2[k]);
        mag[k] = f64::from(b2[k]).abs();
        for j in 0..hidden {
            let w = f64::from(w2[j * CLASSES + k]);
            out[k] += h[j] * w;
            mag[k] += (h[j].abs() + h_mag[j]) * w.abs();
        }
    }
    (out, mag)
}

fn parse_bits(line: &str) -> Vec<f32> {
    line.split(',')
        .map(|h| f32::from_bits(u32::from_str_radix(h, 16).unwrap()))
        .collect()
}

#[test]
fn device_and_every_host_kernel_agree_with_an_f64_reference() {
    let file = ModelFile::parse(assets::MODEL).unwrap();
    let floats = shared::infer_floats(assets::MODEL).unwrap();
    let mut memory = vec![0.0f32; floats];
    let mut net = file.inference_net(1, &mut memory[..]).unwrap();
    assert!(net.params_borrowed(), "the weights are used in place");
    let mut x = vec![0.0f32; PIXELS];
    let mut worst = 0.0f64;
    let mut predictions = String::new();
    let mut fnv = shared::Fnv::default();
    for (n, image) in assets::TEST_IMAGES.chunks(PIXELS).enumerate() {
        shared::to_input(image, &mut x);
        let (want, mag) = reference_logits(&file, &x);
        let got = net
            .forward(nanonn::Tensor::matrix(&x, 1, PIXELS).unwrap())
            .unwrap()
            .data()
            .to_vec();
        fnv.add(&got);
        let device: Vec<f32> = if n == 0 {
            parse_bits(expected("infer_first_logits"))
        } else {
            Vec::new()
        };
        for k in 0..CLASSES {
            let err = (f64::from(got[k]) - want[k]).abs() / mag[k].max(1e-30);
            worst = worst.max(err);
            if let Some(&d) = device.get(k) {
                let derr = (f64::from(d) - want[k]).abs() / mag[k];
                assert!(
                    derr <= f64::from(LOGIT_TOLERANCE),
                    "device logit {k}: {derr}"
                );
            }
        }
        let reference_class = (0..CLASSES)
            .max_by(|&a, &b| want[a].total_cmp(&want[b]).then(b.cmp(&a)))
            .unwrap();
        write!(predictions, "{}", nanonn::metrics::argmax(&got)).unwrap();
        assert_eq!(
            nanonn::metrics::argmax(&got),
            reference_class,
            "image {n} on {}",
            selected()
        );
    }
    let same = format!("{:08x}", fnv.value()) == expected("infer_logits_fnv");
    eprintln!(
        "{}: worst logit error {worst:.3e} of the term magnitudes; logits {} the device's",
        selected(),
        if same {
            "bit-identical to"
        } else {
            "differ in bits from"
        }
    );
    assert!(worst <= f64::from(LOGIT_TOLERANCE), "{worst}");
    // Same predictions as the device printed, on whichever kernels this host picked.
    assert_eq!(predictions, expected("infer_predictions"));
}

#[test]
fn training_learns_on_the_fast_kernels_too() {
    // Rounding differs from the device's on FMA kernels; the run must still learn.
    let (epochs, t) = run_training();
    let first = epochs.first().unwrap();
    let last = epochs.last().unwrap();
    assert!(first.held.accuracy() < 0.2, "untrained: {first}");
    assert!(last.held_loss < first.held_loss / 4.0, "{first} → {last}");
    assert!(t.held.accuracy() >= 0.80, "{last}");
    let device: f32 = expected("train_held_accuracy").parse().unwrap();
    eprintln!(
        "{}: held-out accuracy {} (device {device}), weights {}",
        selected(),
        t.held.accuracy(),
        if format!("{:08x}", t.params_fnv) == expected("train_params_fnv") {
            "bit-identical to the device's"
        } else {
            "differ in bits from the device's"
        }
    );
    assert!(
        (t.held.accuracy() - device).abs() <= 0.03,
        "{} on {} vs the device's {device}",
        t.held.accuracy(),
        selected()
    );
}

/// 2×2 mean, rounded half up, written independently of the generator's.
fn downsample_one(img: &[u8]) -> Vec<u8> {
    (0..SMALL_PIXELS)
        .map(|p| {
            let (r, c) = (2 * (p / 14), 2 * (p % 14));
            let sum: u32 = [(r, c), (r, c + 1), (r + 1, c), (r + 1, c + 1)]
                .iter()
                .map(|&(y, x)| u32::from(img[y * 28 + x]))
                .sum();
            (f64::from(sum) / 4.0 + 0.5).floor() as u8
        })
        .collect()
}

#[test]
fn assets_are_the_mnist_images_they_claim_to_be() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist/");
    let test_images = read_idx(format!("{dir}t10k-images-idx3-ubyte.gz")).unwrap();
    let test_labels = read_idx(format!("{dir}t10k-labels-idx1-ubyte.gz")).unwrap();
    let train_images = read_idx(format!("{dir}train-images-idx3-ubyte.gz")).unwrap();
    let train_labels = read_idx(format!("{dir}train-labels-idx1-ubyte.gz")).unwrap();
    let n = assets::TEST_LABELS.len();
    let m = assets::TRAIN14_LABELS.len();
    assert_eq!((n, m), (300, 1000));
    assert_eq!(assets::TEST_IMAGES, &test_images.data[..n * PIXELS]);
    assert_eq!(assets::TEST_LABELS, &test_labels.data[..n]);
    assert_eq!(assets::TRAIN14_LABELS, &train_labels.data[..m]);
    for (i, img) in train_images.data[..m * PIXELS].chunks(PIXELS).enumerate() {
        let small = &assets::TRAIN14_IMAGES[i * SMALL_PIXELS..(i + 1) * SMALL_PIXELS];
        assert_eq!(small, &downsample_one(img)[..], "training image {i}");
    }
    for (i, img) in assets::TEST_IMAGES.chunks(PIXELS).enumerate() {
        let small = &assets::TEST14_IMAGES[i * SMALL_PIXELS..(i + 1) * SMALL_PIXELS];
        assert_eq!(small, &downsample_one(img)[..], "test image {i}");
    }
    // The model: 784 → 10, weights usable in place from the 64-byte aligned embedding.
    assert_eq!(assets::MODEL.as_ptr() as usize % 64, 0);
    let file = ModelFile::parse(assets::MODEL).unwrap();
    assert_eq!(file.input_shape(), nanonn::Shape::vector(PIXELS));
    assert_eq!(file.output_shape(), nanonn::Shape::vector(CLASSES));
    assert!(file.params_in_place().is_some());
    // Batch-1 inference needs two activation vectors of the widest layer (64) and nothing
    // else: the 512 bytes the firmware reserves.
    assert_eq!(shared::infer_floats(assets::MODEL).unwrap(), 2 * 64);
}

#[test]
fn bad_assets_are_errors_not_panics() {
    let mut memory = vec![0.0f32; 128];
    let mut input = vec![0.0f32; PIXELS];
    let images = &assets::TEST_IMAGES[..2 * PIXELS];
    let e = shared::infer(assets::MODEL, images, &[1], &mut memory, &mut input);
    assert!(matches!(e, Err(shared::RunError::Assets(_))));
    let e = shared::infer(assets::MODEL, images, &[1, 10], &mut memory, &mut input);
    assert!(e.unwrap_err().to_string().contains("not a digit"));
    let mut bad = assets::MODEL.to_vec();
    bad[100] ^= 1;
    let e = shared::infer(&bad, images, &[7, 2], &mut memory, &mut input);
    assert!(matches!(e, Err(shared::RunError::File(_))));
    let e = shared::infer(
        assets::MODEL,
        images,
        &[7, 2],
        &mut memory[..10],
        &mut input,
    );
    assert!(
        e.unwrap_err().to_string().contains("bytes"),
        "out of memory"
    );
}
