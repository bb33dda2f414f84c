//! Matrix products whose left operand has many zeros (MNIST pixels are ~81 % black; ReLU
//! outputs are often half zero): `C = op(A)·B` without the multiply-adds by zero.
//!
//! Why: the MNIST MLP's first layer does two of its three products with the input `x` as
//! the left operand (`x·W` forward, `xᵀ·∂y` for `∂W`), and they are ~85 % of the network's
//! arithmetic. A packed dense GEMM cannot skip anything; [`gemm_skip_zeros`] does, in the
//! way that pays for each product (measured on a Cascade Lake Xeon, `cargo bench --bench
//! sparse`, a real MNIST batch):
//!
//! - `x·W` (`!trans_a`): the batch's all-zero columns of `x` (pixels black in every image of
//!   the batch: ~1/3 of them for MNIST at batch 128) are left out, and the dense kernels run
//!   on what remains: packing picks `x`'s other columns and the rows of `W` they meet
//!   ([`gemm_depths`]), so nothing is copied twice. Skipping single zeros
//!   instead ran slower than the dense GEMM: every nonzero needs its own row of `W`, read at
//!   random from L2.
//! - `xᵀ·∂y` (`trans_a`): every zero is skipped ([`products`]): the nonzeros of each column of
//!   `x` are listed in scratch ([`compress`]), and each row of `∂W` sums the rows of `∂y`
//!   (one per sample, all in cache) its list names. Used when at most
//!   [`SKIP_ZEROS_MAX_DENSITY`] of `x` is nonzero; a look at the first rows, then the
//!   listing itself, stop as soon as there are more, and the dense GEMM runs instead.
//!
//! Rounding: the left-out columns change nothing but the order in which the dense kernel
//! meets the depth steps; the compressed product sums each element in a fixed order (see
//! [`products`]). Both are independent of the thread count. Skipping a zero of A also skips
//! IEEE's `0 · ∞ = NaN`: an infinite element of B that meets only zeros of A leaves `C`
//! finite, where the dense product would give NaN.

mod compress;
mod lanes;
mod products;
#[cfg(test)]
mod tests;

use core::ops::Range;

use crate::error::Result;
use crate::kernels::gemm::{check_operands, gemm_depths, gemm_with};
use crate::kernels::{KernelPath, gemm_reference, gemm_scratch_len, selected};
use compress::{Csr, cols_len, compress_cols, nonzero_columns};
use lanes::Portable;

/// Largest share of nonzeros in `x` for which [`gemm_skip_zeros`] computes `xᵀ·∂y`
/// (`trans_a`) from the nonzeros only; above it the dense GEMM is faster. As a fraction:
/// `.0 / .1`.
///
/// Measured on a Cascade Lake Xeon with AVX-512 at the MNIST MLP's first layer (784×128·
/// 128×400, 19 % nonzeros): the compressed product takes ~0.55 ms where the dense GEMM takes
/// ~0.74 ms, the listing being a quarter of it; it reads one element of `∂y` per
/// multiply-add where the packed kernel reuses each one a dozen times, so it stops paying
/// somewhere below half full.
pub const SKIP_ZEROS_MAX_DENSITY: (usize, usize) = (3, 8);

/// Most nonzeros of an `m × k` A the compressed product accepts.
fn max_nonzeros(m: usize, k: usize) -> usize {
    let (num, den) = SKIP_ZEROS_MAX_DENSITY;
    m.saturating_mul(k).saturating_mul(num) / den
}

/// Whether the first rows of the stored A already hold too many nonzeros for the budget:
/// a dense A (a ReLU layer's output, half nonzero) is then sent to the dense GEMM after a
/// look at a few rows, rather than after listing most of it.
fn clearly_dense(a: &[f32], row_len: usize, budget: usize, total: usize) -> bool {
    let sample = &a[..a.len().min(4 * row_len)];
    let nonzeros = sample.iter().filter(|v| **v != 0.0).count();
    // nonzeros / sample > 1.25 · budget / total, without division.
    4 * nonzeros * total > 5 * budget * sample.len()
}

/// Floats of scratch [`gemm_skip_zeros`] needs, with or without `trans_a`: enough for the
/// dense [`gemm`](fn@crate::kernels::gemm) plus the list of A's nonzero columns (`x·W`), or
/// for the nonzero lists of A (`xᵀ·∂y`).
///
/// Products of at most three rows (one sample at inference) get only what the dense GEMM
/// needs, which is nothing: a network that infers sample by sample on a microcontroller
/// keeps its memory plan, and such a product runs dense.
pub fn gemm_skip_zeros_scratch_len(m: usize, n: usize, k: usize) -> usize {
    let dense = gemm_scratch_len(m, n, k);
    if m <= 3 {
        return dense;
    }
    let compacted = dense.saturating_add(k).saturating_add(m.saturating_mul(k));
    compacted.max(cols_len(m, k, max_nonzeros(m, k)))
}

/// `C (m×n) = op(A)·B` without multiplying by A's zeros where that pays (see the module
/// documentation), else the dense [`gemm`](fn@crate::kernels::gemm). Same layout as that
/// with `trans_b = false` and `beta = 0` (`c` is overwritten, not read): `a` is `m×k`, or
/// `k×m` when `trans_a`; `b` is `k×n`; all row-major.
///
/// `scratch`: [`gemm_skip_zeros_scratch_len`]`(m, n, k)` floats. With less, zeros are
/// skipped only as far as it allows, and the dense path needs what the dense GEMM needs.
///
/// With `rayon`, on a pool's thread, large products are split over the pool; every element
/// is computed the same way whatever the split.
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
    if m <= 3 || n == 0 || k == 0 {
        return gemm_with(path, trans_a, false, m, n, k, a, b, 0.0, c, scratch);
    }
    if !trans_a {
        return match nonzero_columns(a, m, k, gemm_scratch_len(m, n, k), scratch) {
            Some((depths, rest)) => {
                gemm_depths(path, (m, n, k), a, b, depths, c, rest);
                Ok(())
            }
            None => gemm_with(path, trans_a, false, m, n, k, a, b, 0.0, c, scratch),
        };
    }
    // `xᵀ·∂y`: the nonzeros of each stored column of `x` (each row of `C`).
    let budget = max_nonzeros(m, k);
    if clearly_dense(a, m, budget, m * k) {
        return gemm_with(path, trans_a, false, m, n, k, a, b, 0.0, c, scratch);
    }
    match compress_cols(a, k, m, budget, scratch) {
        Some(csr) => {
            let product = Product { path, a: csr, b, n };
            product.split(0..m, c, ways(csr, m, n));
            Ok(())
        }
        None => gemm_with(path, trans_a, false, m, n, k, a, b, 0.0, c, scratch),
    }
}

/// Multiply-adds below which a product is not worth splitting over threads (~100 µs).
#[cfg(feature = "rayon")]
const SPLIT_MIN_MULTIPLY_ADDS: usize = 1 << 22;

/// Threads to split over: with `rayon`, on a pool's thread and for enough work, the pool's
/// size. (Off a pool's thread rayon would queue the job through its injector, which
/// allocates; a small product is not worth a fork.)
fn ways(csr: Csr<'_>, m: usize, n: usize) -> usize {
    #[cfg(feature = "rayon")]
    if csr.nonzeros().saturating_mul(n) >= SPLIT_MIN_MULTIPLY_ADDS
        && rayon::current_thread_index().is_some()
    {
        return rayon::current_num_threads().min(m).max(1);
    }
    let _ = (csr, m, n);
    1
}

/// One compressed product `C = A·B` (`B` has `n` columns) on kernel path `path`.
#[derive(Clone, Copy)]
struct Product<'a> {
    path: KernelPath,
    a: Csr<'a>,
    b: &'a [f32],
    n: usize,
}

impl Product<'_> {
    /// Rows `rows` of `C` (`c` holds exactly those rows) over `ways` threads, by halves with
    /// equal numbers of nonzeros. Where a cut falls changes only which thread computes a
    /// row, never how.
    fn split(self, rows: Range<usize>, c: &mut [f32], ways: usize) {
        if ways > 1 && rows.len() > 1 {
            let mid = self.a.balanced_cut(rows.clone(), ways / 2, ways);
            let (c_top, c_bottom) = c.split_at_mut((mid - rows.start) * self.n);
            let (w0, w1) = (ways / 2, ways - ways / 2);
            let (top, bottom) = (rows.start..mid, mid..rows.end);
            join(
                || self.split(top, c_top, w0),
                || self.split(bottom, c_bottom, w1),
            );
            return;
        }
        self.run(rows, c);
    }

    /// The kernel of `path` (the portable one when the CPU lacks it) on rows `rows`.
    fn run(self, rows: Range<usize>, c: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        match self.path {
            KernelPath::Avx512 => {
                if let Some(l) = lanes::Avx512::new() {
                    // SAFETY: `l` exists only where AVX-512F is available.
                    unsafe { run_avx512(l, self, rows, c) };
                    return;
                }
            }
            KernelPath::Avx2 => {
                if let Some(l) = lanes::Avx2::new() {
                    // SAFETY: `l` exists only where AVX2 and FMA are available.
                    unsafe { run_avx2(l, self, rows, c) };
                    return;
                }
            }
            _ => {}
        }
        self.kernel(Portable, rows, c);
    }

    /// The kernel on vector unit `l` (inlined into the `run_*` functions).
    #[inline(always)]
    fn kernel<L: lanes::Lanes>(self, l: L, rows: Range<usize>, c: &mut [f32]) {
        products::gather(l, self.a, self.b, self.n, rows, 0..self.n, c);
    }
}

/// Both halves, in parallel with `rayon` (only called with `ways > 1`).
fn join(top: impl FnOnce() + Send, bottom: impl FnOnce() + Send) {
    #[cfg(feature = "rayon")]
    rayon::join(top, bottom);
    #[cfg(not(feature = "rayon"))]
    {
        top();
        bottom();
    }
}

/// The kernel compiled with AVX-512F (everything inlines into this function).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512(l: lanes::Avx512, p: Product<'_>, rows: Range<usize>, c: &mut [f32]) {
    p.kernel(l, rows, c);
}

/// The kernel compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2(l: lanes::Avx2, p: Product<'_>, rows: Range<usize>, c: &mut [f32]) {
    p.kernel(l, rows, c);
}
