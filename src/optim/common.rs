//! What every optimizer shares: hyper-parameter checks, weight decay, the state-length check
//! and the boilerplate of the [`Optimizer`](super::Optimizer) trait.

use super::WeightDecay;
use crate::error::{Error, Result};
use crate::kernels::DecayRates;

/// The learning rate must be finite and non-negative (0 freezes the parameters).
pub(super) fn check_lr(lr: f32) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(Error::config("learning rate must be finite and >= 0"))
    }
}

/// Decay coefficients (momentum, rho, betas) must lie in `[0, 1)`: at 1 the running averages
/// never forget and the bias corrections divide by zero.
pub(super) fn check_unit(value: f32, message: &'static str) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::config(message))
    }
}

/// `eps` guards a division or a square root: it must be finite and strictly positive.
pub(super) fn check_eps(eps: f32) -> Result<()> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(Error::config("eps must be finite and > 0"))
    }
}

/// Validates a [`WeightDecay`] and converts it to the kernels' [`DecayRates`].
pub(super) fn decay_rates(decay: WeightDecay) -> Result<DecayRates> {
    let (l2, decoupled) = match decay {
        WeightDecay::None => (0.0, 0.0),
        WeightDecay::L2(c) => (c, 0.0),
        WeightDecay::Decoupled(c) => (0.0, c),
    };
    let coefficient = l2 + decoupled;
    if coefficient.is_finite() && coefficient >= 0.0 {
        Ok(DecayRates { l2, decoupled })
    } else {
        Err(Error::config("weight decay must be finite and >= 0"))
    }
}

/// Checks that `state` holds exactly `per_param` floats for each of `params` parameters.
pub(super) fn check_state(per_param: usize, params: usize, state: &[f32]) -> Result<()> {
    let expected = per_param.saturating_mul(params);
    if state.len() == expected {
        Ok(())
    } else {
        Err(Error::length("optimizer state", expected, state.len()))
    }
}

/// The [`Optimizer`](super::Optimizer) methods that read and write the `lr` and `steps`
/// fields, identical for every optimizer.
macro_rules! optimizer_basics {
    ($name:literal, $state_per_param:expr) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn state_per_param(&self) -> usize {
            $state_per_param
        }
        fn lr(&self) -> f32 {
            self.lr
        }
        fn set_lr(&mut self, lr: f32) {
            self.lr = lr;
        }
        fn steps(&self) -> u64 {
            self.steps
        }
        fn set_steps(&mut self, steps: u64) {
            self.steps = steps;
        }
    };
}

/// `with_weight_decay`, identical for every optimizer.
macro_rules! with_weight_decay {
    () => {
        /// Sets the weight decay, e.g. `WeightDecay::Decoupled(0.01)` for AdamW-style decay.
        #[must_use]
        pub const fn with_weight_decay(mut self, weight_decay: WeightDecay) -> Self {
            self.weight_decay = weight_decay;
            self
        }
    };
}

pub(super) use {optimizer_basics, with_weight_decay};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_accept_good_and_reject_bad_values() {
        assert!(check_lr(0.0).is_ok() && check_lr(0.5).is_ok());
        for bad in [-1e-3, f32::NAN, f32::INFINITY] {
            assert!(check_lr(bad).is_err(), "{bad}");
            assert!(check_eps(bad).is_err(), "{bad}");
        }
        assert!(check_eps(0.0).is_err() && check_eps(1e-8).is_ok());
        assert!(check_unit(0.0, "x").is_ok() && check_unit(0.999, "x").is_ok());
        assert!(check_unit(1.0, "x").is_err() && check_unit(-0.1, "x").is_err());
        assert!(check_unit(f32::NAN, "x").is_err());
        assert_eq!(
            decay_rates(WeightDecay::L2(0.1)),
            Ok(DecayRates {
                l2: 0.1,
                decoupled: 0.0
            })
        );
        assert_eq!(
            decay_rates(WeightDecay::Decoupled(0.2)),
            Ok(DecayRates {
                l2: 0.0,
                decoupled: 0.2
            })
        );
        assert!(decay_rates(WeightDecay::L2(-0.1)).is_err());
        assert!(decay_rates(WeightDecay::Decoupled(f32::NAN)).is_err());
        assert!(check_state(2, 3, &[0.0; 6]).is_ok());
        assert!(check_state(2, 3, &[0.0; 5]).is_err());
        assert!(check_state(0, 3, &[]).is_ok() && check_state(0, 3, &[0.0]).is_err());
    }
}
