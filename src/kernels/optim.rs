//! Optimizer update kernels: one fused pass over parameters, gradients and optimizer state.
//!
//! An optimizer step is bound by memory traffic, so each kernel reads a parameter, its
//! gradient and its state once and writes the parameter and the state back, in a single pass.
//!
//! Every algorithm's per-element arithmetic is written **once**, generic over a private
//! `Lane` type (`f32` or `wide::f32x8`). The `*_reference` twins run it element by element in
//! a plain loop; the fast versions run it on 8 lanes at a time and finish the tail with the
//! scalar code. Both perform the same IEEE operations in the same order (no fused
//! multiply-add), so on targets with hardware SIMD square roots (x86 SSE, aarch64 NEON,
//! wasm simd128) they agree bit for bit; the tests allow 1e-6 relative error for the others.
//!
//! With `NANONN_KERNEL=scalar` (see [`super::selected`]) the fast functions run their
//! `*_reference` twins; every other kernel path runs the `wide` code.
//!
//! With the `rayon` feature, long updates are cut in halves run on the current pool, at
//! multiples of the vector width, so the results are the same bits for every thread count.
//!
//! Kernels check slice lengths and return [`crate::ErrorKind::LengthMismatch`]; they do not
//! validate hyper-parameters (the optimizers in [`crate::optim`] do, before calling them).
//!
//! # Weight decay
//! Every kernel takes [`DecayRates`], applied with the parameter's value *before* the step:
//! `l2` is added to the gradient (`g += l2 * p`) before the update; `decoupled` shrinks the
//! parameter independently of the gradient (AdamW: `p -= lr * decoupled * p`, computed as
//! `p * (1 - lr * decoupled)`), so the new parameter is `p * (1 - lr * decoupled) - update`.

use core::ops::{Add, Div, Mul, Sub};

use wide::f32x8;

use super::dispatch::{KernelPath, selected};
use crate::error::{Error, Result};

/// Weight-decay coefficients as the update kernels take them; both zero means no decay.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecayRates {
    /// L2 coefficient: `grad += l2 * param` before the update.
    pub l2: f32,
    /// Decoupled coefficient: `param -= lr * decoupled * param`, beside the update.
    pub decoupled: f32,
}

/// Hyper-parameters of [`sgd_update`]: `p = p - lr * g`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    /// Learning rate.
    pub lr: f32,
    /// Weight decay.
    pub decay: DecayRates,
}

/// Hyper-parameters of [`momentum_update`]: `v = momentum * v + g`, then
/// `p = p - lr * v`, or with Nesterov `p = p - lr * (g + momentum * v)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MomentumHyper {
    /// Learning rate.
    pub lr: f32,
    /// Momentum coefficient (how much of the previous velocity is kept).
    pub momentum: f32,
    /// Nesterov look-ahead (the PyTorch formulation).
    pub nesterov: bool,
    /// Weight decay.
    pub decay: DecayRates,
}

/// Hyper-parameters of [`adagrad_update`]: `s = s + g²`, `p = p - lr * g / sqrt(s + eps)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradHyper {
    /// Learning rate.
    pub lr: f32,
    /// Added to the accumulated squares inside the square root.
    pub eps: f32,
    /// Weight decay.
    pub decay: DecayRates,
}

/// Hyper-parameters of [`rmsprop_update`] (TensorFlow / tinynn formulation):
/// `ms = rho * ms + (1 - rho) * g²`, `mom = momentum * mom + lr * g / sqrt(ms + eps)`,
/// `p = p - mom`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropHyper {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the running mean of squared gradients.
    pub rho: f32,
    /// Added to the mean square inside the square root.
    pub eps: f32,
    /// Momentum of the step (0 for plain RMSProp).
    pub momentum: f32,
    /// Weight decay.
    pub decay: DecayRates,
}

/// Hyper-parameters of [`adadelta_update`] (Zeiler 2012):
/// `eg = rho * eg + (1 - rho) * g²`, `d = g * sqrt(ed + eps) / sqrt(eg + eps)`,
/// `ed = rho * ed + (1 - rho) * d²`, `p = p - lr * d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdadeltaHyper {
    /// Learning rate (1.0 in the paper).
    pub lr: f32,
    /// Decay of both running means.
    pub rho: f32,
    /// Added inside both square roots.
    pub eps: f32,
    /// Weight decay.
    pub decay: DecayRates,
}

/// Hyper-parameters of [`adam_update`] and [`radam_update`].
///
/// Adam: `m = b1 * m + (1 - b1) * g`, `v = b2 * v + (1 - b2) * g²`,
/// `p = p - lr * m̂ / (sqrt(v̂) + eps)` with `m̂ = m / (1 - b1^t)`, `v̂ = v / (1 - b2^t)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to `sqrt(v̂)` in the denominator.
    pub eps: f32,
    /// The step being taken, `t`, starting at 1 (the bias corrections divide by `1 - b^t`).
    pub step: u64,
    /// Weight decay.
    pub decay: DecayRates,
}

// ---------------------------------------------------------------------------------------------
// Lanes: the per-element formulas are generic over `f32` and `f32x8`.

const LANES: usize = 8;

/// What the per-element formulas need from a number: `f32` for the reference, `f32x8` for
/// the fast path.
trait Lane:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    fn splat(x: f32) -> Self;
    fn sqrt(self) -> Self;
    /// Zero where `|x| < TINY`, else `x` (NaN stays NaN); see [`TINY`].
    fn flush_tiny(self) -> Self;
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
/// normal. The fast kernels and their scalar twins flush alike, so they still agree bit for
/// bit.
const TINY: f32 = 1e-30;

impl Lane for f32 {
    #[inline(always)]
    fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        libm::sqrtf(self)
    }
    #[inline(always)]
    fn flush_tiny(self) -> f32 {
        if libm::fabsf(self) < TINY { 0.0 } else { self }
    }
}

impl Lane for f32x8 {
    #[inline(always)]
    fn splat(x: f32) -> f32x8 {
        f32x8::splat(x)
    }
    #[inline(always)]
    fn sqrt(self) -> f32x8 {
        f32x8::sqrt(self)
    }
    #[inline(always)]
    fn flush_tiny(self) -> f32x8 {
        self.abs()
            .simd_lt(f32x8::splat(TINY))
            .select(f32x8::ZERO, self)
    }
}

/// Weight decay, precomputed for one step: `l2` and `keep = 1 - lr * decoupled`.
#[derive(Clone, Copy)]
struct Decay {
    l2: f32,
    keep: f32,
}

impl Decay {
    fn new(rates: DecayRates, lr: f32) -> Decay {
        Decay {
            l2: rates.l2,
            keep: 1.0 - lr * rates.decoupled,
        }
    }
    /// The gradient with L2 decay added (exactly `g` when `l2` is 0).
    #[inline(always)]
    fn grad<T: Lane>(self, p: T, g: T) -> T {
        g + T::splat(self.l2) * p
    }
    /// The parameter after decoupled decay (exactly `p` when `decoupled` is 0).
    #[inline(always)]
    fn shrink<T: Lane>(self, p: T) -> T {
        p * T::splat(self.keep)
    }
}

#[inline(always)]
fn sgd_lane<T: Lane>(h: &SgdHyper, d: Decay, p: T, g: T) -> T {
    let g = d.grad(p, g);
    d.shrink(p) - T::splat(h.lr) * g
}

#[inline(always)]
fn momentum_lane<T: Lane>(h: &MomentumHyper, d: Decay, p: T, g: T, v: T) -> (T, T) {
    let g = d.grad(p, g);
    let mu = T::splat(h.momentum);
    let v = (mu * v + g).flush_tiny();
    let dir = if h.nesterov { g + mu * v } else { v };
    (d.shrink(p) - T::splat(h.lr) * dir, v)
}

#[inline(always)]
fn adagrad_lane<T: Lane>(h: &AdagradHyper, d: Decay, p: T, g: T, s: T) -> (T, T) {
    let g = d.grad(p, g);
    let s = s + g * g;
    let step = T::splat(h.lr) * g / (s + T::splat(h.eps)).sqrt();
    (d.shrink(p) - step, s)
}

#[inline(always)]
fn rmsprop_lane<T: Lane>(h: &RmsPropHyper, d: Decay, p: T, g: T, ms: T, mom: T) -> (T, T, T) {
    let g = d.grad(p, g);
    let ms = (T::splat(h.rho) * ms + T::splat(1.0 - h.rho) * g * g).flush_tiny();
    let mom = T::splat(h.momentum) * mom + T::splat(h.lr) * g / (ms + T::splat(h.eps)).sqrt();
    let mom = mom.flush_tiny();
    (d.shrink(p) - mom, ms, mom)
}

#[inline(always)]
fn adadelta_lane<T: Lane>(h: &AdadeltaHyper, d: Decay, p: T, g: T, eg: T, ed: T) -> (T, T, T) {
    let g = d.grad(p, g);
    let (rho, one_minus_rho, eps) = (T::splat(h.rho), T::splat(1.0 - h.rho), T::splat(h.eps));
    let eg = (rho * eg + one_minus_rho * g * g).flush_tiny();
    let delta = g * (ed + eps).sqrt() / (eg + eps).sqrt();
    let ed = (rho * ed + one_minus_rho * delta * delta).flush_tiny();
    (d.shrink(p) - T::splat(h.lr) * delta, eg, ed)
}

/// Adam and RAdam, reduced to per-step scalars (computed in `f64` once per step).
///
/// The bias corrections are folded into two constants, so that an element costs one
/// division and one square root instead of three divisions and a square root:
/// `lr·m̂/(√v̂ + ε) = m_scale·m / (√(v·v_scale) + ε)` with `m_scale = lr/(1 − β₁ᵗ)` and
/// `v_scale = 1/(1 − β₂ᵗ)`. The textbook order is bound by the divider, which wider vectors
/// barely help: over the MNIST MLP's 355,110 parameters (one Xeon core, AVX-512) it took
/// 408 µs with `wide` at default flags and 359 µs as hand-written AVX-512; the folded form
/// takes 275 µs with `wide`, at the 258 µs memory-traffic floor (the same loop without
/// division), so no `core::arch` variant is needed. It rounds differently from the textbook
/// order (a few ulp of the step); fast and reference share it, bit for bit.
#[derive(Clone, Copy)]
struct AdamStep {
    beta1: f32,
    beta2: f32,
    /// `lr / (1 - beta1^t)`; `lr` is `lr * r_t` for rectified RAdam steps.
    m_scale: f32,
    /// `1 / (1 - beta2^t)`.
    v_scale: f32,
    eps: f32,
    /// Divide by `sqrt(v̂) + eps` (Adam, rectified RAdam) or not (early RAdam steps).
    adaptive: bool,
}

impl AdamStep {
    /// Adam's constants with the learning rate `lr` (f64: RAdam rescales it first).
    fn new(h: &AdamHyper, lr: f64, adaptive: bool) -> Result<AdamStep> {
        if h.step == 0 {
            return Err(Error::config(
                "Adam step counter must start at 1 (bias correction divides by 1 - beta^step)",
            ));
        }
        let t = h.step as f64;
        let bias1 = 1.0 - libm::pow(h.beta1 as f64, t);
        let bias2 = 1.0 - libm::pow(h.beta2 as f64, t);
        Ok(AdamStep {
            beta1: h.beta1,
            beta2: h.beta2,
            m_scale: (lr / bias1) as f32,
            v_scale: (1.0 / bias2) as f32,
            eps: h.eps,
            adaptive,
        })
    }

    fn adam(h: &AdamHyper) -> Result<AdamStep> {
        AdamStep::new(h, h.lr as f64, true)
    }

    /// RAdam (Liu et al. 2019): with `rho_inf = 2 / (1 - b2) - 1` and
    /// `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`, the variance of the adaptive learning rate
    /// is tractable only when `rho_t > 4`; then the step is Adam's scaled by
    /// `r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`,
    /// otherwise it is `lr * m̂` (momentum SGD with a bias-corrected first moment).
    fn radam(h: &AdamHyper) -> Result<AdamStep> {
        let t = h.step as f64;
        let b2 = h.beta2 as f64;
        let b2t = libm::pow(b2, t);
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * b2t / (1.0 - b2t);
        if rho_t > 4.0 {
            let r = libm::sqrt(
                (rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t),
            );
            AdamStep::new(h, h.lr as f64 * r, true)
        } else {
            AdamStep::new(h, h.lr as f64, false)
        }
    }
}

#[inline(always)]
fn adam_lane<T: Lane>(s: &AdamStep, d: Decay, p: T, g: T, m: T, v: T) -> (T, T, T) {
    let g = d.grad(p, g);
    let m = (T::splat(s.beta1) * m + T::splat(1.0 - s.beta1) * g).flush_tiny();
    let v = (T::splat(s.beta2) * v + T::splat(1.0 - s.beta2) * g * g).flush_tiny();
    let step = if s.adaptive {
        T::splat(s.m_scale) * m / ((v * T::splat(s.v_scale)).sqrt() + T::splat(s.eps))
    } else {
        T::splat(s.m_scale) * m
    };
    (d.shrink(p) - step, m, v)
}

// ---------------------------------------------------------------------------------------------
// Drivers: run a lane formula over 8-wide chunks then a scalar tail (`SIMD = true`), or over
// every element with the scalar code (`SIMD = false`, the reference).

fn check_lengths(params: usize, grads: usize, states: &[(&'static str, usize)]) -> Result<()> {
    if grads != params {
        return Err(Error::length("gradients", params, grads));
    }
    for &(what, len) in states {
        if len != params {
            return Err(Error::length(what, params, len));
        }
    }
    Ok(())
}

#[inline(always)]
fn load(s: &[f32]) -> f32x8 {
    let mut a = [0.0; LANES];
    a.copy_from_slice(s); // `s` is a `chunks_exact(LANES)` chunk: lengths always agree
    f32x8::new(a)
}

#[inline(always)]
fn store(s: &mut [f32], v: f32x8) {
    s.copy_from_slice(&v.to_array());
}

/// How many leading elements go through the SIMD loop.
const fn body_len<const SIMD: bool>(n: usize) -> usize {
    if SIMD { n / LANES * LANES } else { 0 }
}

/// Smallest part of an update handed to one thread with `rayon` (~50 µs of memory traffic
/// for Adam, well above the cost of a `join`).
#[cfg(feature = "rayon")]
const PAR_MIN: usize = 1 << 14;

/// How many threads an update of `len` parameters is spread over: with `rayon`, called on
/// a pool's thread, one contiguous part per thread of that pool (fewer if the parts would be
/// short), for the fast kernels. One part per thread, rather than many small ones, keeps each part on
/// the thread that ran it at the previous step (the caller takes the left half of every
/// split, the other workers steal the right), so its cache lines do not move between cores.
fn ways<const SIMD: bool>(len: usize) -> usize {
    // The length test comes first, and only a rayon worker splits: asking for the thread
    // count from outside a pool starts the global pool (its threads allocate as they
    // start), and a join from outside a pool queues the job through the pool's injector,
    // which allocates. A small network, or a caller not in a pool, never touches rayon.
    #[cfg(feature = "rayon")]
    if SIMD && len >= 2 * PAR_MIN && rayon::current_thread_index().is_some() {
        return rayon::current_num_threads().min(len / PAR_MIN).max(1);
    }
    let _ = len;
    1
}

/// Where an update over `ways > 1` threads is cut in two: in proportion to the threads each
/// side gets, at a multiple of the vector width, so that every element goes through exactly
/// the code it would unsplit and the results are the same bits for every thread count.
fn cut(len: usize, ways: usize) -> usize {
    (len / ways * (ways / 2)).next_multiple_of(LANES).min(len)
}

/// Runs both halves, in parallel with `rayon` (only ever called when [`ways`] is above 1).
fn join(left: impl FnOnce() + Send, right: impl FnOnce() + Send) {
    #[cfg(feature = "rayon")]
    rayon::join(left, right);
    #[cfg(not(feature = "rayon"))]
    {
        left();
        right();
    }
}

fn drive0<const SIMD: bool>(
    ways: usize,
    params: &mut [f32],
    grads: &[f32],
    simd: impl Fn(f32x8, f32x8) -> f32x8 + Copy + Send + Sync,
    scalar: impl Fn(f32, f32) -> f32 + Copy + Send + Sync,
) {
    if ways > 1 {
        let mid = cut(params.len(), ways);
        let (p0, p1) = params.split_at_mut(mid);
        let (g0, g1) = grads.split_at(mid);
        let (w0, w1) = (ways / 2, ways - ways / 2);
        let half = |w, p, g| drive0::<SIMD>(w, p, g, simd, scalar);
        return join(|| half(w0, p0, g0), || half(w1, p1, g1));
    }
    let body = body_len::<SIMD>(params.len());
    let (pb, pt) = params.split_at_mut(body);
    let (gb, gt) = grads.split_at(body);
    for (p, g) in pb.chunks_exact_mut(LANES).zip(gb.chunks_exact(LANES)) {
        store(p, simd(load(p), load(g)));
    }
    for (p, g) in pt.iter_mut().zip(gt) {
        *p = scalar(*p, *g);
    }
}

type Pair<T> = (T, T);
type Triple<T> = (T, T, T);

fn drive1<const SIMD: bool>(
    ways: usize,
    params: &mut [f32],
    grads: &[f32],
    a: &mut [f32],
    simd: impl Fn(f32x8, f32x8, f32x8) -> Pair<f32x8> + Copy + Send + Sync,
    scalar: impl Fn(f32, f32, f32) -> Pair<f32> + Copy + Send + Sync,
) {
    if ways > 1 {
        let mid = cut(params.len(), ways);
        let (p0, p1) = params.split_at_mut(mid);
        let (g0, g1) = grads.split_at(mid);
        let (a0, a1) = a.split_at_mut(mid);
        let (w0, w1) = (ways / 2, ways - ways / 2);
        let half = |w, p, g, a| drive1::<SIMD>(w, p, g, a, simd, scalar);
        return join(|| half(w0, p0, g0, a0), || half(w1, p1, g1, a1));
    }
    let body = body_len::<SIMD>(params.len());
    let (pb, pt) = params.split_at_mut(body);
    let (gb, gt) = grads.split_at(body);
    let (ab, at) = a.split_at_mut(body);
    let chunks = pb.chunks_exact_mut(LANES).zip(gb.chunks_exact(LANES));
    for ((p, g), a) in chunks.zip(ab.chunks_exact_mut(LANES)) {
        let (np, na) = simd(load(p), load(g), load(a));
        store(p, np);
        store(a, na);
    }
    for ((p, g), a) in pt.iter_mut().zip(gt).zip(at) {
        (*p, *a) = scalar(*p, *g, *a);
    }
}

fn drive2<const SIMD: bool>(
    ways: usize,
    params: &mut [f32],
    grads: &[f32],
    a: &mut [f32],
    b: &mut [f32],
    simd: impl Fn(f32x8, f32x8, f32x8, f32x8) -> Triple<f32x8> + Copy + Send + Sync,
    scalar: impl Fn(f32, f32, f32, f32) -> Triple<f32> + Copy + Send + Sync,
) {
    if ways > 1 {
        let mid = cut(params.len(), ways);
        let (p0, p1) = params.split_at_mut(mid);
        let (g0, g1) = grads.split_at(mid);
        let (a0, a1) = a.split_at_mut(mid);
        let (b0, b1) = b.split_at_mut(mid);
        let (w0, w1) = (ways / 2, ways - ways / 2);
        let half = |w, p, g, a, b| drive2::<SIMD>(w, p, g, a, b, simd, scalar);
        return join(|| half(w0, p0, g0, a0, b0), || half(w1, p1, g1, a1, b1));
    }
    let body = body_len::<SIMD>(params.len());
    let (pb, pt) = params.split_at_mut(body);
    let (gb, gt) = grads.split_at(body);
    let (ab, at) = a.split_at_mut(body);
    let (bb, bt) = b.split_at_mut(body);
    let chunks = pb.chunks_exact_mut(LANES).zip(gb.chunks_exact(LANES));
    let states = ab.chunks_exact_mut(LANES).zip(bb.chunks_exact_mut(LANES));
    for ((p, g), (a, b)) in chunks.zip(states) {
        let (np, na, nb) = simd(load(p), load(g), load(a), load(b));
        store(p, np);
        store(a, na);
        store(b, nb);
    }
    for ((p, g), (a, b)) in pt.iter_mut().zip(gt).zip(at.iter_mut().zip(bt)) {
        (*p, *a, *b) = scalar(*p, *g, *a, *b);
    }
}

// ---------------------------------------------------------------------------------------------
// The kernels, each once, instantiated fast (`SIMD = true`) and reference (`false`) below.

fn sgd<const SIMD: bool>(params: &mut [f32], grads: &[f32], h: SgdHyper) -> Result<()> {
    check_lengths(params.len(), grads.len(), &[])?;
    let d = Decay::new(h.decay, h.lr);
    let scalar = |p, g| sgd_lane(&h, d, p, g);
    drive0::<SIMD>(
        ways::<SIMD>(params.len()),
        params,
        grads,
        |p, g| sgd_lane(&h, d, p, g),
        scalar,
    );
    Ok(())
}

fn momentum<const SIMD: bool>(
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
    h: MomentumHyper,
) -> Result<()> {
    check_lengths(params.len(), grads.len(), &[("velocity", velocity.len())])?;
    let d = Decay::new(h.decay, h.lr);
    let scalar = |p, g, v| momentum_lane(&h, d, p, g, v);
    drive1::<SIMD>(
        ways::<SIMD>(params.len()),
        params,
        grads,
        velocity,
        |p, g, v| momentum_lane(&h, d, p, g, v),
        scalar,
    );
    Ok(())
}

fn adagrad<const SIMD: bool>(
    params: &mut [f32],
    grads: &[f32],
    sum_sq: &mut [f32],
    h: AdagradHyper,
) -> Result<()> {
    check_lengths(
        params.len(),
        grads.len(),
        &[("Adagrad sum of squares", sum_sq.len())],
    )?;
    let d = Decay::new(h.decay, h.lr);
    let scalar = |p, g, s| adagrad_lane(&h, d, p, g, s);
    drive1::<SIMD>(
        ways::<SIMD>(params.len()),
        params,
        grads,
        sum_sq,
        |p, g, s| adagrad_lane(&h, d, p, g, s),
        scalar,
    );
    Ok(())
}

fn rmsprop<const SIMD: bool>(
    params: &mut [f32],
    grads: &[f32],
    mean_sq: &mut [f32],
    mom: &mut [f32],
    h: RmsPropHyper,
) -> Result<()> {
    let states = [
        ("RMSProp mean square", mean_sq.len()),
        ("RMSProp momentum", mom.len()),
    ];
    check_lengths(params.len(), grads.len(), &states)?;
    let d = Decay::new(h.decay, h.lr);
    let scalar = |p, g, a, b| rmsprop_lane(&h, d, p, g, a, b);
    drive2::<SIMD>(
        ways::<SIMD>(params.len()),
        params,
        grads,
        mean_sq,
        mom,
        |p, g, a, b| rmsprop_lane(&h, d, p, g, a, b),
        scalar,
    );
    Ok(())
}

fn adadelta<const SIMD: bool>(
    params: &mut [f32],
    grads: &[f32],
    mean_sq_grad: &mut [f32],
    mean_sq_delta: &mut [f32],
    h: AdadeltaHyper,
) -> Result<()> {
    let states = [
        ("Adadelta mean square gradient", mean_sq_grad.len()),
        ("Adadelta mean square delta", mean_sq_delta.len()),
    ];
    check_lengths(params.len(), grads.len(), &states)?;
    let d = Decay::new(h.decay, h.lr);
    let scalar = |p, g, a, b| adadelta_lane(&h, d, p, g, a, b);
    let simd = |p, g, a, b| adadelta_lane(&h, d, p, g, a, b);
    drive2::<SIMD>(
        ways::<SIMD>(params.len()),
        params,
        grads,
        mean_sq_grad,
        mean_sq_delta,
        simd,
        scalar,
    );
    Ok(())
}

/// Adam (`rectify = false`) or RAdam (`true`).
fn adam<const SIMD: bool>(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
    rectify: bool,
) -> Result<()> {
    let states = [("first moment", m.len()), ("second moment", v.len())];
    check_lengths(params.len(), grads.len(), &states)?;
    let s = if rectify {
        AdamStep::radam(&h)?
    } else {
        AdamStep::adam(&h)?
    };
    let d = Decay::new(h.decay, h.lr);
    let scalar = |p, g, m, v| adam_lane(&s, d, p, g, m, v);
    drive2::<SIMD>(
        ways::<SIMD>(params.len()),
        params,
        grads,
        m,
        v,
        |p, g, m, v| adam_lane(&s, d, p, g, m, v),
        scalar,
    );
    Ok(())
}

/// Plain SGD step, see [`SgdHyper`]. Errors if `grads` is not as long as `params`.
pub fn sgd_update(params: &mut [f32], grads: &[f32], h: SgdHyper) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return sgd_update_reference(params, grads, h);
    }
    sgd::<true>(params, grads, h)
}

/// Scalar twin of [`sgd_update`].
pub fn sgd_update_reference(params: &mut [f32], grads: &[f32], h: SgdHyper) -> Result<()> {
    sgd::<false>(params, grads, h)
}

/// Momentum SGD step, see [`MomentumHyper`]; `velocity` is as long as `params`.
pub fn momentum_update(
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
    h: MomentumHyper,
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return momentum_update_reference(params, grads, velocity, h);
    }
    momentum::<true>(params, grads, velocity, h)
}

/// Scalar twin of [`momentum_update`].
pub fn momentum_update_reference(
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
    h: MomentumHyper,
) -> Result<()> {
    momentum::<false>(params, grads, velocity, h)
}

/// Adagrad step, see [`AdagradHyper`]; `sum_sq` (the accumulated squared gradients) is as
/// long as `params`.
pub fn adagrad_update(
    params: &mut [f32],
    grads: &[f32],
    sum_sq: &mut [f32],
    h: AdagradHyper,
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return adagrad_update_reference(params, grads, sum_sq, h);
    }
    adagrad::<true>(params, grads, sum_sq, h)
}

/// Scalar twin of [`adagrad_update`].
pub fn adagrad_update_reference(
    params: &mut [f32],
    grads: &[f32],
    sum_sq: &mut [f32],
    h: AdagradHyper,
) -> Result<()> {
    adagrad::<false>(params, grads, sum_sq, h)
}

/// RMSProp step, see [`RmsPropHyper`]; `mean_sq` and `mom` are as long as `params`.
pub fn rmsprop_update(
    params: &mut [f32],
    grads: &[f32],
    mean_sq: &mut [f32],
    mom: &mut [f32],
    h: RmsPropHyper,
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return rmsprop_update_reference(params, grads, mean_sq, mom, h);
    }
    rmsprop::<true>(params, grads, mean_sq, mom, h)
}

/// Scalar twin of [`rmsprop_update`].
pub fn rmsprop_update_reference(
    params: &mut [f32],
    grads: &[f32],
    mean_sq: &mut [f32],
    mom: &mut [f32],
    h: RmsPropHyper,
) -> Result<()> {
    rmsprop::<false>(params, grads, mean_sq, mom, h)
}

/// Adadelta step, see [`AdadeltaHyper`]; `mean_sq_grad` and `mean_sq_delta` are as long as
/// `params`.
pub fn adadelta_update(
    params: &mut [f32],
    grads: &[f32],
    mean_sq_grad: &mut [f32],
    mean_sq_delta: &mut [f32],
    h: AdadeltaHyper,
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return adadelta_update_reference(params, grads, mean_sq_grad, mean_sq_delta, h);
    }
    adadelta::<true>(params, grads, mean_sq_grad, mean_sq_delta, h)
}

/// Scalar twin of [`adadelta_update`].
pub fn adadelta_update_reference(
    params: &mut [f32],
    grads: &[f32],
    mean_sq_grad: &mut [f32],
    mean_sq_delta: &mut [f32],
    h: AdadeltaHyper,
) -> Result<()> {
    adadelta::<false>(params, grads, mean_sq_grad, mean_sq_delta, h)
}

/// Adam step number `h.step` (from 1), see [`AdamHyper`]; `m` and `v` are as long as
/// `params`. Errors also if `h.step` is 0.
pub fn adam_update(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return adam_update_reference(params, grads, m, v, h);
    }
    adam::<true>(params, grads, m, v, h, false)
}

/// Scalar twin of [`adam_update`].
pub fn adam_update_reference(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
) -> Result<()> {
    adam::<false>(params, grads, m, v, h, false)
}

/// RAdam step number `h.step` (from 1): Adam's moments, with the adaptive step rectified by
/// `r_t` when `rho_t > 4` and a plain `lr * m̂` step otherwise (the threshold of the paper's
/// Algorithm 2 and of tinynn; PyTorch uses 5). With the default `beta2 = 0.999` the first 4
/// steps are unrectified (`rho_4 ≈ 3.997`, `rho_5 ≈ 4.996`). Errors also if `h.step` is 0.
pub fn radam_update(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return radam_update_reference(params, grads, m, v, h);
    }
    adam::<true>(params, grads, m, v, h, true)
}

/// Scalar twin of [`radam_update`].
pub fn radam_update_reference(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
) -> Result<()> {
    adam::<false>(params, grads, m, v, h, true)
}

#[cfg(test)]
#[path = "optim_tests.rs"]
mod tests;
