//! Loads a saved model file and evaluates it on the MNIST test set: the network is rebuilt
//! from the file alone, and its weights are used where they lie in the loaded bytes.
//!
//! ```text
//! cargo run --release --example mnist -- --epochs 1 --save mnist.nnf
//! cargo run --release --example mnist_infer -- mnist.nnf [--batch-size 256] [--data data/mnist]
//! ```
//! Prints the network and `test_accuracy=0.XXXX` last.

use std::process::ExitCode;
use std::time::Instant;

use nanonn::data::Mnist;
use nanonn::format::{self, ModelFile};
use nanonn::metrics::{Accuracy, accuracy};
use nanonn::prelude::*;

const USAGE: &str = "usage: mnist_infer MODEL_FILE [--batch-size N] [--data DIR]";

struct Args {
    model: String,
    batch_size: usize,
    data: String,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        model: String::new(),
        batch_size: 256,
        data: concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist").to_string(),
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--help" | "-h" => return Err(USAGE.into()),
            "--batch-size" | "--data" => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
                if arg == "--data" {
                    args.data = value;
                } else {
                    args.batch_size = value
                        .parse()
                        .map_err(|e| format!("--batch-size {value}: {e}"))?;
                }
            }
            _ if arg.starts_with("--") => return Err(format!("unknown flag {arg}\n{USAGE}")),
            _ => args.model = arg,
        }
    }
    if args.model.is_empty() {
        return Err(USAGE.into());
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
    let bytes = format::read(&args.model).map_err(|e| e.to_string())?;
    let file = ModelFile::parse(&bytes).map_err(|e| format!("{}: {e}", args.model))?;
    let layers = file.layers().map_err(|e| e.to_string())?;
    eprintln!(
        "{}: format version {}, {} bytes, {} parameters{}",
        args.model,
        file.version(),
        bytes.len(),
        file.param_count(),
        match file.training() {
            Some(t) => format!(", checkpoint of {} at step {}", t.optimizer, t.steps),
            None => String::new(),
        }
    );
    eprintln!("input {:?} -> {:?}", file.input_shape(), layers.as_slice());
    let batch = args.batch_size.max(1);
    let floats = file.inference_floats(batch).map_err(|e| e.to_string())?;
    let mut memory = vec![0.0f32; floats];
    let mut net = file
        .inference_net(batch, &mut memory[..])
        .map_err(|e| e.to_string())?;
    eprintln!(
        "weights {} ({} bytes of working memory at batch {batch})",
        if net.params_borrowed() {
            "used in place, not copied"
        } else {
            "copied (the loaded bytes are not 4-byte aligned)"
        },
        floats * 4
    );
    if file.input_shape().numel() != Mnist::IMAGE_LEN {
        return Err(format!(
            "the model takes inputs of shape {:?}, not MNIST's {} pixels",
            file.input_shape(),
            Mnist::IMAGE_LEN
        ));
    }

    let mnist = Mnist::load(&args.data).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut total = Accuracy::default();
    let d = Mnist::IMAGE_LEN;
    for (xs, ys) in mnist
        .test_images
        .chunks(batch * d)
        .zip(mnist.test_labels.chunks(batch))
    {
        let shape = file
            .input_shape()
            .batched(ys.len())
            .map_err(|e| e.to_string())?;
        let x = Tensor::new(xs, shape).map_err(|e| e.to_string())?;
        let logits = net.forward(x).map_err(|e| e.to_string())?;
        total += accuracy(logits.data(), Mnist::CLASSES, ys).map_err(|e| e.to_string())?;
    }
    eprintln!(
        "{} test images in {:.3}s",
        mnist.test_len(),
        start.elapsed().as_secs_f64()
    );
    println!("test_accuracy={:.4}", total.accuracy());
    Ok(())
}
