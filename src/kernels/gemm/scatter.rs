//! Products whose rows belong at listed rows of `C`, every other row being zero: the weight
//! gradient `xᵀ·∂y` of an input with all-zero columns ([`super::gemm_rows`]).
//!
//! Why not compute the listed rows into the front of `C` and move them down afterwards (the
//! fallback, [`move_down`]): that is a second pass over all of `C`, 1.25 MiB for MNIST's first
//! layer, on one thread (~40 µs of a ~300 µs product), and with `rayon` it pulls every row the
//! other cores computed into this core's cache (~60 µs on two cores, where lines written by
//! the other core are read at ~25 GB/s). Here each row block is computed into a block of
//! scratch, still in L2, and copied to its rows by the thread that computed it, which also
//! zero-fills the rows between: one pass, split like the product.
//!
//! The tiles are the ones the plain loop nest computes (same panels, same single depth
//! slice), so the values are the same bits whichever way the rows get to their places.

use super::nest::{Block, MicroKernel, Steps, b_pack_len, swap_pays};
use super::pack::{Region, Src};
use super::panels::Panels;

/// How many products were scattered so far (tests check which way a product went).
#[cfg(test)]
pub(super) static SCATTERED: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

/// Floats of one block of `C` computed in scratch (one per worker): a row block is at most
/// `MC` rows.
pub(super) fn block_len<K: MicroKernel>(m: usize, n: usize) -> usize {
    m.min(K::MC) * n
}

/// Computes the product into the rows of `c` that `rows` lists (ascending, below
/// `c.len() / n`, as `u32`s in `f32` bits; row `i` of the product goes to row `rows[i]`),
/// zeroing the others: on the rayon pool when that is worth it, else on this thread.
/// `false`, with nothing done, when the product is not one this handles (more than one depth
/// slice or column block, or computed transposed) or the scratch is short; the caller then
/// computes into the front of `c` and calls [`move_down`].
#[allow(clippy::too_many_arguments)]
pub(super) fn run<K: MicroKernel, P: Panels<K>>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: Src<'_>,
    rows: &[f32],
    c: &mut [f32],
    scratch: &mut [f32],
) -> bool {
    if k > K::KC || n > K::NC || swap_pays::<K>(m, n, k) {
        return false;
    }
    #[cfg(feature = "rayon")]
    if super::parallel::try_parallel_scattered::<K, P>(kern, (m, n, k), a, b, rows, c, scratch) {
        #[cfg(test)]
        SCATTERED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        return true;
    }
    let b_one = b_pack_len::<K>(n, k);
    let area = P::slot_len(m, k) + block_len::<K>(m, n);
    if scratch.len() < b_one + area {
        return false;
    }
    let (b_pack, area) = scratch.split_at_mut(b_one);
    let whole = Region {
        row0: 0,
        rows: n,
        d0: 0,
        depth: k,
    };
    kern.pack_b(b_pack, b, whole);
    let mc = Steps::new::<K>(m, n, k).mc;
    for span in Spans::new(rows, mc, n, c) {
        block::<K, P>(kern, (m, n, k), a, b_pack, area, span);
    }
    #[cfg(test)]
    SCATTERED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    true
}

/// One row block of the product and the part of `C` it owns.
pub(super) struct Span<'c> {
    /// The block's first row in the product.
    i0: usize,
    /// Where its rows go (`rows[i0..i0 + mc]`).
    rows: &'c [f32],
    /// The row of `C` that `c` starts at.
    first: usize,
    /// Rows `first..` of `C` up to the next block's first row (or the end): the block's own
    /// rows and the zero rows after them (and, for the first block, before them).
    c: &'c mut [f32],
}

/// The row blocks of a scattered product in order, each with its disjoint part of `C`.
pub(super) struct Spans<'c> {
    rows: &'c [f32],
    mc: usize,
    n: usize,
    i0: usize,
    first: usize,
    rest: &'c mut [f32],
}

impl<'c> Spans<'c> {
    /// Blocks of `mc` rows of the product whose rows go to `rows` of `c` (`n` columns).
    pub(super) fn new(rows: &'c [f32], mc: usize, n: usize, c: &'c mut [f32]) -> Spans<'c> {
        Spans {
            rows,
            mc,
            n,
            i0: 0,
            first: 0,
            rest: c,
        }
    }
}

impl<'c> Iterator for Spans<'c> {
    type Item = Span<'c>;

    fn next(&mut self) -> Option<Span<'c>> {
        let total = self.rows.len();
        if self.i0 >= total {
            return None;
        }
        let end = (self.i0 + self.mc).min(total);
        let stop = match self.rows.get(end) {
            Some(row) => row.to_bits() as usize,
            None => self.first + self.rest.len() / self.n,
        };
        let (c, rest) = core::mem::take(&mut self.rest).split_at_mut((stop - self.first) * self.n);
        let span = Span {
            i0: self.i0,
            rows: &self.rows[self.i0..end],
            first: self.first,
            c,
        };
        (self.i0, self.first, self.rest) = (end, stop, rest);
        Some(span)
    }
}

/// Computes one row block into `area` (a packed A block, then the block of `C`) and copies
/// it to its rows of `span.c`, zeroing the rows between. `b_pack` is all of `op(B)` packed.
pub(super) fn block<K: MicroKernel, P: Panels<K>>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b_pack: &[f32],
    area: &mut [f32],
    span: Span<'_>,
) {
    let mc = span.rows.len();
    let (slot, out) = area.split_at_mut(P::slot_len(m, k));
    let region = Region {
        row0: span.i0,
        rows: mc,
        d0: 0,
        depth: k,
    };
    P::pack(kern, slot, a, region);
    let out = &mut out[..mc * n];
    let whole = Block {
        mc,
        nc: n,
        kc: k,
        beta: 0.0,
    };
    P::multiply(kern, whole, slot, b_pack, out, (n, 1));
    let mut next = 0; // rows of `span.c` before this one are written
    for (computed, row) in out.chunks_exact(n).zip(span.rows) {
        let to = row.to_bits() as usize - span.first;
        span.c[next * n..to * n].fill(0.0);
        span.c[to * n..(to + 1) * n].copy_from_slice(computed);
        next = to + 1;
    }
    span.c[next * n..].fill(0.0);
}

/// Moves row `i` of `c` (`n` columns) to row `rows[i] >= i` (ascending, as `u32`s in `f32`
/// bits) and zeroes the rows no entry names: for a product computed into the front of `c`.
pub(super) fn move_down(rows: &[f32], n: usize, c: &mut [f32]) {
    // From the last row, so that none is overwritten before it has moved.
    let mut next_zero = c.len() / n; // rows from here to the end are done
    for (i, row) in rows.iter().enumerate().rev() {
        let to = row.to_bits() as usize;
        c[(to + 1) * n..next_zero * n].fill(0.0);
        if to != i {
            c.copy_within(i * n..(i + 1) * n, to * n);
        }
        next_zero = to;
    }
    c[..next_zero * n].fill(0.0);
}
