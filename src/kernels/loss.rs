//! Loss kernels: a scaled loss sum and its exact gradient, on flat slices.
//!
//! Every kernel returns `scale · Σ loss` and, when given a `grad` buffer, writes
//! `∂(returned value)/∂predictions` into it (overwriting it). The loss types of
//! [`crate::loss`] pass `scale = 1 / batch`, which gives tinynn's batch-averaged losses; the
//! kernels themselves know nothing about batches, so one kernel serves any layout.
//!
//! Numerically stable forms are used throughout: softmax subtracts the row maximum before
//! `exp`, and the sigmoid cross-entropy is `max(x, 0) − x·t + ln(1 + e^−|x|)`, so logits of
//! ±1000 give finite losses and gradients.
//!
//! The `*_reference` twins take every transcendental from `libm`, one element at a time. The
//! fast versions run 8 lanes at a time with `wide`: `exp` and `log1p` come from
//! [`super::math`] (within 1.1 and 2 ulp), the one `ln` per softmax row from `libm`; each
//! `exp` is computed once, keeping `e^(x − m)` in the gradient buffer. Tails are padded and go
//! through the same vector code, and a loss is summed in the same order with and without a
//! gradient buffer, so asking for the gradient never changes the loss. Fast and reference
//! agree within a few ulp per element: the tests allow gradients 2e-6 relative (plus
//! `2e-7·scale` where `p − 1` cancels) and loss sums 1e-5 relative (they also add in a
//! different order). No fused multiply-add is used, so both give the same bits on every
//! platform.
//!
//! With `NANONN_KERNEL=scalar` (see [`super::selected`]) the fast functions run their
//! `*_reference` twins; every other kernel path runs the `wide` code.
//!
//! The kernels check lengths and labels but not finiteness: the loss types do that once.

use wide::f32x8;

use super::dispatch::{KernelPath, selected};
use super::math;
use crate::error::{Error, ErrorKind, Result};

const LANES: usize = 8;

// ---------------------------------------------------------------------------------------------
// Argument checks shared by every kernel.
// ---------------------------------------------------------------------------------------------

/// Checks a `[rows, cols]` matrix and returns `rows`.
fn rows_of(len: usize, cols: usize) -> Result<usize> {
    if cols == 0 {
        return Err(Error::config("a softmax row needs at least one column"));
    }
    if !len.is_multiple_of(cols) {
        return Err(Error::config(
            "logits length is not a multiple of the number of columns",
        ));
    }
    Ok(len / cols)
}

fn check_same(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::length(what, expected, got))
    }
}

fn check_grad(grad: &Option<&mut [f32]>, expected: usize) -> Result<()> {
    match grad {
        Some(g) => check_same("grad", expected, g.len()),
        None => Ok(()),
    }
}

/// Every label must be a column index; checked before anything is written.
fn check_labels(labels: &[u32], classes: usize) -> Result<()> {
    for (sample, &label) in labels.iter().enumerate() {
        if label as usize >= classes {
            return Err(Error::new(ErrorKind::LabelOutOfRange {
                sample,
                label: label as usize,
                classes,
            }));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Small vector helpers.
// ---------------------------------------------------------------------------------------------

#[inline]
fn load(chunk: &[f32]) -> f32x8 {
    // `chunks_exact(LANES)` hands out exactly 8 elements; `From<&[f32]>` never panics on 8.
    f32x8::from(chunk)
}

/// Up to 8 elements, the missing lanes 0.
#[inline]
fn load_padded(s: &[f32]) -> f32x8 {
    let mut a = [0.0f32; LANES];
    a[..s.len()].copy_from_slice(s);
    f32x8::from(a)
}

/// The largest element of a non-empty slice.
fn max_fast(x: &[f32]) -> f32 {
    let mut acc = f32x8::splat(f32::NEG_INFINITY);
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        acc = acc.max(load(c));
    }
    let lanes = acc.to_array();
    let m = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    chunks.remainder().iter().copied().fold(m, f32::max)
}

/// `Σ t[j]·(x[j] − m)`: subtracting `m` first keeps large logits from losing the small
/// differences that matter.
fn dot_shifted(t: &[f32], x: &[f32], m: f32) -> f32 {
    let mv = f32x8::splat(m);
    let mut acc = f32x8::ZERO;
    let mut ct = t.chunks_exact(LANES);
    let mut cx = x.chunks_exact(LANES);
    for (a, b) in (&mut ct).zip(&mut cx) {
        acc += load(a) * (load(b) - mv);
    }
    let tail: f32 = ct
        .remainder()
        .iter()
        .zip(cx.remainder())
        .map(|(a, b)| a * (b - m))
        .sum();
    acc.reduce_add() + tail
}

/// `Σ x[j]`.
fn sum_fast(x: &[f32]) -> f32 {
    let mut acc = f32x8::ZERO;
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        acc += load(c);
    }
    acc.reduce_add() + chunks.remainder().iter().sum::<f32>()
}

/// `x[j] *= k`.
fn scale_fast(x: &mut [f32], k: f32) {
    let kv = f32x8::splat(k);
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        c.copy_from_slice(&(load(c) * kv).to_array());
    }
    for v in chunks.into_remainder() {
        *v *= k;
    }
}

/// `Σ_j e^(x[j] − m)`, also stored in `out` when given (same length as `x`).
///
/// Both paths compute the same values and add them in the same order, so a loss computed
/// with and without a gradient buffer is bit-for-bit the same.
fn sum_exp_shifted(x: &[f32], m: f32, out: Option<&mut [f32]>) -> f32 {
    let mv = f32x8::splat(m);
    let exp_shifted = |v: f32x8| math::exp(v - mv);
    let mut acc = f32x8::ZERO;
    let mut chunks = x.chunks_exact(LANES);
    let tail = match out {
        Some(out) => {
            let mut oc = out.chunks_exact_mut(LANES);
            for (c, o) in (&mut chunks).zip(&mut oc) {
                let e = exp_shifted(load(c));
                acc += e;
                o.copy_from_slice(&e.to_array());
            }
            let rest = oc.into_remainder();
            // Padding with m gives e^0 in the unused lanes: harmless, and never summed.
            let e = math::tail8(chunks.remainder(), m, exp_shifted);
            rest.copy_from_slice(&e[..rest.len()]);
            rest.iter().sum::<f32>()
        }
        None => {
            for c in &mut chunks {
                acc += exp_shifted(load(c));
            }
            let rest = chunks.remainder();
            let e = math::tail8(rest, m, exp_shifted);
            e[..rest.len()].iter().sum::<f32>()
        }
    };
    acc.reduce_add() + tail
}

/// Scalar: the row maximum `m` and `Σ e^(x − m)`, one plain loop each.
fn max_and_sum_exp_reference(xr: &[f32]) -> (f32, f32) {
    let mut m = f32::NEG_INFINITY;
    for &v in xr {
        m = m.max(v);
    }
    let mut s = 0.0f32;
    for &v in xr {
        s += libm::expf(v - m);
    }
    (m, s)
}

// ---------------------------------------------------------------------------------------------
// Log-softmax.
// ---------------------------------------------------------------------------------------------

/// Row-wise log-softmax of a `[rows, cols]` matrix: `out[i][j] = x[i][j] − ln Σ_k e^x[i][k]`,
/// computed as `(x − max) − ln Σ e^(x − max)` so large logits do not overflow.
///
/// Errors if `cols == 0`, if `x.len()` is not a multiple of `cols`, or if `out` differs in
/// length from `x`.
pub fn log_softmax_rows(x: &[f32], cols: usize, out: &mut [f32]) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return log_softmax_rows_reference(x, cols, out);
    }
    rows_of(x.len(), cols)?;
    check_same("log-softmax output", x.len(), out.len())?;
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        let m = max_fast(xr);
        let lse = libm::logf(sum_exp_shifted(xr, m, None));
        let (mv, lv) = (f32x8::splat(m), f32x8::splat(lse));
        let mut xc = xr.chunks_exact(LANES);
        let mut oc = or.chunks_exact_mut(LANES);
        for (a, o) in (&mut xc).zip(&mut oc) {
            // (x − m) − lse, not x − (m + lse): with large logits m + lse would round.
            o.copy_from_slice(&((load(a) - mv) - lv).to_array());
        }
        for (a, o) in xc.remainder().iter().zip(oc.into_remainder()) {
            *o = (a - m) - lse;
        }
    }
    Ok(())
}

/// Scalar twin of [`log_softmax_rows`].
pub fn log_softmax_rows_reference(x: &[f32], cols: usize, out: &mut [f32]) -> Result<()> {
    rows_of(x.len(), cols)?;
    check_same("log-softmax output", x.len(), out.len())?;
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        let (m, s) = max_and_sum_exp_reference(xr);
        let lse = libm::logf(s);
        for (o, &v) in or.iter_mut().zip(xr) {
            *o = (v - m) - lse;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy.
// ---------------------------------------------------------------------------------------------

/// Softmax cross-entropy of `[rows, cols]` logits against one class label per row:
/// returns `scale · Σ_i −ln softmax(x_i)[label_i]` and writes
/// `grad = scale · (softmax(x) − onehot(label))`.
///
/// Errors: `cols == 0` or a length not a multiple of `cols` (config), `labels.len() != rows`
/// or a `grad` of the wrong length (length), a label `>= cols` (`LabelOutOfRange`). All
/// checks happen before `grad` is written.
pub fn softmax_cross_entropy_labels(
    logits: &[f32],
    cols: usize,
    labels: &[u32],
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    if selected() == KernelPath::Scalar {
        return softmax_cross_entropy_labels_reference(logits, cols, labels, grad, scale);
    }
    let rows = rows_of(logits.len(), cols)?;
    check_same("labels", rows, labels.len())?;
    check_grad(&grad, logits.len())?;
    check_labels(labels, cols)?;
    let mut total = 0.0f32;
    for (i, (xr, &label)) in logits.chunks_exact(cols).zip(labels).enumerate() {
        let label = label as usize;
        let m = max_fast(xr);
        let row_grad = grad
            .as_deref_mut()
            .map(|g| &mut g[i * cols..(i + 1) * cols]);
        match row_grad {
            Some(g) => {
                // g holds e^(x − m) after this call, so `exp` runs once per element.
                let s = sum_exp_shifted(xr, m, Some(g));
                scale_fast(g, scale / s);
                g[label] -= scale;
                total += libm::logf(s) - (xr[label] - m);
            }
            None => {
                let s = sum_exp_shifted(xr, m, None);
                total += libm::logf(s) - (xr[label] - m);
            }
        }
    }
    Ok(total * scale)
}

/// Scalar twin of [`softmax_cross_entropy_labels`].
pub fn softmax_cross_entropy_labels_reference(
    logits: &[f32],
    cols: usize,
    labels: &[u32],
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    let rows = rows_of(logits.len(), cols)?;
    check_same("labels", rows, labels.len())?;
    check_grad(&grad, logits.len())?;
    check_labels(labels, cols)?;
    let mut total = 0.0f32;
    for i in 0..rows {
        let xr = &logits[i * cols..(i + 1) * cols];
        let label = labels[i] as usize;
        let (m, s) = max_and_sum_exp_reference(xr);
        total += libm::logf(s) - (xr[label] - m);
        if let Some(g) = grad.as_deref_mut() {
            for j in 0..cols {
                let p = libm::expf(xr[j] - m) / s;
                let onehot = if j == label { 1.0 } else { 0.0 };
                g[i * cols + j] = scale * (p - onehot);
            }
        }
    }
    Ok(total * scale)
}

/// Softmax cross-entropy of `[rows, cols]` logits against target distributions of the same
/// shape (one-hot or soft labels): returns `scale · Σ_i −Σ_j t_ij · ln softmax(x_i)_j` and
/// writes its exact gradient `scale · (softmax(x_i) · Σ_j t_ij − t_i)`.
///
/// For targets that sum to 1 per row this is tinynn's `(softmax − t) / batch`; the extra
/// `Σ_j t_ij` keeps the gradient exact for rows that do not (label smoothing mistakes, masks).
///
/// Errors: `cols == 0` or a length not a multiple of `cols` (config), `targets` or `grad` of a
/// length other than `logits.len()` (length).
pub fn softmax_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    cols: usize,
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    if selected() == KernelPath::Scalar {
        return softmax_cross_entropy_reference(logits, targets, cols, grad, scale);
    }
    rows_of(logits.len(), cols)?;
    check_same("targets", logits.len(), targets.len())?;
    check_grad(&grad, logits.len())?;
    let mut total = 0.0f32;
    let rows = logits.chunks_exact(cols).zip(targets.chunks_exact(cols));
    for (i, (xr, tr)) in rows.enumerate() {
        let m = max_fast(xr);
        let t_sum = sum_fast(tr);
        // −Σ t_j ((x_j − m) − ln s) = T ln s − Σ t_j (x_j − m), with T = Σ t_j.
        let tx = dot_shifted(tr, xr, m);
        let row_grad = grad
            .as_deref_mut()
            .map(|g| &mut g[i * cols..(i + 1) * cols]);
        let s = match row_grad {
            Some(g) => {
                let s = sum_exp_shifted(xr, m, Some(g));
                let k = f32x8::splat(scale * t_sum / s);
                let sc = f32x8::splat(scale);
                let mut gc = g.chunks_exact_mut(LANES);
                let mut tc = tr.chunks_exact(LANES);
                for (gv, tv) in (&mut gc).zip(&mut tc) {
                    let out = load(gv) * k - load(tv) * sc;
                    gv.copy_from_slice(&out.to_array());
                }
                let k = scale * t_sum / s;
                for (gv, tv) in gc.into_remainder().iter_mut().zip(tc.remainder()) {
                    *gv = *gv * k - tv * scale;
                }
                s
            }
            None => sum_exp_shifted(xr, m, None),
        };
        total += t_sum * libm::logf(s) - tx;
    }
    Ok(total * scale)
}

/// Scalar twin of [`softmax_cross_entropy`].
pub fn softmax_cross_entropy_reference(
    logits: &[f32],
    targets: &[f32],
    cols: usize,
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    let rows = rows_of(logits.len(), cols)?;
    check_same("targets", logits.len(), targets.len())?;
    check_grad(&grad, logits.len())?;
    let mut total = 0.0f32;
    for i in 0..rows {
        let xr = &logits[i * cols..(i + 1) * cols];
        let tr = &targets[i * cols..(i + 1) * cols];
        let (m, s) = max_and_sum_exp_reference(xr);
        let ln_s = libm::logf(s);
        let mut t_sum = 0.0f32;
        for j in 0..cols {
            // −t · log_softmax(x)_j
            total -= tr[j] * ((xr[j] - m) - ln_s);
            t_sum += tr[j];
        }
        if let Some(g) = grad.as_deref_mut() {
            for j in 0..cols {
                let p = libm::expf(xr[j] - m) / s;
                g[i * cols + j] = scale * (p * t_sum - tr[j]);
            }
        }
    }
    Ok(total * scale)
}

// ---------------------------------------------------------------------------------------------
// Sigmoid cross-entropy.
// ---------------------------------------------------------------------------------------------

/// Elementwise sigmoid cross-entropy with logits:
/// returns `scale · Σ (max(x, 0) − x·t + ln(1 + e^−|x|))` and writes
/// `grad = scale · (σ(x) − t)`.
///
/// The loss equals `−t ln σ(x) − (1 − t) ln(1 − σ(x))` but never takes the log of 0, and
/// `σ(x)` is computed from the same `e^−|x|` (`1/(1+e)` or `e/(1+e)`) so it never overflows.
///
/// Errors if `targets` or `grad` differ in length from `logits`.
pub fn sigmoid_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    if selected() == KernelPath::Scalar {
        return sigmoid_cross_entropy_reference(logits, targets, grad, scale);
    }
    check_same("targets", logits.len(), targets.len())?;
    check_grad(&grad, logits.len())?;
    let (zero, one) = (f32x8::ZERO, f32x8::ONE);
    let sc = f32x8::splat(scale);
    // e = e^−|x| serves both the loss and σ(x).
    let loss = |x: f32x8, t: f32x8, e: f32x8| x.max(zero) - x * t + math::log1p(e);
    let sigmoid = |x: f32x8, e: f32x8| x.simd_ge(zero).select(one, e) / (one + e);
    let mut acc = f32x8::ZERO;
    let mut xc = logits.chunks_exact(LANES);
    let mut tc = targets.chunks_exact(LANES);
    let (xr, tr) = (xc.remainder(), tc.remainder());
    let n = xr.len();
    // The tail, padded with zeros; only its first n lanes count.
    let (xt, tt) = (load_padded(xr), load_padded(tr));
    let et = math::exp(-xt.abs());
    let tail_loss = loss(xt, tt, et).to_array();
    match grad {
        Some(g) => {
            let mut gc = g.chunks_exact_mut(LANES);
            for ((x, t), gv) in (&mut xc).zip(&mut tc).zip(&mut gc) {
                let (x, t) = (load(x), load(t));
                let e = math::exp(-x.abs());
                acc += loss(x, t, e);
                gv.copy_from_slice(&(sc * (sigmoid(x, e) - t)).to_array());
            }
            let gt = (sc * (sigmoid(xt, et) - tt)).to_array();
            gc.into_remainder().copy_from_slice(&gt[..n]);
        }
        None => {
            for (x, t) in (&mut xc).zip(&mut tc) {
                let (x, t) = (load(x), load(t));
                acc += loss(x, t, math::exp(-x.abs()));
            }
        }
    }
    let tail: f32 = tail_loss[..n].iter().sum();
    Ok((acc.reduce_add() + tail) * scale)
}

/// Scalar twin of [`sigmoid_cross_entropy`], written from the textbook branches
/// (`σ(x) = 1/(1+e^−x)` for `x ≥ 0`, `e^x/(1+e^x)` otherwise).
pub fn sigmoid_cross_entropy_reference(
    logits: &[f32],
    targets: &[f32],
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    check_same("targets", logits.len(), targets.len())?;
    check_grad(&grad, logits.len())?;
    let mut total = 0.0f32;
    for i in 0..logits.len() {
        let (x, t) = (logits[i], targets[i]);
        let relu = if x > 0.0 { x } else { 0.0 };
        total += relu - x * t + libm::log1pf(libm::expf(-libm::fabsf(x)));
        if let Some(g) = grad.as_deref_mut() {
            let sig = if x >= 0.0 {
                1.0 / (1.0 + libm::expf(-x))
            } else {
                let e = libm::expf(x);
                e / (1.0 + e)
            };
            g[i] = scale * (sig - t);
        }
    }
    Ok(total * scale)
}

// ---------------------------------------------------------------------------------------------
// Regression losses.
// ---------------------------------------------------------------------------------------------

/// Runs an elementwise loss over `pred`/`target` 8 lanes at a time: `f` maps the difference
/// `d = p − t` to `(loss, ∂loss/∂d)` for a vector, `f1` for one scalar (the tail).
fn elementwise(
    pred: &[f32],
    target: &[f32],
    grad: Option<&mut [f32]>,
    scale: f32,
    f: impl Fn(f32x8) -> (f32x8, f32x8),
    f1: impl Fn(f32) -> (f32, f32),
) -> Result<f32> {
    check_same("targets", pred.len(), target.len())?;
    check_grad(&grad, pred.len())?;
    let mut acc = f32x8::ZERO;
    let mut tail = 0.0f32;
    let mut pc = pred.chunks_exact(LANES);
    let mut tc = target.chunks_exact(LANES);
    match grad {
        Some(g) => {
            let sc = f32x8::splat(scale);
            let mut gc = g.chunks_exact_mut(LANES);
            for ((p, t), gv) in (&mut pc).zip(&mut tc).zip(&mut gc) {
                let (l, dl) = f(load(p) - load(t));
                acc += l;
                gv.copy_from_slice(&(dl * sc).to_array());
            }
            let rest = pc.remainder().iter().zip(tc.remainder());
            for ((p, t), gv) in rest.zip(gc.into_remainder()) {
                let (l, dl) = f1(p - t);
                tail += l;
                *gv = dl * scale;
            }
        }
        None => {
            for (p, t) in (&mut pc).zip(&mut tc) {
                acc += f(load(p) - load(t)).0;
            }
            for (p, t) in pc.remainder().iter().zip(tc.remainder()) {
                tail += f1(p - t).0;
            }
        }
    }
    Ok((acc.reduce_add() + tail) * scale)
}

/// Squared error: returns `scale · ½ Σ (p − t)²` and writes `grad = scale · (p − t)`
/// (tinynn's MSE with `scale = 1 / batch`).
///
/// Errors if `target` or `grad` differ in length from `pred`.
pub fn squared_error(
    pred: &[f32],
    target: &[f32],
    grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    if selected() == KernelPath::Scalar {
        return squared_error_reference(pred, target, grad, scale);
    }
    let half = f32x8::splat(0.5);
    elementwise(
        pred,
        target,
        grad,
        scale,
        |d| (half * d * d, d),
        |d| (0.5 * d * d, d),
    )
}

/// Scalar twin of [`squared_error`].
pub fn squared_error_reference(
    pred: &[f32],
    target: &[f32],
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    check_same("targets", pred.len(), target.len())?;
    check_grad(&grad, pred.len())?;
    let mut total = 0.0f32;
    for i in 0..pred.len() {
        let d = pred[i] - target[i];
        total += 0.5 * d * d;
        if let Some(g) = grad.as_deref_mut() {
            g[i] = scale * d;
        }
    }
    Ok(total * scale)
}

/// `sign(d)` with `sign(0) = 0`, for a vector.
fn sign8(d: f32x8) -> f32x8 {
    let pos = d.simd_gt(f32x8::ZERO).select(f32x8::ONE, f32x8::ZERO);
    let neg = d.simd_lt(f32x8::ZERO).select(f32x8::ONE, f32x8::ZERO);
    pos - neg
}

/// `sign(d)` with `sign(0) = 0` (a subgradient of `|d|` that leaves exact fits alone).
fn sign1(d: f32) -> f32 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Absolute error: returns `scale · Σ |p − t|` and writes `grad = scale · sign(p − t)`, with
/// `sign(0) = 0`.
///
/// Errors if `target` or `grad` differ in length from `pred`.
pub fn absolute_error(
    pred: &[f32],
    target: &[f32],
    grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    if selected() == KernelPath::Scalar {
        return absolute_error_reference(pred, target, grad, scale);
    }
    elementwise(
        pred,
        target,
        grad,
        scale,
        |d| (d.abs(), sign8(d)),
        |d| (libm::fabsf(d), sign1(d)),
    )
}

/// Scalar twin of [`absolute_error`].
pub fn absolute_error_reference(
    pred: &[f32],
    target: &[f32],
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    check_same("targets", pred.len(), target.len())?;
    check_grad(&grad, pred.len())?;
    let mut total = 0.0f32;
    for i in 0..pred.len() {
        let d = pred[i] - target[i];
        total += libm::fabsf(d);
        if let Some(g) = grad.as_deref_mut() {
            g[i] = scale * sign1(d);
        }
    }
    Ok(total * scale)
}

/// Huber loss: with `d = p − t`, returns `scale · Σ (½ d²` if `|d| ≤ delta`, else
/// `delta · (|d| − ½ delta))` and writes `grad = scale · clamp(d, −delta, delta)`.
///
/// Quadratic near 0, linear (like absolute error) beyond `delta`, so outliers pull with a
/// bounded force. Errors if `delta` is not finite and positive, or on a length mismatch.
pub fn huber(
    pred: &[f32],
    target: &[f32],
    delta: f32,
    grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    if selected() == KernelPath::Scalar {
        return huber_reference(pred, target, delta, grad, scale);
    }
    check_delta(delta)?;
    let dv = f32x8::splat(delta);
    let half = f32x8::splat(0.5);
    let lin_off = f32x8::splat(0.5 * delta);
    elementwise(
        pred,
        target,
        grad,
        scale,
        |d| {
            let a = d.abs();
            let quad = half * d * d;
            let lin = dv * (a - lin_off);
            (a.simd_le(dv).select(quad, lin), d.max(-dv).min(dv))
        },
        |d| {
            let a = libm::fabsf(d);
            let l = if a <= delta {
                0.5 * d * d
            } else {
                delta * (a - 0.5 * delta)
            };
            (l, d.max(-delta).min(delta))
        },
    )
}

/// Scalar twin of [`huber`].
pub fn huber_reference(
    pred: &[f32],
    target: &[f32],
    delta: f32,
    mut grad: Option<&mut [f32]>,
    scale: f32,
) -> Result<f32> {
    check_delta(delta)?;
    check_same("targets", pred.len(), target.len())?;
    check_grad(&grad, pred.len())?;
    let mut total = 0.0f32;
    for i in 0..pred.len() {
        let d = pred[i] - target[i];
        let quadratic = libm::fabsf(d) <= delta;
        total += if quadratic {
            0.5 * d * d
        } else {
            delta * (libm::fabsf(d) - 0.5 * delta)
        };
        if let Some(g) = grad.as_deref_mut() {
            g[i] = scale * if quadratic { d } else { delta * sign1(d) };
        }
    }
    Ok(total * scale)
}

fn check_delta(delta: f32) -> Result<()> {
    if delta.is_finite() && delta > 0.0 {
        Ok(())
    } else {
        Err(Error::config("Huber delta must be finite and positive"))
    }
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
