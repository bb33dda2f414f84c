//! Writes the assets of the Cortex-M firmware (`examples/embedded/`): a small MNIST network
//! trained here, the images the device classifies and trains on, and what the device must
//! print.
//!
//! ```text
//! NANONN_KERNEL=portable cargo run --release --example embedded_assets [-- --out DIR] [--data DIR] [--reuse-model]
//! ```
//! `--reuse-model` keeps the model file already in `--out` instead of training it again (to
//! try another configuration of the on-device training run in seconds).
//! The portable kernels are required: they are what the firmware runs, and where they do not
//! fuse multiply-adds (x86-64 at default flags) they give the firmware's bits, so the model
//! file and `expected.txt` come out the same on every such machine. A build whose `wide` fuses
//! (aarch64, or `-C target-cpu=native` with FMA) is refused.
//!
//! | file | contents |
//! |------|----------|
//! | `mlp-784-64-10.nnf` | the model (784 → 64 → 10, ReLU), trained on all 60 000 training images |
//! | `test-images.u8`, `test-labels.u8` | the first 300 MNIST test images (28×28 bytes) and labels |
//! | `train14-images.u8`, `train14-labels.u8` | the first 1000 training images, 2×2-averaged to 14×14, and labels |
//! | `test14-images.u8` | the 300 test images, 14×14 (the training run's held-out set) |
//! | `expected.txt` | the lines the firmware must print, computed here by the same code (`shared.rs`) |
//!
//! The 1 MB of flash of the target part cannot hold tinynn's 784-400-100-10 (1.4 MB of
//! weights); 784-64-10 (203 KB) can, with room for the images.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nanonn::data::{Batches, Mnist, gather, gather_labels, read_idx};
use nanonn::format;
use nanonn::kernels::{KernelPath, selected};
use nanonn::metrics::{Accuracy, accuracy};
use nanonn::prelude::*;

#[allow(dead_code)] // the firmware uses all of it; this program only part
#[path = "embedded/cortex-m/src/shared.rs"]
mod shared;

/// Test images the device classifies (and the training run holds out).
const TEST_IMAGES: usize = 300;
/// Training images the device trains on.
const TRAIN_IMAGES: usize = 1000;
/// Hidden units of the host-trained model.
const HIDDEN: usize = 64;
const EPOCHS: usize = 5;
const BATCH: usize = 64;
const SEED: u64 = 2024;
const MODEL_FILE: &str = "mlp-784-64-10.nnf";

const USAGE: &str =
    "usage: NANONN_KERNEL=portable embedded_assets [--out DIR] [--data DIR] [--reuse-model]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = root.join("examples/embedded/assets");
    let mut data = root.join("data/mnist");
    let mut reuse_model = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--reuse-model" {
            reuse_model = true;
            continue;
        }
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--out" => out = PathBuf::from(value),
            "--data" => data = PathBuf::from(value),
            _ => return Err(USAGE.into()),
        }
    }
    if selected() != KernelPath::Portable {
        return Err(format!(
            "the kernel path is {}; run with NANONN_KERNEL=portable (the firmware's path)",
            selected()
        ));
    }
    if cfg!(any(
        target_feature = "fma",
        all(target_arch = "aarch64", target_feature = "neon")
    )) {
        return Err(
            "this build fuses multiply-adds in the portable kernels, a Cortex-M does \
                    not: build for x86-64 without FMA"
                .into(),
        );
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        Ok::<(), String>(())
    };

    // The raw bytes of the images, as the device stores them.
    let raw = |name: &str| {
        read_idx(data.join(name))
            .or_else(|_| read_idx(data.join(format!("{name}.gz"))))
            .map_err(|e| e.to_string())
    };
    let test_images = raw("t10k-images-idx3-ubyte")?.data;
    let test_labels = raw("t10k-labels-idx1-ubyte")?.data;
    let train_images = raw("train-images-idx3-ubyte")?.data;
    let train_labels = raw("train-labels-idx1-ubyte")?.data;
    let p = shared::PIXELS;
    let test_images = &test_images[..TEST_IMAGES * p];
    let test_labels = &test_labels[..TEST_IMAGES];
    let train14 = downsample(&train_images[..TRAIN_IMAGES * p]);
    let train14_labels = &train_labels[..TRAIN_IMAGES];
    let test14 = downsample(test_images);

    let model = if reuse_model {
        format::read(out.join(MODEL_FILE)).map_err(|e| e.to_string())?
    } else {
        let model = train_model(&data)?;
        write(MODEL_FILE, &model)?;
        model
    };
    write("test-images.u8", test_images)?;
    write("test-labels.u8", test_labels)?;
    write("train14-images.u8", &train14)?;
    write("train14-labels.u8", train14_labels)?;
    write("test14-images.u8", &test14)?;

    // What the device must print: the same functions, on the same (portable) kernels.
    let mut expected = String::from(
        "# Written by `NANONN_KERNEL=portable cargo run --release --example embedded_assets`.\n\
         # The firmware prints these lines (shared.rs); .ci/embedded.sh and tests/embedded_host.rs check them.\n",
    );
    let floats = shared::infer_floats(&model).map_err(|e| e.to_string())?;
    let mut memory = vec![0.0f32; floats];
    let mut input = vec![0.0f32; shared::INFER_BATCH * p];
    let inference = shared::infer(&model, test_images, test_labels, &mut memory, &mut input)
        .map_err(|e| e.to_string())?;
    writeln!(expected, "{inference}").map_err(|e| e.to_string())?;
    eprintln!("{inference}");

    let plan = shared::train_plan().map_err(|e| e.to_string())?;
    let mut memory = vec![0.0f32; plan.floats()];
    let mut x = vec![0.0f32; shared::TRAIN_BATCH * shared::SMALL_PIXELS];
    let mut y = vec![0u32; shared::TRAIN_BATCH];
    let data = shared::TrainData {
        train_images: &train14,
        train_labels: train14_labels,
        held_images: &test14,
        held_labels: test_labels,
    };
    let training = shared::train(data, &mut memory, &mut x, &mut y, |e| {
        eprintln!("{e}");
        expected.push_str(&format!("{e}\n"));
    })
    .map_err(|e| e.to_string())?;
    writeln!(expected, "{training}").map_err(|e| e.to_string())?;
    eprintln!("{training}");
    write("expected.txt", expected.as_bytes())
}

/// 28×28 images to 14×14: each output pixel is the rounded mean of a 2×2 block.
fn downsample(images: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(images.len() / 4);
    for img in images.chunks_exact(28 * 28) {
        for r in 0..14 {
            for c in 0..14 {
                let at = |dr: usize, dc: usize| u16::from(img[(2 * r + dr) * 28 + 2 * c + dc]);
                let sum = at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1);
                out.push(((sum + 2) / 4) as u8); // at most (1020 + 2) / 4 = 255
            }
        }
    }
    out
}

/// Trains the 784-64-10 MLP on all of MNIST and returns its model file.
fn train_model(data: &Path) -> Result<Vec<u8>, String> {
    let mnist = Mnist::load(data).map_err(|e| e.to_string())?;
    let d = Mnist::IMAGE_LEN;
    let layers: [AnyLayer; 3] = [
        Dense::new(d, HIDDEN).into(),
        Activation::ReLU.into(),
        Dense::new(HIDDEN, Mnist::CLASSES).into(),
    ];
    let e = |e: nanonn::Error| e.to_string();
    let input = Shape::vector(d);
    let mut model = Model::owned(
        layers,
        input,
        BATCH,
        SoftmaxCrossEntropy,
        Adam::new(1e-3),
        SEED,
    )
    .map_err(e)?;
    let mut rng = Rng::new(SEED + 1);
    let mut x = vec![0.0f32; BATCH * d];
    let mut y = vec![0u32; BATCH];
    let mut batches = Batches::new(mnist.train_len(), BATCH, None).map_err(e)?;
    for epoch in 0..EPOCHS {
        batches.reshuffle(&mut rng);
        for idx in &batches {
            let n = idx.len();
            gather(idx, &mnist.train_images, d, &mut x[..n * d]).map_err(e)?;
            gather_labels(idx, &mnist.train_labels, &mut y[..n]).map_err(e)?;
            let batch = Tensor::new(&x[..n * d], input.batched(n).map_err(e)?).map_err(e)?;
            model
                .train_step(batch, Targets::Classes(&y[..n]))
                .map_err(e)?;
        }
        let mut acc = Accuracy::default();
        for (xs, ys) in mnist
            .test_images
            .chunks(BATCH * d)
            .zip(mnist.test_labels.chunks(BATCH))
        {
            let batch = Tensor::new(xs, input.batched(ys.len()).map_err(e)?).map_err(e)?;
            let logits = model.predict(batch).map_err(e)?;
            acc += accuracy(logits.data(), Mnist::CLASSES, ys).map_err(e)?;
        }
        eprintln!("host model, epoch {epoch}: test {acc}");
    }
    format::to_vec(model.net(), None).map_err(|e| e.to_string())
}
