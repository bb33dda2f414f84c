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

#[cfg(target_arch = "x86_64")]
use super::in_place;
use super::nest::{Block, MicroKernel, SPLIT_MIN_FLOPS, Steps, b_pack_len};
use super::pack::{Region, Src};
use super::panels::Panels;
#[cfg(target_arch = "x86_64")]
use super::panels::SparseTile;
use super::scatter;

/// Most workers the scratch is ever sized for (each needs one packed A block, ~100 KiB).
pub(super) const MAX_WORKERS: usize = 64;

/// Most depth slices whose B blocks are packed together (`k <= 4 · KC` is one group: 512 for
/// the AVX-512 kernel, 1024 for the others).
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
    let mc = row_block::<K>(m, steps.mc, workers);
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

/// [`try_parallel`] for a product whose rows go to listed rows of `c`
/// ([`super::scatter::run`], which checks that there is one depth slice and one column
/// block): B is packed once by all workers, then each worker takes row blocks in turn,
/// computes each into its own block of scratch and copies it to its rows of `C` (zeroing
/// those between). `false`, with nothing done, as there.
#[allow(clippy::too_many_arguments)]
pub(super) fn try_parallel_scattered<K: MicroKernel, P: Panels<K>>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: Src<'_>,
    rows: &[f32],
    c: &mut [f32],
    scratch: &mut [f32],
) -> bool {
    let b_one = b_pack_len::<K>(n, k);
    let area = P::slot_len(m, k) + scatter::block_len::<K>(m, n);
    let room = scratch.len().saturating_sub(b_one) / area;
    let workers = useful_workers::<K>(m, n, k).min(room);
    if workers < 2 {
        return false;
    }
    #[cfg(test)]
    SPLIT_CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let (b_pack, areas) = scratch.split_at_mut(b_one);
    pack_b_group(kern, b_pack, b_one, b, (0, n), (0, k), k, workers);
    let b_pack = &*b_pack;
    let mc = row_block::<K>(m, Steps::new::<K>(m, n, k).mc, workers);
    let queue = Mutex::new(scatter::Spans::new(rows, mc, n, c));
    areas.par_chunks_mut(area).take(workers).for_each(|area| {
        loop {
            // A poisoned lock is still usable, as in `try_parallel`.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some(span) = next else { break };
            scatter::block::<K, P>(kern, (m, n, k), a, b_pack, area, span);
        }
    });
    true
}

/// [`super::in_place::run`] on the current rayon pool: workers take row blocks in turn, each
/// packing its A blocks into its own slot of `scratch` and reading B where it is stored (no
/// B block to pack, so one fork-join for the whole product). `false`, with nothing done,
/// when splitting is not worth it or `scratch` holds fewer than two slots.
#[cfg(target_arch = "x86_64")]
pub(super) fn try_parallel_in_place<K: SparseTile>(
    kern: &K,
    (m, n, k): (usize, usize, usize),
    a: Src<'_>,
    b: (&[f32], &[f32]),
    c: &mut [f32],
    scratch: &mut [f32],
) -> bool {
    let slot = in_place::slot_len::<K>(m, k);
    let workers = useful_workers::<K>(m, n, k).min(scratch.len() / slot);
    if workers < 2 {
        return false;
    }
    #[cfg(test)]
    SPLIT_CALLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let steps = Steps::new::<K>(m, n, k);
    let mc = row_block::<K>(m, steps.mc, workers);
    let queue = Mutex::new((0..m).step_by(mc).zip(c.chunks_mut(mc * n)));
    scratch.par_chunks_mut(slot).take(workers).for_each(|slot| {
        loop {
            // A poisoned lock is still usable, as in `try_parallel`.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i0, c_rows)) = next else { break };
            in_place::block(kern, (n, k), steps.kc, a, b, i0, c_rows, slot);
        }
    });
    true
}

/// How many workers [`try_parallel`] would use for this product on the current pool with
/// enough scratch (1: it would not split).
pub(super) fn planned_workers<K: MicroKernel>(m: usize, n: usize, k: usize) -> usize {
    useful_workers::<K>(m, n, k)
}

/// The row-block height for `workers` workers taking blocks of `m` rows in turn: the
/// multiple of `MR` from half to all of `max_mc` (capped at an even share per worker) whose
/// blocks, handed to whichever worker is least loaded, leave the busiest with the fewest
/// micro-panels (the larger height on a tie). Not below half: each block re-reads every B
/// micro-panel from L2, and MNIST's 784-row product ran slower on 2 threads with blocks of 36
/// rows than of 96, though the 36-row blocks share its 66 panels evenly.
///
/// Why not simply the serial blocks: 512 rows are 43 micro-panels, and blocks of 96 rows (8
/// panels) leave the two workers 24 and 19 panels; blocks of 84 rows leave them 22 and 21.
/// Only *when* a row is computed depends on this, never its bits.
fn row_block<K: MicroKernel>(m: usize, max_mc: usize, workers: usize) -> usize {
    let per_worker = m.div_ceil(workers).next_multiple_of(K::MR);
    let top = max_mc.min(per_worker).max(K::MR);
    let busiest = |mc: usize| {
        let mut loads = [0usize; MAX_WORKERS];
        let loads = &mut loads[..workers.clamp(1, MAX_WORKERS)];
        for i0 in (0..m).step_by(mc) {
            let panels = mc.min(m - i0).div_ceil(K::MR);
            if let Some(least) = loads.iter_mut().min() {
                *least += panels;
            }
        }
        loads.iter().copied().max().unwrap_or(0)
    };
    let top_panels = top / K::MR;
    (top_panels.div_ceil(2)..=top_panels)
        .rev()
        .map(|panels| panels * K::MR)
        .min_by_key(|&mc| busiest(mc))
        .unwrap_or(K::MR)
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::avx512::Avx512;
    use super::*;

    /// Micro-panels of the busiest of `workers` workers taking `mc`-row blocks in turn.
    fn busiest(m: usize, mc: usize, workers: usize) -> usize {
        let mut loads = vec![0; workers];
        for i0 in (0..m).step_by(mc) {
            let least = (0..workers).min_by_key(|&w| loads[w]).unwrap();
            loads[least] += mc.min(m - i0).div_ceil(12);
        }
        loads.into_iter().max().unwrap()
    }

    #[test]
    fn row_blocks_share_the_panels_evenly() {
        // 512 rows (43 panels of 12) on two workers: 84-row blocks give 22 and 21 panels,
        // the serial 96-row blocks 24 and 19.
        assert_eq!(row_block::<Avx512>(512, 96, 2), 84);
        for m in [13, 100, 128, 301, 512, 784, 1000, 1024] {
            for workers in [2, 3, 4, 7] {
                let mc = row_block::<Avx512>(m, 96, workers);
                assert!(
                    mc.is_multiple_of(12) && mc <= 96,
                    "{m} rows, {workers} workers: {mc}"
                );
                let serial = Steps::new::<Avx512>(m, 1, 1).mc;
                let even = m.div_ceil(workers).next_multiple_of(12).min(serial);
                assert!(
                    busiest(m, mc, workers) <= busiest(m, even, workers),
                    "{m} rows, {workers} workers: {mc} rows per block is worse than {even}"
                );
            }
        }
    }
}
