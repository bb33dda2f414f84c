//! Gradient descent without ([`Sgd`]) and with ([`Momentum`]) a velocity.

use super::common::{check_lr, check_state, check_unit, decay_rates};
use super::common::{optimizer_basics, with_weight_decay};
use super::{Optimizer, WeightDecay};
use crate::error::Result;
use crate::kernels::{MomentumHyper, SgdHyper, momentum_update, sgd_update};

/// Stochastic gradient descent: `p = p - lr * g`. No state.
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate (tinynn default 0.01).
    pub lr: f32,
    /// Weight decay (for SGD, `L2(c)` and `Decoupled(c)` are the same update up to rounding).
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl Sgd {
    /// SGD with learning rate `lr` and no weight decay.
    pub const fn new(lr: f32) -> Sgd {
        Sgd {
            lr,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    with_weight_decay!();

    /// The checked hyper-parameters of the next step.
    fn hyper(&self) -> Result<SgdHyper> {
        check_lr(self.lr)?;
        let decay = decay_rates(self.weight_decay)?;
        Ok(SgdHyper { lr: self.lr, decay })
    }
}

impl Default for Sgd {
    /// tinynn's default: `lr = 0.01`.
    fn default() -> Sgd {
        Sgd::new(0.01)
    }
}

impl Optimizer for Sgd {
    optimizer_basics!("SGD", 0);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(0, params.len(), state)?;
        sgd_update(params, grads, h)?;
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }
}

/// SGD with momentum (tinynn / PyTorch formulation, one float of state per parameter):
///
/// ```text
/// v = momentum * v + g
/// p = p - lr * v                        (classic)
/// p = p - lr * (g + momentum * v)       (nesterov: look ahead along the new velocity)
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Momentum {
    /// Learning rate.
    pub lr: f32,
    /// How much of the previous velocity is kept, in `[0, 1)` (default 0.9).
    pub momentum: f32,
    /// Use Nesterov's look-ahead step (default false).
    pub nesterov: bool,
    /// Weight decay.
    pub weight_decay: WeightDecay,
    steps: u64,
}

impl Momentum {
    /// Momentum SGD with learning rate `lr`, momentum 0.9, no Nesterov, no weight decay.
    pub const fn new(lr: f32) -> Momentum {
        Momentum {
            lr,
            momentum: 0.9,
            nesterov: false,
            weight_decay: WeightDecay::None,
            steps: 0,
        }
    }

    /// Sets the momentum coefficient.
    #[must_use]
    pub const fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Switches Nesterov's look-ahead on or off.
    #[must_use]
    pub const fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    with_weight_decay!();

    /// The checked hyper-parameters of the next step.
    fn hyper(&self) -> Result<MomentumHyper> {
        check_lr(self.lr)?;
        check_unit(self.momentum, "momentum must be in [0, 1)")?;
        let decay = decay_rates(self.weight_decay)?;
        Ok(MomentumHyper {
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            decay,
        })
    }
}

impl Optimizer for Momentum {
    optimizer_basics!("Momentum", 1);

    fn validate(&self) -> Result<()> {
        self.hyper().map(drop)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<()> {
        let h = self.hyper()?;
        check_state(1, params.len(), state)?;
        momentum_update(params, grads, state, h)?;
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

    #[test]
    fn sgd_two_steps_by_hand() {
        let mut opt = Sgd::new(0.1);
        let got = run(&mut opt, &P0, &[&G1, &G2]);
        // p - 0.1 * (g1 + g2)
        assert_close(&got, &[1.0 - 0.075, -2.0 - 0.1, 0.5 + 0.4]);
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn sgd_weight_decay_l2_equals_decoupled() {
        let mut l2 = Sgd::new(0.1).with_weight_decay(WeightDecay::L2(0.5));
        let mut dec = Sgd::new(0.1).with_weight_decay(WeightDecay::Decoupled(0.5));
        let a = run(&mut l2, &P0, &[&G1]);
        let b = run(&mut dec, &P0, &[&G1]);
        // p - 0.1 * (g + 0.5 p) = 0.95 p - 0.1 g
        let expected: [f64; 3] = core::array::from_fn(|i| 0.95 * P0[i] as f64 - 0.1 * G1[i] as f64);
        assert_close(&a, &expected);
        assert_close(&b, &expected);
    }

    #[test]
    fn momentum_two_steps_by_hand() {
        let mut opt = Momentum::new(0.1);
        let got = run(&mut opt, &P0, &[&G1, &G2]);
        let expected: [f64; 3] = core::array::from_fn(|i| {
            let (g1, g2) = (G1[i] as f64, G2[i] as f64);
            let v2 = 0.9 * g1 + g2;
            P0[i] as f64 - 0.1 * g1 - 0.1 * v2
        });
        assert_close(&got, &expected);
    }

    #[test]
    fn nesterov_two_steps_by_hand() {
        let mut opt = Momentum::new(0.1).with_momentum(0.5).with_nesterov(true);
        let got = run(&mut opt, &P0, &[&G1, &G2]);
        let expected: [f64; 3] = core::array::from_fn(|i| {
            let (g1, g2) = (G1[i] as f64, G2[i] as f64);
            let p1 = P0[i] as f64 - 0.1 * (g1 + 0.5 * g1);
            let v2 = 0.5 * g1 + g2;
            p1 - 0.1 * (g2 + 0.5 * v2)
        });
        assert_close(&got, &expected);
    }

    #[test]
    fn momentum_decoupled_decay_by_hand() {
        let mut opt = Momentum::new(0.1).with_weight_decay(WeightDecay::Decoupled(0.2));
        let got = run(&mut opt, &P0, &[&G1, &G2]);
        let expected: [f64; 3] = core::array::from_fn(|i| {
            let (g1, g2) = (G1[i] as f64, G2[i] as f64);
            let p1 = P0[i] as f64 * (1.0 - 0.02) - 0.1 * g1;
            p1 * (1.0 - 0.02) - 0.1 * (0.9 * g1 + g2)
        });
        assert_close(&got, &expected);
    }

    #[test]
    fn invalid_hyper_parameters_are_errors() {
        let mut p = P0;
        let mut bad: [Box<dyn Optimizer>; 6] = [
            Box::new(Sgd::new(-0.1)),
            Box::new(Sgd::new(f32::NAN)),
            Box::new(Sgd::new(0.1).with_weight_decay(WeightDecay::L2(-1.0))),
            Box::new(Momentum::new(0.1).with_momentum(1.0)),
            Box::new(Momentum::new(0.1).with_momentum(-0.5)),
            Box::new(Momentum::new(f32::INFINITY)),
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
        assert!(Sgd::new(0.1).step(&mut p, &G1[..2], &mut []).is_err());
        assert!(Sgd::new(0.1).step(&mut p, &G1, &mut [0.0]).is_err());
        assert!(Momentum::new(0.1).step(&mut p, &G1, &mut [0.0; 2]).is_err());
        assert!(
            Momentum::new(0.1)
                .step(&mut p, &G1[..1], &mut [0.0; 3])
                .is_err()
        );
        assert_eq!(p, P0);
    }
}
