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
}

impl Lane for f32 {
    #[inline(always)]
    fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        libm::sqrtf(self)
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
    let v = mu * v + g;
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
    let ms = T::splat(h.rho) * ms + T::splat(1.0 - h.rho) * g * g;
    let mom = T::splat(h.momentum) * mom + T::splat(h.lr) * g / (ms + T::splat(h.eps)).sqrt();
    (d.shrink(p) - mom, ms, mom)
}

#[inline(always)]
fn adadelta_lane<T: Lane>(h: &AdadeltaHyper, d: Decay, p: T, g: T, eg: T, ed: T) -> (T, T, T) {
    let g = d.grad(p, g);
    let (rho, one_minus_rho, eps) = (T::splat(h.rho), T::splat(1.0 - h.rho), T::splat(h.eps));
    let eg = rho * eg + one_minus_rho * g * g;
    let delta = g * (ed + eps).sqrt() / (eg + eps).sqrt();
    let ed = rho * ed + one_minus_rho * delta * delta;
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
    let m = T::splat(s.beta1) * m + T::splat(1.0 - s.beta1) * g;
    let v = T::splat(s.beta2) * v + T::splat(1.0 - s.beta2) * g * g;
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

fn drive0<const SIMD: bool>(
    params: &mut [f32],
    grads: &[f32],
    simd: impl Fn(f32x8, f32x8) -> f32x8,
    scalar: impl Fn(f32, f32) -> f32,
) {
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
    params: &mut [f32],
    grads: &[f32],
    a: &mut [f32],
    simd: impl Fn(f32x8, f32x8, f32x8) -> Pair<f32x8>,
    scalar: impl Fn(f32, f32, f32) -> Pair<f32>,
) {
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
    params: &mut [f32],
    grads: &[f32],
    a: &mut [f32],
    b: &mut [f32],
    simd: impl Fn(f32x8, f32x8, f32x8, f32x8) -> Triple<f32x8>,
    scalar: impl Fn(f32, f32, f32, f32) -> Triple<f32>,
) {
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
    drive0::<SIMD>(params, grads, |p, g| sgd_lane(&h, d, p, g), scalar);
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
    drive2::<SIMD>(params, grads, mean_sq_grad, mean_sq_delta, simd, scalar);
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
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::rng::Rng;

    const LENS: [usize; 9] = [0, 1, 3, 7, 8, 9, 17, 33, 129];

    /// A kernel as the tests call it: `(fast, k, params, grads, state)` runs the fast or the
    /// reference version for the `k`-th call, `state` holding its state slices one after the
    /// other.
    type Kernel = Box<dyn Fn(bool, u64, &mut [f32], &[f32], &mut [f32]) -> Result<()>>;

    /// Splits a state buffer into two slices of `n` (or fewer, to provoke length errors).
    fn halves(n: usize, s: &mut [f32]) -> (&mut [f32], &mut [f32]) {
        s.split_at_mut(n.min(s.len()))
    }

    /// Every kernel variant as `(name, state floats per parameter, kernel)`; Adam and RAdam
    /// take step `first_step + k` on the `k`-th call. The fast side calls the `wide` code
    /// directly, so that `NANONN_KERNEL=scalar` does not make it reference vs reference.
    fn kernels(decay: DecayRates, first_step: u64) -> Vec<(&'static str, usize, Kernel)> {
        let sgd = SgdHyper { lr: 0.1, decay };
        let momentum = MomentumHyper {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            decay,
        };
        let nesterov = MomentumHyper {
            nesterov: true,
            ..momentum
        };
        let adagrad = AdagradHyper {
            lr: 0.1,
            eps: 1e-8,
            decay,
        };
        let rms = RmsPropHyper {
            lr: 0.01,
            rho: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            decay,
        };
        let rms_momentum = RmsPropHyper {
            momentum: 0.9,
            ..rms
        };
        let adadelta = AdadeltaHyper {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            decay,
        };
        let adam = move |k| AdamHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: first_step + k,
            decay,
        };
        vec![
            (
                "sgd",
                0,
                Box::new(move |fast, _, p, g, _| {
                    if fast {
                        super::sgd::<true>(p, g, sgd)
                    } else {
                        super::sgd::<false>(p, g, sgd)
                    }
                }),
            ),
            (
                "momentum",
                1,
                Box::new(move |fast, _, p, g, s| {
                    let f = if fast {
                        super::momentum::<true>
                    } else {
                        super::momentum::<false>
                    };
                    f(p, g, s, momentum)
                }),
            ),
            (
                "nesterov",
                1,
                Box::new(move |fast, _, p, g, s| {
                    let f = if fast {
                        super::momentum::<true>
                    } else {
                        super::momentum::<false>
                    };
                    f(p, g, s, nesterov)
                }),
            ),
            (
                "adagrad",
                1,
                Box::new(move |fast, _, p, g, s| {
                    let f = if fast {
                        super::adagrad::<true>
                    } else {
                        super::adagrad::<false>
                    };
                    f(p, g, s, adagrad)
                }),
            ),
            (
                "rmsprop",
                2,
                Box::new(move |fast, _, p, g, s| {
                    let f = if fast {
                        super::rmsprop::<true>
                    } else {
                        super::rmsprop::<false>
                    };
                    let (a, b) = halves(p.len(), s);
                    f(p, g, a, b, rms)
                }),
            ),
            (
                "rmsprop+momentum",
                2,
                Box::new(move |fast, _, p, g, s| {
                    let f = if fast {
                        super::rmsprop::<true>
                    } else {
                        super::rmsprop::<false>
                    };
                    let (a, b) = halves(p.len(), s);
                    f(p, g, a, b, rms_momentum)
                }),
            ),
            (
                "adadelta",
                2,
                Box::new(move |fast, _, p, g, s| {
                    let f = if fast {
                        super::adadelta::<true>
                    } else {
                        super::adadelta::<false>
                    };
                    let (a, b) = halves(p.len(), s);
                    f(p, g, a, b, adadelta)
                }),
            ),
            (
                "adam",
                2,
                Box::new(move |fast, k, p, g, s| {
                    let f = if fast {
                        super::adam::<true>
                    } else {
                        super::adam::<false>
                    };
                    let (m, v) = halves(p.len(), s);
                    f(p, g, m, v, adam(k), false)
                }),
            ),
            (
                "radam",
                2,
                Box::new(move |fast, k, p, g, s| {
                    let f = if fast {
                        super::adam::<true>
                    } else {
                        super::adam::<false>
                    };
                    let (m, v) = halves(p.len(), s);
                    f(p, g, m, v, adam(k), true)
                }),
            ),
        ]
    }

    /// No decay, L2, decoupled.
    fn decays() -> [DecayRates; 3] {
        [(0.0, 0.0), (0.05, 0.0), (0.0, 0.05)].map(|(l2, decoupled)| DecayRates { l2, decoupled })
    }

    fn close(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
    }

    /// Runs the fast and the reference version for 3 steps from the same random start on
    /// every length in `LENS`, comparing parameters and state after each step.
    fn compare(name: &str, state_per_param: usize, kernel: &Kernel) {
        let mut rng = Rng::new(7);
        for n in LENS {
            let params: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let (mut pf, mut pr) = (params.clone(), params.clone());
            let mut sf = vec![0.0; n * state_per_param];
            let mut sr = sf.clone();
            for k in 0..3 {
                let grads: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
                kernel(true, k, &mut pf, &grads, &mut sf).unwrap();
                kernel(false, k, &mut pr, &grads, &mut sr).unwrap();
                for (i, (a, b)) in pf.iter().zip(&pr).chain(sf.iter().zip(&sr)).enumerate() {
                    assert!(close(*a, *b), "{name} n={n} step={k} i={i}: {a} vs {b}");
                }
            }
            // The kernels did something: every parameter moved and stayed finite.
            for (now, before) in pf.iter().zip(&params) {
                assert!(
                    now.is_finite() && now != before,
                    "{name} n={n}: {before} -> {now}"
                );
            }
        }
    }

    #[test]
    fn fast_matches_reference() {
        for decay in decays() {
            // Adam steps 1..3 (RAdam unrectified) and 20..22 (rectified).
            for first_step in [1, 20] {
                for (name, state_per_param, kernel) in kernels(decay, first_step) {
                    compare(name, state_per_param, &kernel);
                }
            }
        }
    }

    fn is_length(r: Result<()>, expected: usize, got: usize) -> bool {
        let e = r.err().map(|e| e.kind);
        matches!(e, Some(ErrorKind::LengthMismatch { expected: x, got: y, .. }) if (x, y) == (expected, got))
    }

    #[test]
    fn length_mismatches_are_errors_and_write_nothing() {
        for (name, per, kernel) in kernels(DecayRates::default(), 1) {
            for fast in [true, false] {
                let mut p = [1.0; 9];
                let mut state = vec![0.0; 9 * per];
                for grads in [&[0.5; 8][..], &[0.5; 10]] {
                    let r = kernel(fast, 0, &mut p, grads, &mut state);
                    assert!(is_length(r, 9, grads.len()), "{name} {fast}: gradients");
                }
                if per > 0 {
                    for len in [9 * per - 1, 9 * per + 1] {
                        state.resize(len, 0.0);
                        let r = kernel(fast, 0, &mut p, &[0.5; 9], &mut state);
                        let got = len - 9 * (per - 1); // the last slice is the odd one
                        assert!(is_length(r, 9, got), "{name} {fast}: state of {len}");
                    }
                }
                assert_eq!(p, [1.0; 9], "{name}");
                assert!(state.iter().all(|&s| s == 0.0), "{name}");
            }
        }
    }

    #[test]
    fn adam_step_zero_is_an_error() {
        for (name, per, kernel) in kernels(DecayRates::default(), 0) {
            let mut p = [1.0; 3];
            let r = kernel(true, 0, &mut p, &[0.5; 3], &mut vec![0.0; 3 * per]);
            assert_eq!(r.is_err(), name.contains("adam"), "{name}");
        }
    }
}
