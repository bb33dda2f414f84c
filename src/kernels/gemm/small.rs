//! Products with very few rows (`m <= MAX_M`, e.g. one sample at inference), computed straight
//! from the operands without packing.
//!
//! Why a second path: packing copies B so that each copied value is reused by every row of
//! A. With one to three rows there is almost nothing to reuse, the copy costs about as much
//! as the product, and a 4-row microkernel tile would be mostly padding. Reading B in place
//! also needs no scratch, so batch-1 inference through a dense layer needs no packing memory
//! at all (see [`super::gemm_scratch_len`]).
//!
//! Two ways, depending on how `B` is stored:
//! - `k×n` (`!trans_b`): `C[i, :] = Σ_p op(A)[i][p] · B[p, :]`, reading `B` once, sequentially,
//!   and adding each scaled row of `B` to the (at most 3) rows of `C`, which stay in L1;
//! - `B` stored `n×k` (`trans_b`): `C[i, j]` is the dot product of row `i` of `op(A)` and row `j`
//!   of `B`, vectorised along `k` when that row of `op(A)` is contiguous (`!trans_a`).

use wide::f32x8;

use super::portable::{load8, store8};

/// Largest `m` computed here instead of through the packed loop nest: below the portable
/// kernel's 4-row tile. Measured on the 784-400 layer at batch 1–3, this path ran at
/// 2–8× the speed of the packed one (no copy of B, no padded rows).
pub(super) const MAX_M: usize = 3;

/// Columns of `C` updated per pass over `B` when `B` is stored `k×n`: the `m` row pieces
/// (at most 3 × 2 KiB) stay in L1 while `B` streams past them.
const COLUMN_BLOCK: usize = 512;

/// `C = op(A)·op(B) + beta·C` for `1 <= m <= MAX_M`, `n, k >= 1`, lengths already checked.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_unpacked(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    // op(A)[i][p] = a[i * row_step + p * acs].
    let (row_step, acs) = if trans_a { (1, m) } else { (k, 1) };
    if trans_b {
        for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
            dots(&a[i * row_step..], acs, k, b, beta, c_row);
        }
        return;
    }
    // C[i, :] = Σ_p op(A)[i][p] · B[p, :]: B is read once, row by row (sequentially), and
    // each row of B is added, scaled, to the m rows of C.
    for j0 in (0..n).step_by(COLUMN_BLOCK) {
        let cols = COLUMN_BLOCK.min(n - j0);
        for (p, b_row) in b.chunks_exact(n).enumerate() {
            let b_part = &b_row[j0..j0 + cols];
            for (i, c_row) in c.chunks_exact_mut(n).enumerate() {
                let x = a[i * row_step + p * acs];
                let c_part = &mut c_row[j0..j0 + cols];
                if p == 0 {
                    axpy_first(x, b_part, beta, c_part);
                } else {
                    axpy(x, b_part, c_part);
                }
            }
        }
    }
}

/// `c = x·y + beta·c` (`beta == 0` does not read `c`), 8 lanes at a time: the first step.
fn axpy_first(x: f32, y: &[f32], beta: f32, c: &mut [f32]) {
    let xv = f32x8::splat(x);
    let (mut y8, mut c8) = (y.chunks_exact(8), c.chunks_exact_mut(8));
    for (ys, cs) in (&mut y8).zip(&mut c8) {
        store8(cs, xv * load8(ys), beta);
    }
    for (cv, &yv) in c8.into_remainder().iter_mut().zip(y8.remainder()) {
        *cv = if beta == 0.0 {
            x * yv
        } else {
            x * yv + beta * *cv
        };
    }
}

/// `c += x·y`, 8 lanes at a time: every later step.
#[inline(always)]
fn axpy(x: f32, y: &[f32], c: &mut [f32]) {
    let xv = f32x8::splat(x);
    let (mut y8, mut c8) = (y.chunks_exact(8), c.chunks_exact_mut(8));
    for (ys, cs) in (&mut y8).zip(&mut c8) {
        let r = xv.mul_add(load8(ys), load8(cs));
        cs.copy_from_slice(&r.to_array());
    }
    for (cv, &yv) in c8.into_remainder().iter_mut().zip(y8.remainder()) {
        *cv += x * yv;
    }
}

/// `c_row[j] = Σ_p a_row[p·acs] · B[j, p] + beta·c_row[j]` with `B` stored `n×k` row-major.
fn dots(a_row: &[f32], acs: usize, k: usize, b: &[f32], beta: f32, c_row: &mut [f32]) {
    for (cv, b_row) in c_row.iter_mut().zip(b.chunks_exact(k)) {
        let s = if acs == 1 {
            dot(&a_row[..k], b_row)
        } else {
            a_row
                .iter()
                .step_by(acs)
                .zip(b_row)
                .fold(0.0, |s, (x, y)| s + x * y)
        };
        *cv = if beta == 0.0 { s } else { s + beta * *cv };
    }
}

/// Dot product of two equally long slices: four independent vector accumulators (so the
/// additions overlap), then 8 lanes at a time, then the last `len % 8` scalars.
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [f32x8::ZERO; 4];
    let (mut x32, mut y32) = (x.chunks_exact(32), y.chunks_exact(32));
    for (xs, ys) in (&mut x32).zip(&mut y32) {
        for (v, acc) in acc.iter_mut().enumerate() {
            *acc = load8(&xs[8 * v..]).mul_add(load8(&ys[8 * v..]), *acc);
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    let (mut x8, mut y8) = (
        x32.remainder().chunks_exact(8),
        y32.remainder().chunks_exact(8),
    );
    for (xs, ys) in (&mut x8).zip(&mut y8) {
        sum = load8(xs).mul_add(load8(ys), sum);
    }
    let tail = x8.remainder().iter().zip(y8.remainder());
    tail.fold(sum.reduce_add(), |s, (x, y)| s + x * y)
}
