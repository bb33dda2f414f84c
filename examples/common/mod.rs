//! Helpers shared by the examples (not part of the library): PNG pictures and grids of them,
//! a line plot with its own small font, progress bars and flag parsing.
//!
//! Each example includes this module with `#[path = "common/mod.rs"] mod common;` and uses a
//! part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod font;
pub mod image;
pub mod plot;

use indicatif::{ProgressBar, ProgressStyle};
use nanonn::data::Mnist;
use nanonn::metrics::{Accuracy, accuracy};
use nanonn::prelude::*;

/// The folder the examples write their pictures to: `out/` in the repository (git-ignored).
pub fn out_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("out")
}

/// The directory the MNIST files ship in.
pub fn mnist_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist").to_string()
}

/// A progress bar of `len` steps labelled `msg`, in the MNIST example's style.
pub fn progress_bar(len: u64, msg: String) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(msg);
    bar
}

/// Parses `--flag value` pairs from the command line, handing each to `apply`, which returns
/// an error for an unknown flag or a bad value. `--help` returns the usage text as the error.
pub fn parse_flags(
    usage: &str,
    mut apply: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage.to_string());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        apply(&flag, &value).map_err(|e| format!("{flag} {value}: {e}\n{usage}"))?;
    }
    Ok(())
}

/// Parses a flag's value, with the parser's message as the error.
pub fn parse<T: std::str::FromStr>(value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| e.to_string())
}

/// Test accuracy of an MNIST classifier over the 10 000 test images, `batch` at a time, each
/// image seen as one `sample` (e.g. `[784]`, `[28, 28, 1]` or `[28, 28]`).
pub fn mnist_accuracy<M: AsMut<[f32]> + AsRef<[f32]>>(
    model: &mut Model<'_, SoftmaxCrossEntropy, Adam, M>,
    mnist: &Mnist,
    batch: usize,
    sample: Shape,
) -> Result<Accuracy, String> {
    let d = Mnist::IMAGE_LEN;
    let mut total = Accuracy::default();
    for (xs, ys) in mnist
        .test_images
        .chunks(batch * d)
        .zip(mnist.test_labels.chunks(batch))
    {
        let shape = sample.batched(ys.len()).map_err(|e| e.to_string())?;
        let x = Tensor::new(xs, shape).map_err(|e| e.to_string())?;
        let logits = model.predict(x).map_err(|e| e.to_string())?;
        total += accuracy(logits.data(), Mnist::CLASSES, ys).map_err(|e| e.to_string())?;
    }
    Ok(total)
}
