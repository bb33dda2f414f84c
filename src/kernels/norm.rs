//! Batch-normalisation kernels: per-column statistics, the affine normalisation, and the
//! backward pass.
//!
//! Every kernel sees its data as a row-major matrix `[rows, C]` whose columns are the
//! normalised features (channels). A batch of `[N, H, W, C]` images is `[N·H·W, C]`, a batch
//! of `[N, F]` vectors is `[N, F]`: statistics are taken down each column.
//!
//! The fast versions vectorise *across columns* (8 at a time) and walk the rows in order, so
//! every column is computed with exactly the operations, in exactly the order, of the scalar
//! twin: results are bit-identical.

use wide::f32x8;

use crate::error::{Error, Result};

/// Rows of a `[rows, cols]` matrix stored in `len` elements; an error if `len` is not a
/// positive multiple of `cols`.
fn rows_of(what: &'static str, len: usize, cols: usize) -> Result<usize> {
    if cols == 0 || len == 0 || !len.is_multiple_of(cols) {
        let expected = (len / cols.max(1)).max(1) * cols.max(1);
        return Err(Error::length(what, expected, len));
    }
    Ok(len / cols)
}

fn same(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::length(what, expected, got))
    }
}

fn load(s: &[f32]) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(s).unwrap_or_default())
}

fn store(d: &mut [f32], v: f32x8) {
    d.copy_from_slice(&v.to_array());
}

/// Scalar twin of [`column_mean_var`].
pub fn column_mean_var_reference(x: &[f32], mean: &mut [f32], var: &mut [f32]) -> Result<()> {
    let rows = rows_of("normalised matrix", x.len(), mean.len())?;
    same("variance", mean.len(), var.len())?;
    let inv = 1.0 / rows as f32;
    mean.fill(0.0);
    var.fill(0.0);
    for row in x.chunks_exact(mean.len()) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m *= inv);
    for row in x.chunks_exact(mean.len()) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(mean.iter()) {
            let d = v - m;
            *s += d * d;
        }
    }
    var.iter_mut().for_each(|s| *s *= inv);
    Ok(())
}

/// Mean and *biased* variance (divided by `rows`, as NumPy's `np.var` and tinynn) of every
/// column of the row-major matrix `x` (`x.len()` a positive multiple of `mean.len()`).
///
/// Two passes (mean, then squared deviations from it), which avoids the catastrophic
/// cancellation of `E[x²] − E[x]²` when the mean is large against the spread.
pub fn column_mean_var(x: &[f32], mean: &mut [f32], var: &mut [f32]) -> Result<()> {
    let cols = mean.len();
    let rows = rows_of("normalised matrix", x.len(), cols)?;
    same("variance", cols, var.len())?;
    let inv = 1.0 / rows as f32;
    let c8 = cols / 8 * 8;
    mean.fill(0.0);
    var.fill(0.0);
    for row in x.chunks_exact(cols) {
        for (m, r) in mean[..c8].chunks_exact_mut(8).zip(row.chunks_exact(8)) {
            store(m, load(m) + load(r));
        }
        for (m, v) in mean[c8..].iter_mut().zip(&row[c8..]) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m *= inv);
    for row in x.chunks_exact(cols) {
        let chunks = var[..c8].chunks_exact_mut(8).zip(row.chunks_exact(8));
        for ((s, r), m) in chunks.zip(mean.chunks_exact(8)) {
            let d = load(r) - load(m);
            store(s, load(s) + d * d);
        }
        for ((s, v), m) in var[c8..].iter_mut().zip(&row[c8..]).zip(&mean[c8..]) {
            let d = v - m;
            *s += d * d;
        }
    }
    var.iter_mut().for_each(|s| *s *= inv);
    Ok(())
}

/// Scalar twin of [`scale_shift_columns`].
pub fn scale_shift_columns_reference(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    y: &mut [f32],
) -> Result<()> {
    rows_of("scaled matrix", x.len(), scale.len())?;
    same("shift", scale.len(), shift.len())?;
    same("scaled output", x.len(), y.len())?;
    let cols = scale.len();
    for (yr, xr) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        for (((o, v), a), b) in yr.iter_mut().zip(xr).zip(scale).zip(shift) {
            *o = v * a + b;
        }
    }
    Ok(())
}

/// `y[r][c] = x[r][c] · scale[c] + shift[c]`: batch-norm's forward pass once the statistics
/// are folded into one multiply-add per element (`scale = γ/σ`, `shift = β − μ·γ/σ`).
///
/// A separate multiply and add (not a fused multiply-add), so the result is the same on
/// every platform and equal to the scalar twin.
pub fn scale_shift_columns(x: &[f32], scale: &[f32], shift: &[f32], y: &mut [f32]) -> Result<()> {
    let cols = scale.len();
    rows_of("scaled matrix", x.len(), cols)?;
    same("shift", cols, shift.len())?;
    same("scaled output", x.len(), y.len())?;
    let c8 = cols / 8 * 8;
    for (yr, xr) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
        let chunks = yr[..c8].chunks_exact_mut(8).zip(xr.chunks_exact(8));
        for (((o, v), a), b) in chunks.zip(scale.chunks_exact(8)).zip(shift.chunks_exact(8)) {
            store(o, load(v) * load(a) + load(b));
        }
        for (((o, v), a), b) in yr[c8..]
            .iter_mut()
            .zip(&xr[c8..])
            .zip(&scale[c8..])
            .zip(&shift[c8..])
        {
            *o = v * a + b;
        }
    }
    Ok(())
}

/// Checks the operands of the backward kernels and returns the number of rows.
fn check_backward(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    dgamma: &[f32],
    dbeta: &[f32],
) -> Result<usize> {
    let rows = rows_of("normalised matrix", x.len(), mean.len())?;
    same("output gradient", x.len(), dy.len())?;
    same("inverse standard deviation", mean.len(), inv_std.len())?;
    same("gamma gradient", mean.len(), dgamma.len())?;
    same("beta gradient", mean.len(), dbeta.len())?;
    Ok(rows)
}

/// Scalar twin of [`batch_norm_param_grads`].
pub fn batch_norm_param_grads_reference(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<()> {
    check_backward(x, dy, mean, inv_std, dgamma, dbeta)?;
    let cols = mean.len();
    dgamma.fill(0.0);
    dbeta.fill(0.0);
    for (xr, dr) in x.chunks_exact(cols).zip(dy.chunks_exact(cols)) {
        for c in 0..cols {
            let xhat = (xr[c] - mean[c]) * inv_std[c];
            dgamma[c] += dr[c] * xhat;
            dbeta[c] += dr[c];
        }
    }
    Ok(())
}

/// The parameter gradients of `y = γ·x̂ + β`, `x̂ = (x − μ)·inv_std`:
/// `∂γ[c] = Σ_r ∂y[r][c]·x̂[r][c]` and `∂β[c] = Σ_r ∂y[r][c]`.
///
/// `x̂` is recomputed from `x` rather than read from a cache: the network hands `x` to
/// `backward` anyway, and recomputing costs one multiply-add per element where caching would
/// cost a whole activation's worth of memory.
pub fn batch_norm_param_grads(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<()> {
    check_backward(x, dy, mean, inv_std, dgamma, dbeta)?;
    let cols = mean.len();
    let c8 = cols / 8 * 8;
    dgamma.fill(0.0);
    dbeta.fill(0.0);
    for (xr, dr) in x.chunks_exact(cols).zip(dy.chunks_exact(cols)) {
        for c in (0..c8).step_by(8) {
            let s = c..c + 8;
            let xhat = (load(&xr[s.clone()]) - load(&mean[s.clone()])) * load(&inv_std[s.clone()]);
            let d = load(&dr[s.clone()]);
            let g = load(&dgamma[s.clone()]) + d * xhat;
            store(&mut dgamma[s.clone()], g);
            let b = load(&dbeta[s.clone()]) + d;
            store(&mut dbeta[s], b);
        }
        for c in c8..cols {
            let xhat = (xr[c] - mean[c]) * inv_std[c];
            dgamma[c] += dr[c] * xhat;
            dbeta[c] += dr[c];
        }
    }
    Ok(())
}

/// Scalar twin of [`batch_norm_input_grad`].
#[allow(clippy::too_many_arguments)] // the batch-norm backward formula's operands
pub fn batch_norm_input_grad_reference(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &[f32],
    dbeta: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    let rows = check_backward(x, dy, mean, inv_std, dgamma, dbeta)?;
    same("gamma", mean.len(), gamma.len())?;
    same("input gradient", x.len(), dx.len())?;
    let cols = mean.len();
    let inv_m = 1.0 / rows as f32;
    for ((xr, dr), or) in x
        .chunks_exact(cols)
        .zip(dy.chunks_exact(cols))
        .zip(dx.chunks_exact_mut(cols))
    {
        for c in 0..cols {
            let xhat = (xr[c] - mean[c]) * inv_std[c];
            let k = gamma[c] * inv_std[c];
            or[c] = k * (dr[c] - (dbeta[c] + xhat * dgamma[c]) * inv_m);
        }
    }
    Ok(())
}

/// The input gradient of training-mode batch-norm, where `μ` and `σ` are this batch's
/// statistics (and so depend on every input):
///
/// `∂x = γ·inv_std · (∂y − (∂β + x̂·∂γ) / M)`, `M` = rows, with `∂γ`, `∂β` from
/// [`batch_norm_param_grads`].
#[allow(clippy::too_many_arguments)] // the batch-norm backward formula's operands
pub fn batch_norm_input_grad(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &[f32],
    dbeta: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    let rows = check_backward(x, dy, mean, inv_std, dgamma, dbeta)?;
    same("gamma", mean.len(), gamma.len())?;
    same("input gradient", x.len(), dx.len())?;
    let cols = mean.len();
    let c8 = cols / 8 * 8;
    let inv_m = 1.0 / rows as f32;
    let im = f32x8::splat(inv_m);
    for ((xr, dr), or) in x
        .chunks_exact(cols)
        .zip(dy.chunks_exact(cols))
        .zip(dx.chunks_exact_mut(cols))
    {
        for c in (0..c8).step_by(8) {
            let s = c..c + 8;
            let inv = load(&inv_std[s.clone()]);
            let xhat = (load(&xr[s.clone()]) - load(&mean[s.clone()])) * inv;
            let k = load(&gamma[s.clone()]) * inv;
            let corr = (load(&dbeta[s.clone()]) + xhat * load(&dgamma[s.clone()])) * im;
            store(&mut or[s.clone()], k * (load(&dr[s]) - corr));
        }
        for c in c8..cols {
            let xhat = (xr[c] - mean[c]) * inv_std[c];
            let k = gamma[c] * inv_std[c];
            or[c] = k * (dr[c] - (dbeta[c] + xhat * dgamma[c]) * inv_m);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn data(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| 3.0 + 2.0 * rng.normal()).collect()
    }

    #[test]
    fn simd_matches_scalar_bitwise() {
        let mut rng = Rng::new(8);
        for rows in [1, 2, 5, 16] {
            for cols in [1, 3, 7, 8, 9, 17, 33] {
                let x = data(&mut rng, rows * cols);
                let dy = data(&mut rng, rows * cols);
                let gamma = data(&mut rng, cols);
                let (mut m1, mut v1, mut m2, mut v2) = (
                    vec![9.0; cols],
                    vec![9.0; cols],
                    vec![8.0; cols],
                    vec![8.0; cols],
                );
                column_mean_var(&x, &mut m1, &mut v1).unwrap();
                column_mean_var_reference(&x, &mut m2, &mut v2).unwrap();
                assert_eq!((&m1, &v1), (&m2, &v2));
                let inv: Vec<f32> = v1.iter().map(|v| 1.0 / libm::sqrtf(v + 1e-5)).collect();
                let (mut y1, mut y2) = (vec![0.0; x.len()], vec![1.0; x.len()]);
                scale_shift_columns(&x, &inv, &m1, &mut y1).unwrap();
                scale_shift_columns_reference(&x, &inv, &m1, &mut y2).unwrap();
                assert_eq!(y1, y2);
                let (mut g1, mut b1, mut g2, mut b2) = (
                    vec![7.0; cols],
                    vec![7.0; cols],
                    vec![6.0; cols],
                    vec![6.0; cols],
                );
                batch_norm_param_grads(&x, &dy, &m1, &inv, &mut g1, &mut b1).unwrap();
                batch_norm_param_grads_reference(&x, &dy, &m1, &inv, &mut g2, &mut b2).unwrap();
                assert_eq!((&g1, &b1), (&g2, &b2));
                let (mut d1, mut d2) = (vec![0.0; x.len()], vec![1.0; x.len()]);
                batch_norm_input_grad(&x, &dy, &m1, &inv, &gamma, &g1, &b1, &mut d1).unwrap();
                batch_norm_input_grad_reference(&x, &dy, &m1, &inv, &gamma, &g1, &b1, &mut d2)
                    .unwrap();
                assert_eq!(d1, d2);
            }
        }
    }

    #[test]
    fn hand_values() {
        // Columns [1, 3, 5] and [2, 2, 8]: means 3 and 4, biased variances 8/3 and 8.
        let x = [1.0, 2.0, 3.0, 2.0, 5.0, 8.0];
        let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
        column_mean_var(&x, &mut m, &mut v).unwrap();
        assert_eq!(m, [3.0, 4.0]);
        assert!(
            (v[0] - 8.0 / 3.0).abs() < 1e-6 && (v[1] - 8.0).abs() < 1e-6,
            "{v:?}"
        );
        let mut y = [0.0; 6];
        scale_shift_columns(&x, &[2.0, -1.0], &[1.0, 0.5], &mut y).unwrap();
        assert_eq!(y, [3.0, -1.5, 7.0, -1.5, 11.0, -7.5]);
        // One column [0, 2], mean 1, inv_std 1: x̂ = [-1, 1]; ∂y = [1, 3].
        let (mut dg, mut db) = ([0.0], [0.0]);
        batch_norm_param_grads(&[0.0, 2.0], &[1.0, 3.0], &[1.0], &[1.0], &mut dg, &mut db).unwrap();
        assert_eq!((dg, db), ([2.0], [4.0]));
        // Three rows [0, 2, 4], μ = 1, inv_std = 0.5: x̂ = [-0.5, 0.5, 1.5]; ∂y = [1, 0, 2]
        // gives ∂γ = 2.5, ∂β = 3; with γ = 2, ∂x = ∂y − (3 + 2.5·x̂)/3.
        let (x, dy) = ([0.0, 2.0, 4.0], [1.0, 0.0, 2.0]);
        batch_norm_param_grads(&x, &dy, &[1.0], &[0.5], &mut dg, &mut db).unwrap();
        assert_eq!((dg, db), ([2.5], [3.0]));
        let mut dx = [9.0; 3];
        batch_norm_input_grad(&x, &dy, &[1.0], &[0.5], &[2.0], &dg, &db, &mut dx).unwrap();
        let expected = [1.0 - 1.75 / 3.0, -4.25 / 3.0, -0.25];
        for (a, e) in dx.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{dx:?}");
        }
    }

    #[test]
    fn ragged_or_empty_input_is_an_error() {
        let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
        assert!(column_mean_var(&[0.0; 5], &mut m, &mut v).is_err());
        assert!(column_mean_var(&[], &mut m, &mut v).is_err());
        assert!(column_mean_var(&[0.0; 4], &mut m, &mut [0.0; 3]).is_err());
        assert!(column_mean_var(&[0.0; 4], &mut [], &mut []).is_err());
        let mut y = [0.0; 4];
        assert!(scale_shift_columns(&[0.0; 4], &[1.0; 2], &[1.0; 3], &mut y).is_err());
        assert!(scale_shift_columns(&[0.0; 4], &[1.0; 2], &[1.0; 2], &mut y[..3]).is_err());
        let (mut g, mut b) = ([0.0; 2], [0.0; 2]);
        assert!(batch_norm_param_grads(&[0.0; 4], &[0.0; 2], &m, &v, &mut g, &mut b).is_err());
        let mut dx = [0.0; 3];
        assert!(batch_norm_input_grad(&[0.0; 4], &[0.0; 4], &m, &v, &m, &g, &b, &mut dx).is_err());
    }
}
