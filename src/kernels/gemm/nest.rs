//! The five loops around a microkernel (see the parent module's documentation), and the
//! [`MicroKernel`] trait that every instruction set implements.
//!
//! Block sizes are per kernel (a 32-wide AVX-512 tile wants other cache blocks than an
//! 8-wide SSE one), and each dimension is cut into *balanced* blocks: `k = 784` with
//! `KC = 256` becomes four slices of 196 rather than three of 256 and a thin one of 16,
//! which would pay the full cost of loading and storing `C` for little arithmetic.
//!
//! How `k` is sliced is the only blocking choice that changes results (each slice is summed
//! in registers and then added to `C`); it depends on `k` and the kernel alone. The `m` and
//! `n` blocks only decide *when* a tile is computed, never *how*, which is what lets the
//! `rayon` loop ([`super::parallel`]) hand row blocks to threads and still produce the same
//! bits as this serial loop.

use super::pack::{Region, Src};
use super::panels::Panels;

/// A register-blocked microkernel: computes one `MR × NR` tile of `C` from packed panels.
///
/// Why a trait: the loop nest and the packing are shared, only this inner piece differs per
/// instruction set. Implementors built on `#[target_feature]` functions are *tokens*: a value
/// of the type can only be made after the feature was detected, so `tile` is a safe method
/// and the loop nest needs no `unsafe` at all.
pub(super) trait MicroKernel: Sync {
    /// Rows of the tile (the A panel width).
    const MR: usize;
    /// Columns of the tile (the B panel width).
    const NR: usize;
    /// Largest depth slice: a `KC × NR` B micro-panel stays in L1 while the A micro-panels
    /// stream past it.
    const KC: usize;
    /// Largest row block of `op(A)` packed at a time (`MC × KC` stays in L2); a multiple of
    /// `MR`.
    const MC: usize;
    /// Largest column block of `op(B)` packed at a time (`KC × NC` stays in L3); a multiple
    /// of `NR`.
    const NC: usize;

    /// `C[0..rows][0..cols] = (A~ · B~)[0..rows][0..cols] + beta · C`, where `a` holds at
    /// least `kc * MR` packed floats (depth-major, `MR` per step), `b` at least `kc * NR`,
    /// and element `(i, j)` of the tile is `c[i * rsc + j * csc]` (`c` must reach element
    /// `(rows - 1, cols - 1)`). `1 <= rows <= MR`, `1 <= cols <= NR`, `kc >= 1`. `csc` is 1
    /// except for a transposed product (see [`swap_pays`]), where `rsc` is 1.
    /// `beta == 0.0` must not read `c`.
    ///
    /// Edge tiles (`rows < MR` or `cols < NR`) and strided ones must round exactly as full
    /// tiles do, so that an element's value never depends on where the blocks happen to end.
    #[allow(clippy::too_many_arguments)] // the microkernel contract, kept flat for speed
    fn tile(
        &self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    );

    /// Packs `region` of the left operand into `MR`-row panels: `pack::pack::<MR>`, here so
    /// that each kernel's copy has its tile width as a constant and its instruction set.
    fn pack_a(&self, dst: &mut [f32], src: Src<'_>, region: Region);

    /// Packs `region` of the right operand (`op(B)ᵀ`) into `NR`-row panels.
    fn pack_b(&self, dst: &mut [f32], src: Src<'_>, region: Region);
}

/// A copy of one tile row whose `cols` elements lie `csc` apart in `c` (from `c[0]`),
/// padded with zeros to `N`; all zeros when `!load` (`beta == 0` must not read `C`). With
/// [`scatter_row`], the edge and strided case of a microkernel's store, which can then use
/// the same vector code as a full row.
#[inline(always)]
pub(super) fn gather_row<const N: usize>(
    c: &[f32],
    csc: usize,
    cols: usize,
    load: bool,
) -> [f32; N] {
    let mut t = [0.0f32; N];
    if load {
        for (t, v) in t.iter_mut().zip(c.iter().step_by(csc)).take(cols) {
            *t = *v;
        }
    }
    t
}

/// Writes the first `cols` elements of `t` back where [`gather_row`] read them.
#[inline(always)]
pub(super) fn scatter_row(t: &[f32], c: &mut [f32], csc: usize, cols: usize) {
    for (v, t) in c.iter_mut().step_by(csc).zip(t).take(cols) {
        *v = *t;
    }
}

/// Smallest product (`2·m·n·k` flops) split across threads with `rayon`: about 15 µs of
/// single-thread work, a few times what waking another thread and joining it costs. Below
/// it a product may instead be computed transposed ([`swap_pays`]).
pub(super) const SPLIT_MIN_FLOPS: usize = 1 << 21;

/// Whether kernel `K` does less work computing `Cᵀ = op(B)ᵀ·op(A)ᵀ` than `C`: a narrow `C`
/// (e.g. `128 × 10` at the MLP's last layer) fills a 32-wide tile to 31 %, while its
/// transpose fills 12-row tiles to 83 %. The price is storing `C` with a stride (one element
/// at a time), counted here as 48 padded lane-multiplies per element and depth slice. Only
/// products too small to split across threads are transposed, so the `rayon` loop only
/// ever sees contiguous rows. The choice depends on the shape and kernel alone.
pub(super) fn swap_pays<K: MicroKernel>(m: usize, n: usize, k: usize) -> bool {
    const STORE_COST: usize = 48;
    if m.saturating_mul(n).saturating_mul(k).saturating_mul(2) >= SPLIT_MIN_FLOPS {
        return false;
    }
    let padded =
        |rows: usize, cols: usize| rows.next_multiple_of(K::MR) * cols.next_multiple_of(K::NR) * k;
    let slices = k.div_ceil(K::KC);
    padded(n, m) + STORE_COST * m * n * slices < padded(m, n)
}

/// The step for cutting `len > 0` into the fewest blocks of at most `max`, as equal as
/// possible and rounded up to a multiple of `multiple` (`max` is itself a multiple of it).
pub(super) fn balanced(len: usize, max: usize, multiple: usize) -> usize {
    len.div_ceil(len.div_ceil(max))
        .next_multiple_of(multiple)
        .min(max)
}

/// Floats of the packed B block (`KC × NC`, or less for small products).
pub(super) fn b_pack_len<K: MicroKernel>(n: usize, k: usize) -> usize {
    k.min(K::KC) * n.min(K::NC).next_multiple_of(K::NR)
}

/// The blocking of one product: the steps of loops 3, 4 and 5.
#[derive(Clone, Copy)]
pub(super) struct Steps {
    /// Rows of `C` per packed A block.
    pub mc: usize,
    /// Depth per slice.
    pub kc: usize,
    /// Columns of `C` per packed B block.
    pub nc: usize,
}

impl Steps {
    /// Balanced steps for kernel `K` (`m, n, k > 0`).
    pub fn new<K: MicroKernel>(m: usize, n: usize, k: usize) -> Steps {
        Steps {
            mc: balanced(m, K::MC, K::MR),
            kc: balanced(k, K::KC, 1),
            nc: balanced(n, K::NC, K::NR),
        }
    }
}

/// `C = op(A)·op(B) + beta·C` through the five loops, on one thread, with element `(i, j)`
/// of `C` at `c[i * strides.0 + j * strides.1]`, the A blocks packed and multiplied as `P`
/// does. Lengths are checked by the caller, `m, n, k > 0`; `b_pack` holds [`b_pack_len`] and
/// `a_pack` [`Panels::slot_len`].
#[allow(clippy::too_many_arguments)]
pub(super) fn serial<K: MicroKernel, P: Panels<K>>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: Src<'_>,
    beta: f32,
    c: &mut [f32],
    strides: (usize, usize),
    b_pack: &mut [f32],
    a_pack: &mut [f32],
) {
    let (rsc, csc) = strides;
    let steps = Steps::new::<K>(m, n, k);
    // LOOP 5: split n into column blocks (B, C).
    for j0 in (0..n).step_by(steps.nc) {
        let nc = steps.nc.min(n - j0);
        // LOOP 4: split k into depth slices (A, B); C accumulates across them.
        for p0 in (0..k).step_by(steps.kc) {
            let kc = steps.kc.min(k - p0);
            let b_region = Region {
                row0: j0,
                rows: nc,
                d0: p0,
                depth: kc,
            };
            kern.pack_b(b_pack, b, b_region);
            // The first slice applies the caller's beta; later ones add to what it wrote.
            let beta = if p0 == 0 { beta } else { 1.0 };
            // LOOP 3: split m into row blocks (A, C).
            for i0 in (0..m).step_by(steps.mc) {
                let mc = steps.mc.min(m - i0);
                let a_region = Region {
                    row0: i0,
                    rows: mc,
                    d0: p0,
                    depth: kc,
                };
                P::pack(kern, a_pack, a, a_region);
                let block = Block { mc, nc, kc, beta };
                let c_block = &mut c[i0 * rsc + j0 * csc..];
                P::multiply(kern, block, a_pack, b_pack, c_block, strides);
            }
        }
    }
}

/// The sizes of one packed A block times one packed B block.
#[derive(Clone, Copy)]
pub(super) struct Block {
    /// Rows of C.
    pub mc: usize,
    /// Columns of C.
    pub nc: usize,
    /// Depth.
    pub kc: usize,
    /// Factor on the old C.
    pub beta: f32,
}

/// LOOPS 2 and 1: `C[0..mc][0..nc] = A~·B~ + beta·C`, where element `(i, j)` of this part
/// of C is `c[i * strides.0 + j * strides.1]`, from a packed A block (`mc × kc`) and B block
/// (`kc × nc`).
pub(super) fn macro_kernel<K: MicroKernel>(
    kern: &K,
    Block { mc, nc, kc, beta }: Block,
    a_pack: &[f32],
    b_pack: &[f32],
    c: &mut [f32],
    strides: (usize, usize),
) {
    let (rsc, csc) = strides;
    let (mr, nr) = (K::MR, K::NR);
    // LOOP 2: one NR-wide micro-panel of B~ at a time (stays in L1).
    for (jr, b_panel) in b_pack
        .chunks_exact(kc * nr)
        .take(nc.div_ceil(nr))
        .enumerate()
    {
        let j = jr * nr;
        let cols = nr.min(nc - j);
        // LOOP 1: one MR-tall micro-panel of A~ at a time -> one tile of C.
        for (ir, a_panel) in a_pack
            .chunks_exact(kc * mr)
            .take(mc.div_ceil(mr))
            .enumerate()
        {
            let i = ir * mr;
            let rows = mr.min(mc - i);
            let c_tile = &mut c[i * rsc + j * csc..];
            kern.tile(kc, a_panel, b_panel, beta, c_tile, strides, rows, cols);
        }
    }
}
