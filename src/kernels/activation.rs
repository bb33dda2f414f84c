//! Elementwise activations and their derivatives.
//!
//! `activation_forward` computes `y = f(x)`; `activation_backward` computes
//! `dx = dy * f'(x)`, using whichever of `x` and `y` gives the cheapest exact form
//! (`σ' = y(1-y)`, `tanh' = 1-y²`, ...). Math goes through `libm` so results are the same on
//! every platform. ReLU and LeakyReLU have `wide` SIMD versions; the exp-based functions use
//! the scalar loops until a vectorised `exp` lands.

use wide::f32x8;

use crate::error::{Error, Result};

/// An elementwise activation function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`.
    ReLU,
    /// `x` if `x > 0`, else `slope * x` (tinynn's default slope is 0.2).
    LeakyReLU {
        /// Slope for negative inputs.
        slope: f32,
    },
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `ln(1 + e^x)`, computed without overflow.
    Softplus,
    /// `x` if `x > 0`, else `alpha * (e^x - 1)`.
    ELU {
        /// Scale of the negative part (usually 1.0).
        alpha: f32,
    },
    /// Gaussian error linear unit, exact form `x · Φ(x) = x/2 · (1 + erf(x/√2))`.
    GELU,
}

impl Activation {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::ReLU => "ReLU",
            Activation::LeakyReLU { .. } => "LeakyReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::Softplus => "Softplus",
            Activation::ELU { .. } => "ELU",
            Activation::GELU => "GELU",
        }
    }

    /// `f(x)` for one value.
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            Activation::ReLU => x.max(0.0),
            Activation::LeakyReLU { slope } => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => libm::tanhf(x),
            Activation::Softplus => x.max(0.0) + libm::log1pf(libm::expf(-x.abs())),
            Activation::ELU { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * libm::expm1f(x)
                }
            }
            Activation::GELU => 0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2)),
        }
    }

    /// `f'(x)` given the input `x` and the output `y = f(x)`.
    pub fn derivative(&self, x: f32, y: f32) -> f32 {
        match *self {
            Activation::ReLU => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyReLU { slope } => {
                if x > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Softplus => sigmoid(x),
            Activation::ELU { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            Activation::GELU => {
                // Φ(x) + x·φ(x), φ the standard normal density.
                const INV_SQRT_2PI: f32 = 0.398_942_3;
                let cdf = 0.5 * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2));
                cdf + x * INV_SQRT_2PI * libm::expf(-0.5 * x * x)
            }
        }
    }
}

/// The logistic function, computed without overflow for large `|x|`.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

fn check_same(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::length(what, expected, got))
    }
}

/// Scalar twin of [`activation_forward`].
pub fn activation_forward_reference(act: Activation, x: &[f32], y: &mut [f32]) -> Result<()> {
    check_same("activation output", x.len(), y.len())?;
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = act.apply(xi);
    }
    Ok(())
}

/// Scalar twin of [`activation_backward`].
pub fn activation_backward_reference(
    act: Activation,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    check_same("activation output", x.len(), y.len())?;
    check_same("activation output gradient", x.len(), dy.len())?;
    check_same("activation input gradient", x.len(), dx.len())?;
    for i in 0..x.len() {
        dx[i] = dy[i] * act.derivative(x[i], y[i]);
    }
    Ok(())
}

/// `y = f(x)` elementwise.
pub fn activation_forward(act: Activation, x: &[f32], y: &mut [f32]) -> Result<()> {
    match act {
        Activation::ReLU => leaky_forward_simd(0.0, x, y),
        Activation::LeakyReLU { slope } => leaky_forward_simd(slope, x, y),
        _ => activation_forward_reference(act, x, y),
    }
}

/// `dx = dy * f'(x)` elementwise (`y` is the forward output).
pub fn activation_backward(
    act: Activation,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    match act {
        Activation::ReLU => leaky_backward_simd(0.0, x, dy, dx),
        Activation::LeakyReLU { slope } => leaky_backward_simd(slope, x, dy, dx),
        _ => activation_backward_reference(act, x, y, dy, dx),
    }
}

/// ReLU (slope 0) and LeakyReLU, 8 lanes at a time: `y = x > 0 ? x : slope * x`.
fn leaky_forward_simd(slope: f32, x: &[f32], y: &mut [f32]) -> Result<()> {
    check_same("activation output", x.len(), y.len())?;
    let zero = f32x8::ZERO;
    let s = f32x8::splat(slope);
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact_mut(8);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        let v = f32x8::from(<[f32; 8]>::try_from(xs).unwrap_or_default());
        let out = v.simd_gt(zero).select(v, v * s);
        ys.copy_from_slice(&out.to_array());
    }
    for (yi, &xi) in yc.into_remainder().iter_mut().zip(xc.remainder()) {
        *yi = if xi > 0.0 { xi } else { slope * xi };
    }
    Ok(())
}

/// `dx = x > 0 ? dy : slope * dy`, 8 lanes at a time.
fn leaky_backward_simd(slope: f32, x: &[f32], dy: &[f32], dx: &mut [f32]) -> Result<()> {
    check_same("activation output gradient", x.len(), dy.len())?;
    check_same("activation input gradient", x.len(), dx.len())?;
    let zero = f32x8::ZERO;
    let s = f32x8::splat(slope);
    let n8 = x.len() / 8 * 8;
    for ((xs, gs), ds) in x[..n8]
        .chunks_exact(8)
        .zip(dy[..n8].chunks_exact(8))
        .zip(dx[..n8].chunks_exact_mut(8))
    {
        let v = f32x8::from(<[f32; 8]>::try_from(xs).unwrap_or_default());
        let g = f32x8::from(<[f32; 8]>::try_from(gs).unwrap_or_default());
        let out = v.simd_gt(zero).select(g, g * s);
        ds.copy_from_slice(&out.to_array());
    }
    for i in n8..x.len() {
        dx[i] = if x[i] > 0.0 { dy[i] } else { slope * dy[i] };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    const ALL: [Activation; 7] = [
        Activation::ReLU,
        Activation::LeakyReLU { slope: 0.2 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::ELU { alpha: 1.0 },
        Activation::GELU,
    ];

    #[test]
    fn simd_matches_scalar_on_odd_sizes() {
        let mut rng = Rng::new(1);
        for n in [0, 1, 3, 7, 8, 9, 17, 33, 129] {
            let x: Vec<f32> = (0..n).map(|_| rng.uniform_range(-3.0, 3.0)).collect();
            let dy: Vec<f32> = (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
            for act in ALL {
                let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                activation_forward(act, &x, &mut y1).unwrap();
                activation_forward_reference(act, &x, &mut y2).unwrap();
                assert_eq!(y1, y2, "{act:?} forward n={n}");
                let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
                activation_backward(act, &x, &y1, &dy, &mut d1).unwrap();
                activation_backward_reference(act, &x, &y1, &dy, &mut d2).unwrap();
                assert_eq!(d1, d2, "{act:?} backward n={n}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(Activation::ReLU.apply(-2.0), 0.0);
        assert_eq!(Activation::LeakyReLU { slope: 0.2 }.apply(-2.0), -0.4);
        assert!((Activation::Sigmoid.apply(0.0) - 0.5).abs() < 1e-7);
        assert_eq!(Activation::Sigmoid.apply(-1000.0), 0.0);
        assert_eq!(Activation::Sigmoid.apply(1000.0), 1.0);
        assert!((Activation::Softplus.apply(0.0) - core::f32::consts::LN_2).abs() < 1e-7);
        assert_eq!(Activation::Softplus.apply(1000.0), 1000.0);
        assert!((Activation::ELU { alpha: 1.0 }.apply(-1.0) - (-0.632_120_6)).abs() < 1e-6);
        assert!((Activation::GELU.apply(1.0) - 0.841_344_7).abs() < 1e-6);
    }

    #[test]
    fn derivative_matches_finite_difference() {
        for act in ALL {
            for &x in &[-2.5f32, -0.7, 0.3, 1.9] {
                let h = 1e-3f64;
                let f = |v: f64| act.apply(v as f32) as f64;
                let numeric = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
                let analytic = act.derivative(x, act.apply(x)) as f64;
                assert!(
                    (numeric - analytic).abs() < 2e-3 * (1.0 + numeric.abs()),
                    "{act:?} at {x}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let mut y = [0.0; 2];
        assert!(activation_forward(Activation::ReLU, &[1.0; 3], &mut y).is_err());
        assert!(activation_forward(Activation::Tanh, &[1.0; 3], &mut y).is_err());
        let mut dx = [0.0; 3];
        assert!(
            activation_backward(Activation::ReLU, &[1.0; 3], &[1.0; 3], &[1.0; 2], &mut dx)
                .is_err()
        );
    }
}
