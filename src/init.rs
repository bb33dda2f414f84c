//! Parameter initializers (tinynn's set), driven by the seeded [`Rng`].
//!
//! The fan-based schemes follow Glorot & Bengio (Xavier) and He et al.: for a Dense layer,
//! `fan_in` is its input width and `fan_out` its output width.

use crate::error::{Error, Result};
use crate::rng::Rng;

/// How to fill a parameter tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros (tinynn's default for biases).
    Zeros,
    /// All ones.
    Ones,
    /// Every element set to the value.
    Constant(f32),
    /// Uniform in `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f32,
        /// Upper bound (exclusive).
        high: f32,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation (≥ 0).
        std: f32,
    },
    /// Normal, redrawing any sample more than two standard deviations from the mean.
    TruncatedNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation (≥ 0) before truncation.
        std: f32,
    },
    /// Uniform in `±gain·√(6 / (fan_in + fan_out))`.
    XavierUniform {
        /// Scale factor (1.0 for linear/tanh/sigmoid).
        gain: f32,
    },
    /// Normal with std `gain·√(2 / (fan_in + fan_out))`.
    XavierNormal {
        /// Scale factor.
        gain: f32,
    },
    /// Uniform in `±gain·√(6 / fan_in)` (Kaiming, suited to ReLU).
    HeUniform {
        /// Scale factor.
        gain: f32,
    },
    /// Normal with std `gain·√(2 / fan_in)` (Kaiming, suited to ReLU).
    HeNormal {
        /// Scale factor.
        gain: f32,
    },
}

impl Init {
    /// Xavier/Glorot uniform with gain 1 — the default for Dense weights, as in tinynn.
    pub const XAVIER_UNIFORM: Init = Init::XavierUniform { gain: 1.0 };
    /// He/Kaiming normal with gain 1.
    pub const HE_NORMAL: Init = Init::HeNormal { gain: 1.0 };

    /// Fills `out` for a tensor whose fans are `fan_in` and `fan_out`.
    ///
    /// Errors on a negative or non-finite standard deviation or bounds, `low > high`, or a
    /// fan-based scheme with a zero fan.
    pub fn fill(
        &self,
        out: &mut [f32],
        fan_in: usize,
        fan_out: usize,
        rng: &mut Rng,
    ) -> Result<()> {
        let fan = |n: usize| {
            if n == 0 {
                Err(Error::config("fan-based initializer needs a non-zero fan"))
            } else {
                Ok(n as f32)
            }
        };
        match *self {
            Init::Zeros => out.fill(0.0),
            Init::Ones => out.fill(1.0),
            Init::Constant(v) => {
                finite(v, "constant initializer value must be finite")?;
                out.fill(v)
            }
            Init::Uniform { low, high } => uniform(out, low, high, rng)?,
            Init::Normal { mean, std } => normal(out, mean, std, false, rng)?,
            Init::TruncatedNormal { mean, std } => normal(out, mean, std, true, rng)?,
            Init::XavierUniform { gain } => {
                let a = gain * libm::sqrtf(6.0 / (fan(fan_in)? + fan(fan_out)?));
                uniform(out, -a, a, rng)?
            }
            Init::XavierNormal { gain } => {
                let s = gain * libm::sqrtf(2.0 / (fan(fan_in)? + fan(fan_out)?));
                normal(out, 0.0, s, false, rng)?
            }
            Init::HeUniform { gain } => {
                let a = gain * libm::sqrtf(6.0 / fan(fan_in)?);
                uniform(out, -a, a, rng)?
            }
            Init::HeNormal { gain } => {
                let s = gain * libm::sqrtf(2.0 / fan(fan_in)?);
                normal(out, 0.0, s, false, rng)?
            }
        }
        Ok(())
    }
}

fn finite(v: f32, what: &'static str) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::config(what))
    }
}

fn uniform(out: &mut [f32], low: f32, high: f32, rng: &mut Rng) -> Result<()> {
    finite(low, "uniform initializer bounds must be finite")?;
    finite(high, "uniform initializer bounds must be finite")?;
    if low > high {
        return Err(Error::config("uniform initializer needs low <= high"));
    }
    for v in out {
        *v = rng.uniform_range(low, high);
    }
    Ok(())
}

fn normal(out: &mut [f32], mean: f32, std: f32, truncate: bool, rng: &mut Rng) -> Result<()> {
    finite(mean, "normal initializer mean must be finite")?;
    if !(std.is_finite() && std >= 0.0) {
        return Err(Error::config(
            "normal initializer std must be finite and >= 0",
        ));
    }
    for v in out {
        let mut z = rng.normal();
        while truncate && z.abs() > 2.0 {
            z = rng.normal();
        }
        *v = mean + std * z;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f32]) -> (f32, f32, f32) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let maxabs = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        (mean as f32, libm::sqrt(var) as f32, maxabs)
    }

    #[test]
    fn fan_based_scales() {
        let mut rng = Rng::new(0);
        let mut w = vec![0.0; 784 * 400];
        Init::XAVIER_UNIFORM
            .fill(&mut w, 784, 400, &mut rng)
            .unwrap();
        let a = (6.0f32 / 1184.0).sqrt();
        let (m, s, mx) = stats(&w);
        assert!(m.abs() < 1e-3 && mx <= a);
        assert!((s - a / 3f32.sqrt()).abs() < 1e-3, "{s}");
        Init::HeNormal { gain: 1.0 }
            .fill(&mut w, 784, 400, &mut rng)
            .unwrap();
        let (_, s, _) = stats(&w);
        assert!((s - (2.0f32 / 784.0).sqrt()).abs() < 1e-3);
        Init::XavierNormal { gain: 2.0 }
            .fill(&mut w, 784, 400, &mut rng)
            .unwrap();
        let (_, s, _) = stats(&w);
        assert!((s - 2.0 * (2.0f32 / 1184.0).sqrt()).abs() < 1e-3);
        Init::HeUniform { gain: 1.0 }
            .fill(&mut w, 784, 400, &mut rng)
            .unwrap();
        let (_, _, mx) = stats(&w);
        assert!(mx <= (6.0f32 / 784.0).sqrt() && mx > 0.99 * (6.0f32 / 784.0).sqrt());
    }

    #[test]
    fn truncated_normal_stays_within_two_std() {
        let mut rng = Rng::new(1);
        let mut w = vec![0.0; 10_000];
        Init::TruncatedNormal {
            mean: 1.0,
            std: 0.5,
        }
        .fill(&mut w, 1, 1, &mut rng)
        .unwrap();
        assert!(w.iter().all(|&x| (x - 1.0).abs() <= 1.0 + 1e-6));
        let (m, _, _) = stats(&w);
        assert!((m - 1.0).abs() < 0.02);
    }

    #[test]
    fn constants_and_errors() {
        let mut rng = Rng::new(2);
        let mut w = [5.0; 4];
        Init::Zeros.fill(&mut w, 1, 1, &mut rng).unwrap();
        assert_eq!(w, [0.0; 4]);
        Init::Ones.fill(&mut w, 1, 1, &mut rng).unwrap();
        assert_eq!(w, [1.0; 4]);
        Init::Constant(0.5).fill(&mut w, 1, 1, &mut rng).unwrap();
        assert_eq!(w, [0.5; 4]);
        assert!(
            Init::Normal {
                mean: 0.0,
                std: -1.0
            }
            .fill(&mut w, 1, 1, &mut rng)
            .is_err()
        );
        assert!(
            Init::Uniform {
                low: 1.0,
                high: 0.0
            }
            .fill(&mut w, 1, 1, &mut rng)
            .is_err()
        );
        assert!(Init::XAVIER_UNIFORM.fill(&mut w, 0, 0, &mut rng).is_err());
        assert!(
            Init::Constant(f32::NAN)
                .fill(&mut w, 1, 1, &mut rng)
                .is_err()
        );
    }
}
