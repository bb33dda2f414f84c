//! The argument checks every loss makes, in one place, so that all losses reject bad input the
//! same way and in the same order: structure first (rank, batch, shapes, lengths), then data
//! (NaN and infinities).

use crate::error::{Error, Result, check_finite};
use crate::loss::Targets;
use crate::tensor::Tensor;

/// Predictions that passed the checks, as the kernels want them.
pub(super) struct Checked<'p> {
    /// The predictions, row-major `[batch, width]`.
    pub preds: &'p [f32],
    /// Elements per sample (all dimensions but the first, multiplied).
    pub width: usize,
    /// `1 / batch`: the kernels multiply the summed loss and the gradient by it.
    pub scale: f32,
}

/// Targets that passed the checks.
pub(super) enum CheckedTargets<'t> {
    /// One label per sample (not yet checked against the number of classes).
    Labels(&'t [u32]),
    /// Finite values of the predictions' shape.
    Values(&'t [f32]),
}

/// Checks predictions, targets and (when given) the length of the gradient buffer.
///
/// Errors: rank-0 predictions or a batch of 0 (config), `Values` of another shape (shape),
/// `Classes` of a length other than the batch (length), a gradient buffer of the wrong length
/// (length), a NaN or infinity in the predictions or the target values (`NonFinite`).
pub(super) fn check<'p, 't>(
    predictions: Tensor<'p>,
    targets: Targets<'t>,
    grad_len: Option<usize>,
) -> Result<(Checked<'p>, CheckedTargets<'t>)> {
    let shape = predictions.shape();
    if shape.rank() == 0 {
        return Err(Error::config(
            "loss predictions need a batch dimension: shape [batch, ...]",
        ));
    }
    let batch = predictions.batch();
    if batch == 0 {
        return Err(Error::config("loss of an empty batch (batch size 0)"));
    }
    let preds = predictions.data();
    let checked_targets = match targets {
        Targets::Classes(labels) => {
            if labels.len() != batch {
                return Err(Error::length("labels", batch, labels.len()));
            }
            CheckedTargets::Labels(labels)
        }
        Targets::Values(t) => {
            if t.shape() != shape {
                return Err(Error::shape("targets", shape, t.shape()));
            }
            CheckedTargets::Values(t.data())
        }
    };
    if let Some(got) = grad_len
        && got != preds.len()
    {
        return Err(Error::length("grad", preds.len(), got));
    }
    check_finite("predictions", preds)?;
    if let CheckedTargets::Values(t) = checked_targets {
        check_finite("targets", t)?;
    }
    let checked = Checked {
        preds,
        width: predictions.sample_len(),
        scale: 1.0 / batch as f32,
    };
    Ok((checked, checked_targets))
}
