//! Optimizer update kernels: one fused pass over parameters, gradients and optimizer state.
//!
//! Each kernel reads a parameter, its gradient and its state once and writes the parameter
//! and the state back, in a single pass.
//!
//! Every algorithm's per-element arithmetic is written **once** (`formulas`), generic over
//! a private `Lane` type (`lanes`), and one driver (`drive`) runs it on the kernel path
//! that [`super::selected`] picks:
//!
//! | path       | lane                                | floats |
//! |------------|-------------------------------------|--------|
//! | `scalar`   | `f32` (the `*_reference` twins)     | 1      |
//! | `portable` | `wide::f32x8`                       | 8      |
//! | `avx2`     | `core::arch` `__m256` (`x86`)       | 8      |
//! | `avx512`   | `core::arch` `__m512` (`x86`)       | 16     |
//!
//! and finishes the last `len % floats` elements with the `f32` code. Every path performs
//! the same IEEE operations in the same order (no fused multiply-add, correctly rounded
//! square roots and divisions), so the fast kernels and their `*_reference` twins agree bit
//! for bit on targets with hardware SIMD square roots (x86 SSE and AVX, aarch64 NEON, wasm
//! simd128); the tests allow 1e-6 relative error for the portable path elsewhere.
//!
//! Why `core::arch` lanes, when an optimizer step looks memory-bound: Adam (the common
//! case) is not. Per element it does a square root and a division, which share one divider
//! unit, and about twenty multiplies, adds, compares and selects; `wide` picks its
//! instructions at compile time, so on a default x86-64 build each `f32x8` operation is two
//! SSE instructions (~80 per 8 elements), and the step cost the same per element at 8k
//! parameters (in L2) as at the MNIST MLP's 355k. The AVX2 and AVX-512 lanes, chosen at run
//! time like the GEMM's kernels, need a half or a quarter of the instructions. Measured on
//! a 2.5 GHz Cascade Lake Xeon (shared: best of 60 batches of steps; `benches/elementwise.rs`
//! runs the same update under criterion), 355,110 parameters: `wide` 1.38 ns/element,
//! `avx2` 0.95, `avx512` 0.92, `scalar` 5.0. The divider alone (16 square roots and 16
//! divisions in ~22 cycles) would allow 0.52; on this CPU the other ~25 zmm operations per
//! 16 elements add to it rather than overlapping (unrolling does not help), and removing
//! any would change the rounding.
//!
//! With the `rayon` feature, long updates are cut in parts run on the current pool, at
//! multiples of the widest lane, so the results are the same bits for every thread count.
//!
//! Kernels check slice lengths and return [`crate::ErrorKind::LengthMismatch`]; they do not
//! validate hyper-parameters (the optimizers in [`crate::optim`] do, before calling them).
//!
//! # Weight decay
//! Every kernel takes [`DecayRates`], applied with the parameter's value *before* the step:
//! `l2` is added to the gradient (`g += l2 * p`) before the update; `decoupled` shrinks the
//! parameter independently of the gradient (AdamW: `p -= lr * decoupled * p`, computed as
//! `p * (1 - lr * decoupled)`), so the new parameter is `p * (1 - lr * decoupled) - update`.

mod drive;
mod formulas;
mod lanes;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use drive::drive;
use formulas::{Adadelta, Adagrad, Adam, Decay, Momentum, RmsProp, Sgd};

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

// ---------------------------------------------------------------------------------------------
// Each kernel on a given path (the tests run every path the host supports); a path the CPU
// lacks falls back to the portable one.

fn sgd_with(path: KernelPath, params: &mut [f32], grads: &[f32], h: SgdHyper) -> Result<()> {
    check_lengths(params.len(), grads.len(), &[])?;
    drive(
        path,
        params,
        grads,
        [],
        Sgd(h.lr, Decay::new(h.decay, h.lr)),
    );
    Ok(())
}

fn momentum_with(
    path: KernelPath,
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
    h: MomentumHyper,
) -> Result<()> {
    check_lengths(params.len(), grads.len(), &[("velocity", velocity.len())])?;
    let u = Momentum(h, Decay::new(h.decay, h.lr));
    drive(path, params, grads, [velocity], u);
    Ok(())
}

fn adagrad_with(
    path: KernelPath,
    params: &mut [f32],
    grads: &[f32],
    sum_sq: &mut [f32],
    h: AdagradHyper,
) -> Result<()> {
    let states = [("Adagrad sum of squares", sum_sq.len())];
    check_lengths(params.len(), grads.len(), &states)?;
    let u = Adagrad(h, Decay::new(h.decay, h.lr));
    drive(path, params, grads, [sum_sq], u);
    Ok(())
}

fn rmsprop_with(
    path: KernelPath,
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
    let u = RmsProp(h, Decay::new(h.decay, h.lr));
    drive(path, params, grads, [mean_sq, mom], u);
    Ok(())
}

fn adadelta_with(
    path: KernelPath,
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
    let u = Adadelta(h, Decay::new(h.decay, h.lr));
    drive(path, params, grads, [mean_sq_grad, mean_sq_delta], u);
    Ok(())
}

/// Adam (`rectify = false`) or RAdam (`true`).
fn adam_with(
    path: KernelPath,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
    rectify: bool,
) -> Result<()> {
    let states = [("first moment", m.len()), ("second moment", v.len())];
    check_lengths(params.len(), grads.len(), &states)?;
    let u = if rectify {
        Adam::radam(&h)?
    } else {
        Adam::new(&h)?
    };
    drive(path, params, grads, [m, v], u);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The public kernels: on the selected path, and their scalar twins.

/// Plain SGD step, see [`SgdHyper`]. Errors if `grads` is not as long as `params`.
pub fn sgd_update(params: &mut [f32], grads: &[f32], h: SgdHyper) -> Result<()> {
    sgd_with(selected(), params, grads, h)
}

/// Scalar twin of [`sgd_update`].
pub fn sgd_update_reference(params: &mut [f32], grads: &[f32], h: SgdHyper) -> Result<()> {
    sgd_with(KernelPath::Scalar, params, grads, h)
}

/// Momentum SGD step, see [`MomentumHyper`]; `velocity` is as long as `params`.
pub fn momentum_update(
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
    h: MomentumHyper,
) -> Result<()> {
    momentum_with(selected(), params, grads, velocity, h)
}

/// Scalar twin of [`momentum_update`].
pub fn momentum_update_reference(
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
    h: MomentumHyper,
) -> Result<()> {
    momentum_with(KernelPath::Scalar, params, grads, velocity, h)
}

/// Adagrad step, see [`AdagradHyper`]; `sum_sq` (the accumulated squared gradients) is as
/// long as `params`.
pub fn adagrad_update(
    params: &mut [f32],
    grads: &[f32],
    sum_sq: &mut [f32],
    h: AdagradHyper,
) -> Result<()> {
    adagrad_with(selected(), params, grads, sum_sq, h)
}

/// Scalar twin of [`adagrad_update`].
pub fn adagrad_update_reference(
    params: &mut [f32],
    grads: &[f32],
    sum_sq: &mut [f32],
    h: AdagradHyper,
) -> Result<()> {
    adagrad_with(KernelPath::Scalar, params, grads, sum_sq, h)
}

/// RMSProp step, see [`RmsPropHyper`]; `mean_sq` and `mom` are as long as `params`.
pub fn rmsprop_update(
    params: &mut [f32],
    grads: &[f32],
    mean_sq: &mut [f32],
    mom: &mut [f32],
    h: RmsPropHyper,
) -> Result<()> {
    rmsprop_with(selected(), params, grads, mean_sq, mom, h)
}

/// Scalar twin of [`rmsprop_update`].
pub fn rmsprop_update_reference(
    params: &mut [f32],
    grads: &[f32],
    mean_sq: &mut [f32],
    mom: &mut [f32],
    h: RmsPropHyper,
) -> Result<()> {
    rmsprop_with(KernelPath::Scalar, params, grads, mean_sq, mom, h)
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
    adadelta_with(selected(), params, grads, mean_sq_grad, mean_sq_delta, h)
}

/// Scalar twin of [`adadelta_update`].
pub fn adadelta_update_reference(
    params: &mut [f32],
    grads: &[f32],
    mean_sq_grad: &mut [f32],
    mean_sq_delta: &mut [f32],
    h: AdadeltaHyper,
) -> Result<()> {
    let path = KernelPath::Scalar;
    adadelta_with(path, params, grads, mean_sq_grad, mean_sq_delta, h)
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
    adam_with(selected(), params, grads, m, v, h, false)
}

/// Scalar twin of [`adam_update`].
pub fn adam_update_reference(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
) -> Result<()> {
    adam_with(KernelPath::Scalar, params, grads, m, v, h, false)
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
    adam_with(selected(), params, grads, m, v, h, true)
}

/// Scalar twin of [`radam_update`].
pub fn radam_update_reference(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    h: AdamHyper,
) -> Result<()> {
    adam_with(KernelPath::Scalar, params, grads, m, v, h, true)
}
