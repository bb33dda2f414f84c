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
//! is nothing to reuse, and they then need no scratch at all.
//!
//! The microkernel sits behind the small [`MicroKernel`] trait; the loop nest is generic
//! over it. Today there is one, [`portable::Portable`] (`wide::f32x8`); faster ones
//! (`core::arch` AVX2/AVX-512 chosen at run time) slot in beside it as further implementors,
//! and [`gemm_scratch_len`] must then cover the largest `MR`/`NR` among them.

mod pack;
mod portable;
mod reference;
mod small;
#[cfg(test)]
mod tests;

pub use reference::gemm_reference;

use crate::error::{Error, Result};
use pack::{Src, pack};
use portable::Portable;

/// Depth of one packed slice (the `k` block). A `KC × NR` B micro-panel (8 KiB with
/// `NR = 8`) plus an `MR × KC` A micro-panel stay in a 32 KiB L1 data cache.
///
/// The three block sizes were measured with the portable kernel on a Cascade Lake Xeon
/// (KC 192–512, MC 32–128, NC 512–2048): every choice was within ±5 % (the noise) on the MLP
/// and square shapes, so these are the textbook values, kept small for small caches.
const KC: usize = 256;
/// Rows of `op(A)` packed at a time (a multiple of every kernel's `MR`): `MC × KC` floats
/// (64 KiB) stay in L2 while the whole B~ block streams past them.
const MC: usize = 64;
/// Columns of `op(B)` packed at a time (a multiple of every kernel's `NR`).
const NC: usize = 1024;

/// A register-blocked microkernel: computes one `MR × NR` tile of `C` from packed panels.
///
/// Why a trait: the loop nest and the packing are shared, only this inner piece differs per
/// instruction set, so adding an AVX2 or NEON kernel is one more implementor plus a run-time
/// choice in [`gemm`]. An implementor built on `#[target_feature]` functions calls them from
/// `tile` in an `unsafe` block whose safety argument is that [`gemm`] only instantiates
/// `gemm_loop::<ThatKernel>` after detecting the feature at run time.
trait MicroKernel {
    /// Rows of the tile (the A panel width).
    const MR: usize;
    /// Columns of the tile (the B panel width).
    const NR: usize;

    /// `C[0..rows][0..cols] = (A~ · B~)[0..rows][0..cols] + beta · C`, where `a` holds at
    /// least `kc * MR` packed floats (depth-major, `MR` per step), `b` at least `kc * NR`,
    /// and row `i` of the tile starts at `c[i * rsc]`. `rows <= MR`, `cols <= NR`; `c` holds
    /// the `rows × cols` part. `beta == 0.0` must not read `c`.
    #[allow(clippy::too_many_arguments)] // the microkernel contract, kept flat for speed
    fn tile(
        kc: usize,
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        rsc: usize,
        rows: usize,
        cols: usize,
    );
}

/// C (m×n) = op(A)·op(B) + beta·C, row-major and contiguous.
///
/// `op(A)` is `m×k`: `a` is stored `m×k` when `!trans_a`, `k×m` when `trans_a`. `op(B)` is
/// `k×n`: `b` is stored `k×n` when `!trans_b`, `n×k` when `trans_b`. Transposes are free:
/// they only change how the operands are packed, so a layer never materialises `Wᵀ`.
///
/// `beta == 0.0` means `c` is not read (it may hold NaN or garbage), as in BLAS; any other
/// `beta` scales the old `C`. Any of `m`, `n`, `k` may be 0 (`k == 0` gives `C = beta·C`).
///
/// `scratch` holds the packed panels; it must have at least [`gemm_scratch_len`]`(m, n, k)`
/// floats, its contents on entry do not matter, and nothing is allocated. Sums are
/// accumulated in `f32` in blocks of `k`, so results differ from [`gemm_reference`] by
/// rounding only (relative error of order `k · f32::EPSILON`).
///
/// # Errors
/// [`crate::ErrorKind::LengthMismatch`] when `a`, `b` or `c` does not have exactly
/// `m·k`, `k·n`, `m·n` elements, or when `scratch` is shorter than `gemm_scratch_len`.
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
    check_operands(m, n, k, a.len(), b.len(), c.len())?;
    let needed = gemm_scratch_len(m, n, k);
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
    gemm_loop::<Portable>(m, n, k, a, b, beta, c, scratch);
    Ok(())
}

/// Floats of scratch [`gemm`] needs for these sizes (packing buffers); the memory planner
/// reserves it up front.
///
/// It is one packed block of each operand, `round_up(min(m, MC), MR) · min(k, KC)` for A plus
/// `min(k, KC) · round_up(min(n, NC), NR)` for B, so small matrices need little (a 4×16·16×8
/// product needs 4·16 + 16·8 = 192 floats) and large ones are capped (278 528 floats,
/// 1.06 MiB). It is 0 when `m <= 3` (such products, e.g. one sample at inference, are
/// computed without packing) and when `n` or `k` is 0. The answer does not depend on the
/// transpose flags.
pub fn gemm_scratch_len(m: usize, n: usize, k: usize) -> usize {
    // With several kernels this takes the largest MR and NR among them.
    scratch_len_for(Portable::MR, Portable::NR, m, n, k)
}

/// [`gemm_scratch_len`] for a kernel with tile `mr × nr`.
fn scratch_len_for(mr: usize, nr: usize, m: usize, n: usize, k: usize) -> usize {
    if m <= small::MAX_M || n == 0 || k == 0 {
        return 0; // nothing to pack (m <= MAX_M is computed unpacked)
    }
    let kc = k.min(KC);
    m.min(MC).next_multiple_of(mr) * kc + kc * n.min(NC).next_multiple_of(nr)
}

/// Checks that `a`, `b`, `c` have exactly `m·k`, `k·n`, `m·n` elements (shared with
/// [`gemm_reference`]). A product that overflows `usize` can match no slice, so it is
/// reported as `usize::MAX`.
fn check_operands(m: usize, n: usize, k: usize, a: usize, b: usize, c: usize) -> Result<()> {
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

/// The five loops around the microkernel `K` (see the module documentation). Lengths are
/// checked by the caller, `m, n, k > 0` and `scratch` holds `scratch_len_for(K::MR, K::NR…)`.
#[allow(clippy::too_many_arguments)]
fn gemm_loop<K: MicroKernel>(
    m: usize,
    n: usize,
    k: usize,
    a: Src<'_>,
    b: Src<'_>,
    beta: f32,
    c: &mut [f32],
    scratch: &mut [f32],
) {
    let (mr, nr) = (K::MR, K::NR);
    let kc_max = k.min(KC);
    let (a_pack, b_pack) = scratch.split_at_mut(m.min(MC).next_multiple_of(mr) * kc_max);

    // LOOP 5: split n into NC-wide column blocks (B, C).
    for j0 in (0..n).step_by(NC) {
        let nc = NC.min(n - j0);
        // LOOP 4: split k into KC-deep slices (A, B); C accumulates across them.
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            pack(b_pack, b, nr, j0, nc, p0, kc);
            // The first slice applies the caller's beta; later ones add to what it wrote.
            let beta = if p0 == 0 { beta } else { 1.0 };
            // LOOP 3: split m into MC-tall row blocks (A, C).
            for i0 in (0..m).step_by(MC) {
                let mc = MC.min(m - i0);
                pack(a_pack, a, mr, i0, mc, p0, kc);
                // LOOP 2: one NR-wide micro-panel of B~ at a time (stays in L1).
                for (jr, b_panel) in b_pack
                    .chunks_exact(kc * nr)
                    .take(nc.div_ceil(nr))
                    .enumerate()
                {
                    let j = j0 + jr * nr;
                    let cols = nr.min(n - j);
                    // LOOP 1: one MR-tall micro-panel of A~ at a time -> one tile of C.
                    for (ir, a_panel) in a_pack
                        .chunks_exact(kc * mr)
                        .take(mc.div_ceil(mr))
                        .enumerate()
                    {
                        let i = i0 + ir * mr;
                        let rows = mr.min(m - i);
                        K::tile(
                            kc,
                            a_panel,
                            b_panel,
                            beta,
                            &mut c[i * n + j..],
                            n,
                            rows,
                            cols,
                        );
                    }
                }
            }
        }
    }
}
