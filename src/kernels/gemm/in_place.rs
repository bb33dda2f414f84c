//! `x·W` on the panel-sparse AVX-512 tile with `W` read where it is stored, not packed.
//!
//! Why: packing B copies every kept row of `W` (for MNIST's first layer, the ~530 rows of its
//! 784 that meet a nonzero pixel of the batch, 0.85 MiB) before the first tile can start,
//! and measured inside a training step that copy took ~60 µs of the ~420 µs product on one
//! thread and ~50 µs on two, where each core then also read the half of it the other core
//! had packed. A row of `W` is already what a tile reads per depth step, contiguous `NR`
//! floats; packing only made the rows of a micro-panel adjacent, and the kept rows of one
//! depth slice (~100 × 128 bytes per micro-panel) stay in L1 either way while the A panels
//! of a row block stream past them.
//!
//! Same bits as the packed loop: the same depth slices ([`Steps`]), the same per-panel lists
//! of kept steps, the same tiles (whose loads are only masked to the tile's columns, since
//! a row of `W` is not zero-padded to the tile's width).

use super::nest::{Block, Steps, swap_pays};
use super::pack::{Region, Src};
use super::panels::{Panels, Sparse, SparseTile};

/// Floats of scratch one worker needs: one panel-sparse A block.
pub(super) fn slot_len<K: SparseTile>(m: usize, k: usize) -> usize {
    <Sparse as Panels<K>>::slot_len(m, k)
}

/// `C (m×n) = op(A)·B` with `beta = 0`, where depth step `d` of `op(A)` (packed from `a`)
/// meets row `b_rows[d]` of the row-major `b` (`n` columns; `u32`s in `f32` bits): on the
/// rayon pool when that is worth it, else on this thread. `false`, with nothing done, when
/// the product would be computed transposed or `scratch` is shorter than [`slot_len`].
/// Lengths are the caller's ([`super::gemm_depths`]), `m > 3`, `n, k > 0`.
pub(super) fn run<K: SparseTile>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: (&[f32], &[f32]),
    c: &mut [f32],
    scratch: &mut [f32],
) -> bool {
    let slot = slot_len::<K>(m, k);
    if swap_pays::<K>(m, n, k) || scratch.len() < slot {
        return false;
    }
    #[cfg(feature = "rayon")]
    if super::parallel::try_parallel_in_place(kern, (m, n, k), a, b, c, scratch) {
        return true;
    }
    let steps = Steps::new::<K>(m, n, k);
    for (i0, c_rows) in (0..m).step_by(steps.mc).zip(c.chunks_mut(steps.mc * n)) {
        block(
            kern,
            (n, k),
            steps.kc,
            a,
            b,
            i0,
            c_rows,
            &mut scratch[..slot],
        );
    }
    true
}

/// One row block of [`run`]: rows `i0..` of `C` (`c_rows`, whole rows of `n`), through every
/// depth slice of at most `kc` steps, A packed into `slot`.
#[allow(clippy::too_many_arguments)]
pub(super) fn block<K: SparseTile>(
    kern: &K,
    (n, k): (usize, usize),
    kc: usize,
    a: Src<'_>,
    (b, b_rows): (&[f32], &[f32]),
    i0: usize,
    c_rows: &mut [f32],
    slot: &mut [f32],
) {
    let rows = c_rows.len() / n;
    for p0 in (0..k).step_by(kc) {
        let kc = kc.min(k - p0);
        let region = Region {
            row0: i0,
            rows,
            d0: p0,
            depth: kc,
        };
        Sparse::pack_in_place(kern, slot, a, region, b_rows);
        // The first slice writes C (`beta = 0`), later ones add to it.
        let beta = if p0 == 0 { 0.0 } else { 1.0 };
        let block = Block {
            mc: rows,
            nc: n,
            kc,
            beta,
        };
        Sparse::multiply_in_place(kern, block, slot, (b, n), c_rows, (n, 1));
    }
}
