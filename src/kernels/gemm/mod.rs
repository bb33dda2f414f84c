//! Matrix multiply: `C = op(A)·op(B) + beta·C`, the kernel under every dense layer.
//!
//! The design follows BLIS and bluss's `matrixmultiply`: five loops around a small
//! register-blocked *microkernel*, with the operands copied ("packed") into caller-provided
//! scratch so that the microkernel reads memory strictly sequentially.
//!
//! ```text
//! LOOP 5: split n into NC-wide column blocks           (B, C)
//!  LOOP 4: split k into KC-deep slices; pack B -> B~   (A, B)   B~ (KC×NC) stays in L2/L3
//!   LOOP 3: split m into MC-tall row blocks; pack A -> A~ (A, C) A~ (MC×KC) stays in L2
//!    LOOP 2: step NR columns: one B~ micro-panel (KC×NR)  stays in L1
//!     LOOP 1: step MR rows:   one A~ micro-panel (MR×KC), microkernel -> MR×NR tile of C
//! ```
//!
//! Packing ([`pack`]) turns the four transpose cases into one layout and pads the last panel
//! with zeros, so the microkernel only ever sees full packed panels and knows nothing about
//! transposes or strides. Edge tiles (`m`, `n` not multiples of `MR`, `NR`) are computed in
//! full and only their valid part is written to `C`.
//!
//! Products with at most three rows (`small`, e.g. batch-1 inference) skip packing: there
//! is nothing to reuse, and they then need no scratch at all. Small products with a narrow
//! `C` (e.g. `128 × 10`) are computed as `Cᵀ = op(B)ᵀ·op(A)ᵀ`, which fills the tiles better
//! ([`nest::swap_pays`]).
//!
//! The microkernel sits behind the small `MicroKernel` trait ([`nest`]); the loop nest is
//! generic over it. There are three, chosen per call from [`crate::kernels::selected`]:
//!
//! | path       | kernel                              | tile    | where                      |
//! |------------|-------------------------------------|---------|----------------------------|
//! | `portable` | `wide::f32x8` ([`portable`])        | 4 × 8   | everywhere (SSE2, NEON, …) |
//! | `avx2`     | `core::arch` AVX2+FMA ([`avx2`])    | 6 × 16  | x86-64 with AVX2 and FMA   |
//! | `avx512`   | `core::arch` AVX-512F ([`avx512`])  | 12 × 32 | x86-64 with AVX-512F       |
//!
//! and the `scalar` path runs [`gemm_reference`]. Each kernel has its own cache blocks and
//! its own copy of the packing code (compiled with its instruction set).
//! [`gemm_scratch_len`] covers every kernel compiled into the crate, whichever the CPU picks,
//! so a memory plan made on one machine is large enough on any other.
//!
//! With the `rayon` feature, large products are split over the current rayon pool
//! ([`parallel`]), with results bit-identical for every thread count.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod in_place;
mod nest;
mod pack;
mod panels;
#[cfg(feature = "rayon")]
mod parallel;
mod portable;
mod reference;
mod scatter;
mod small;
#[cfg(test)]
mod tests;

pub use reference::gemm_reference;

use crate::error::{Error, Result};
use crate::kernels::{KernelPath, selected};
use nest::{MicroKernel, b_pack_len};
use pack::Src;
#[cfg(target_arch = "x86_64")]
use panels::Sparse;
use panels::{Dense, Panels};
use portable::Portable;

/// C (m×n) = op(A)·op(B) + beta·C, row-major and contiguous.
///
/// `op(A)` is `m×k`: `a` is stored `m×k` when `!trans_a`, `k×m` when `trans_a`. `op(B)` is
/// `k×n`: `b` is stored `k×n` when `!trans_b`, `n×k` when `trans_b`. Transposes are free:
/// they only change how the operands are packed, so a layer never materialises `Wᵀ`.
///
/// `beta == 0.0` means `c` is not read (it may hold NaN or garbage), as in BLAS; any other
/// `beta` scales the old `C`. Any of `m`, `n`, `k` may be 0 (`k == 0` gives `C = beta·C`).
///
/// `scratch` holds the packed panels; give it [`gemm_scratch_len`]`(m, n, k)` floats. Its
/// contents on entry do not matter, and nothing is allocated. (With `rayon`, less than
/// that, down to the one-thread part, only means fewer threads; below that it is an error.)
/// The kernel is [`crate::kernels::selected`]'s choice. With `rayon`, large products run on
/// the current rayon pool, with the same result for every thread count. Sums are
/// accumulated in `f32` in blocks of `k`, so results differ from [`gemm_reference`] by
/// rounding only (relative error of order `k · f32::EPSILON`).
///
/// # Errors
/// [`crate::ErrorKind::LengthMismatch`] when `a`, `b` or `c` does not have exactly
/// `m·k`, `k·n`, `m·n` elements, or when `scratch` is shorter than what one thread needs
/// (that is `gemm_scratch_len` without `rayon`).
#[allow(clippy::too_many_arguments)] // the BLAS signature: every argument is a dimension or operand
pub fn gemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    gemm_with(
        selected(),
        trans_a,
        trans_b,
        m,
        n,
        k,
        a,
        b,
        beta,
        c,
        scratch,
    )
}

/// [`gemm`] on a given kernel path (the tests run every path the host supports). A path
/// the CPU lacks falls back to the portable kernel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_with(
    path: KernelPath,
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    check_operands(m, n, k, a.len(), b.len(), c.len())?;
    let needed = scratch_len(m, n, k, false);
    if scratch.len() < needed {
        return Err(Error::length(
            "gemm scratch (minimum)",
            needed,
            scratch.len(),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // op(A)·op(B) is all zeros: only the beta part remains.
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            c.iter_mut().for_each(|v| *v *= beta);
        }
        return Ok(());
    }
    if path == KernelPath::Scalar {
        return gemm_reference(trans_a, trans_b, m, n, k, a, b, beta, c);
    }
    if m <= small::MAX_M {
        small::gemm_unpacked(trans_a, trans_b, m, n, k, a, b, beta, c);
        return Ok(());
    }
    let a = if trans_a {
        Src::RowsAdjacent { data: a, ld: m }
    } else {
        Src::DepthAdjacent { data: a, ld: k }
    };
    // B is packed as op(B)ᵀ (rows = columns of C, depth = k).
    let b = if trans_b {
        Src::DepthAdjacent { data: b, ld: k }
    } else {
        Src::RowsAdjacent { data: b, ld: n }
    };
    let dims = (m, n, k);
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            if let Some(kern) = avx512::Avx512::new() {
                run::<_, Dense>(&kern, dims, a, b, beta, c, scratch);
                return Ok(());
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            if let Some(kern) = avx2::Avx2::new() {
                run::<_, Dense>(&kern, dims, a, b, beta, c, scratch);
                return Ok(());
            }
        }
        _ => {}
    }
    run::<_, Dense>(&Portable, dims, a, b, beta, c, scratch);
    Ok(())
}

/// `C (m×n) = A[:, depths]·B[depths, :]`: `a` is row-major with `lda` columns, `b` row-major
/// with `n` columns, and depth step `d` of the product is column `depths[d]` of `a` and row
/// `depths[d]` of `b` (a `u32` in `f32` bits); `beta = 0`. The dense kernels on a product
/// whose A has all-zero columns ([`crate::kernels::gemm_skip_zeros`]): the packing picks the
/// other columns and the rows of `B` they meet, so the zero ones cost nothing.
///
/// Lengths are the caller's to get right (`m·lda`, `m·n`, the depths in range), with
/// `m > 3`, `n > 0` and `depths` not empty; `scratch` holds [`gemm_scratch_len`]`(m, n,
/// depths.len())`, and with [`sparse_scratch_len`] the AVX-512 kernel also leaves out the
/// depth steps where a whole micro-panel of `a` is zero ([`panels::Sparse`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_depths(
    path: KernelPath,
    (m, n, lda): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    depths: &[f32],
    c: &mut [f32],
    scratch: &mut [f32],
) {
    let k = depths.len();
    debug_assert!(m > small::MAX_M && n > 0 && k > 0);
    let a = Src::DepthAdjacentAt {
        data: a,
        ld: lda,
        depths,
    };
    #[cfg(target_arch = "x86_64")]
    if path == KernelPath::Avx512
        && let Some(kern) = avx512::Avx512::new()
        && in_place::run(&kern, (m, n, k), a, (b, depths), c, scratch)
    {
        return;
    }
    let b = Src::RowsAdjacentAt {
        data: b,
        ld: n,
        depths,
    };
    kernel_run(path, (m, n, k), a, b, c, scratch);
}

/// `C (lda × n) = A[:, rows]ᵀ·B`, knowing that the other columns of `a` are zero: `a` is
/// row-major `k × lda`, `b` row-major `k × n`; row `rows[i]` of `C` is computed from column
/// `rows[i]` of `a` (a `u32` in `f32` bits, ascending), every other row is set to zero, and
/// `beta = 0`. The dense kernels on the weight gradient `xᵀ·∂y` of an input with all-zero
/// columns ([`crate::kernels::gemm_skip_zeros`]): the packing picks the nonzero columns,
/// and each computed row block is copied to its rows by the thread that computed it
/// ([`scatter`]).
///
/// Lengths are the caller's to get right (`k·lda`, `k·n`, `lda·n`, the columns in range),
/// with `rows.len() > 3`, `n > 0` and `k > 0`; `scratch` holds
/// [`gemm_scratch_len`]`(rows.len(), n, k)`, or [`sparse_scratch_len`] for panel-sparse
/// products as in [`gemm_depths`] (which also leaves room for the scattered copy).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rows(
    path: KernelPath,
    (n, k, lda): (usize, usize, usize),
    a: &[f32],
    rows: &[f32],
    b: &[f32],
    c: &mut [f32],
    scratch: &mut [f32],
) {
    let m = rows.len();
    debug_assert!(m > small::MAX_M && n > 0 && k > 0 && c.len() == lda * n);
    let a = Src::RowsAdjacentPicked {
        data: a,
        ld: lda,
        rows,
    };
    let b = Src::RowsAdjacent { data: b, ld: n };
    let dims = (m, n, k);
    let scattered = match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => match avx512::Avx512::new() {
            Some(kern) => {
                let narrow: avx512::Avx512Narrow = kern.retiled();
                scatter::run::<_, Sparse>(&narrow, dims, a, b, rows, c, scratch)
                    || scatter::run::<_, Dense>(&kern, dims, a, b, rows, c, scratch)
            }
            None => scatter::run::<_, Dense>(&Portable, dims, a, b, rows, c, scratch),
        },
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => match avx2::Avx2::new() {
            Some(kern) => scatter::run::<_, Dense>(&kern, dims, a, b, rows, c, scratch),
            None => scatter::run::<_, Dense>(&Portable, dims, a, b, rows, c, scratch),
        },
        _ => scatter::run::<_, Dense>(&Portable, dims, a, b, rows, c, scratch),
    };
    if !scattered {
        kernel_run(path, dims, a, b, &mut c[..m * n], scratch);
        scatter::move_down(rows, n, c);
    }
}

/// [`run`] with `beta = 0` on the kernel of `path` (the portable one when the CPU lacks it),
/// panel-sparse ([`panels::Sparse`]) where the kernel can and the scratch allows.
fn kernel_run(
    path: KernelPath,
    dims: (usize, usize, usize),
    a: Src<'_>,
    b: Src<'_>,
    c: &mut [f32],
    scratch: &mut [f32],
) {
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => {
            if let Some(kern) = avx512::Avx512::new() {
                let (m, n, k) = dims;
                if scratch.len() >= kernel_need::<avx512::Avx512, Sparse>(m, n, k, false) {
                    return run::<_, Sparse>(&kern, dims, a, b, 0.0, c, scratch);
                }
                return run::<_, Dense>(&kern, dims, a, b, 0.0, c, scratch);
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => {
            if let Some(kern) = avx2::Avx2::new() {
                return run::<_, Dense>(&kern, dims, a, b, 0.0, c, scratch);
            }
        }
        _ => {}
    }
    run::<_, Dense>(&Portable, dims, a, b, 0.0, c, scratch);
}

/// The loop nest for kernel `K`, the A blocks packed and multiplied as `P` does: transposed
/// when that is less work ([`nest::swap_pays`], then always dense), on the rayon pool when
/// that is worth it and the scratch allows, else on this thread. Lengths are checked,
/// `m, n, k > 0`, `m > small::MAX_M`; `a` and `b` describe `op(A)` and `op(B)ᵀ` as
/// [`pack::pack`] reads them; `scratch` holds [`kernel_need`]`::<K, P>` without `parallel`.
fn run<K: MicroKernel, P: Panels<K>>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: Src<'_>,
    beta: f32,
    c: &mut [f32],
    scratch: &mut [f32],
) {
    if nest::swap_pays::<K>(m, n, k) {
        // Cᵀ (n×m) = op(B)ᵀ·op(A)ᵀ: op(B)ᵀ is packed as the left operand, op(A) (= the
        // transpose of the right one) as the right, and Cᵀ's element (j, i) is C[i][j],
        // at c[j + i·n]: row stride 1, column stride n.
        let (b_pack, a_pack) = scratch.split_at_mut(b_pack_len::<K>(m, k));
        nest::serial::<K, Dense>(kern, (n, m, k), b, a, beta, c, (1, n), b_pack, a_pack);
        return;
    }
    #[cfg(feature = "rayon")]
    if parallel::try_parallel::<K, P>(kern, (m, n, k), a, b, beta, c, scratch) {
        return;
    }
    let (b_pack, a_pack) = scratch.split_at_mut(b_pack_len::<K>(n, k));
    nest::serial::<K, P>(kern, (m, n, k), a, b, beta, c, (n, 1), b_pack, a_pack);
}

/// Floats of scratch [`gemm`] needs for these sizes (packing buffers); the memory planner
/// reserves it up front.
///
/// It is one packed block of each operand, `round_up(min(m, MC), MR) · min(k, KC)` for A plus
/// `min(k, KC) · round_up(min(n, NC), NR)` for B, for whichever compiled-in kernel needs the
/// most (so the answer does not depend on the CPU, and a plan made on one machine fits on
/// any other). Small matrices need little (a 4×16·16×8 product needs 16·(12 + 32) = 704
/// floats on x86-64) and large ones are capped (about 1.1 MiB). It is 0 when `m <= 3` (such
/// products, e.g. one sample at inference, are computed without packing) and when `n` or `k`
/// is 0. The answer does not depend on the transpose flags.
///
/// With the `rayon` feature, a product large enough to split gets one more packed A block
/// for each further thread of the rayon pool that is current when this is called, and B
/// blocks for up to four depth slices (so make the plan inside the pool you will train in;
/// a smaller scratch just means fewer threads).
pub fn gemm_scratch_len(m: usize, n: usize, k: usize) -> usize {
    scratch_len(m, n, k, cfg!(feature = "rayon"))
}

/// The scratch [`gemm_scratch_len`] asks for on a 1-thread pool: what every product needs to
/// run at all. The panel-sparse products decide whether to leave out zero columns by this
/// need, not the current pool's: a plan made in a smaller pool than the one it runs in then
/// leaves out the same columns with fewer workers, and gives the same bits.
pub(crate) fn one_thread_scratch_len(m: usize, n: usize, k: usize) -> usize {
    scratch_len(m, n, k, false)
}

/// The largest need among the compiled-in kernels: the one-thread part, plus A blocks for
/// more workers when `parallel`.
fn scratch_len(m: usize, n: usize, k: usize, parallel: bool) -> usize {
    if m <= small::MAX_M || n == 0 || k == 0 {
        return 0; // nothing to pack (m <= MAX_M is computed unpacked)
    }
    let need = kernel_need::<Portable, Dense>(m, n, k, parallel);
    #[cfg(target_arch = "x86_64")]
    let need = need
        .max(kernel_need::<avx2::Avx2, Dense>(m, n, k, parallel))
        .max(kernel_need::<avx512::Avx512, Dense>(m, n, k, parallel));
    need
}

/// Floats of scratch the products behind [`crate::kernels::gemm_skip_zeros`]
/// ([`gemm_depths`], [`gemm_rows`]) need to run panel-sparse where a kernel can: at least
/// [`gemm_scratch_len`], plus the step lists of [`panels::Sparse`]. 0 when `m <= 3` or `n`
/// or `k` is 0, as there.
pub(crate) fn sparse_scratch_len(m: usize, n: usize, k: usize) -> usize {
    let dense = gemm_scratch_len(m, n, k);
    if dense == 0 {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    let parallel = cfg!(feature = "rayon");
    #[cfg(target_arch = "x86_64")]
    let dense = dense
        .max(kernel_need::<avx512::Avx512, Sparse>(m, n, k, parallel))
        .max(kernel_need::<avx512::Avx512Narrow, Sparse>(
            m, n, k, parallel,
        ));
    dense + scatter_blocks_len(m, n, k)
}

/// The blocks of `C` that [`gemm_rows`] computes in scratch, one per worker, for whichever
/// compiled-in kernel needs the most.
fn scatter_blocks_len(m: usize, n: usize, k: usize) -> usize {
    fn need<K: MicroKernel>(m: usize, n: usize, k: usize) -> usize {
        #[cfg(feature = "rayon")]
        let workers = parallel::planned_workers::<K>(m, n, k);
        #[cfg(not(feature = "rayon"))]
        let workers = {
            let _ = k;
            1
        };
        workers * scatter::block_len::<K>(m, n)
    }
    let len = need::<Portable>(m, n, k);
    #[cfg(target_arch = "x86_64")]
    let len = len
        .max(need::<avx2::Avx2>(m, n, k))
        .max(need::<avx512::Avx512>(m, n, k))
        .max(need::<avx512::Avx512Narrow>(m, n, k));
    len
}

/// Scratch for kernel `K` with A blocks as `P` packs them: the packed B block and one packed
/// A block, or, for a product computed transposed (always dense), the same for `Cᵀ`; with
/// `parallel`, what the rayon loop would use on the current pool if that is more.
fn kernel_need<K: MicroKernel, P: Panels<K>>(
    m: usize,
    n: usize,
    k: usize,
    parallel: bool,
) -> usize {
    if nest::swap_pays::<K>(m, n, k) {
        return b_pack_len::<K>(m, k) + <Dense as Panels<K>>::slot_len(n, k);
    }
    let one_thread = b_pack_len::<K>(n, k) + P::slot_len(m, k);
    #[cfg(feature = "rayon")]
    if parallel && let Some(len) = parallel::planned_len::<K, P>(m, n, k) {
        return len.max(one_thread);
    }
    #[cfg(not(feature = "rayon"))]
    let _ = parallel;
    one_thread
}

/// Checks that `a`, `b`, `c` have exactly `m·k`, `k·n`, `m·n` elements (shared with
/// [`gemm_reference`]). A product that overflows `usize` can match no slice, so it is
/// reported as `usize::MAX`.
pub(crate) fn check_operands(
    m: usize,
    n: usize,
    k: usize,
    a: usize,
    b: usize,
    c: usize,
) -> Result<()> {
    let check = |what, rows: usize, cols: usize, got| {
        let expected = rows.saturating_mul(cols);
        if got == expected {
            Ok(())
        } else {
            Err(Error::length(what, expected, got))
        }
    };
    check("gemm A (m·k)", m, k, a)?;
    check("gemm B (k·n)", k, n, b)?;
    check("gemm C (m·n)", m, n, c)
}
