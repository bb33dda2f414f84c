//! How a row block of `op(A)` is packed and multiplied: densely ([`Dense`]) or leaving out,
//! per micro-panel, the depth steps where all of the panel's rows are zero ([`Sparse`]).
//!
//! Why per panel: the MNIST MLP's first layer multiplies by its input, where a depth step
//! (a pixel, or a sample for `∂W`) is all zero across the whole batch for about a third of
//! the steps, but across the 12 rows of one AVX-512 micro-panel for about half of them
//! (measured on MNIST: 0.50 of the depth steps are used per panel for `x·W`, 0.47 for
//! `xᵀ·∂y`, against 0.68 batch-wide). Leaving those out saves a quarter to a third of the
//! multiply-adds that [`crate::kernels::gemm_skip_zeros`]'s batch-wide list leaves in.
//!
//! The B micro-panel stays dense (it is shared by every A panel), so the microkernel reads
//! the B row of each kept step through an index: one more load per step, from L1.
//!
//! Rounding: a left-out step would only have added `0·b` to each element, exactly zero for a
//! finite `b`, so the result is the dense one (up to the sign of a zero, and `0·∞` left out
//! as in the batch-wide skip). The panels are fixed by the row index alone (row blocks
//! start at multiples of `MR`), so the result is the same for every thread count.

use super::nest::{Block, MicroKernel, macro_kernel};
use super::pack::{Region, Src};

/// A way of packing and multiplying a row block of `op(A)`: the part of the loop nest
/// ([`super::nest::serial`], [`super::parallel`]) that differs between dense and
/// panel-sparse products.
pub(super) trait Panels<K: MicroKernel>: Sync {
    /// Floats of one packed A block (one per worker) for an `m × k` product.
    fn slot_len(m: usize, k: usize) -> usize;

    /// Packs `region` of `src` into `slot` (at least [`Panels::slot_len`] floats).
    fn pack(kern: &K, slot: &mut [f32], src: Src<'_>, region: Region);

    /// LOOPS 2 and 1 on a block packed by [`Panels::pack`], as [`macro_kernel`] documents.
    fn multiply(
        kern: &K,
        block: Block,
        slot: &[f32],
        b_pack: &[f32],
        c: &mut [f32],
        strides: (usize, usize),
    );
}

/// Every depth step of every panel: the ordinary GEMM.
pub(super) struct Dense;

impl<K: MicroKernel> Panels<K> for Dense {
    fn slot_len(m: usize, k: usize) -> usize {
        m.min(K::MC).next_multiple_of(K::MR) * k.min(K::KC)
    }

    fn pack(kern: &K, slot: &mut [f32], src: Src<'_>, region: Region) {
        kern.pack_a(slot, src, region);
    }

    fn multiply(
        kern: &K,
        block: Block,
        slot: &[f32],
        b_pack: &[f32],
        c: &mut [f32],
        strides: (usize, usize),
    ) {
        macro_kernel(kern, block, slot, b_pack, c, strides);
    }
}

/// A microkernel that can also compute a tile from a panel-sparse A micro-panel (the
/// AVX-512 one, hence x86-64 only).
#[cfg(target_arch = "x86_64")]
pub(super) trait SparseTile: MicroKernel {
    /// As [`MicroKernel::tile`], with depth step `t` of the tile being row `steps[t]` (a `u32`
    /// in `f32` bits, below the B panel's depth) of the packed B micro-panel `b` and step `t`
    /// of the packed A micro-panel `a` (`steps.len() * MR` floats). `steps` may be empty:
    /// the tile is then `beta · C`.
    #[allow(clippy::too_many_arguments)] // the microkernel contract, kept flat for speed
    fn tile_sparse(
        &self,
        steps: &[f32],
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    );

    /// As [`SparseTile::tile_sparse`], with B read where it is stored instead of packed:
    /// the B row of depth step `t` is `b[steps[t] · ld..][..cols]`, `steps[t]` being a stored
    /// row of B (a `u32` in `f32` bits) and `b` starting at the tile's first column.
    #[allow(clippy::too_many_arguments)] // the microkernel contract, kept flat for speed
    fn tile_sparse_in_place(
        &self,
        steps: &[f32],
        a: &[f32],
        b: (&[f32], usize),
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    );
}

/// Per micro-panel, only the depth steps where some row of the panel is nonzero.
#[cfg(target_arch = "x86_64")]
///
/// Slot layout for a block of `panels` micro-panels of depth `kc`: the A values as [`Dense`]
/// packs them (`panels · kc · MR` floats), each panel compacted to its kept steps at the
/// front of its `kc · MR` floats; then, per panel, `kc + 1` floats: the number of kept steps
/// and their depth offsets within the slice (`u32`s in `f32` bits).
pub(super) struct Sparse;

/// How many panel-sparse blocks were multiplied so far (tests check that the path runs).
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) static SPARSE_BLOCKS: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

/// Floats of the step lists of one slot.
#[cfg(target_arch = "x86_64")]
fn lists_len<K: MicroKernel>(m: usize, k: usize) -> usize {
    m.min(K::MC).div_ceil(K::MR) * (k.min(K::KC) + 1)
}

#[cfg(target_arch = "x86_64")]
impl<K: SparseTile> Panels<K> for Sparse {
    fn slot_len(m: usize, k: usize) -> usize {
        <Dense as Panels<K>>::slot_len(m, k) + lists_len::<K>(m, k)
    }

    fn pack(kern: &K, slot: &mut [f32], src: Src<'_>, region: Region) {
        let (mr, kc) = (K::MR, region.depth);
        let panels = region.rows.div_ceil(mr);
        let (values, lists) = slot.split_at_mut(panels * kc * mr);
        kern.pack_a(values, src, region);
        // Compact each panel in place: step `d` moves to `kept <= d`, so it is read before
        // anything is written over it. Branch-free (the copy is a no-op when `kept == d`).
        let panel_values = values.chunks_exact_mut(kc * mr).take(panels);
        for (panel, list) in panel_values.zip(lists.chunks_exact_mut(kc + 1)) {
            let mut kept = 0;
            for d in 0..kc {
                let used = panel[d * mr..(d + 1) * mr]
                    .iter()
                    .fold(0, |acc, v| acc | (v.to_bits() << 1));
                panel.copy_within(d * mr..(d + 1) * mr, kept * mr);
                list[1 + kept] = f32::from_bits(d as u32);
                kept += usize::from(used != 0);
            }
            list[0] = f32::from_bits(kept as u32);
        }
    }

    fn multiply(
        kern: &K,
        block: Block,
        slot: &[f32],
        b_pack: &[f32],
        c: &mut [f32],
        strides: (usize, usize),
    ) {
        #[cfg(test)]
        SPARSE_BLOCKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let panel_len = block.kc * K::NR;
        for_each_tile::<K>(block, slot, c, strides, |tile| {
            let b_panel = &b_pack[tile.j / K::NR * panel_len..][..panel_len];
            let (rows, cols) = (tile.rows, tile.cols);
            let (steps, a, c) = (tile.steps, tile.a_panel, tile.c);
            kern.tile_sparse(steps, a, b_panel, block.beta, c, strides, rows, cols);
        });
    }
}

/// The panel-sparse block with `B` read where it is stored ([`super::in_place`]).
#[cfg(target_arch = "x86_64")]
impl Sparse {
    /// [`Panels::pack`], with each kept step listed as the stored row of B it meets,
    /// `b_rows[d0 + d]` for depth step `d` of the slice, instead of its offset in the slice.
    pub(super) fn pack_in_place<K: SparseTile>(
        kern: &K,
        slot: &mut [f32],
        src: Src<'_>,
        region: Region,
        b_rows: &[f32],
    ) {
        <Sparse as Panels<K>>::pack(kern, slot, src, region);
        let (mr, kc) = (K::MR, region.depth);
        let panels = region.rows.div_ceil(mr);
        let stored = &b_rows[region.d0..region.d0 + kc];
        let lists = &mut slot[panels * kc * mr..];
        for list in lists.chunks_exact_mut(kc + 1).take(panels) {
            let (kept, steps) = list.split_at_mut(1);
            for step in &mut steps[..kept[0].to_bits() as usize] {
                *step = stored[step.to_bits() as usize];
            }
        }
    }

    /// [`Panels::multiply`] on a block packed by [`Sparse::pack_in_place`], the B row of a
    /// kept step being row `list[t]` of `b` (row-major, `ld` floats apart, columns from the
    /// block's first).
    pub(super) fn multiply_in_place<K: SparseTile>(
        kern: &K,
        block: Block,
        slot: &[f32],
        (b, ld): (&[f32], usize),
        c: &mut [f32],
        strides: (usize, usize),
    ) {
        #[cfg(test)]
        IN_PLACE_BLOCKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        for_each_tile::<K>(block, slot, c, strides, |tile| {
            let b_cols = (&b[tile.j..], ld);
            let (rows, cols) = (tile.rows, tile.cols);
            let (steps, a, c) = (tile.steps, tile.a_panel, tile.c);
            kern.tile_sparse_in_place(steps, a, b_cols, block.beta, c, strides, rows, cols);
        });
    }
}

/// One tile of a panel-sparse block, as [`for_each_tile`] hands it out.
#[cfg(target_arch = "x86_64")]
struct SparseTileAt<'a> {
    /// The tile's first column in the block (a multiple of `NR`) and its width.
    j: usize,
    cols: usize,
    /// Its height (`MR`, less at the bottom edge).
    rows: usize,
    /// The kept steps of its A micro-panel, and that panel's packed values.
    steps: &'a [f32],
    a_panel: &'a [f32],
    /// `C` from the tile's first element.
    c: &'a mut [f32],
}

/// LOOPS 2 and 1 of a panel-sparse block packed into `slot` ([`Sparse`]'s layout): one
/// `NR`-wide column panel at a time, each against every A micro-panel, so that the B rows
/// of a column panel stay in L1 while the A panels stream past; `tile` computes each.
#[cfg(target_arch = "x86_64")]
fn for_each_tile<K: MicroKernel>(
    Block { mc, nc, kc, .. }: Block,
    slot: &[f32],
    c: &mut [f32],
    (rsc, csc): (usize, usize),
    mut tile: impl FnMut(SparseTileAt<'_>),
) {
    let (mr, nr) = (K::MR, K::NR);
    let panels = mc.div_ceil(mr);
    let (values, lists) = slot.split_at(panels * kc * mr);
    for j in (0..nc).step_by(nr) {
        let a_panels = values.chunks_exact(kc * mr).zip(lists.chunks_exact(kc + 1));
        for (ir, (a_panel, list)) in a_panels.take(panels).enumerate() {
            let i = ir * mr;
            let kept = list[0].to_bits() as usize;
            tile(SparseTileAt {
                j,
                cols: nr.min(nc - j),
                rows: mr.min(mc - i),
                steps: &list[1..1 + kept],
                a_panel,
                c: &mut c[i * rsc + j * csc..],
            });
        }
    }
}

/// How many blocks were multiplied with B in place so far (tests check that the path runs).
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) static IN_PLACE_BLOCKS: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);
