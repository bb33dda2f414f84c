//! [`Adam`] and its rectified variant [`RAdam`]: running first and second moments with bias
//! correction.

use super::common::{check_eps, check_lr, check_state, check_unit, decay_rates};
use super::common::{optimizer_basics, with_weight_decay};
use super::{Optimizer, WeightDecay};
use crate::error::Result;
use crate::kernels::{AdamHyper, adam_update, radam_update};

/// The hyper-parameters Adam and RAdam share, validated, for the step about to be taken.
fn adam_hyper(
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: WeightDecay,
    steps: u64,
) -> Result<AdamHyper> {
    check_lr(lr)?;
    check_unit(beta1, "beta1 must be in [0, 1)")?;
    check_unit(beta2, "beta2 must be in [0, 1)")?;
    check_eps(eps)?;
    let decay = decay_rates(weight_decay)?;
    // The step being taken is number `steps + 1`: the first step has t = 1.
    Ok(AdamHyper {
        lr,
        beta1,
        beta2,
        eps,
        step: steps.saturating_add(1),
        decay,
    })
}

/// Adam (Kingma & Ba 2014) with bias correction; with `WeightDecay::Decoupled` it is AdamW.
/// Two floats of state per parameter: the first moments `m` (first half of the state), then
/// the second moments `v` (second half). For step `t = 1, 2, ...`:
///
/// ```text
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + (1 - beta2) * g²
/// p = p - lr * m̂ / (sqrt(v̂) + eps),   m̂ = m / (1 - beta1^t),  v̂ = v / (1 - beta2^t)
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate (default 1e-3).
    pub lr: f32,
    /// Decay of the first moment, in `[0, 1)` (default 0.9).
    pub beta1: f32,
    /// Decay of the second moment, in `[0, 1)` (default 0.999).
    pub beta2: f32,
    /// Added to `sqrt(v̂)`, > 0 (default 1e-8).
    pub eps: f32,
    /// Weight decay (`Decoupled` gives AdamW).
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl Adam {
    /// Adam with learning rate `lr`, betas (0.9, 0.999), `eps = 1e-8`.
    pub const fn new(lr: f32) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    /// Sets the moment decays.
    #[must_use]
    pub const fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets `eps`.
    #[must_use]
    pub const fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    with_weight_decay!();

    /// The checked hyper-parameters of the next step.
    fn hyper(&self) -> Result<AdamHyper> {
        let (lr, b1, b2, eps, wd) = (self.lr, self.beta1, self.beta2, self.eps, self.weight_decay);
        adam_hyper(lr, b1, b2, eps, wd, self.steps)
    }
}

impl Default for Adam {
    /// `lr = 1e-3`, betas (0.9, 0.999), `eps = 1e-8`.
    fn default() -> Adam {
        Adam::new(1e-3)
    }
}

impl Optimizer for Adam {
    optimizer_basics!("Adam", 2);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(2, params.len(), state)?;
        let (m, v) = state.split_at_mut(params.len());
        adam_update(params, grads, m, v, h)?;
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }
}

/// Rectified Adam (Liu et al. 2019, "On the Variance of the Adaptive Learning Rate and
/// Beyond"). Same state and moments as [`Adam`]. With `rho_inf = 2 / (1 - beta2) - 1` and
/// `rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)`:
///
/// ```text
/// rho_t > 4:  p = p - lr * r_t * m̂ / (sqrt(v̂) + eps),
///             r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
/// otherwise:  p = p - lr * m̂          (momentum SGD: the variance of v̂ is not yet tractable)
/// ```
///
/// The threshold 4 is the paper's and tinynn's (PyTorch uses 5). With `beta2 = 0.999` steps
/// 1 to 4 are unrectified and step 5 is the first adaptive one (`rho_5 ≈ 4.996`).
#[derive(Clone, Debug, PartialEq)]
pub struct RAdam {
    /// Learning rate (default 1e-3).
    pub lr: f32,
    /// Decay of the first moment, in `[0, 1)` (default 0.9).
    pub beta1: f32,
    /// Decay of the second moment, in `[0, 1)` (default 0.999).
    pub beta2: f32,
    /// Added to `sqrt(v̂)`, > 0 (default 1e-8).
    pub eps: f32,
    /// Weight decay.
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl RAdam {
    /// RAdam with learning rate `lr`, betas (0.9, 0.999), `eps = 1e-8`.
    pub const fn new(lr: f32) -> RAdam {
        RAdam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    /// Sets the moment decays.
    #[must_use]
    pub const fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets `eps`.
    #[must_use]
    pub const fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    with_weight_decay!();

    /// The checked hyper-parameters of the next step.
    fn hyper(&self) -> Result<AdamHyper> {
        let (lr, b1, b2, eps, wd) = (self.lr, self.beta1, self.beta2, self.eps, self.weight_decay);
        adam_hyper(lr, b1, b2, eps, wd, self.steps)
    }
}

impl Default for RAdam {
    /// `lr = 1e-3`, betas (0.9, 0.999), `eps = 1e-8`.
    fn default() -> RAdam {
        RAdam::new(1e-3)
    }
}

impl Optimizer for RAdam {
    optimizer_basics!("RAdam", 2);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(2, params.len(), state)?;
        let (m, v) = state.split_at_mut(params.len());
        radam_update(params, grads, m, v, h)?;
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::{assert_close, run, run_with_state};

    const P0: [f32; 3] = [1.0, -2.0, 0.5];
    const G1: [f32; 3] = [0.5, -1.0, 0.0];
    const G2: [f32; 3] = [0.25, 2.0, -4.0];

    /// Textbook Adam in f64 for steps `t0 + 1 ..` from zero moments, with L2 (`l2`) or
    /// decoupled (`dec`) decay; `rectify` switches to RAdam.
    fn adam_f64(
        t0: u64,
        grads: &[[f32; 3]],
        lr: f64,
        l2: f64,
        dec: f64,
        rectify: bool,
    ) -> [f64; 3] {
        let (b1, b2, eps) = (0.9f32 as f64, 0.999f32 as f64, 1e-8f32 as f64);
        let mut p = P0.map(|x| x as f64);
        let (mut m, mut v) = ([0.0; 3], [0.0; 3]);
        for (k, g) in grads.iter().enumerate() {
            let t = (t0 + k as u64 + 1) as i32;
            let rho_inf = 2.0 / (1.0 - b2) - 1.0;
            let rho_t = rho_inf - 2.0 * t as f64 * b2.powi(t) / (1.0 - b2.powi(t));
            for i in 0..3 {
                let g = g[i] as f64 + l2 * p[i];
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                let m_hat = m[i] / (1.0 - b1.powi(t));
                let v_hat = v[i] / (1.0 - b2.powi(t));
                let adam = m_hat / (v_hat.sqrt() + eps);
                let step = if !rectify {
                    adam
                } else if rho_t > 4.0 {
                    let r = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                        / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                        .sqrt();
                    r * adam
                } else {
                    m_hat
                };
                p[i] = p[i] - lr * dec * p[i] - lr * step;
            }
        }
        p
    }

    #[test]
    fn adam_first_step_is_lr_times_sign() {
        // m̂ = g and v̂ = g² after one step: the step is lr * g / (|g| + eps).
        let mut opt = Adam::new(0.01);
        let got = run(&mut opt, &[1.0, 1.0, 1.0], &[&[0.5, -0.5, 0.0]]);
        assert_close(&got, &[0.99, 1.01, 1.0]);
        // With a constant gradient, step 2 is the same size again (the bias corrections
        // cancel exactly): 1 - 2 * 0.01.
        let mut opt = Adam::new(0.01);
        let got = run(&mut opt, &[1.0; 3], &[&[0.5; 3], &[0.5; 3]]);
        assert_close(&got, &[0.98; 3]);
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn adam_two_steps_by_hand() {
        let got = run(&mut Adam::new(0.1), &P0, &[&G1, &G2]);
        assert_close(&got, &adam_f64(0, &[G1, G2], 0.1, 0.0, 0.0, false));
    }

    #[test]
    fn adam_l2_and_decoupled_differ_and_match_by_hand() {
        let mut l2 = Adam::new(0.1).with_weight_decay(WeightDecay::L2(0.5));
        let mut dec = Adam::new(0.1).with_weight_decay(WeightDecay::Decoupled(0.5));
        let a = run(&mut l2, &P0, &[&G1, &G2]);
        let b = run(&mut dec, &P0, &[&G1, &G2]);
        assert_close(&a, &adam_f64(0, &[G1, G2], 0.1, 0.5, 0.0, false));
        assert_close(&b, &adam_f64(0, &[G1, G2], 0.1, 0.0, 0.5, false));
        assert!(
            a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3),
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn radam_early_steps_are_momentum_sgd() {
        // rho_1 = 1, rho_2 ≈ 2: both unrectified, p -= lr * m̂.
        let got = run(&mut RAdam::new(0.1), &P0, &[&G1, &G2]);
        let expected: [f64; 3] = core::array::from_fn(|i| {
            let (g1, g2) = (G1[i] as f64, G2[i] as f64);
            let m2_hat = (0.9 * 0.1 * g1 + 0.1 * g2) / (1.0 - 0.81);
            P0[i] as f64 - 0.1 * g1 - 0.1 * m2_hat
        });
        assert_close(&got, &expected);
        assert_close(&got, &adam_f64(0, &[G1, G2], 0.1, 0.0, 0.0, true));
    }

    #[test]
    fn radam_rectified_steps_after_resume() {
        // Resuming at step 10 with zero moments: steps t = 11 and 12 are rectified.
        let mut opt = RAdam::new(0.1).with_weight_decay(WeightDecay::Decoupled(0.1));
        opt.set_steps(10);
        let mut state = [0.0; 6];
        let got = run_with_state(&mut opt, &P0, &[&G1, &G2], &mut state);
        assert_close(&got, &adam_f64(10, &[G1, G2], 0.1, 0.0, 0.1, true));
        assert_eq!(opt.steps(), 12);
        // The state is [m; v]: m after two steps is 0.09 g1 + 0.1 g2.
        let m: [f64; 3] = core::array::from_fn(|i| 0.09 * G1[i] as f64 + 0.1 * G2[i] as f64);
        assert_close(&state[..3], &m);
        // Step 5 is the first rectified one (rho_5 ≈ 4.996 > 4).
        let mut opt = RAdam::new(0.1);
        opt.set_steps(4);
        let got = run(&mut opt, &P0, &[&G1]);
        assert_close(&got, &adam_f64(4, &[G1], 0.1, 0.0, 0.0, true));
    }

    #[test]
    fn invalid_hyper_parameters_are_errors() {
        let mut p = P0;
        let mut bad: [Box<dyn Optimizer>; 8] = [
            Box::new(Adam::new(-1e-3)),
            Box::new(Adam::default().with_betas(1.0, 0.999)),
            Box::new(Adam::default().with_betas(0.9, -0.1)),
            Box::new(Adam::default().with_eps(0.0)),
            Box::new(Adam::default().with_weight_decay(WeightDecay::L2(f32::NAN))),
            Box::new(RAdam::new(f32::INFINITY)),
            Box::new(RAdam::default().with_betas(0.9, 1.0)),
            Box::new(RAdam::default().with_eps(f32::NAN)),
        ];
        for opt in &mut bad {
            let mut state = [0.0; 6];
            // `validate` reports the very error the step reports, without a step.
            let early = opt.validate().expect_err(opt.name());
            assert_eq!(
                opt.step(&mut p, &G1, &mut state),
                Err(early),
                "{}",
                opt.name()
            );
            assert_eq!(opt.steps(), 0);
            assert_eq!(state, [0.0; 6]);
        }
        assert_eq!(p, P0);
    }

    #[test]
    fn length_mismatches_are_errors() {
        let mut p = P0;
        assert!(Adam::default().step(&mut p, &G1, &mut [0.0; 3]).is_err());
        assert!(
            Adam::default()
                .step(&mut p, &G1[..2], &mut [0.0; 6])
                .is_err()
        );
        assert!(RAdam::default().step(&mut p, &G1, &mut [0.0; 5]).is_err());
        assert_eq!(p, P0);
    }
}
