//! The driver: one entry that runs an optimizer's per-element formula over its slices on a
//! kernel path, split over threads with `rayon`.

use wide::f32x8;

use super::lanes::{Lane, run, split_states};
#[cfg(target_arch = "x86_64")]
use super::x86::{Avx2, Avx512};
use crate::kernels::{KernelPath, threads};

/// An optimizer's per-element update with `S` state values per parameter: from the
/// parameter, its gradient and its state, the new parameter and the new state.
///
/// A trait with a generic method rather than a closure, so that one formula is compiled
/// for every [`Lane`] type (a closure cannot be generic).
pub(super) trait Update<const S: usize>: Copy + Send + Sync {
    fn apply<T: Lane>(&self, p: T, g: T, state: [T; S]) -> (T, [T; S]);
}

/// The widest lane (AVX-512's 16 floats): splits for threads are cut at its multiples.
const WIDEST: usize = 16;

/// A kernel path, resolved to what this machine can run (with the proof of support that
/// the `core::arch` lanes need).
#[derive(Clone, Copy)]
enum Engine {
    Scalar,
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl Engine {
    /// The engine for `path`; a path this machine lacks falls back to the portable one.
    fn new(path: KernelPath) -> Engine {
        match path {
            KernelPath::Scalar => Engine::Scalar,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => Avx2::new().map_or(Engine::Portable, Engine::Avx2),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => Avx512::new().map_or(Engine::Portable, Engine::Avx512),
            _ => Engine::Portable,
        }
    }

    fn run<const S: usize, U: Update<S>>(
        self,
        params: &mut [f32],
        grads: &[f32],
        states: [&mut [f32]; S],
        u: &U,
    ) {
        match self {
            Engine::Scalar => run::<f32, S, U>(params, grads, states, u),
            Engine::Portable => run::<f32x8, S, U>(params, grads, states, u),
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2(avx2) => avx2.run(params, grads, states, u),
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512(avx512) => avx512.run(params, grads, states, u),
        }
    }
}

/// Runs `u` over `params`, `grads` and the `states` on `path`. The caller has checked that
/// every slice is as long as `params`.
///
/// Whatever the path and the thread count, every element goes through the same IEEE
/// operations in the same order, so the results are the same bits.
pub(super) fn drive<const S: usize, U: Update<S>>(
    path: KernelPath,
    params: &mut [f32],
    grads: &[f32],
    states: [&mut [f32]; S],
    u: U,
) {
    let engine = Engine::new(path);
    // The scalar path is the plain reference loop: one thread, whatever the length.
    let ways = match engine {
        Engine::Scalar => 1,
        _ => ways(params.len()),
    };
    split(engine, ways, params, grads, states, &u);
}

fn split<const S: usize, U: Update<S>>(
    engine: Engine,
    ways: usize,
    params: &mut [f32],
    grads: &[f32],
    states: [&mut [f32]; S],
    u: &U,
) {
    if ways <= 1 {
        return engine.run(params, grads, states, u);
    }
    let mid = cut(params.len(), ways);
    let (p0, p1) = params.split_at_mut(mid);
    let (g0, g1) = grads.split_at(mid);
    let (s0, s1) = split_states(states, mid);
    let (w0, w1) = (ways / 2, ways - ways / 2);
    threads::join(
        || split(engine, w0, p0, g0, s0, u),
        || split(engine, w1, p1, g1, s1, u),
    );
}

/// Smallest part of an update handed to one thread with `rayon` (~50 µs of memory traffic
/// for Adam, well above the cost of a `join`).
pub(super) const PAR_MIN: usize = 1 << 14;

/// How many threads an update of `len` parameters is spread over ([`threads::ways`]).
fn ways(len: usize) -> usize {
    threads::ways(len, PAR_MIN)
}

/// Where an update over `ways > 1` threads is cut in two: at a multiple of the widest lane,
/// so that only the last part has a scalar tail and every element goes through the same
/// lane type as unsplit. (The lane types agree bit for bit anyway, so the results are the
/// same bits for every thread count.)
fn cut(len: usize, ways: usize) -> usize {
    threads::cut(len, ways, WIDEST)
}
