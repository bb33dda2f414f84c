//! Matrix products whose left operand has all-zero columns: `C = op(A)·B` without the
//! multiply-adds those columns would contribute.
//!
//! Why: the MNIST MLP's first layer does two of its three products with the input `x` as
//! the left operand (`x·W` forward, `xᵀ·∂y` for `∂W`), and they are ~85 % of the network's
//! arithmetic. About a third of MNIST's pixels are black in every image of a batch of 128
//! (the border), so a third of those multiply-adds are by zero. [`gemm_skip_zeros`] lists
//! the batch's nonzero columns of `x` and runs the dense kernels on them only: the packing
//! picks those columns (and, for `x·W`, the rows of `W` they meet), so nothing is copied
//! twice and the microkernels are the dense ones, at their dense speed.
//!
//! - `x·W` (`!trans_a`): the product's depth shrinks to the nonzero columns
//!   (`gemm::gemm_depths`).
//! - `xᵀ·∂y` (`trans_a`): the rows of `∂W` for all-zero columns are zero; the others are
//!   computed block by block and copied to their places by the thread that computed them,
//!   which zero-fills the rows between (`gemm::gemm_rows`).
//!
//! On the AVX-512 kernel the product goes one step further: each 12-row micro-panel of `x`
//! (or 8-row one of `xᵀ`) also leaves out the kept depth steps where its own rows are all
//! zero (`gemm::panels`), about half of MNIST's steps per panel against a third batch-wide,
//! and `x·W` reads the rows of `W` where they are stored instead of packing them
//! (`gemm::in_place`).
//!
//! A layer that multiplies by the same `x` twice (forward and `∂W`) can list its nonzero
//! columns once ([`column_list`]) and pass the list to both products ([`gemm_skip_listed`]).
//!
//! Used when at least one column in eight is all zero; the first four rows already tell when
//! that cannot be (a ReLU layer's output), so a dense A costs a look at four rows.
//!
//! Skipping every single zero instead (compressed lists of nonzeros, ~19 % of MNIST's
//! pixels) was tried and measured slower inside a training step: each nonzero needs its own
//! row of the other operand, read at random, one load per multiply-add where the packed
//! kernel reuses each load a dozen times.
//!
//! Rounding: a left-out column contributes exact zeros, so the result is the dense product
//! summed in another order (the depth steps the kernel meets differ); it is independent of the
//! thread count. Leaving out a zero column of A also leaves out IEEE's `0 · ∞ = NaN`: an
//! infinite element of B that meets only zeros of A leaves `C` finite, where the dense
//! product would give NaN.

mod columns;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::kernels::gemm::{
    check_operands, gemm_depths, gemm_rows, gemm_with, one_thread_scratch_len, sparse_scratch_len,
};
use crate::kernels::{KernelPath, gemm_reference, gemm_scratch_len, selected};
use columns::nonzero_columns;

/// Floats of scratch [`gemm_skip_zeros`] needs, with or without `trans_a`: what the dense
/// [`gemm`](fn@crate::kernels::gemm) needs (a little more for the AVX-512 kernel's per-panel
/// step lists), plus the list of A's nonzero columns.
///
/// Products of at most three rows (one sample at inference) get only what the dense GEMM
/// needs, which is nothing: a network that infers sample by sample on a microcontroller
/// keeps its memory plan, and such a product runs dense.
pub fn gemm_skip_zeros_scratch_len(m: usize, n: usize, k: usize) -> usize {
    if m <= 3 {
        return gemm_scratch_len(m, n, k);
    }
    m.max(k) + sparse_scratch_len(m, n, k)
}

/// `C (m×n) = op(A)·B`, leaving out A's all-zero columns when at least one in eight is (see
/// the module documentation), else the dense [`gemm`](fn@crate::kernels::gemm). Same layout
/// as that with `trans_b = false` and `beta = 0` (`c` is overwritten, not read): `a` is
/// `m×k`, or `k×m` when `trans_a`; `b` is `k×n`; all row-major.
///
/// `scratch`: [`gemm_skip_zeros_scratch_len`]`(m, n, k)` floats. With `rayon`, large products
/// are split over the current pool as the dense GEMM's are, with the same result for every
/// thread count; a scratch planned in a smaller pool means fewer workers, the same result.
/// With less than a 1-thread pool's plan, the product is the dense one (which needs what
/// [`gemm_scratch_len`] says, and sums in another order).
///
/// # Errors
/// `a`, `b`, `c` not `m·k`, `k·n`, `m·n` long, or `scratch` too short for the dense path
/// when that one runs.
#[allow(clippy::too_many_arguments)] // the BLAS signature: every argument is a dimension or operand
pub fn gemm_skip_zeros(
    trans_a: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    gemm_skip_zeros_with(selected(), trans_a, m, n, k, a, b, c, scratch)
}

/// [`gemm_skip_zeros`] on a given kernel path (the tests run every path the host supports).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_skip_zeros_with(
    path: KernelPath,
    trans_a: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    check_operands(m, n, k, a.len(), b.len(), c.len())?;
    if path == KernelPath::Scalar {
        return gemm_reference(trans_a, false, m, n, k, a, b, 0.0, c);
    }
    // The columns of the stored `a`: the depth steps of `x·W`, the rows of `C` for `xᵀ·∂y`.
    let (rows, cols) = if trans_a { (k, m) } else { (m, k) };
    let skipped = m > 3
        && n > 0
        && k > 0
        && match nonzero_columns(a, rows, cols, one_thread_scratch_len(m, n, k), scratch) {
            Some((columns, rest)) => skip(path, trans_a, (m, n, k), a, b, c, columns, rest),
            None => false,
        };
    if skipped {
        Ok(())
    } else {
        gemm_with(path, trans_a, false, m, n, k, a, b, 0.0, c, scratch)
    }
}

/// Floats of the list [`column_list`] writes for an `a` with `cols` stored columns.
pub fn column_list_len(cols: usize) -> usize {
    cols + 1
}

/// Finds the nonzero columns of the row-major `rows × cols` matrix `a` once, for several
/// products by it ([`gemm_skip_listed`]): a `Dense` layer multiplies its input `x` forward
/// (`x·W`) and backward (`xᵀ·∂y`), and scanning `x` twice cost ~15 µs of a ~1.2 ms MNIST
/// step. `list` (at least [`column_list_len`]`(cols)` floats) gets the number of columns
/// kept in `list[0]` and those columns after it (`u32`s in `f32` bits); `list[0] = 0`
/// means that too few columns are zero for leaving them out to pay, as in
/// [`gemm_skip_zeros`].
///
/// # Errors
/// `a` not `rows·cols` long, `list` too short.
pub fn column_list(a: &[f32], rows: usize, cols: usize, list: &mut [f32]) -> Result<()> {
    let size = rows.saturating_mul(cols);
    if a.len() != size {
        return Err(Error::length("column_list a (rows·cols)", size, a.len()));
    }
    let need = column_list_len(cols);
    let Some(list) = list.get_mut(..need) else {
        return Err(Error::length("nonzero-column list", need, list.len()));
    };
    let (count, columns) = list.split_at_mut(1);
    let kept = match nonzero_columns(a, rows, cols, 0, columns) {
        Some((kept, _)) => kept.len(),
        None => 0,
    };
    count[0] = f32::from_bits(kept as u32);
    Ok(())
}

/// [`gemm_skip_zeros`] with the nonzero columns of `a` given, as [`column_list`] wrote them
/// for this `a`: the same result, without scanning `a` again.
///
/// # Errors
/// As [`gemm_skip_zeros`]; also when `list` is not a list of `a`'s columns (more entries
/// than columns, or entries not ascending and below the column count).
#[allow(clippy::too_many_arguments)] // the BLAS signature plus the list
pub fn gemm_skip_listed(
    trans_a: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    list: &[f32],
    scratch: &mut [f32],
) -> Result<()> {
    check_operands(m, n, k, a.len(), b.len(), c.len())?;
    let cols = if trans_a { m } else { k };
    let columns = checked_list(list, cols)?;
    let path = selected();
    if path == KernelPath::Scalar {
        return gemm_reference(trans_a, false, m, n, k, a, b, 0.0, c);
    }
    let skipped = m > 3
        && n > 0
        && !columns.is_empty()
        && skip(path, trans_a, (m, n, k), a, b, c, columns, scratch);
    if skipped {
        Ok(())
    } else {
        gemm_with(path, trans_a, false, m, n, k, a, b, 0.0, c, scratch)
    }
}

/// The columns of a [`column_list`] list for a matrix with `cols` columns, checked.
fn checked_list(list: &[f32], cols: usize) -> Result<&[f32]> {
    let bad = || Error::config("nonzero-column list does not describe this matrix");
    let (count, columns) = list.split_first().ok_or_else(bad)?;
    let columns = columns.get(..count.to_bits() as usize).ok_or_else(bad)?;
    let mut next = 0; // the smallest column the next entry may be
    for column in columns {
        let column = column.to_bits() as usize;
        if column < next || column >= cols {
            return Err(bad());
        }
        next = column + 1;
    }
    Ok(columns)
}

/// The product with `a`'s listed nonzero `columns` (not empty): `false`, with nothing done,
/// when the scratch is short for the kernels or, for `xᵀ·∂y`, at most three rows remain.
#[allow(clippy::too_many_arguments)]
fn skip(
    path: KernelPath,
    trans_a: bool,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    columns: &[f32],
    scratch: &mut [f32],
) -> bool {
    // The one-thread need, not the current pool's: with a plan made in a smaller pool the
    // product runs on fewer workers rather than dense, which would sum in another order.
    if scratch.len() < one_thread_scratch_len(m, n, k) {
        return false;
    }
    if trans_a {
        // `xᵀ·∂y` (`a` is k × m): the listed columns are the rows of `C` computed; the
        // others are zero.
        if columns.len() <= 3 {
            return false;
        }
        gemm_rows(path, (n, k, m), a, columns, b, c, scratch);
    } else {
        // `x·W` (`a` is m × k): the listed columns are the depth steps kept.
        gemm_depths(path, (m, n, k), a, b, columns, c, scratch);
    }
    true
}
