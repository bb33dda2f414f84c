//! Per-parameter adaptive learning rates from running squared gradients: [`Adagrad`],
//! [`RMSProp`], [`Adadelta`].

use super::common::{check_eps, check_lr, check_state, check_unit, decay_rates};
use super::common::{optimizer_basics, with_weight_decay};
use super::{Optimizer, WeightDecay};
use crate::error::Result;
use crate::kernels::{AdadeltaHyper, AdagradHyper, RmsPropHyper};
use crate::kernels::{adadelta_update, adagrad_update, rmsprop_update};

/// Adagrad (Duchi et al. 2011), tinynn formulation with `eps` inside the square root. One
/// float of state per parameter (the sum of squared gradients `s`):
///
/// ```text
/// s = s + g²
/// p = p - lr * g / sqrt(s + eps)
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Adagrad {
    /// Learning rate (default 0.01).
    pub lr: f32,
    /// Added to `s` under the square root, > 0 (default 1e-8).
    pub eps: f32,
    /// Weight decay.
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl Adagrad {
    /// Adagrad with learning rate `lr`, `eps = 1e-8`, no weight decay.
    pub const fn new(lr: f32) -> Adagrad {
        Adagrad {
            lr,
            eps: 1e-8,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    /// Sets `eps`.
    #[must_use]
    pub const fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    with_weight_decay!();

    /// The checked hyper-parameters of the next step.
    fn hyper(&self) -> Result<AdagradHyper> {
        check_lr(self.lr)?;
        check_eps(self.eps)?;
        let decay = decay_rates(self.weight_decay)?;
        Ok(AdagradHyper {
            lr: self.lr,
            eps: self.eps,
            decay,
        })
    }
}

impl Default for Adagrad {
    /// `lr = 0.01`, `eps = 1e-8`.
    fn default() -> Adagrad {
        Adagrad::new(0.01)
    }
}

impl Optimizer for Adagrad {
    optimizer_basics!("Adagrad", 1);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(1, params.len(), state)?;
        adagrad_update(params, grads, state, h)?;
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }
}

/// RMSProp, TensorFlow / tinynn formulation (learning rate inside the momentum, `eps` inside
/// the square root). Two floats of state per parameter, mean square `ms` then momentum `mom`:
///
/// ```text
/// ms  = rho * ms + (1 - rho) * g²
/// mom = momentum * mom + lr * g / sqrt(ms + eps)
/// p   = p - mom
/// ```
///
/// The momentum slot is kept even when `momentum` is 0, so that the memory layout does not
/// change if the field is changed between steps.
#[derive(Clone, Debug, PartialEq)]
pub struct RMSProp {
    /// Learning rate (default 0.01).
    pub lr: f32,
    /// Decay of the mean square, in `[0, 1)` (default 0.99).
    pub rho: f32,
    /// Added to `ms` under the square root, > 0 (default 1e-8).
    pub eps: f32,
    /// Momentum of the step, in `[0, 1)` (default 0).
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl RMSProp {
    /// RMSProp with learning rate `lr`, `rho = 0.99`, `eps = 1e-8`, `momentum = 0`.
    pub const fn new(lr: f32) -> RMSProp {
        RMSProp {
            lr,
            rho: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    /// Sets the decay of the mean square.
    #[must_use]
    pub const fn with_rho(mut self, rho: f32) -> Self {
        self.rho = rho;
        self
    }

    /// Sets `eps`.
    #[must_use]
    pub const fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the momentum.
    #[must_use]
    pub const fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    with_weight_decay!();

    /// The checked hyper-parameters of the next step.
    fn hyper(&self) -> Result<RmsPropHyper> {
        check_lr(self.lr)?;
        check_unit(self.rho, "RMSProp rho must be in [0, 1)")?;
        check_eps(self.eps)?;
        check_unit(self.momentum, "momentum must be in [0, 1)")?;
        let decay = decay_rates(self.weight_decay)?;
        Ok(RmsPropHyper {
            lr: self.lr,
            rho: self.rho,
            eps: self.eps,
            momentum: self.momentum,
            decay,
        })
    }
}

impl Default for RMSProp {
    /// `lr = 0.01`, `rho = 0.99`, `eps = 1e-8`, `momentum = 0`.
    fn default() -> RMSProp {
        RMSProp::new(0.01)
    }
}

impl Optimizer for RMSProp {
    optimizer_basics!("RMSProp", 2);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(2, params.len(), state)?;
        let (mean_sq, mom) = state.split_at_mut(params.len());
        rmsprop_update(params, grads, mean_sq, mom, h)?;
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }
}

/// Adadelta (Zeiler 2012), as in tinynn and PyTorch. Two floats of state per parameter,
/// the mean squared gradient `eg` then the mean squared update `ed`:
///
/// ```text
/// eg = rho * eg + (1 - rho) * g²
/// d  = g * sqrt(ed + eps) / sqrt(eg + eps)
/// ed = rho * ed + (1 - rho) * d²
/// p  = p - lr * d
/// ```
///
/// The first steps are about `sqrt(eps)` long; they grow as `ed` accumulates.
#[derive(Clone, Debug, PartialEq)]
pub struct Adadelta {
    /// Learning rate (default 1.0, as in the paper).
    pub lr: f32,
    /// Decay of both running means, in `[0, 1)` (default 0.9).
    pub rho: f32,
    /// Added inside both square roots, > 0 (default 1e-6).
    pub eps: f32,
    /// Weight decay.
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl Adadelta {
    /// Adadelta with learning rate `lr`, `rho = 0.9`, `eps = 1e-6`.
    pub const fn new(lr: f32) -> Adadelta {
        Adadelta {
            lr,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    /// Sets the decay of the running means.
    #[must_use]
    pub const fn with_rho(mut self, rho: f32) -> Self {
        self.rho = rho;
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
    fn hyper(&self) -> Result<AdadeltaHyper> {
        check_lr(self.lr)?;
        check_unit(self.rho, "Adadelta rho must be in [0, 1)")?;
        check_eps(self.eps)?;
        let decay = decay_rates(self.weight_decay)?;
        Ok(AdadeltaHyper {
            lr: self.lr,
            rho: self.rho,
            eps: self.eps,
            decay,
        })
    }
}

impl Default for Adadelta {
    /// `lr = 1.0`, `rho = 0.9`, `eps = 1e-6`.
    fn default() -> Adadelta {
        Adadelta::new(1.0)
    }
}

impl Optimizer for Adadelta {
    optimizer_basics!("Adadelta", 2);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(2, params.len(), state)?;
        let (mean_sq_grad, mean_sq_delta) = state.split_at_mut(params.len());
        adadelta_update(params, grads, mean_sq_grad, mean_sq_delta, h)?;
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::{assert_close, run};

    const P0: [f32; 3] = [1.0, -2.0, 0.5];
    const G1: [f32; 3] = [0.5, -1.0, 0.0];
    const G2: [f32; 3] = [0.25, 2.0, -4.0];

    fn sqrt(x: f64) -> f64 {
        libm::sqrt(x)
    }

    #[test]
    fn adagrad_two_steps_by_hand() {
        let mut opt = Adagrad::new(0.5);
        let got = run(&mut opt, &P0, &[&G1, &G2]);
        let expected: [f64; 3] = core::array::from_fn(|i| {
            let (g1, g2, eps) = (G1[i] as f64, G2[i] as f64, 1e-8);
            let p1 = P0[i] as f64 - 0.5 * g1 / sqrt(g1 * g1 + eps);
            p1 - 0.5 * g2 / sqrt(g1 * g1 + g2 * g2 + eps)
        });
        assert_close(&got, &expected);
        // First step of a non-zero gradient is lr * sign(g): 1 - 0.5, -2 + 0.5.
        assert_close(&run(&mut Adagrad::new(0.5), &P0, &[&G1]), &[0.5, -1.5, 0.5]);
    }

    #[test]
    fn rmsprop_two_steps_by_hand() {
        for momentum in [0.0, 0.5] {
            let mut opt = RMSProp::new(0.01).with_momentum(momentum);
            let got = run(&mut opt, &P0, &[&G1, &G2]);
            let expected: [f64; 3] = core::array::from_fn(|i| {
                let (g1, g2, eps) = (G1[i] as f64, G2[i] as f64, 1e-8);
                let ms1 = 0.01 * g1 * g1;
                let mom1 = 0.01 * g1 / sqrt(ms1 + eps);
                let ms2 = 0.99 * ms1 + 0.01 * g2 * g2;
                let mom2 = momentum as f64 * mom1 + 0.01 * g2 / sqrt(ms2 + eps);
                P0[i] as f64 - mom1 - mom2
            });
            assert_close(&got, &expected);
        }
    }

    #[test]
    fn adadelta_two_steps_by_hand() {
        let mut opt = Adadelta::default();
        let got = run(&mut opt, &P0, &[&G1, &G2]);
        let expected: [f64; 3] = core::array::from_fn(|i| {
            let (g1, g2, eps) = (G1[i] as f64, G2[i] as f64, 1e-6f32 as f64);
            let eg1 = 0.1 * g1 * g1;
            let d1 = g1 * sqrt(eps) / sqrt(eg1 + eps);
            let ed1 = 0.1 * d1 * d1;
            let eg2 = 0.9 * eg1 + 0.1 * g2 * g2;
            let d2 = g2 * sqrt(ed1 + eps) / sqrt(eg2 + eps);
            P0[i] as f64 - d1 - d2
        });
        assert_close(&got, &expected);
    }

    #[test]
    fn l2_decay_enters_the_squared_gradient() {
        // Adagrad with L2 0.5: g' = g + 0.5 p; first step is lr * sign(g') = 0.5 * sign(g').
        let mut opt = Adagrad::new(0.5).with_weight_decay(WeightDecay::L2(0.5));
        let got = run(&mut opt, &P0, &[&G1]);
        // g' = [1.0, -2.0, 0.25]
        assert_close(&got, &[0.5, -1.5, 0.0]);
        // Decoupled 0.5: p * (1 - 0.25) - 0.5 * sign(g), sign(0) contributes 0.
        let mut opt = Adagrad::new(0.5).with_weight_decay(WeightDecay::Decoupled(0.5));
        let got = run(&mut opt, &P0, &[&G1]);
        assert_close(&got, &[0.75 - 0.5, -1.5 + 0.5, 0.375]);
    }

    #[test]
    fn invalid_hyper_parameters_are_errors() {
        let mut p = P0;
        let mut bad: [Box<dyn Optimizer>; 9] = [
            Box::new(Adagrad::new(-1.0)),
            Box::new(Adagrad::default().with_eps(0.0)),
            Box::new(RMSProp::default().with_rho(1.0)),
            Box::new(RMSProp::default().with_momentum(1.5)),
            Box::new(RMSProp::default().with_eps(f32::NAN)),
            Box::new(RMSProp::default().with_weight_decay(WeightDecay::Decoupled(-0.1))),
            Box::new(Adadelta::default().with_rho(-0.1)),
            Box::new(Adadelta::default().with_eps(-1e-6)),
            Box::new(Adadelta::new(f32::NAN)),
        ];
        for opt in &mut bad {
            let mut state = vec![0.0; opt.state_per_param() * 3];
            // `validate` reports the very error the step reports, without a step.
            let early = opt.validate().expect_err(opt.name());
            assert_eq!(
                opt.step(&mut p, &G1, &mut state),
                Err(early),
                "{}",
                opt.name()
            );
            assert_eq!(opt.steps(), 0);
        }
        assert_eq!(p, P0);
    }

    #[test]
    fn length_mismatches_are_errors() {
        let mut p = P0;
        assert!(Adagrad::default().step(&mut p, &G1, &mut [0.0; 2]).is_err());
        assert!(RMSProp::default().step(&mut p, &G1, &mut [0.0; 3]).is_err());
        assert!(
            RMSProp::default()
                .step(&mut p, &G1[..2], &mut [0.0; 6])
                .is_err()
        );
        assert!(
            Adadelta::default()
                .step(&mut p, &G1, &mut [0.0; 7])
                .is_err()
        );
        assert_eq!(p, P0);
    }
}
