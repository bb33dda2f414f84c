//! Lanes: what the per-element formulas compute with, and the loop that runs a formula over
//! slices one lane at a time.
//!
//! A [`Lane`] is `f32` (the scalar twins and every tail), `wide::f32x8` (the portable path)
//! or, on x86-64, a `core::arch` register (`__m256`, `__m512`; see `super::x86`). Every
//! lane type performs the same IEEE operations (no fused multiply-add, correctly rounded
//! square root and division), so a formula gives the same bits whatever lane runs it.

use core::ops::{Add, Div, Mul, Sub};

use wide::f32x8;

use super::drive::Update;

/// What the per-element formulas need from a number, and how the drivers move it in and
/// out of memory.
pub(super) trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// Floats per lane.
    const WIDTH: usize;
    fn splat(x: f32) -> Self;
    /// The correctly rounded square root (never an approximation).
    fn sqrt(self) -> Self;
    /// Zero where `|x| < limit`, else `x` (NaN stays NaN).
    fn flush_below(self, limit: f32) -> Self;
    /// Zero where `|x| < TINY`, else `x` (NaN stays NaN); see [`TINY`].
    #[inline(always)]
    fn flush_tiny(self) -> Self {
        self.flush_below(TINY)
    }
    /// The first [`Lane::WIDTH`] floats of `s` (panics if `s` is shorter).
    fn load(s: &[f32]) -> Self;
    /// Writes the lane to the first [`Lane::WIDTH`] floats of `s` (panics if shorter).
    fn store(self, s: &mut [f32]);
}

/// Optimizer state below this magnitude is stored as zero.
///
/// Why: state that decays geometrically (Adam's moments, momentum, RMSProp's mean square)
/// shrinks towards zero wherever a gradient stays zero (a dead ReLU unit, a pixel that is
/// black in every image of a batch) and, within a few hundred steps, becomes subnormal.
/// x86 CPUs take a microcode assist of ~100 cycles for every operation that reads or makes a
/// subnormal: measured on the MNIST MLP, Adam's step went from 0.26 ms to 7.5 ms. Setting the
/// CPU's flush-to-zero mode would change the caller's floating-point environment behind its
/// back, so the kernels flush their own state instead. `1e-30` is far below anything that
/// can move a parameter (Adam's step from a moment of 1e-30 is ~1e-25 of the learning rate)
/// and far enough above the subnormal range (< 1.2e-38) that a decaying product of it stays
/// normal. Every lane type flushes alike (to `+0.0`, also for negative values), so the
/// paths still agree bit for bit.
pub(super) const TINY: f32 = 1e-30;

impl Lane for f32 {
    const WIDTH: usize = 1;
    #[inline(always)]
    fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        libm::sqrtf(self)
    }
    #[inline(always)]
    fn flush_below(self, limit: f32) -> f32 {
        if libm::fabsf(self) < limit { 0.0 } else { self }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[0] = self;
    }
}

impl Lane for f32x8 {
    const WIDTH: usize = 8;
    #[inline(always)]
    fn splat(x: f32) -> f32x8 {
        f32x8::splat(x)
    }
    #[inline(always)]
    fn sqrt(self) -> f32x8 {
        f32x8::sqrt(self)
    }
    #[inline(always)]
    fn flush_below(self, limit: f32) -> f32x8 {
        self.abs()
            .simd_lt(f32x8::splat(limit))
            .select(f32x8::ZERO, self)
    }
    #[inline(always)]
    fn load(s: &[f32]) -> f32x8 {
        let mut a = [0.0; 8];
        a.copy_from_slice(&s[..8]);
        f32x8::new(a)
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[..8].copy_from_slice(&self.to_array());
    }
}

/// Cuts every state slice at `mid`: the parts before, and the parts from `mid` on.
#[inline(always)]
pub(super) fn split_states<const S: usize>(
    states: [&mut [f32]; S],
    mid: usize,
) -> ([&mut [f32]; S], [&mut [f32]; S]) {
    let mut left = states;
    let mut right: [&mut [f32]; S] = core::array::from_fn(|_| Default::default());
    for (l, r) in left.iter_mut().zip(&mut right) {
        (*l, *r) = core::mem::take(l).split_at_mut(mid);
    }
    (left, right)
}

/// Runs `u` over all of `params`: whole lanes of `T` first, then the rest one `f32` at a
/// time. The caller has checked that `grads` and every state slice are as long as
/// `params`.
///
/// Always inlined, so that it is compiled with the instruction set of its caller (the
/// `#[target_feature]` functions of `super::x86`).
#[inline(always)]
pub(super) fn run<T: Lane, const S: usize, U: Update<S>>(
    params: &mut [f32],
    grads: &[f32],
    states: [&mut [f32]; S],
    u: &U,
) {
    let body = params.len() / T::WIDTH * T::WIDTH;
    let (pb, pt) = params.split_at_mut(body);
    let (sb, st) = split_states(states, body);
    lanes::<T, S, U>(pb, &grads[..body], sb, u);
    if T::WIDTH > 1 {
        lanes::<f32, S, U>(pt, &grads[body..], st, u);
    }
}

/// Runs `u` over `params.len() / T::WIDTH` whole lanes.
#[inline(always)]
fn lanes<T: Lane, const S: usize, U: Update<S>>(
    params: &mut [f32],
    grads: &[f32],
    mut states: [&mut [f32]; S],
    u: &U,
) {
    // Every slice cut to the same length, so that the bounds checks in the loop (the
    // compiler sees `i + WIDTH <= n` for each) disappear.
    let n = params.len();
    let grads = &grads[..n];
    for s in states.iter_mut() {
        *s = &mut core::mem::take(s)[..n];
    }
    let w = T::WIDTH;
    let mut i = 0;
    while i + w <= n {
        let (p, g) = (T::load(&params[i..i + w]), T::load(&grads[i..i + w]));
        let s = core::array::from_fn(|k| T::load(&states[k][i..i + w]));
        let (p, s) = u.apply(p, g, s);
        p.store(&mut params[i..i + w]);
        for (out, s) in states.iter_mut().zip(s) {
            s.store(&mut out[i..i + w]);
        }
        i += w;
    }
}
