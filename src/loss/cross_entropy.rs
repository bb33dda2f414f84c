//! Classification losses: softmax cross-entropy (one class per sample among many) and
//! sigmoid cross-entropy (independent yes/no per output).

use crate::error::{Error, ErrorKind, Result};
use crate::kernels;
use crate::loss::validate::{CheckedTargets, check};
use crate::loss::{Loss, Targets};
use crate::tensor::Tensor;

/// Softmax followed by cross-entropy, on raw logits (tinynn's `SoftmaxCrossEntropy`).
///
/// Predictions are logits `[batch, classes]` (further dimensions are flattened into the
/// classes). The network's last layer must **not** apply a softmax: this loss does it, in the
/// numerically stable combined form, and its gradient is simply
/// `(softmax(logits) − onehot) / batch`.
///
/// Targets:
/// - [`Targets::Classes`]: one label per sample, each below the number of classes
///   (otherwise [`ErrorKind::LabelOutOfRange`]);
/// - [`Targets::Values`]: one-hot or soft labels of the predictions' shape. For rows that do
///   not sum to 1 the gradient stays exact: `softmax · Σt − t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftmaxCrossEntropy;

impl SoftmaxCrossEntropy {
    fn eval(&self, p: Tensor<'_>, t: Targets<'_>, grad: Option<&mut [f32]>) -> Result<f32> {
        let (c, targets) = check(p, t, grad.as_deref().map(<[f32]>::len))?;
        if c.width == 0 {
            return Err(Error::config(
                "SoftmaxCrossEntropy needs at least one class per sample",
            ));
        }
        match targets {
            CheckedTargets::Labels(labels) => {
                kernels::softmax_cross_entropy_labels(c.preds, c.width, labels, grad, c.scale)
            }
            CheckedTargets::Values(t) => {
                kernels::softmax_cross_entropy(c.preds, t, c.width, grad, c.scale)
            }
        }
    }
}

impl Loss for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "SoftmaxCrossEntropy"
    }

    fn loss(&self, predictions: Tensor<'_>, targets: Targets<'_>) -> Result<f32> {
        self.eval(predictions, targets, None)
    }

    fn loss_and_grad(
        &self,
        predictions: Tensor<'_>,
        targets: Targets<'_>,
        grad: &mut [f32],
    ) -> Result<f32> {
        self.eval(predictions, targets, Some(grad))
    }
}

/// Sigmoid followed by binary cross-entropy, on raw logits, for every output independently
/// (tinynn's `SigmoidCrossEntropy`): multi-label classification, or binary classification
/// with one output.
///
/// The loss per element is `max(x, 0) − x·t + ln(1 + e^−|x|)` (equal to
/// `−t ln σ(x) − (1−t) ln(1 − σ(x))` without its overflows), summed over the outputs and
/// averaged over the batch; the gradient is `(σ(x) − t) / batch`.
///
/// Targets:
/// - [`Targets::Values`] of the predictions' shape, each usually 0 or 1 (any real value is
///   accepted; values in `[0, 1]` are soft labels);
/// - [`Targets::Classes`] **only when the predictions have one output per sample**
///   (`[batch, 1]` or `[batch]`): label 1 is the positive class, 0 the negative; other labels
///   are [`ErrorKind::LabelOutOfRange`] with 2 classes. With more outputs per sample the labels
///   are ambiguous (which outputs are on?), so that is an [`ErrorKind::InvalidConfig`]: pass a
///   one-hot `Values` tensor instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigmoidCrossEntropy;

/// Labels are converted to 0.0/1.0 targets this many at a time, on the stack.
const LABEL_CHUNK: usize = 64;

impl SigmoidCrossEntropy {
    fn eval(&self, p: Tensor<'_>, t: Targets<'_>, mut grad: Option<&mut [f32]>) -> Result<f32> {
        let (c, targets) = check(p, t, grad.as_deref().map(<[f32]>::len))?;
        let labels = match targets {
            CheckedTargets::Values(t) => {
                return kernels::sigmoid_cross_entropy(c.preds, t, grad, c.scale);
            }
            CheckedTargets::Labels(labels) => labels,
        };
        if c.width != 1 {
            return Err(Error::config(
                "SigmoidCrossEntropy takes class labels only for one output per sample; \
                 pass one-hot Targets::Values for more outputs",
            ));
        }
        if let Some((sample, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 1) {
            return Err(Error::new(ErrorKind::LabelOutOfRange {
                sample,
                label: label as usize,
                classes: 2,
            }));
        }
        // One output per sample: labels and predictions line up one to one. Convert the
        // labels a chunk at a time so no allocation is needed.
        let mut total = 0.0f32;
        let mut buf = [0.0f32; LABEL_CHUNK];
        for (k, (xs, ls)) in c
            .preds
            .chunks(LABEL_CHUNK)
            .zip(labels.chunks(LABEL_CHUNK))
            .enumerate()
        {
            let ts = &mut buf[..ls.len()];
            for (t, &l) in ts.iter_mut().zip(ls) {
                *t = l as f32;
            }
            let g = grad
                .as_deref_mut()
                .map(|g| &mut g[k * LABEL_CHUNK..k * LABEL_CHUNK + xs.len()]);
            total += kernels::sigmoid_cross_entropy(xs, ts, g, c.scale)?;
        }
        Ok(total)
    }
}

impl Loss for SigmoidCrossEntropy {
    fn name(&self) -> &'static str {
        "SigmoidCrossEntropy"
    }

    fn loss(&self, predictions: Tensor<'_>, targets: Targets<'_>) -> Result<f32> {
        self.eval(predictions, targets, None)
    }

    fn loss_and_grad(
        &self,
        predictions: Tensor<'_>,
        targets: Targets<'_>,
        grad: &mut [f32],
    ) -> Result<f32> {
        self.eval(predictions, targets, Some(grad))
    }
}
