//! The two runs of the firmware — MNIST inference from a model file, and training from
//! scratch — written once, for the device and the host.
//!
//! The firmware calls these functions on the Cortex-M; `tests/embedded_host.rs` and
//! `examples/embedded_assets.rs` include this very file (`#[path]`) and call them on the host.
//! So the host computes what the device computes, line for line, and the lines the firmware
//! prints (the `Display` impls below) can be compared with the host's as text.
//!
//! Nothing here needs `std` or `alloc`: the caller hands in every buffer.

use core::fmt;

use nanonn::format::{FileError, ModelFile};
use nanonn::metrics::{Accuracy, argmax};
use nanonn::prelude::*;

/// Classes (the digits 0 to 9).
pub const CLASSES: usize = 10;
/// Pixels of an MNIST image (28 × 28).
pub const PIXELS: usize = 28 * 28;
/// Pixels of an image downsampled 2 × 2 (14 × 14), what the device trains on.
pub const SMALL_PIXELS: usize = 14 * 14;
/// Most images one run scores (the predictions are kept in a fixed array to be printed).
pub const MAX_IMAGES: usize = 1024;

/// Images per inference batch: one, as a sensor delivers them. Up to 3 rows, nanonn
/// multiplies without packing, so the working memory is just two activation vectors.
pub const INFER_BATCH: usize = 1;

/// Hidden units of the network trained on the device (14·14 → hidden → 10).
pub const TRAIN_HIDDEN: usize = 32;
/// Training batch size. With at most 3 rows the forward products need no packing, and the
/// backward ones have a depth of 3, so the GEMM scratch is 288 floats; at 16 it would be
/// 9408 (37 KB of the 192 KB of RAM), and Adam's state with it would not fit beside the stack.
pub const TRAIN_BATCH: usize = 3;
/// Passes over the training images.
pub const TRAIN_EPOCHS: usize = 6;
/// Learning rate of Adam.
pub const TRAIN_LR: f32 = 2e-3;
/// Seed of the weight initialisation; the shuffling uses `TRAIN_SEED + 1`.
pub const TRAIN_SEED: u64 = 7;

/// An error of either run: a bad model file, a network error, or assets that do not fit.
#[derive(Debug)]
pub enum RunError {
    /// The model file or the network built from it.
    File(FileError),
    /// The assets or buffers do not have the sizes the run needs.
    Assets(&'static str),
}

impl From<FileError> for RunError {
    fn from(e: FileError) -> Self {
        RunError::File(e)
    }
}

impl From<nanonn::Error> for RunError {
    fn from(e: nanonn::Error) -> Self {
        RunError::File(e.into())
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::File(e) => write!(f, "{e}"),
            RunError::Assets(what) => f.write_str(what),
        }
    }
}

/// 32-bit FNV-1a over the bit patterns of floats: a short fingerprint that changes when any
/// bit of any value does, so two printed fingerprints compare whole tensors bit for bit.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u32);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0x811c_9dc5)
    }
}

impl Fnv {
    /// Adds `values` (each as its 4 little-endian bytes).
    pub fn add(&mut self, values: &[f32]) {
        for v in values {
            for b in v.to_bits().to_le_bytes() {
                self.0 = (self.0 ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
    }

    /// The fingerprint.
    pub fn value(self) -> u32 {
        self.0
    }
}

/// Pixels `0..=255` to inputs in `[0, 1]`, exactly as `nanonn::data::Mnist::load` scales them
/// (`p / 255`), so the host-trained model sees on the device what it saw in training.
pub fn to_input(pixels: &[u8], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = f32::from(p) / 255.0;
    }
}

/// Predicted classes of a run, one byte each, printable as a line of digits.
#[derive(Clone, Debug)]
pub struct Predictions {
    classes: [u8; MAX_IMAGES],
    len: usize,
}

impl Default for Predictions {
    fn default() -> Self {
        Predictions {
            classes: [0; MAX_IMAGES],
            len: 0,
        }
    }
}

impl Predictions {
    /// Appends the predicted class of every row of `logits`; counts hits against `labels`.
    fn score(&mut self, logits: &[f32], labels: &[u8], acc: &mut Accuracy) {
        for (row, &label) in logits.chunks_exact(CLASSES).zip(labels) {
            let class = argmax(row);
            if let Some(slot) = self.classes.get_mut(self.len) {
                // class < CLASSES = 10, so it fits a byte.
                *slot = class as u8;
                self.len += 1;
            }
            acc.hit_num += usize::from(class == usize::from(label));
            acc.total_num += 1;
        }
    }

    /// The predicted classes, in image order.
    pub fn as_slice(&self) -> &[u8] {
        &self.classes[..self.len]
    }
}

impl fmt::Display for Predictions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &c in self.as_slice() {
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// What the inference run found.
#[derive(Debug)]
pub struct Inference {
    /// Hits out of images.
    pub accuracy: Accuracy,
    /// Predicted class of every image.
    pub predictions: Predictions,
    /// The logits of the first image.
    pub first_logits: [f32; CLASSES],
    /// Fingerprint of every logit of every image, in order.
    pub logits_fnv: u32,
    /// Whether the weights were used where they lie (flash on the device), not copied.
    pub weights_in_place: bool,
    /// Parameters in the model.
    pub params: usize,
}

/// The lines the firmware prints and the host expects, `key=value`.
impl fmt::Display for Inference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.accuracy;
        writeln!(f, "infer_images={}", a.total_num)?;
        writeln!(f, "infer_hits={}", a.hit_num)?;
        writeln!(f, "infer_accuracy={:.4}", a.accuracy())?;
        writeln!(f, "infer_predictions={}", self.predictions)?;
        write!(f, "infer_first_logits=")?;
        for (i, v) in self.first_logits.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{:08x}", v.to_bits())?;
        }
        writeln!(f)?;
        write!(f, "infer_logits_fnv={:08x}", self.logits_fnv)
    }
}

/// Images `images` (`PIXELS` bytes each) with `labels`, checked against each other.
fn check_images(images: &[u8], labels: &[u8], pixels: usize) -> Result<(), RunError> {
    if labels.is_empty() || labels.len() > MAX_IMAGES {
        return Err(RunError::Assets("need 1 to MAX_IMAGES labelled images"));
    }
    if images.len() != labels.len() * pixels {
        return Err(RunError::Assets("images and labels differ in number"));
    }
    if labels.iter().any(|&l| usize::from(l) >= CLASSES) {
        return Err(RunError::Assets("a label is not a digit"));
    }
    Ok(())
}

/// How many `f32` of working memory [`infer`] needs for `model` (weights used in place
/// where possible, as [`ModelFile::inference_floats`] says).
pub fn infer_floats(model: &[u8]) -> Result<usize, RunError> {
    Ok(ModelFile::parse(model)?.inference_floats(INFER_BATCH)?)
}

/// Classifies `images` (28×28 bytes each) with the network in the model file `model`, in
/// batches of [`INFER_BATCH`], in `memory`; `input` holds one batch of inputs
/// (`INFER_BATCH * PIXELS` floats).
pub fn infer(
    model: &[u8],
    images: &[u8],
    labels: &[u8],
    memory: &mut [f32],
    input: &mut [f32],
) -> Result<Inference, RunError> {
    check_images(images, labels, PIXELS)?;
    let file = ModelFile::parse(model)?;
    if file.input_shape() != Shape::vector(PIXELS) || file.output_shape() != Shape::vector(CLASSES)
    {
        return Err(RunError::Assets(
            "the model does not map 784 pixels to 10 classes",
        ));
    }
    let input = input
        .get_mut(..INFER_BATCH * PIXELS)
        .ok_or(RunError::Assets(
            "the input buffer is smaller than one batch",
        ))?;
    let mut net = file.inference_net(INFER_BATCH, memory)?;
    let mut out = Inference {
        accuracy: Accuracy::default(),
        predictions: Predictions::default(),
        first_logits: [0.0; CLASSES],
        logits_fnv: 0,
        weights_in_place: net.params_borrowed(),
        params: file.param_count(),
    };
    let mut fnv = Fnv::default();
    for (i, (xs, ys)) in images
        .chunks(INFER_BATCH * PIXELS)
        .zip(labels.chunks(INFER_BATCH))
        .enumerate()
    {
        let x = &mut input[..xs.len()];
        to_input(xs, x);
        let logits = net.forward(Tensor::matrix(x, ys.len(), PIXELS)?)?;
        let logits = logits.data();
        if i == 0 {
            out.first_logits.copy_from_slice(&logits[..CLASSES]);
        }
        fnv.add(logits);
        out.predictions.score(logits, ys, &mut out.accuracy);
    }
    out.logits_fnv = fnv.value();
    Ok(out)
}

/// The network trained on the device: 196 → [`TRAIN_HIDDEN`] → 10, ReLU.
pub fn train_layers() -> [AnyLayer<'static>; 3] {
    [
        Dense::new(SMALL_PIXELS, TRAIN_HIDDEN).into(),
        Activation::ReLU.into(),
        Dense::new(TRAIN_HIDDEN, CLASSES).into(),
    ]
}

/// Its optimizer.
pub fn train_optimizer() -> Adam {
    Adam::new(TRAIN_LR)
}

/// The memory plan of the training run (what to reserve before building anything).
pub fn train_plan() -> nanonn::Result<Plan> {
    Plan::training(
        &train_layers(),
        Shape::vector(SMALL_PIXELS),
        TRAIN_BATCH,
        &train_optimizer(),
    )
}

/// The training run's data: 14×14 images (bytes) with their labels.
#[derive(Clone, Copy)]
pub struct TrainData<'d> {
    /// Images trained on.
    pub train_images: &'d [u8],
    /// Their labels.
    pub train_labels: &'d [u8],
    /// Held-out images, never trained on.
    pub held_images: &'d [u8],
    /// Their labels.
    pub held_labels: &'d [u8],
}

/// One line of the training log: before training (`epoch == 0`, no training loss yet) or
/// after epoch `epoch`.
#[derive(Clone, Copy, Debug)]
pub struct Epoch {
    /// 0 before training, then 1, 2, ….
    pub epoch: usize,
    /// Mean loss of the epoch's training batches (`None` before training).
    pub train_loss: Option<f32>,
    /// Mean loss on the held-out images.
    pub held_loss: f32,
    /// Accuracy on the held-out images.
    pub held: Accuracy,
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "train_epoch_{}=train_loss ", self.epoch)?;
        match self.train_loss {
            Some(l) => write!(f, "{l:.4}")?,
            None => f.write_str("-")?,
        }
        write!(
            f,
            " held_loss {:.4} held_accuracy {:.4}",
            self.held_loss,
            self.held.accuracy()
        )
    }
}

/// What the training run ended with.
#[derive(Debug)]
pub struct Training {
    /// Held-out accuracy after the last epoch.
    pub held: Accuracy,
    /// Held-out predictions after the last epoch.
    pub predictions: Predictions,
    /// Fingerprint of every trained parameter.
    pub params_fnv: u32,
    /// Optimizer steps taken.
    pub steps: u64,
}

impl fmt::Display for Training {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "train_steps={}", self.steps)?;
        writeln!(f, "train_held_images={}", self.held.total_num)?;
        writeln!(f, "train_held_hits={}", self.held.hit_num)?;
        writeln!(f, "train_held_accuracy={:.4}", self.held.accuracy())?;
        writeln!(f, "train_held_predictions={}", self.predictions)?;
        write!(f, "train_params_fnv={:08x}", self.params_fnv)
    }
}

/// Runs the model over `images` in evaluation mode; returns the mean loss, the accuracy and
/// the predictions.
fn evaluate<M: AsMut<[f32]> + AsRef<[f32]>>(
    model: &mut Model<'_, SoftmaxCrossEntropy, Adam, M>,
    images: &[u8],
    labels: &[u8],
    x: &mut [f32],
    y: &mut [u32],
) -> Result<(f32, Accuracy, Predictions), RunError> {
    let (mut loss_sum, mut acc, mut preds) = (0.0f32, Accuracy::default(), Predictions::default());
    for (xs, ys) in images
        .chunks(TRAIN_BATCH * SMALL_PIXELS)
        .zip(labels.chunks(TRAIN_BATCH))
    {
        let n = ys.len();
        to_input(xs, &mut x[..xs.len()]);
        for (t, &l) in y.iter_mut().zip(ys) {
            *t = u32::from(l);
        }
        let batch = Tensor::matrix(&x[..xs.len()], n, SMALL_PIXELS)?;
        // The loss is a batch mean: weight it by the batch size for the mean over images.
        loss_sum += n as f32 * model.evaluate_loss(batch, Targets::Classes(&y[..n]))?;
        let logits = model.predict(batch)?;
        preds.score(logits.data(), ys, &mut acc);
    }
    Ok((loss_sum / labels.len() as f32, acc, preds))
}

/// Trains [`train_layers`] from scratch on `data.train_images` with Adam, in `memory` (at
/// least [`train_plan`]`.floats()`), for [`TRAIN_EPOCHS`] epochs of shuffled batches of
/// [`TRAIN_BATCH`]; `x` and `y` hold one batch (`TRAIN_BATCH * SMALL_PIXELS` floats,
/// `TRAIN_BATCH` labels). Calls `on_epoch` before training and after every epoch.
pub fn train(
    data: TrainData<'_>,
    memory: &mut [f32],
    x: &mut [f32],
    y: &mut [u32],
    mut on_epoch: impl FnMut(&Epoch),
) -> Result<Training, RunError> {
    check_images(data.train_images, data.train_labels, SMALL_PIXELS)?;
    check_images(data.held_images, data.held_labels, SMALL_PIXELS)?;
    let x = x
        .get_mut(..TRAIN_BATCH * SMALL_PIXELS)
        .ok_or(RunError::Assets(
            "the input buffer is smaller than one batch",
        ))?;
    let y = y.get_mut(..TRAIN_BATCH).ok_or(RunError::Assets(
        "the label buffer is smaller than one batch",
    ))?;
    let mut model = Model::new(
        train_layers(),
        Shape::vector(SMALL_PIXELS),
        TRAIN_BATCH,
        SoftmaxCrossEntropy,
        train_optimizer(),
        memory,
        TRAIN_SEED,
    )?;
    let (held_loss, held, _) = evaluate(&mut model, data.held_images, data.held_labels, x, y)?;
    on_epoch(&Epoch {
        epoch: 0,
        train_loss: None,
        held_loss,
        held,
    });

    let n = data.train_labels.len();
    let mut order = [0u16; MAX_IMAGES];
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u16; // MAX_IMAGES < 2^16
    }
    let order = &mut order[..n];
    let mut rng = Rng::new(TRAIN_SEED + 1);
    let mut last = None;
    for epoch in 1..=TRAIN_EPOCHS {
        rng.shuffle(order);
        let (mut loss_sum, mut batches) = (0.0f32, 0usize);
        for idx in order.chunks(TRAIN_BATCH) {
            for (k, &i) in idx.iter().enumerate() {
                let i = usize::from(i);
                let src = &data.train_images[i * SMALL_PIXELS..(i + 1) * SMALL_PIXELS];
                to_input(src, &mut x[k * SMALL_PIXELS..(k + 1) * SMALL_PIXELS]);
                y[k] = u32::from(data.train_labels[i]);
            }
            let m = idx.len();
            let batch = Tensor::matrix(&x[..m * SMALL_PIXELS], m, SMALL_PIXELS)?;
            loss_sum += model.train_step(batch, Targets::Classes(&y[..m]))?;
            batches += 1;
        }
        let (held_loss, held, preds) =
            evaluate(&mut model, data.held_images, data.held_labels, x, y)?;
        on_epoch(&Epoch {
            epoch,
            train_loss: Some(loss_sum / batches as f32),
            held_loss,
            held,
        });
        last = Some((held, preds));
    }
    let (held, predictions) = last.ok_or(RunError::Assets("TRAIN_EPOCHS is 0"))?;
    let mut fnv = Fnv::default();
    fnv.add(model.net().params());
    Ok(Training {
        held,
        predictions,
        params_fnv: fnv.value(),
        steps: model.steps(),
    })
}
