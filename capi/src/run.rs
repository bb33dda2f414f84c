//! Training, prediction and evaluation calls on a `NanonnModel`, and access to its
//! parameters.
//!
//! Every call checks its pointer+length pairs against the model's shapes (`x_len` a whole
//! number of samples, one label or one output row per sample) before it changes anything.

use nn::Tensor;
use nn::error::check_finite;
use nn::loss::{Loss, Targets};

use crate::model::NanonnModel;
use crate::status::{
    Failure, NanonnStatus, Outcome, check_disjoint, guard, handle, handle_mut, out_ptr, slice,
    slice_mut, write_out,
};

/// The number of whole samples of `per` floats in `len` floats (at least one).
pub(crate) fn whole_samples(len: usize, per: usize, what: &str) -> Outcome<usize> {
    if len == 0 || !len.is_multiple_of(per) {
        return Err(Failure::length(
            what,
            format_args!("a non-zero multiple of {per} (the floats of one sample)"),
            len,
        ));
    }
    Ok(len / per)
}

/// Copies `src` to the caller's `out`, which must be exactly as long.
pub(crate) fn copy_exact(src: &[f32], out: &mut [f32]) -> Outcome<()> {
    if out.len() != src.len() {
        return Err(Failure::length("out", src.len(), out.len()));
    }
    out.copy_from_slice(src);
    Ok(())
}

impl NanonnModel {
    /// The number of samples in `len` floats of input: a whole, non-zero number.
    pub(crate) fn samples(&self, len: usize, what: &str) -> Outcome<usize> {
        whole_samples(len, self.input().numel(), what)
    }

    pub(crate) fn batch_tensor<'x>(&self, x: &'x [f32], n: usize) -> Outcome<Tensor<'x>> {
        Ok(Tensor::new(x, self.input().batched(n)?)?)
    }

    /// One training step on `x` with `targets`, after setting the scheduled rate.
    pub(crate) fn train(&mut self, x: &[f32], n: usize, targets: Targets<'_>) -> Outcome<f32> {
        let t = self.batch_tensor(x, n)?;
        if let Some(lr) = self.schedule().lr(self.model().steps()) {
            self.model_mut().set_lr(lr);
        }
        Ok(self.model_mut().train_step(t, targets)?)
    }

    /// Runs `f(predictions, first_sample)` on every planned-size chunk of `x`, in evaluation
    /// mode.
    pub(crate) fn each_chunk(
        &mut self,
        x: &[f32],
        mut f: impl FnMut(Tensor<'_>, usize) -> Outcome,
    ) -> Outcome {
        let per = self.input().numel();
        let batch = self.model().plan().batch();
        for (i, chunk) in x.chunks(batch * per).enumerate() {
            let n = chunk.len() / per;
            let t = Tensor::new(chunk, self.input().batched(n)?)?;
            let preds = self.model_mut().predict(t)?;
            f(preds, i * batch)?;
        }
        Ok(())
    }
}

/// One training step (forward, backward, optimizer update) on `x[0..x_len]`, `n` samples
/// of `input_size` floats (1 <= n <= batch_size), with one class label per sample in
/// `labels[0..labels_len]` (`labels_len == n`). Writes the batch's mean loss to `*loss_out`.
///
/// # Safety
/// `model` is NULL or a live model; the pairs are readable; `loss_out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_train_step(
    model: *mut NanonnModel,
    x: *const f32,
    x_len: usize,
    labels: *const u32,
    labels_len: usize,
    loss_out: *mut f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        out_ptr(loss_out, "loss_out")?;
        // SAFETY: the caller's contract for the pairs.
        let (x, labels) = unsafe { (slice(x, x_len, "x")?, slice(labels, labels_len, "labels")?) };
        let n = m.samples(x.len(), "x")?;
        if labels.len() != n {
            return Err(Failure::length(
                "labels",
                format_args!("{n} (one per sample)"),
                labels.len(),
            ));
        }
        let loss = m.train(x, n, Targets::Classes(labels))?;
        // SAFETY: checked above.
        unsafe { write_out(loss_out, loss) };
        Ok(())
    })
}

/// `nanonn_model_train_step` with target values `y[0..y_len]` of the output's shape
/// (`y_len == n * output_size`): one-hot or soft labels, or regression targets.
///
/// # Safety
/// As for `nanonn_model_train_step`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_train_step_values(
    model: *mut NanonnModel,
    x: *const f32,
    x_len: usize,
    y: *const f32,
    y_len: usize,
    loss_out: *mut f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        out_ptr(loss_out, "loss_out")?;
        // SAFETY: the caller's contract for the pairs.
        let (x, y) = unsafe { (slice(x, x_len, "x")?, slice(y, y_len, "y")?) };
        let n = m.samples(x.len(), "x")?;
        let shape = m.output().batched(n)?;
        if y.len() != shape.numel() {
            return Err(Failure::length(
                "y",
                format_args!("{} ({shape})", shape.numel()),
                y.len(),
            ));
        }
        let targets = Targets::Values(Tensor::new(y, shape)?);
        let loss = m.train(x, n, targets)?;
        // SAFETY: checked above.
        unsafe { write_out(loss_out, loss) };
        Ok(())
    })
}

/// Predicts (evaluation mode: no dropout, running batch-norm statistics) for any number of
/// samples `x[0..x_len]`, split into planned-size batches, and writes `n * output_size`
/// floats to `out[0..out_len]` (`out_len` must be exactly that; `out` must not overlap `x`).
/// The input is checked whole before anything is written.
///
/// # Safety
/// `model` is NULL or a live model; `x` is readable and `out` writable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_predict(
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
        let n = m.samples(x.len(), "x")?;
        let per = m.output().numel();
        if out.len() != n * per {
            return Err(Failure::length(
                "out",
                format_args!("{} ({n} samples × {per})", n * per),
                out.len(),
            ));
        }
        check_finite("input", x)?;
        m.each_chunk(x, |preds, first| {
            out[first * per..][..preds.data().len()].copy_from_slice(preds.data());
            Ok(())
        })
    })
}

/// Evaluates on any number of samples `x[0..x_len]` with one class label each
/// (`labels_len == n`): the mean loss over all samples in `*loss_out` and the fraction whose
/// largest output is at their label in `*accuracy_out`. Evaluation mode, in planned-size
/// batches.
///
/// # Safety
/// `model` is NULL or a live model; the pairs are readable; the outputs are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_evaluate(
    model: *mut NanonnModel,
    x: *const f32,
    x_len: usize,
    labels: *const u32,
    labels_len: usize,
    loss_out: *mut f32,
    accuracy_out: *mut f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        out_ptr(loss_out, "loss_out")?;
        out_ptr(accuracy_out, "accuracy_out")?;
        // SAFETY: the caller's contract for the pairs.
        let (x, labels) = unsafe { (slice(x, x_len, "x")?, slice(labels, labels_len, "labels")?) };
        let n = m.samples(x.len(), "x")?;
        if labels.len() != n {
            return Err(Failure::length(
                "labels",
                format_args!("{n} (one per sample)"),
                labels.len(),
            ));
        }
        let (loss, classes) = (*m.model().loss(), m.output().numel());
        let (mut total, mut hits) = (0.0f64, 0usize);
        m.each_chunk(x, |preds, first| {
            let labels = &labels[first..first + preds.batch()];
            total += loss.loss(preds, Targets::Classes(labels))? as f64 * labels.len() as f64;
            hits += nn::metrics::accuracy(preds.data(), classes, labels)?.hit_num;
            Ok(())
        })?;
        // SAFETY: both checked above.
        unsafe {
            write_out(loss_out, (total / n as f64) as f32);
            write_out(accuracy_out, (hits as f64 / n as f64) as f32);
        }
        Ok(())
    })
}

/// Evaluates the mean loss over any number of samples against target values
/// `y[0..y_len]` (`y_len == n * output_size`), in `*loss_out`.
///
/// # Safety
/// As for `nanonn_model_evaluate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_evaluate_values(
    model: *mut NanonnModel,
    x: *const f32,
    x_len: usize,
    y: *const f32,
    y_len: usize,
    loss_out: *mut f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        out_ptr(loss_out, "loss_out")?;
        // SAFETY: the caller's contract for the pairs.
        let (x, y) = unsafe { (slice(x, x_len, "x")?, slice(y, y_len, "y")?) };
        let n = m.samples(x.len(), "x")?;
        let per = m.output().numel();
        if y.len() != n * per {
            return Err(Failure::length(
                "y",
                format_args!("{} ({n} samples × {per})", n * per),
                y.len(),
            ));
        }
        let loss = *m.model().loss();
        let mut total = 0.0f64;
        m.each_chunk(x, |preds, first| {
            let y = Tensor::new(&y[first * per..][..preds.data().len()], preds.shape())?;
            total += loss.loss(preds, Targets::Values(y))? as f64 * preds.batch() as f64;
            Ok(())
        })?;
        // SAFETY: checked above.
        unsafe { write_out(loss_out, (total / n as f64) as f32) };
        Ok(())
    })
}

/// Copies every parameter, layer after layer, to `out[0..len]` (`len == param_count`).
///
/// # Safety
/// `model` is NULL or a live model; `out` has `len` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_get_params(
    model: *const NanonnModel,
    out: *mut f32,
    len: usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: the caller's contract for the pair.
        let out = unsafe { slice_mut(out, len, "out") }?;
        copy_exact(m.model().net().params(), out)
    })
}

/// Replaces every parameter with `params[0..len]` (`len == param_count`, all finite).
///
/// # Safety
/// `model` is NULL or a live model; `params` has `len` readable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_params(
    model: *mut NanonnModel,
    params: *const f32,
    len: usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        // SAFETY: the caller's contract for the pair.
        let params = unsafe { slice(params, len, "params") }?;
        let dst = m.model_mut().net_mut().params_mut();
        if params.len() != dst.len() {
            return Err(Failure::length("params", dst.len(), params.len()));
        }
        check_disjoint(params, dst, "params")?;
        check_finite("params", params)?;
        dst.copy_from_slice(params);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::NanonnNetBuilder;
    use crate::builder::{nanonn_net_builder_add_activation, nanonn_net_builder_add_dense};
    use crate::builder::{nanonn_net_builder_free, nanonn_net_builder_new};
    use crate::config::{NanonnLossConfig, NanonnOptimizerConfig};
    use crate::model::{
        NanonnModelInfo, nanonn_model_bytes_needed, nanonn_model_free, nanonn_model_info,
        nanonn_model_new, nanonn_model_new_in,
    };
    use core::ffi::c_void;
    use core::ptr;

    fn xor_builder() -> *mut NanonnNetBuilder {
        let mut b = ptr::null_mut();
        // SAFETY: valid pointers.
        unsafe {
            assert_eq!(
                nanonn_net_builder_new([2usize].as_ptr(), 1, &mut b),
                NanonnStatus::Ok
            );
            assert_eq!(nanonn_net_builder_add_dense(b, 2, 8), NanonnStatus::Ok);
            assert_eq!(
                nanonn_net_builder_add_activation(b, 3, 0.0),
                NanonnStatus::Ok
            );
            assert_eq!(nanonn_net_builder_add_dense(b, 8, 2), NanonnStatus::Ok);
        }
        b
    }

    #[test]
    fn caller_memory_and_owned_memory_train_identically() {
        let b = xor_builder();
        let loss = NanonnLossConfig {
            kind: 0,
            delta: 0.0,
        };
        let opt = NanonnOptimizerConfig::defaults(crate::config::NanonnOptimizer::Adam, 0.05);
        let x = [0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let labels = [0u32, 1, 1, 0];
        // SAFETY: valid pointers; the block outlives the model.
        unsafe {
            let mut bytes = 0;
            assert_eq!(
                nanonn_model_bytes_needed(b, &loss, &opt, 4, &mut bytes),
                NanonnStatus::Ok
            );
            // An odd address: nanonn aligns inside the block.
            let mut block = vec![0xAAu8; bytes + 1];
            let mem = block.as_mut_ptr().add(1).cast::<c_void>();
            let (mut a, mut o) = (ptr::null_mut(), ptr::null_mut());
            assert_eq!(
                nanonn_model_new_in(b, &loss, &opt, 4, 7, mem, bytes - 1, &mut a),
                NanonnStatus::BufferTooSmall
            );
            assert!(a.is_null());
            assert_eq!(
                nanonn_model_new_in(b, &loss, &opt, 4, 7, mem, bytes, &mut a),
                NanonnStatus::Ok
            );
            assert_eq!(
                nanonn_model_new(b, &loss, &opt, 4, 7, &mut o),
                NanonnStatus::Ok
            );
            nanonn_net_builder_free(b);
            let (mut la, mut lo) = (0.0, 0.0);
            for _ in 0..300 {
                assert_eq!(
                    nanonn_model_train_step(a, x.as_ptr(), 8, labels.as_ptr(), 4, &mut la),
                    NanonnStatus::Ok
                );
                assert_eq!(
                    nanonn_model_train_step(o, x.as_ptr(), 8, labels.as_ptr(), 4, &mut lo),
                    NanonnStatus::Ok
                );
                assert_eq!(la.to_bits(), lo.to_bits());
            }
            assert!(la < 0.05, "{la}");
            let (mut loss_v, mut acc) = (0.0, 0.0);
            assert_eq!(
                nanonn_model_evaluate(a, x.as_ptr(), 8, labels.as_ptr(), 4, &mut loss_v, &mut acc),
                NanonnStatus::Ok
            );
            assert_eq!(acc, 1.0);
            let mut info = NanonnModelInfo::default();
            assert_eq!(nanonn_model_info(a, &mut info), NanonnStatus::Ok);
            assert_eq!((info.input_size, info.output_size, info.steps), (2, 2, 300));
            assert_eq!(info.param_count, 2 * 8 + 8 + 8 * 2 + 2);
            nanonn_model_free(a);
            nanonn_model_free(o);
        }
    }

    #[test]
    fn a_model_in_caller_memory_never_touches_the_heap() {
        use crate::alloc_count::allocations;
        use crate::config::NanonnFileKind;
        use crate::file::{nanonn_model_load_from_buffer, nanonn_model_save_to_buffer};
        let b = xor_builder();
        let loss = NanonnLossConfig {
            kind: 0,
            delta: 0.0,
        };
        let opt = NanonnOptimizerConfig::defaults(crate::config::NanonnOptimizer::Adam, 0.05);
        let x = [0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let labels = [0u32, 1, 1, 0];
        let mut out = [0.0f32; 8];
        let kind = NanonnFileKind::Checkpoint as u32;
        // SAFETY: valid pointers; the blocks outlive the model.
        unsafe {
            let mut bytes = 0;
            assert_eq!(
                nanonn_model_bytes_needed(b, &loss, &opt, 4, &mut bytes),
                NanonnStatus::Ok
            );
            let mut block = vec![0u8; bytes];
            let mut file = vec![0u8; 1 << 16];
            let (mut m, mut l, mut acc, mut n) = (ptr::null_mut(), 0.0, 0.0, 0);
            let mem = block.as_mut_ptr().cast::<c_void>();
            let before = allocations();
            let s = nanonn_model_new_in(b, &loss, &opt, 4, 7, mem, bytes, &mut m);
            assert_eq!(s, NanonnStatus::Ok);
            assert_eq!(allocations(), before, "nanonn_model_new_in allocated");
            nanonn_net_builder_free(b);
            let before = allocations();
            for _ in 0..3 {
                let s = nanonn_model_train_step(m, x.as_ptr(), 8, labels.as_ptr(), 4, &mut l);
                assert_eq!(s, NanonnStatus::Ok);
                assert_eq!(
                    nanonn_model_predict(m, x.as_ptr(), 8, out.as_mut_ptr(), 8),
                    NanonnStatus::Ok
                );
                let s =
                    nanonn_model_evaluate(m, x.as_ptr(), 8, labels.as_ptr(), 4, &mut l, &mut acc);
                assert_eq!(s, NanonnStatus::Ok);
            }
            let s = nanonn_model_save_to_buffer(m, kind, file.as_mut_ptr(), file.len(), &mut n);
            assert_eq!(s, NanonnStatus::Ok);
            assert_eq!(
                nanonn_model_load_from_buffer(m, file.as_ptr(), n, kind),
                NanonnStatus::Ok
            );
            nanonn_model_free(m);
            assert_eq!(
                allocations(),
                before,
                "a call on an in-place model allocated"
            );
        }
    }
}
