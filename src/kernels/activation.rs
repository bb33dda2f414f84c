//! Elementwise activations and their derivatives.
//!
//! `activation_forward` computes `y = f(x)`; `activation_backward` computes
//! `dx = dy * f'(x)`, using whichever of `x` and `y` gives the cheapest exact form
//! (`σ' = y(1-y)`, `tanh' = 1-y²`, ...).
//!
//! The `*_reference` twins go element by element through [`Activation::apply`] and
//! [`Activation::derivative`], with `libm`. The fast versions run 8 lanes at a time with
//! `wide` and the vectorised functions of [`super::math`] (tails padded, so every element
//! takes the same code path whatever its position):
//!
//! | activation | forward vs reference | backward vs reference |
//! |---|---|---|
//! | ReLU, LeakyReLU | identical (ReLU may give `−0` for `+0`) | identical |
//! | Sigmoid, Tanh | within 1e-6 relative | bit-identical (`y(1−y)`, `1−y²`) |
//! | ELU | within 1e-6 relative | bit-identical (`y + α`) |
//! | Softplus | within 1e-6 relative | within 1e-6 relative (`σ(x)`) |
//! | GELU | within 1e-6 relative + `1e-7·|x|` | within 1e-6 relative + 2e-7 |
//!
//! GELU's absolute term is the *reference's* error: `½x(1 + erf(x/√2))` cancels for negative
//! `x`. The fast path computes `x·Φ(x)` with [`super::math::normal_cdf`] (within 5.5 ulp),
//! accurate in relative terms over the whole range, tail included; the tests check every fast
//! path against an `f64` evaluation to 1e-6 relative. Both paths give the same bits on every
//! platform (no fused multiply-add).

use wide::f32x8;

use super::dispatch::{KernelPath, selected};
use super::math;
use super::threads;
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
///
/// Runs [`activation_forward_reference`] when `NANONN_KERNEL=scalar` (see [`selected`]); every
/// other path runs the `wide` code here.
pub fn activation_forward(act: Activation, x: &[f32], y: &mut [f32]) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return activation_forward_reference(act, x, y);
    }
    check_same("activation output", x.len(), y.len())?;
    forward_parts(act, x, y, threads::ways(x.len(), PAR_MIN))
}

/// Smallest part of an activation handed to one thread with `rayon`: 16 Ki floats, a few
/// microseconds of work, above what a `join` costs (so the MLP's 128 × 400 hidden layer
/// splits in two, its 128 × 100 one does not).
const PAR_MIN: usize = 1 << 14;

/// [`forward_wide`] on `ways` contiguous parts in parallel (lengths checked). Each element
/// goes through the same lane operations wherever the parts are cut.
fn forward_parts(act: Activation, x: &[f32], y: &mut [f32], ways: usize) -> Result<()> {
    if ways <= 1 {
        return forward_wide(act, x, y);
    }
    let mid = threads::cut(x.len(), ways, LANES);
    let ((x0, x1), (y0, y1)) = (x.split_at(mid), y.split_at_mut(mid));
    let (w0, w1) = (ways / 2, ways - ways / 2);
    let (left, right) = threads::join(
        || forward_parts(act, x0, y0, w0),
        || forward_parts(act, x1, y1, w1),
    );
    left.and(right)
}

/// Lanes of the `wide` vectors: parts are cut at multiples of it.
const LANES: usize = 8;

/// The `wide` path of [`activation_forward`].
fn forward_wide(act: Activation, x: &[f32], y: &mut [f32]) -> Result<()> {
    check_same("activation output", x.len(), y.len())?;
    match act {
        Activation::ReLU => map1(x, y, |v| v.max(f32x8::ZERO)),
        Activation::LeakyReLU { slope } => leaky_forward_simd(slope, x, y),
        Activation::Sigmoid => map1(x, y, math::sigmoid),
        Activation::Tanh => map1(x, y, math::tanh),
        Activation::Softplus => map1(x, y, |v| {
            v.max(f32x8::ZERO) + math::log1p(math::exp(-v.abs()))
        }),
        Activation::ELU { alpha } => {
            let a = f32x8::splat(alpha);
            map1(x, y, |v| {
                let neg = a * math::expm1(v);
                v.simd_gt(f32x8::ZERO).select(v, neg)
            })
        }
        Activation::GELU => map1(x, y, |v| v * math::normal_cdf(v)),
    }
    Ok(())
}

/// `dx = dy * f'(x)` elementwise (`y` is the forward output); the reference when
/// `NANONN_KERNEL=scalar`.
pub fn activation_backward(
    act: Activation,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    if selected() == KernelPath::Scalar {
        return activation_backward_reference(act, x, y, dy, dx);
    }
    check_same("activation output", x.len(), y.len())?;
    check_same("activation output gradient", x.len(), dy.len())?;
    check_same("activation input gradient", x.len(), dx.len())?;
    let slices = (x, y, dy);
    backward_parts(act, slices, dx, threads::ways(x.len(), PAR_MIN))
}

/// [`backward_wide`] on `ways` contiguous parts in parallel, as [`forward_parts`].
fn backward_parts(
    act: Activation,
    (x, y, dy): (&[f32], &[f32], &[f32]),
    dx: &mut [f32],
    ways: usize,
) -> Result<()> {
    if ways <= 1 {
        return backward_wide(act, x, y, dy, dx);
    }
    let mid = threads::cut(x.len(), ways, LANES);
    let (x0, x1) = x.split_at(mid);
    let (y0, y1) = y.split_at(mid);
    let (g0, g1) = dy.split_at(mid);
    let (d0, d1) = dx.split_at_mut(mid);
    let (w0, w1) = (ways / 2, ways - ways / 2);
    let (left, right) = threads::join(
        || backward_parts(act, (x0, y0, g0), d0, w0),
        || backward_parts(act, (x1, y1, g1), d1, w1),
    );
    left.and(right)
}

/// The `wide` path of [`activation_backward`].
fn backward_wide(act: Activation, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) -> Result<()> {
    check_same("activation output", x.len(), y.len())?;
    check_same("activation output gradient", x.len(), dy.len())?;
    check_same("activation input gradient", x.len(), dx.len())?;
    let one = f32x8::ONE;
    match act {
        Activation::ReLU => leaky_backward_simd(0.0, x, dy, dx),
        Activation::LeakyReLU { slope } => leaky_backward_simd(slope, x, dy, dx),
        // Same operations as `Activation::derivative`, so bit-identical to the reference.
        Activation::Sigmoid => map2(y, dy, dx, |y, g| g * (y * (one - y))),
        Activation::Tanh => map2(y, dy, dx, |y, g| g * (one - y * y)),
        Activation::Softplus => map2(x, dy, dx, |x, g| g * math::sigmoid(x)),
        Activation::ELU { alpha } => {
            let a = f32x8::splat(alpha);
            map3(x, y, dy, dx, |x, y, g| {
                x.simd_gt(f32x8::ZERO).select(g * one, g * (y + a))
            })
        }
        Activation::GELU => map2(x, dy, dx, |x, g| {
            g * (math::normal_cdf(x) + x * math::normal_pdf(x))
        }),
    }
    Ok(())
}

#[inline(always)]
fn load(s: &[f32]) -> f32x8 {
    let mut a = [0.0; 8];
    a.copy_from_slice(s); // a `chunks_exact(8)` chunk: the lengths agree
    f32x8::from(a)
}

/// `out = f(a)`, 8 lanes at a time; the tail is padded with zeros and goes through `f` too.
/// Lengths are checked by the caller.
#[inline(always)]
fn map1(a: &[f32], out: &mut [f32], f: impl Fn(f32x8) -> f32x8) {
    let mut ac = a.chunks_exact(8);
    let mut oc = out.chunks_exact_mut(8);
    for (a, o) in (&mut ac).zip(&mut oc) {
        o.copy_from_slice(&f(load(a)).to_array());
    }
    let rest = oc.into_remainder();
    if !rest.is_empty() {
        let v = math::tail8(ac.remainder(), 0.0, f);
        rest.copy_from_slice(&v[..rest.len()]);
    }
}

/// `out = f(a, b)`, 8 lanes at a time, tail padded with zeros.
#[inline(always)]
fn map2(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32x8, f32x8) -> f32x8) {
    map3(a, b, b, out, |a, b, _| f(a, b));
}

/// `out = f(a, b, c)`, 8 lanes at a time, tail padded with zeros.
#[inline(always)]
fn map3(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    out: &mut [f32],
    f: impl Fn(f32x8, f32x8, f32x8) -> f32x8,
) {
    let n8 = out.len() / 8 * 8;
    let (ob, ot) = out.split_at_mut(n8);
    let ins = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .zip(c.chunks_exact(8));
    for (((a, b), c), o) in ins.zip(ob.chunks_exact_mut(8)) {
        o.copy_from_slice(&f(load(a), load(b), load(c)).to_array());
    }
    if !ot.is_empty() {
        let pad = |s: &[f32]| {
            let mut v = [0.0; 8];
            v[..ot.len()].copy_from_slice(&s[n8..]);
            f32x8::from(v)
        };
        let v = f(pad(a), pad(b), pad(c)).to_array();
        ot.copy_from_slice(&v[..ot.len()]);
    }
}

/// LeakyReLU, 8 lanes at a time: `y = x > 0 ? x : slope * x`. (Not for ReLU: `0 · −inf` would
/// be NaN where `max(x, 0)` is 0.)
fn leaky_forward_simd(slope: f32, x: &[f32], y: &mut [f32]) {
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
}

/// `dx = x > 0 ? dy : slope * dy`, 8 lanes at a time.
fn leaky_backward_simd(slope: f32, x: &[f32], dy: &[f32], dx: &mut [f32]) {
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
}

#[cfg(test)]
mod tests {
    //! The fast side calls the `wide` code directly, so that `NANONN_KERNEL=scalar` does not
    //! make the comparisons reference vs reference.
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

    const SIZES: [usize; 11] = [0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 129];

    /// The documented fast-vs-reference bound: `(relative, absolute per |x|, absolute)`;
    /// `None` means identical values.
    fn tolerance(act: Activation, backward: bool) -> Option<(f32, f32, f32)> {
        match (act, backward) {
            (Activation::ReLU | Activation::LeakyReLU { .. }, _) => None,
            (Activation::Sigmoid | Activation::Tanh | Activation::ELU { .. }, true) => None,
            (Activation::GELU, false) => Some((1e-6, 1e-7, 0.0)),
            (Activation::GELU, true) => Some((1e-6, 0.0, 2e-7)),
            _ => Some((1e-6, 0.0, 0.0)),
        }
    }

    fn assert_close(what: &str, act: Activation, backward: bool, x: &[f32], f: &[f32], r: &[f32]) {
        for i in 0..x.len() {
            let (a, b) = (f[i], r[i]);
            let ok = match tolerance(act, backward) {
                // Same values (ReLU's fast path may give −0 where the reference gives +0).
                None => a == b || (a.is_nan() && b.is_nan()),
                Some((rel, per_x, abs)) => {
                    let tol = rel * b.abs() + per_x * x[i].abs() + abs;
                    (a - b).abs() <= tol || a == b || (a.is_nan() && b.is_nan())
                }
            };
            assert!(
                ok,
                "{act:?} {what} at x={}: fast {a:e} vs reference {b:e}",
                x[i]
            );
        }
    }

    /// Fast vs reference, forward and backward, on random inputs in `[-spread, spread]`.
    fn compare_on(x: &[f32], dy: &[f32]) {
        let n = x.len();
        for act in ALL {
            let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
            forward_wide(act, x, &mut y1).unwrap();
            activation_forward_reference(act, x, &mut y2).unwrap();
            assert_close(&format!("forward n={n}"), act, false, x, &y1, &y2);
            let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
            backward_wide(act, x, &y1, dy, &mut d1).unwrap();
            activation_backward_reference(act, x, &y1, dy, &mut d2).unwrap();
            assert_close(&format!("backward n={n}"), act, true, x, &d1, &d2);
        }
    }

    #[test]
    fn fast_matches_reference_on_odd_sizes() {
        let mut rng = Rng::new(1);
        for n in SIZES {
            for spread in [3.0, 12.0] {
                let x: Vec<f32> = (0..n).map(|_| rng.uniform_range(-spread, spread)).collect();
                let dy: Vec<f32> = (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
                compare_on(&x, &dy);
            }
        }
    }

    #[test]
    fn fast_matches_reference_on_extremes() {
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        let x = [
            0.0, -0.0, 1e-30, -1e-30, 1e-5, -1e-5, 20.0, -20.0, 88.0, -88.0, 100.0, -100.0, 1e4,
            -1e4, inf, -inf, nan, 0.5,
        ];
        let dy: Vec<f32> = (0..x.len()).map(|i| 1.0 - 0.1 * i as f32).collect();
        compare_on(&x, &dy);
    }

    /// The fast paths against the functions evaluated in `f64`: relative error within
    /// 1e-6 everywhere, also where the reference GELU loses digits (negative tail).
    #[test]
    fn fast_paths_are_accurate() {
        fn cdf(x: f64) -> f64 {
            0.5 * libm::erfc(-x / core::f64::consts::SQRT_2)
        }
        fn pdf(x: f64) -> f64 {
            libm::exp(-0.5 * x * x) * 0.398_942_280_401_432_7
        }
        fn sig(x: f64) -> f64 {
            1.0 / (1.0 + libm::exp(-x))
        }
        let n = 4001;
        let x: Vec<f32> = (0..n)
            .map(|i| -20.0 + 40.0 * i as f32 / (n - 1) as f32)
            .collect();
        let dy = vec![1.0; n];
        #[allow(clippy::type_complexity)]
        let cases: [(Activation, fn(f64) -> f64, fn(f64) -> f64); 5] = [
            (Activation::Sigmoid, sig, |x| sig(x) * (1.0 - sig(x))),
            (Activation::Tanh, libm::tanh, |x| {
                1.0 - libm::tanh(x) * libm::tanh(x)
            }),
            (Activation::Softplus, |x| libm::log1p(libm::exp(x)), sig),
            (
                Activation::ELU { alpha: 1.0 },
                |x| if x > 0.0 { x } else { libm::expm1(x) },
                |x| {
                    if x > 0.0 { 1.0 } else { libm::exp(x) }
                },
            ),
            (Activation::GELU, |x| x * cdf(x), |x| cdf(x) + x * pdf(x)),
        ];
        for (act, f, df) in cases {
            let (mut y, mut d) = (vec![0.0; n], vec![0.0; n]);
            forward_wide(act, &x, &mut y).unwrap();
            backward_wide(act, &x, &y, &dy, &mut d).unwrap();
            for i in 0..n {
                let xi = x[i] as f64;
                let (ty, td) = (f(xi), df(xi));
                assert!(
                    (y[i] as f64 - ty).abs() <= 1e-6 * ty.abs() + 1e-38,
                    "{act:?}({xi}) = {}, want {ty}",
                    y[i]
                );
                // Backward forms from y (σ, tanh, ELU) inherit y's absolute error (a few
                // 1e-8 near |y| = 1): absolute bound.
                assert!(
                    (d[i] as f64 - td).abs() <= 1e-6 * td.abs() + 2.5e-7,
                    "{act:?}'({xi}) = {}, want {td}",
                    d[i]
                );
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

    /// With `rayon`, activations long enough to split give the bits of one unsplit pass on
    /// every pool size (odd lengths, so the last part holds the padded tail).
    #[cfg(feature = "rayon")]
    #[test]
    fn every_thread_count_gives_the_same_bits() {
        let n = 3 * PAR_MIN + 37;
        let mut rng = Rng::new(17);
        let x: Vec<f32> = (0..n).map(|_| 4.0 * rng.normal()).collect();
        let dy: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for act in ALL {
            let (mut y, mut dx) = (vec![0.0; n], vec![0.0; n]);
            forward_wide(act, &x, &mut y).unwrap();
            backward_wide(act, &x, &y, &dy, &mut dx).unwrap();
            for threads in [2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (y_split, dx_split) = pool.install(|| {
                    assert!(
                        threads::ways(n, PAR_MIN) > 1,
                        "{threads} threads must split"
                    );
                    let (mut ys, mut dxs) = (vec![f32::NAN; n], vec![f32::NAN; n]);
                    activation_forward(act, &x, &mut ys).unwrap();
                    activation_backward(act, &x, &ys, &dy, &mut dxs).unwrap();
                    (ys, dxs)
                });
                if selected() != KernelPath::Scalar {
                    assert_eq!(
                        bits(&y_split),
                        bits(&y),
                        "{act:?} forward, {threads} threads"
                    );
                    assert_eq!(
                        bits(&dx_split),
                        bits(&dx),
                        "{act:?} backward, {threads} threads"
                    );
                }
            }
        }
    }
}
