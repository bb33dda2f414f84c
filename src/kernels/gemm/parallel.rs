//! Multi-threaded GEMM (feature `rayon`), bit-identical to the serial loop for every thread
//! count.
//!
//! Why the bits cannot change: an element of `C` is computed by exactly one microkernel call
//! per depth slice, the depth slices are the serial ones ([`Steps`], which depend on `k` and
//! the kernel only) and are applied in the same ascending order, and a tile rounds the same
//! wherever it sits (edge tiles included, see [`MicroKernel::tile`]). Threads only change
//! *which* thread computes a row block and *when*; there is no reduction across threads. So
//! 1, 2 or 3 threads, or the serial loop, give the same `C`.
//!
//! How the work is split, for each column block of `C`:
//! 1. the B block is packed for several depth slices at once (up to [`MAX_GROUP`], all of
//!    them for the MLP's products), by all workers, each a fixed range of micro-panels;
//! 2. the rows of `C` are cut into blocks (at most the kernel's `MC`, and at least one per
//!    worker) that workers take from a shared queue as they finish (dynamic, so a busy core
//!    on a shared machine does not hold the others up); for each of its row blocks a worker
//!    runs through the depth slices, packing that part of A into its own slice of the
//!    caller's scratch and running loops 2 and 1.
//!
//! That is two fork-joins per group of depth slices rather than two per slice: a product of
//! the MLP takes a few hundred microseconds, and each fork-join costs a few.
//!
//! Scratch: [`super::gemm_scratch_len`] reserves the B block for [`MAX_GROUP`] depth slices
//! and one packed A block per thread of the rayon pool that is current *when the plan is
//! made* (`rayon::current_num_threads()`, at most [`MAX_WORKERS`]). A call with less scratch
//! (a plan made in a smaller pool) uses fewer workers and smaller groups, down to the serial
//! loop: never an error, and the same result.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use super::nest::{Block, MicroKernel, SPLIT_MIN_FLOPS, Steps, b_pack_len, balanced};
use super::pack::{Region, Src};
use super::panels::Panels;

/// Most workers the scratch is ever sized for (each needs one packed A block, ~100 KiB).
pub(super) const MAX_WORKERS: usize = 64;

/// Most depth slices whose B blocks are packed together (`k <= 1024` is one group).
pub(super) const MAX_GROUP: usize = 4;

/// How many products were split so far (tests check that the parallel loop really runs).
#[cfg(test)]
pub(super) static SPLIT_CALLS: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

/// Workers worth using for an `m × n × k` product with kernel `K` on the current rayon pool.
///
/// The size test comes first so that products too small to split never touch rayon: asking
/// for the thread count starts the global pool (its threads allocate as they start), and a
/// small network should run without it.
fn useful_workers<K: MicroKernel>(m: usize, n: usize, k: usize) -> usize {
    let flops = m.saturating_mul(n).saturating_mul(k).saturating_mul(2);
    if flops < SPLIT_MIN_FLOPS || m.div_ceil(K::MR) < 2 {
        return 1;
    }
    rayon::current_num_threads()
        .clamp(1, MAX_WORKERS)
        .min(m.div_ceil(K::MR))
}

/// The scratch [`super::gemm_scratch_len`] asks for with the current pool: `None` when the
/// product would not be split (the one-thread need applies).
pub(super) fn planned_len<K: MicroKernel, P: Panels<K>>(
    m: usize,
    n: usize,
    k: usize,
) -> Option<usize> {
    let workers = useful_workers::<K>(m, n, k);
    if workers < 2 {
        return None;
    }
    let group = k.div_ceil(Steps::new::<K>(m, n, k).kc).min(MAX_GROUP);
    Some(group * b_pack_len::<K>(n, k) + workers * P::slot_len(m, k))
}

/// Computes the product on the current rayon pool if that is worth it and `scratch` holds a
/// B block and A blocks for at least two workers; returns `false` (having done nothing)
/// otherwise, and the caller runs the serial loop. Same contract as [`super::nest::serial`]
/// with row-major `C` (strides `(n, 1)`), `scratch` being the whole of the caller's scratch.
#[allow(clippy::too_many_arguments)]
pub(super) fn try_parallel<K: MicroKernel, P: Panels<K>>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: Src<'_>,
    beta: f32,
    c: &mut [f32],
    scratch: &mut [f32],
) -> bool {
    let (b_one, slot) = (b_pack_len::<K>(n, k), P::slot_len(m, k));
    let room = scratch.len().saturating_sub(b_one) / slot;
    if room < 2 {
        return false;
    }
    let workers = useful_workers::<K>(m, n, k).min(room);
    if workers < 2 {
        return false;
    }
    #[cfg(test)]
    SPLIT_CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let steps = Steps::new::<K>(m, n, k);
    let slices = k.div_ceil(steps.kc);
    let group = ((scratch.len() - workers * slot) / b_one).clamp(1, slices.min(MAX_GROUP));
    let (b_area, a_area) = scratch.split_at_mut(group * b_one);
    // Row blocks: at most the serial MC, and at least one per worker.
    let per_worker = m.div_ceil(workers).next_multiple_of(K::MR);
    let mc = balanced(m, steps.mc.min(per_worker), K::MR);
    for j0 in (0..n).step_by(steps.nc) {
        let nc = steps.nc.min(n - j0);
        for g0 in (0..slices).step_by(group) {
            let first = g0 * steps.kc;
            let depth = (first + group * steps.kc).min(k) - first;
            pack_b_group(
                kern,
                b_area,
                b_one,
                b,
                (j0, nc),
                (first, depth),
                steps.kc,
                workers,
            );
            let b_area = &*b_area;
            let queue = Mutex::new((0..m).step_by(mc).zip(c.chunks_mut(mc * n)));
            a_area
                .par_chunks_mut(slot)
                .take(workers)
                .for_each(|a_pack| {
                    loop {
                        // A panicking worker cannot leave the iterator half-updated, so a
                        // poisoned lock is still usable.
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some((i0, c_rows)) = next else { break };
                        let rows = mc.min(m - i0);
                        let slices = (first..first + depth).step_by(steps.kc);
                        for (p0, b_pack) in slices.zip(b_area.chunks(b_one)) {
                            let kc = steps.kc.min(k - p0);
                            let region = Region {
                                row0: i0,
                                rows,
                                d0: p0,
                                depth: kc,
                            };
                            P::pack(kern, a_pack, a, region);
                            // The first slice applies the caller's beta; later ones add.
                            let beta = if p0 == 0 { beta } else { 1.0 };
                            let block = Block {
                                mc: rows,
                                nc,
                                kc,
                                beta,
                            };
                            let c_block = &mut c_rows[j0..];
                            P::multiply(kern, block, a_pack, b_pack, c_block, (n, 1));
                        }
                    }
                });
        }
    }
    true
}

/// Packs columns `j0..j0 + nc` of `b`, depth `first..first + depth` cut into slices of
/// `kc`, into `dst`: slice `s` at `dst[s * b_one..]`, laid out as
/// [`MicroKernel::pack_b`] does. Each slice is packed as `workers` ranges of whole
/// micro-panels, all in parallel.
#[allow(clippy::too_many_arguments)]
fn pack_b_group<K: MicroKernel>(
    kern: &K,
    dst: &mut [f32],
    b_one: usize,
    b: Src<'_>,
    (j0, nc): (usize, usize),
    (first, depth): (usize, usize),
    kc: usize,
    workers: usize,
) {
    let nr = K::NR;
    let panels = nc.div_ceil(nr);
    let per = panels.div_ceil(workers);
    dst.par_chunks_mut(b_one)
        .take(depth.div_ceil(kc))
        .enumerate()
        .for_each(|(s, slice)| {
            let d0 = first + s * kc;
            let kc = kc.min(first + depth - d0);
            slice[..panels * kc * nr]
                .par_chunks_mut(per * kc * nr)
                .enumerate()
                .for_each(|(g, part)| {
                    let col = g * per * nr;
                    let region = Region {
                        row0: j0 + col,
                        rows: (nc - col).min(per * nr),
                        d0,
                        depth: kc,
                    };
                    kern.pack_b(part, b, region);
                });
        });
}
