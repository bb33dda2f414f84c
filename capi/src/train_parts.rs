//! tinynn's training step in its three parts — `nanonn_model_forward`, `nanonn_model_backward`
//! (or `_backward_values`), `nanonn_model_apply_grad` — plus read access to the gradients and
//! to where each layer's parameters sit in the flat parameter array.
//!
//! `nanonn_model_train_step` is these three calls in one; the parts exist for bindings that
//! mirror tinynn's `model.forward` / `model.backward` / `model.apply_grad` (the Python
//! package) and for callers who want the predictions of the batch they train on. The
//! gradients stay inside the model between `backward` and `apply_grad`: a second `backward`
//! overwrites them, and `apply_grad` always applies the latest. `nanonn_model_train_step`
//! reads its batch where the caller keeps it and leaves no forward pass behind, so a
//! `backward` after it needs a `forward` first (else `NANONN_STATUS_INVALID_STATE`).

use nn::loss::Targets;
use nn::{Shape, Tensor};

use crate::model::NanonnModel;
use crate::run::{copy_exact, whole_samples};
use crate::status::{
    Failure, NanonnStatus, check_disjoint, guard, handle, handle_mut, out_ptr, slice, slice_mut,
    write_out,
};

fn input_shape(m: &NanonnModel) -> Shape {
    m.model().net().input_shape()
}

fn output_shape(m: &NanonnModel) -> Shape {
    m.model().net().output_shape()
}

/// The forward pass of a training step (training mode: dropout active, batch statistics) on
/// `x[0..x_len]`, `n` samples of `input_size` floats (1 <= n <= batch_size). Writes the
/// predictions, `n * output_size` floats, to `out[0..out_len]` (`out_len` must be exactly
/// that; `out` must not overlap `x`) and keeps what `nanonn_model_backward` needs.
///
/// # Safety
/// `model` is NULL or a live model; `x` is readable and `out` writable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_forward(
    model: *mut NanonnModel,
    x: *const f32,
    x_len: usize,
    out: *mut f32,
    out_len: usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        // SAFETY: the caller's contract for the pairs.
        let (x, out) = unsafe { (slice(x, x_len, "x")?, slice_mut(out, out_len, "out")?) };
        check_disjoint(x, out, "out")?;
        let input = input_shape(m);
        let n = whole_samples(x.len(), input.numel(), "x")?;
        let per = output_shape(m).numel();
        if out.len() != n * per {
            return Err(Failure::length(
                "out",
                format_args!("{} ({n} samples × {per})", n * per),
                out.len(),
            ));
        }
        let t = Tensor::new(x, input.batched(n)?)?;
        let preds = m.model_mut().forward(t)?;
        out.copy_from_slice(preds.data());
        Ok(())
    })
}

/// The backward pass of a training step: the loss of the last `nanonn_model_forward`'s
/// predictions against one class label per sample (`labels_len` == the forward's `n`),
/// backpropagated into the model's gradients (which replace any earlier ones). Writes the
/// batch's mean loss to `*loss_out`. Fails with `NANONN_STATUS_INVALID_STATE` without a
/// training-mode forward since the last prediction, evaluation or `nanonn_model_train_step`.
///
/// # Safety
/// `model` is NULL or a live model; `labels` is readable for its length; `loss_out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_backward(
    model: *mut NanonnModel,
    labels: *const u32,
    labels_len: usize,
    loss_out: *mut f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        out_ptr(loss_out, "loss_out")?;
        // SAFETY: the caller's contract for the pair.
        let labels = unsafe { slice(labels, labels_len, "labels") }?;
        let loss = m.model_mut().backward(Targets::Classes(labels))?;
        // SAFETY: checked above.
        unsafe { write_out(loss_out, loss) };
        Ok(())
    })
}

/// `nanonn_model_backward` against target values `y[0..y_len]` of the predictions' shape
/// (`y_len == n * output_size`): one-hot or soft labels, or regression targets.
///
/// # Safety
/// As for `nanonn_model_backward`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_backward_values(
    model: *mut NanonnModel,
    y: *const f32,
    y_len: usize,
    loss_out: *mut f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        out_ptr(loss_out, "loss_out")?;
        // SAFETY: the caller's contract for the pair.
        let y = unsafe { slice(y, y_len, "y") }?;
        let output = output_shape(m);
        let n = whole_samples(y.len(), output.numel(), "y")?;
        // The loss checks the shape against the forward's predictions.
        let targets = Targets::Values(Tensor::new(y, output.batched(n)?)?);
        let loss = m.model_mut().backward(targets)?;
        // SAFETY: checked above.
        unsafe { write_out(loss_out, loss) };
        Ok(())
    })
}

/// One optimizer step with the gradients of the last `nanonn_model_backward`, at the rate the
/// model's schedule gives for this step (as `nanonn_model_train_step` would). Gradients are
/// zero before the first backward; applying the same gradients twice takes two steps.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_apply_grad(model: *mut NanonnModel) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        if let Some(lr) = m.schedule().lr(m.model().steps()) {
            m.model_mut().set_lr(lr);
        }
        m.model_mut().apply_grad()?;
        Ok(())
    })
}

/// Copies the gradients of the last backward, laid out as the parameters
/// (`nanonn_model_get_params`), to `out[0..len]` (`len == param_count`).
///
/// # Safety
/// `model` is NULL or a live model; `out` has `len` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_get_grads(
    model: *const NanonnModel,
    out: *mut f32,
    len: usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: the caller's contract for the pair.
        let out = unsafe { slice_mut(out, len, "out") }?;
        copy_exact(m.model().net().grads(), out)
    })
}

/// Where layer `layer` (0-based) keeps its parameters in the flat array of
/// `nanonn_model_get_params` (and its gradients in `nanonn_model_get_grads`): the first index
/// in `*first_out` and the count in `*count_out` (0 for a layer without parameters).
///
/// # Safety
/// `model` is NULL or a live model; the outputs are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_layer_params(
    model: *const NanonnModel,
    layer: usize,
    first_out: *mut usize,
    count_out: *mut usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        out_ptr(first_out, "first_out")?;
        out_ptr(count_out, "count_out")?;
        let slots = m.model().plan().slots();
        let range = slots.get(layer).map(|s| s.params.clone()).ok_or_else(|| {
            Failure::argument(format!(
                "layer {layer} does not exist: the model has {} layers",
                slots.len()
            ))
        })?;
        // SAFETY: both checked above.
        unsafe {
            write_out(first_out, range.start);
            write_out(count_out, range.len());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{
        nanonn_net_builder_add_activation, nanonn_net_builder_add_dense, nanonn_net_builder_free,
        nanonn_net_builder_new,
    };
    use crate::config::{NanonnLossConfig, NanonnOptimizer, NanonnOptimizerConfig};
    use crate::model::{nanonn_model_free, nanonn_model_new};
    use crate::run::{nanonn_model_get_params, nanonn_model_predict, nanonn_model_train_step};
    use crate::schedule::nanonn_model_set_cosine_lr;
    use core::ptr;

    /// A 2-3-2 tanh net trained with softmax cross-entropy and Adam.
    fn model(seed: u64) -> *mut NanonnModel {
        let (mut b, mut m) = (ptr::null_mut(), ptr::null_mut());
        let loss = NanonnLossConfig {
            kind: 0,
            delta: 0.0,
        };
        let opt = NanonnOptimizerConfig::defaults(NanonnOptimizer::Adam, 0.05);
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(
                nanonn_net_builder_new([2usize].as_ptr(), 1, &mut b),
                NanonnStatus::Ok
            );
            assert_eq!(nanonn_net_builder_add_dense(b, 2, 3), NanonnStatus::Ok);
            assert_eq!(
                nanonn_net_builder_add_activation(b, 3, 0.0),
                NanonnStatus::Ok
            );
            assert_eq!(nanonn_net_builder_add_dense(b, 3, 2), NanonnStatus::Ok);
            assert_eq!(
                nanonn_model_new(b, &loss, &opt, 4, seed, &mut m),
                NanonnStatus::Ok
            );
            nanonn_net_builder_free(b);
        }
        m
    }

    const X: [f32; 8] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    const LABELS: [u32; 4] = [0, 1, 1, 0];

    fn params(m: *const NanonnModel) -> Vec<f32> {
        let mut p = vec![0.0; 2 * 3 + 3 + 3 * 2 + 2];
        // SAFETY: a live model and a buffer of its parameter count.
        assert_eq!(
            unsafe { nanonn_model_get_params(m, p.as_mut_ptr(), p.len()) },
            NanonnStatus::Ok
        );
        p
    }

    #[test]
    fn the_parts_equal_train_step_bit_for_bit() {
        let (a, b) = (model(5), model(5));
        // SAFETY: live models and valid buffers.
        unsafe {
            assert_eq!(
                nanonn_model_set_cosine_lr(a, 0.05, 0.0, 20),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_set_cosine_lr(b, 0.05, 0.0, 20),
                NanonnStatus::Ok
            );
            for _ in 0..20 {
                let (mut la, mut lb) = (0.0f32, 0.0f32);
                assert_eq!(
                    nanonn_model_train_step(a, X.as_ptr(), 8, LABELS.as_ptr(), 4, &mut la),
                    NanonnStatus::Ok
                );
                let mut out = [0.0f32; 8];
                assert_eq!(
                    nanonn_model_forward(b, X.as_ptr(), 8, out.as_mut_ptr(), 8),
                    NanonnStatus::Ok
                );
                // The forward's outputs are the predictions in evaluation mode too (no
                // dropout or batch norm in this net).
                let mut eval = [0.0f32; 8];
                let mut forward_again = [0.0f32; 8];
                assert_eq!(
                    nanonn_model_forward(b, X.as_ptr(), 8, forward_again.as_mut_ptr(), 8),
                    NanonnStatus::Ok
                );
                assert_eq!(out, forward_again);
                assert_eq!(
                    nanonn_model_backward(b, LABELS.as_ptr(), 4, &mut lb),
                    NanonnStatus::Ok
                );
                assert_eq!(nanonn_model_apply_grad(b), NanonnStatus::Ok);
                assert_eq!(la.to_bits(), lb.to_bits());
                assert_eq!(
                    nanonn_model_predict(b, X.as_ptr(), 8, eval.as_mut_ptr(), 8),
                    NanonnStatus::Ok
                );
            }
            assert_eq!(params(a), params(b));
            nanonn_model_free(a);
            nanonn_model_free(b);
        }
    }

    #[test]
    fn backward_values_with_one_hot_rows_equals_labels() {
        let (a, b) = (model(9), model(9));
        let one_hot = [1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        let mut out = [0.0f32; 8];
        let (mut la, mut lb) = (0.0f32, 0.0f32);
        // SAFETY: live models and valid buffers.
        unsafe {
            for m in [a, b] {
                assert_eq!(
                    nanonn_model_forward(m, X.as_ptr(), 8, out.as_mut_ptr(), 8),
                    NanonnStatus::Ok
                );
            }
            assert_eq!(
                nanonn_model_backward(a, LABELS.as_ptr(), 4, &mut la),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_backward_values(b, one_hot.as_ptr(), 8, &mut lb),
                NanonnStatus::Ok
            );
            assert!((la - lb).abs() < 1e-6, "{la} vs {lb}");
            let (mut ga, mut gb) = (vec![0.0f32; 17], vec![0.0f32; 17]);
            assert_eq!(
                nanonn_model_get_grads(a, ga.as_mut_ptr(), 17),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_get_grads(b, gb.as_mut_ptr(), 17),
                NanonnStatus::Ok
            );
            assert!(ga.iter().any(|g| *g != 0.0));
            for (x, y) in ga.iter().zip(&gb) {
                assert!((x - y).abs() < 1e-6);
            }
            nanonn_model_free(a);
            nanonn_model_free(b);
        }
    }

    #[test]
    fn the_softmax_gradient_of_the_last_bias_is_the_mean_of_p_minus_y() {
        // ∂L/∂b of the last layer = mean over the batch of softmax(logits) - one_hot(label).
        let m = model(3);
        let mut logits = [0.0f32; 8];
        let mut loss = 0.0f32;
        let mut grads = vec![0.0f32; 17];
        // SAFETY: a live model and valid buffers.
        unsafe {
            assert_eq!(
                nanonn_model_forward(m, X.as_ptr(), 8, logits.as_mut_ptr(), 8),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_backward(m, LABELS.as_ptr(), 4, &mut loss),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_get_grads(m, grads.as_mut_ptr(), 17),
                NanonnStatus::Ok
            );
            let (mut first, mut count) = (0usize, 0usize);
            assert_eq!(
                nanonn_model_layer_params(m, 2, &mut first, &mut count),
                NanonnStatus::Ok
            );
            assert_eq!((first, count), (9, 8));
            assert_eq!(
                nanonn_model_layer_params(m, 1, &mut first, &mut count),
                NanonnStatus::Ok
            );
            assert_eq!((first, count), (9, 0));
            nanonn_model_free(m);
        }
        let (mut expected, mut mean_loss) = ([0.0f64; 2], 0.0f64);
        for (row, &label) in logits.chunks(2).zip(&LABELS) {
            let (a, b) = (row[0] as f64, row[1] as f64);
            let z = a.exp() + b.exp();
            let p = [a.exp() / z, b.exp() / z];
            for k in 0..2 {
                expected[k] += (p[k] - f64::from(u8::from(k as u32 == label))) / 4.0;
            }
            mean_loss -= p[label as usize].ln() / 4.0;
        }
        assert!(
            (loss as f64 - mean_loss).abs() < 1e-5,
            "{loss} vs {mean_loss}"
        );
        // The last Dense's bias is the last two parameters.
        for k in 0..2 {
            assert!((grads[15 + k] as f64 - expected[k]).abs() < 1e-5);
        }
    }

    #[test]
    fn misuse_is_a_status_and_leaves_outputs_untouched() {
        let m = model(1);
        let mut out = [7.0f32; 8];
        let mut loss = -1.0f32;
        // SAFETY: a live model; NULL and short buffers are what is tested.
        unsafe {
            assert_eq!(
                nanonn_model_backward(m, LABELS.as_ptr(), 4, &mut loss),
                NanonnStatus::InvalidState
            );
            assert_eq!(
                nanonn_model_forward(m, X.as_ptr(), 7, out.as_mut_ptr(), 8),
                NanonnStatus::LengthMismatch
            );
            assert_eq!(
                nanonn_model_forward(m, X.as_ptr(), 8, out.as_mut_ptr(), 6),
                NanonnStatus::LengthMismatch
            );
            assert_eq!(
                nanonn_model_forward(ptr::null_mut(), X.as_ptr(), 8, out.as_mut_ptr(), 8),
                NanonnStatus::NullPointer
            );
            let big = [0.0f32; 10];
            let mut big_out = [0.0f32; 10];
            assert_eq!(
                nanonn_model_forward(m, big.as_ptr(), 10, big_out.as_mut_ptr(), 10),
                NanonnStatus::BatchTooLarge
            );
            let nan = [f32::NAN, 0.0];
            assert_eq!(
                nanonn_model_forward(m, nan.as_ptr(), 2, out.as_mut_ptr(), 2),
                NanonnStatus::NonFinite
            );
            assert_eq!(out, [7.0; 8]);
            assert_eq!(
                nanonn_model_forward(m, X.as_ptr(), 8, out.as_mut_ptr(), 8),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_backward(m, LABELS.as_ptr(), 3, &mut loss),
                NanonnStatus::LengthMismatch
            );
            assert_eq!(
                nanonn_model_backward(m, [0u32, 1, 2, 0].as_ptr(), 4, &mut loss),
                NanonnStatus::LabelOutOfRange
            );
            assert_eq!(
                nanonn_model_backward_values(m, [0.5f32; 6].as_ptr(), 6, &mut loss),
                NanonnStatus::ShapeMismatch
            );
            assert_eq!(
                nanonn_model_backward(m, LABELS.as_ptr(), 4, ptr::null_mut()),
                NanonnStatus::NullPointer
            );
            assert_eq!(loss, -1.0);
            // Prediction runs in evaluation mode and ends the training step.
            let mut eval = [0.0f32; 8];
            assert_eq!(
                nanonn_model_predict(m, X.as_ptr(), 8, eval.as_mut_ptr(), 8),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_backward(m, LABELS.as_ptr(), 4, &mut loss),
                NanonnStatus::InvalidState
            );
            let (mut first, mut count) = (5usize, 5usize);
            assert_eq!(
                nanonn_model_layer_params(m, 3, &mut first, &mut count),
                NanonnStatus::InvalidArgument
            );
            assert_eq!((first, count), (5, 5));
            let mut g = [0.0f32; 16];
            assert_eq!(
                nanonn_model_get_grads(m, g.as_mut_ptr(), 16),
                NanonnStatus::LengthMismatch
            );
            assert_eq!(
                nanonn_model_apply_grad(ptr::null_mut()),
                NanonnStatus::NullPointer
            );
            nanonn_model_free(m);
        }
    }
}
