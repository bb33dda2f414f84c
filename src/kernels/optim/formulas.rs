//! The per-element formulas, each written once, generic over the [`Lane`] type.
//!
//! Each is a small `Copy` struct holding the step's constants and implementing [`Update`];
//! the drivers run it on every path. All paths perform the same IEEE operations in the
//! same order (no fused multiply-add), so they agree bit for bit.

use super::drive::Update;
use super::lanes::Lane;
use super::{AdadeltaHyper, AdagradHyper, AdamHyper, DecayRates, MomentumHyper, RmsPropHyper};
use crate::error::{Error, Result};

/// Weight decay, precomputed for one step: `l2` and `keep = 1 - lr * decoupled`.
#[derive(Clone, Copy)]
pub(super) struct Decay {
    l2: f32,
    keep: f32,
}

impl Decay {
    pub(super) fn new(rates: DecayRates, lr: f32) -> Decay {
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

/// Plain SGD with learning rate `.0`.
#[derive(Clone, Copy)]
pub(super) struct Sgd(pub(super) f32, pub(super) Decay);

impl Update<0> for Sgd {
    #[inline(always)]
    fn apply<T: Lane>(&self, p: T, g: T, _: [T; 0]) -> (T, [T; 0]) {
        let Sgd(lr, d) = *self;
        let g = d.grad(p, g);
        (d.shrink(p) - T::splat(lr) * g, [])
    }
}

#[derive(Clone, Copy)]
pub(super) struct Momentum(pub(super) MomentumHyper, pub(super) Decay);

impl Update<1> for Momentum {
    #[inline(always)]
    fn apply<T: Lane>(&self, p: T, g: T, [v]: [T; 1]) -> (T, [T; 1]) {
        let Momentum(h, d) = *self;
        let g = d.grad(p, g);
        let mu = T::splat(h.momentum);
        let v = (mu * v + g).flush_tiny();
        let dir = if h.nesterov { g + mu * v } else { v };
        (d.shrink(p) - T::splat(h.lr) * dir, [v])
    }
}

#[derive(Clone, Copy)]
pub(super) struct Adagrad(pub(super) AdagradHyper, pub(super) Decay);

impl Update<1> for Adagrad {
    #[inline(always)]
    fn apply<T: Lane>(&self, p: T, g: T, [s]: [T; 1]) -> (T, [T; 1]) {
        let Adagrad(h, d) = *self;
        let g = d.grad(p, g);
        let s = s + g * g;
        let step = T::splat(h.lr) * g / (s + T::splat(h.eps)).sqrt();
        (d.shrink(p) - step, [s])
    }
}

#[derive(Clone, Copy)]
pub(super) struct RmsProp(pub(super) RmsPropHyper, pub(super) Decay);

impl Update<2> for RmsProp {
    #[inline(always)]
    fn apply<T: Lane>(&self, p: T, g: T, [ms, mom]: [T; 2]) -> (T, [T; 2]) {
        let RmsProp(h, d) = *self;
        let g = d.grad(p, g);
        let ms = (T::splat(h.rho) * ms + T::splat(1.0 - h.rho) * g * g).flush_tiny();
        let mom = T::splat(h.momentum) * mom + T::splat(h.lr) * g / (ms + T::splat(h.eps)).sqrt();
        let mom = mom.flush_tiny();
        (d.shrink(p) - mom, [ms, mom])
    }
}

#[derive(Clone, Copy)]
pub(super) struct Adadelta(pub(super) AdadeltaHyper, pub(super) Decay);

impl Update<2> for Adadelta {
    #[inline(always)]
    fn apply<T: Lane>(&self, p: T, g: T, [eg, ed]: [T; 2]) -> (T, [T; 2]) {
        let Adadelta(h, d) = *self;
        let g = d.grad(p, g);
        let (rho, one_minus_rho, eps) = (T::splat(h.rho), T::splat(1.0 - h.rho), T::splat(h.eps));
        let eg = (rho * eg + one_minus_rho * g * g).flush_tiny();
        let delta = g * (ed + eps).sqrt() / (eg + eps).sqrt();
        let ed = (rho * ed + one_minus_rho * delta * delta).flush_tiny();
        (d.shrink(p) - T::splat(h.lr) * delta, [eg, ed])
    }
}

/// Adam and RAdam, reduced to per-step scalars (computed in `f64` once per step).
///
/// The bias corrections are folded into two constants, so that an element costs one
/// division and one square root instead of three divisions and a square root:
/// `lr·m̂/(√v̂ + ε) = m_scale·m / (√(v·v_scale) + ε)` with `m_scale = lr/(1 − β₁ᵗ)` and
/// `v_scale = 1/(1 − β₂ᵗ)`. The divider (square roots and divisions share it) bounds the
/// loop once the rest is vectorised well, so this halves its work. It rounds differently
/// from the textbook order (a few ulp of the step); every path shares it, bit for bit.
#[derive(Clone, Copy)]
pub(super) struct Adam {
    beta1: f32,
    beta2: f32,
    /// `lr / (1 - beta1^t)`; `lr` is `lr * r_t` for rectified RAdam steps.
    m_scale: f32,
    /// `1 / (1 - beta2^t)`.
    v_scale: f32,
    eps: f32,
    /// Divide by `sqrt(v̂) + eps` (Adam, rectified RAdam) or not (early RAdam steps).
    adaptive: bool,
    decay: Decay,
    /// Gradients below these magnitudes are left out of `m` and of `v` (see [`QUIET_TERM`]).
    m_grad_min: f32,
    v_grad_min: f32,
}

/// The largest moment update term ([`Adam`]'s `(1 - beta1)·g` or `(1 - beta2)·g²`) that is
/// left out: `2e-38`, just above the smallest normal float (1.18e-38) and below half an ulp
/// of any moment that survives [`super::lanes::TINY`] (4.7e-38 at 1e-30).
///
/// Why: late in training many gradients are tiny (a well-learnt sample, a near-black pixel),
/// and squaring one below ~1e-19 gives a subnormal, which x86 computes with a microcode assist
/// of ~100 cycles (Adam's step over the MNIST MLP grew from 0.19 to ~0.23 ms over 20 epochs).
/// Adding a term below half an ulp leaves a kept moment unchanged, and a moment below `TINY`
/// is stored as zero either way, so leaving such terms out gives the same bits.
const QUIET_TERM: f64 = 2e-38;

/// The gradient magnitude below which `factor·g` (`power` 1) or `factor·g·g` (`power` 2)
/// is under [`QUIET_TERM`]; 0 (nothing left out) when `factor` is 0 or not positive.
fn quiet_below(factor: f32, power: i32) -> f32 {
    if factor <= 0.0 {
        return 0.0;
    }
    let bound = QUIET_TERM / f64::from(factor);
    (if power == 1 { bound } else { libm::sqrt(bound) }) as f32
}

impl Adam {
    /// Adam's constants with the learning rate `lr` (f64: RAdam rescales it first).
    fn with_lr(h: &AdamHyper, lr: f64, adaptive: bool) -> Result<Adam> {
        if h.step == 0 {
            return Err(Error::config(
                "Adam step counter must start at 1 (bias correction divides by 1 - beta^step)",
            ));
        }
        let t = h.step as f64;
        let bias1 = 1.0 - libm::pow(h.beta1 as f64, t);
        let bias2 = 1.0 - libm::pow(h.beta2 as f64, t);
        Ok(Adam {
            beta1: h.beta1,
            beta2: h.beta2,
            m_scale: (lr / bias1) as f32,
            v_scale: (1.0 / bias2) as f32,
            eps: h.eps,
            adaptive,
            decay: Decay::new(h.decay, h.lr),
            m_grad_min: quiet_below(1.0 - h.beta1, 1),
            v_grad_min: quiet_below(1.0 - h.beta2, 2),
        })
    }

    pub(super) fn new(h: &AdamHyper) -> Result<Adam> {
        Adam::with_lr(h, h.lr as f64, true)
    }

    /// RAdam (Liu et al. 2019): with `rho_inf = 2 / (1 - b2) - 1` and
    /// `rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`, the variance of the adaptive learning rate
    /// is tractable only when `rho_t > 4`; then the step is Adam's scaled by
    /// `r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`,
    /// otherwise it is `lr * m̂` (momentum SGD with a bias-corrected first moment).
    pub(super) fn radam(h: &AdamHyper) -> Result<Adam> {
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
            Adam::with_lr(h, h.lr as f64 * r, true)
        } else {
            Adam::with_lr(h, h.lr as f64, false)
        }
    }
}

impl Update<2> for Adam {
    #[inline(always)]
    fn apply<T: Lane>(&self, p: T, g: T, [m, v]: [T; 2]) -> (T, [T; 2]) {
        let (s, d) = (self, self.decay);
        let g = d.grad(p, g);
        // Terms under QUIET_TERM are left out before they are computed (same bits, no
        // subnormal arithmetic).
        let (gm, gv) = (g.flush_below(s.m_grad_min), g.flush_below(s.v_grad_min));
        let m = (T::splat(s.beta1) * m + T::splat(1.0 - s.beta1) * gm).flush_tiny();
        let v = (T::splat(s.beta2) * v + T::splat(1.0 - s.beta2) * gv * gv).flush_tiny();
        let step = if s.adaptive {
            T::splat(s.m_scale) * m / ((v * T::splat(s.v_scale)).sqrt() + T::splat(s.eps))
        } else {
            T::splat(s.m_scale) * m
        };
        (d.shrink(p) - step, [m, v])
    }
}
