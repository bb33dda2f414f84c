//! Vectorised transcendental functions on [`wide::f32x8`]: `exp`, `expm1`, `ln`, `log1p`,
//! `tanh`, `sigmoid`, `erf`, `erfc` and the standard normal `normal_cdf` / `normal_pdf`.
//!
//! They serve the fast paths of the activation and loss kernels, and custom layers may use
//! them too. `wide` picks the instructions at compile time (SSE on x86-64 at default flags,
//! NEON on aarch64, simd128 on wasm, plain scalar code on Cortex-M); nothing allocates and
//! nothing needs `std`.
//!
//! # Same bits everywhere
//! Only IEEE-exact operations are used: `+ − × ÷`, comparisons, selects, integer and bit
//! operations. No fused multiply-add (`wide`'s `mul_add` fuses only where the target has
//! FMA) and no float↔int conversions (rounding goes through the `1.5·2²³` shifter, whose
//! result is the same under every instruction set). So a lane's result depends only on that
//! lane's input, never on the platform, the position in the slice or its neighbours.
//!
//! # Accuracy
//! Errors are in ulps of the correctly rounded result (for subnormal results, of the
//! subnormal spacing 2⁻¹⁴⁹), against the `f64` functions of `libm`. "Measured" is the largest
//! error over 1 in 16 of all floats in the core range (about 1.4·10⁸ points each, including the
//! ramps into underflow, overflow and saturation) and over 1 in 2¹¹ of all floats elsewhere;
//! the tests re-check the "bound" column on every run on a sparser sweep (1 in 2¹¹ of all
//! floats, 1 in 2¹⁰ of the core range, every float near the ends).
//!
//! | function | core range | measured | bound | special values |
//! |---|---|---|---|---|
//! | [`exp`] | `[−104, 89]` | 1.02 ulp | 1.1 | `e^±0 = 1`; `inf` from `88.72284` (`e^88.72283` is finite); gradual underflow, `0` below `ln 2⁻¹⁵⁰ ≈ −103.97`; `e^−inf = 0` |
//! | [`expm1`] | `[−1, 1]` | 1.74 ulp | 2 | keeps `±0` and subnormals; `−1` below about `−17.3`; `inf` from `88.72284` |
//! | [`ln`] | `(0, 10³⁰]` | 0.80 ulp | 1 | same bits as `libm::logf` at every point tested; `ln ±0 = −inf`, `NaN` below 0, `ln inf = inf` |
//! | [`log1p`] | `[−½, 1]` | 1.44 ulp | 2 | keeps `±0` and subnormals; `log1p(−1) = −inf`, `NaN` below `−1` |
//! | [`tanh`] | `[−10, 10]` | 2.46 ulp | 3 | odd, keeps `±0` and subnormals; `±1` beyond `±9.1` |
//! | [`sigmoid`] | `[−110, 20]` | 2.40 ulp | 3 | `σ(±0) = ½`, `σ(−inf) = 0`, `σ(inf) = 1`; subnormal below `−87.3` |
//! | [`erf`] | `[−5, 5]` | 1.46 ulp | 2 | odd, keeps `±0`; `±1` beyond `±4` |
//! | [`erfc`] | `[−5, 11]` | 4.73 ulp | 5 | `erfc(−inf) = 2`; underflows to 0 beyond `10.13` |
//! | [`normal_cdf`] | `[−15, 10]` | 4.81 ulp | 5.5 | `Φ(±0) = ½`, `Φ(inf) = 1`; underflows to 0 below `−14.17` |
//! | [`normal_pdf`] | `[−15, 15]` | 2.18 ulp | 3 | `φ(±inf) = 0` |
//!
//! `NaN` in gives `NaN` out everywhere. `erfc`, `erf` (for `|x| ≥ 1`), `normal_cdf` and
//! `normal_pdf` form the square in their exponent exactly (`−x²`, `−x²/2`), so their relative
//! accuracy holds deep into the tail, where the `libm` formulas `½·erfc(−x/√2)` and
//! `expf(−x²/2)` lose up to `x²·2⁻²⁴` (190 and 60 ulp at `|x| ≈ 11`) to the rounding of their
//! argument.

use wide::bytemuck::cast;
use wide::{f32x8, i32x8, u32x8};

/// `1.5·2²³`: for `|v| < 2²²`, `(v + SHIFTER) − SHIFTER` is `v` rounded to the nearest integer
/// (ties to even), and the low bits of `v + SHIFTER` hold that integer.
const SHIFTER: f32 = 12_582_912.0;
/// `ln 2` split for Cody–Waite reduction: `LN2_HI` has 9 significant bits, so `n·LN2_HI` is
/// exact for `|n| < 2¹⁵`.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

#[inline(always)]
fn splat(v: f32) -> f32x8 {
    f32x8::splat(v)
}

/// `x/ln 2` rounded to the nearest integer `n`, as a float and as an integer.
///
/// `x` must satisfy `|x| < 2²¹` (callers clamp it).
#[inline(always)]
fn round_n(x: f32x8) -> (f32x8, i32x8) {
    let t = x * splat(core::f32::consts::LOG2_E) + splat(SHIFTER);
    let ni = cast::<f32x8, i32x8>(t) - i32x8::splat(SHIFTER.to_bits() as i32);
    (t - splat(SHIFTER), ni)
}

/// `x = n·ln 2 + r` with `n` an integer and `|r| ≤ 0.35`; returns `(n, r)`.
#[inline(always)]
fn reduce(x: f32x8) -> (i32x8, f32x8) {
    let (n, ni) = round_n(x);
    // x − n·LN2_HI is exact (n·LN2_HI has at most 17 significant bits and cancels the
    // leading bits of x); the second product brings r to within ~2⁻³⁶ of x − n·ln 2.
    let r = (x - n * splat(LN2_HI)) - n * splat(LN2_LO);
    (ni, r)
}

/// `e^r − 1` for `|r| ≤ 0.35`: `r + r²·q(r)`, `q` a degree-4 Chebyshev fit of
/// `(e^r − 1 − r)/r²` on `[−0.35, 0.35]` (truncation error `< 9·10⁻⁹`).
#[inline(always)]
fn expm1_small(r: f32x8) -> f32x8 {
    let q = splat(1.392_691_8e-3);
    let q = q * r + splat(8.363_767e-3);
    let q = q * r + splat(4.166_655e-2);
    let q = q * r + splat(0.166_665_73);
    let q = q * r + splat(0.5);
    r + (r * r) * q
}

/// `2ⁿ` for `−126 ≤ n ≤ 127`, built from its exponent bits.
#[inline(always)]
fn pow2i(n: i32x8) -> f32x8 {
    cast::<i32x8, f32x8>((n + i32x8::splat(127)) << 23)
}

/// `p1·2ⁿ` for `−252 ≤ n ≤ 254`: scaled in two halves (each a normal power of two) so that
/// both overflow and gradual underflow round once, at the last multiplication.
#[inline(always)]
fn scale(p1: f32x8, n: i32x8) -> f32x8 {
    let n1 = n >> 1;
    let n2 = n - n1;
    p1 * pow2i(n1) * pow2i(n2)
}

/// `e^(hi + lo)` for `hi` in `[−110, 0]` and `|lo| ≤ 2`: the reduction subtracts `n·ln 2`
/// from `hi` before adding `lo`, so the bits of `lo` below `hi`'s last place still count.
#[inline(always)]
fn exp_hi_lo(hi: f32x8, lo: f32x8) -> f32x8 {
    let (n, ni) = round_n(hi + lo);
    let r = ((hi - n * splat(LN2_HI)) - n * splat(LN2_LO)) + lo;
    scale(f32x8::ONE + expm1_small(r), ni)
}

/// `NaN` lanes of `x` replace the corresponding lanes of `y`.
#[inline(always)]
fn keep_nan(x: f32x8, y: f32x8) -> f32x8 {
    x.is_nan().select(x, y)
}

/// `|x|` with the sign of `s`.
#[inline(always)]
fn with_sign_of(x: f32x8, s: f32x8) -> f32x8 {
    let sign = cast::<f32x8, u32x8>(s) & u32x8::splat(0x8000_0000);
    cast::<u32x8, f32x8>(cast::<f32x8, u32x8>(x.abs()) | sign)
}

/// `e^x`, within 1.1 ulp; see the [module docs](self) for special values.
#[inline]
pub fn exp(x: f32x8) -> f32x8 {
    // Outside [−104, 89] the result is 0 or inf anyway; clamping keeps n in scale()'s range.
    let xc = x.fast_max(splat(-104.0)).fast_min(splat(89.0));
    let (n, r) = reduce(xc);
    keep_nan(x, scale(f32x8::ONE + expm1_small(r), n))
}

/// `e^x − 1`, within 2 ulp, accurate also near 0 where `exp(x) − 1` would cancel.
#[inline]
pub fn expm1(x: f32x8) -> f32x8 {
    // e^x − 1 = 2ⁿ·(e^r − 1) + (2ⁿ − 1): for n = 0 that is the polynomial itself. Below −18
    // the result rounds to −1; above 40 it is e^x (2ⁿ would leave the single-scale range).
    let xc = x.fast_max(splat(-18.0)).fast_min(splat(40.0));
    let (n, r) = reduce(xc);
    let s = pow2i(n);
    let mut y = s * expm1_small(r) + (s - f32x8::ONE);
    let big = x.simd_gt(splat(40.0));
    if big.any() {
        y = big.select(exp(x), y);
    }
    // |x| < 2⁻²⁵: e^x − 1 rounds to x (keeps −0 and subnormals).
    let tiny = x.abs().simd_lt(splat(2.980_232_2e-8));
    keep_nan(x, tiny.select(x, y))
}

/// Natural logarithm, within 1 ulp (the fdlibm/musl `logf` algorithm: `x = 2ᵏ·m` with
/// `m` in `[√½, √2)`, `ln m = 2·atanh(f/(2+f))` for `f = m − 1`).
#[inline]
pub fn ln(x: f32x8) -> f32x8 {
    const LG1: f32 = 0.666_666_6; // 0xaaaaaa.0p-24
    const LG2: f32 = 0.400_009_72; // 0xccce13.0p-25
    const LG3: f32 = 0.284_987_87; // 0x91e9ee.0p-25
    const LG4: f32 = 0.242_790_79; // 0xf89e26.0p-26
    const LN2_HI_LOG: f32 = 6.931_381e-1; // 0x3f317180
    const LN2_LO_LOG: f32 = 9.058_001e-6; // 0x3717f7d1
    // Subnormals: scale into the normal range first.
    let sub = x.simd_lt(splat(f32::MIN_POSITIVE));
    let xs = sub.select(x * splat(8_388_608.0), x);
    // Shift the mantissa range so that m lands in [√½, √2) (musl's trick).
    let ix = cast::<f32x8, u32x8>(xs) + u32x8::splat(0x3f80_0000 - 0x3f35_04f3);
    let k = cast::<u32x8, i32x8>(ix >> 23) - i32x8::splat(127);
    let k = k - (cast::<f32x8, i32x8>(sub) & i32x8::splat(23));
    let m = cast::<u32x8, f32x8>((ix & u32x8::splat(0x007f_ffff)) + u32x8::splat(0x3f35_04f3));
    let f = m - f32x8::ONE;
    let s = f / (splat(2.0) + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (splat(LG2) + w * splat(LG4));
    let t2 = z * (splat(LG1) + w * splat(LG3));
    let r = t2 + t1;
    let hfsq = splat(0.5) * f * f;
    let dk = cast::<i32x8, f32x8>(k + i32x8::splat(SHIFTER.to_bits() as i32)) - splat(SHIFTER);
    let y = s * (hfsq + r) + dk * splat(LN2_LO_LOG) - hfsq + f + dk * splat(LN2_HI_LOG);
    let y = x.simd_eq(f32x8::ZERO).select(splat(f32::NEG_INFINITY), y);
    let y = x.simd_lt(f32x8::ZERO).select(splat(f32::NAN), y);
    let y = x.simd_eq(splat(f32::INFINITY)).select(x, y);
    keep_nan(x, y)
}

/// `ln(1 + x)`, within 2 ulp, accurate also for tiny `x`: `ln(w) + c/w` where `w = 1 + x`
/// rounded and `c` is that rounding's error, recovered exactly (Fast2Sum).
#[inline]
pub fn log1p(x: f32x8) -> f32x8 {
    let w = f32x8::ONE + x;
    let c_small = x - (w - f32x8::ONE); // exact when |x| ≤ 1
    let c_big = f32x8::ONE - (w - x); // exact when |x| ≥ 1
    let c = x.abs().simd_le(f32x8::ONE).select(c_small, c_big);
    let y = ln(w) + c / w;
    // |x| < 2⁻²⁴: ln(1 + x) rounds to x (keeps −0 and subnormals).
    let y = x.abs().simd_lt(splat(5.960_464_5e-8)).select(x, y);
    let y = x.simd_eq(splat(-1.0)).select(splat(f32::NEG_INFINITY), y);
    let y = x.simd_eq(splat(f32::INFINITY)).select(x, y);
    keep_nan(x, y)
}

/// Hyperbolic tangent, within 3 ulp, from `m = e^(2|x|) − 1` ([`expm1`], so small arguments
/// keep their relative accuracy): `m/(m + 2)` below `|x| = ln(3)/2` (where `tanh = ½`), and
/// `1 − 2/(m + 2)` above, where `m/(m + 2)` would lose the small distance to 1 to the
/// rounding of `m + 2`. The sign is copied back (musl's `tanhf` does the same).
#[inline]
pub fn tanh(x: f32x8) -> f32x8 {
    // tanh(9.1) rounds to 1, and 2·9.1 stays in expm1's single-scale range.
    let a = x.abs().fast_min(splat(9.1));
    let m = expm1(a + a);
    let big = a.simd_gt(splat(0.549_306_15));
    let q = big.select(splat(2.0), m) / (m + splat(2.0));
    let t = big.select(f32x8::ONE - q, q);
    keep_nan(x, with_sign_of(t, x))
}

/// Logistic function `1/(1 + e^−x)`, within 3 ulp, without overflow: with `e = e^−|x|`,
/// `1/(1 + e)` for `x ≥ 0` and `e/(1 + e)` otherwise.
#[inline]
pub fn sigmoid(x: f32x8) -> f32x8 {
    let e = exp(-x.abs());
    let num = x.simd_ge(f32x8::ZERO).select(f32x8::ONE, e);
    num / (f32x8::ONE + e)
}

/// `(hi, lo)` with `hi + lo = a²`, `hi` exact: `a = s + d` with `s` holding the top 12
/// significant bits, so `s²` is exact and `a² = s² + d·(a + s)`.
#[inline(always)]
fn square_hi_lo(a: f32x8) -> (f32x8, f32x8) {
    let s = cast::<u32x8, f32x8>(cast::<f32x8, u32x8>(a) & u32x8::splat(0xffff_f000));
    let d = a - s;
    (s * s, d * (a + s))
}

/// `erfc a` for `0.47 ≤ a ≤ 10.9`, with the exponent `−a²` passed as `(−hi, −lo)` (so that
/// `normal_cdf` can pass `a²/2` exactly).
///
/// The form of Numerical Recipes' `erfcc`, `t·e^(−a² + P)` with `t = 2/(2 + a)`, but `P` is
/// our degree-9 Chebyshev fit of `ln(erfc(a)/t) + a²` in `v = a/(2 + a) − ½` over that range
/// (error `< 3.4·10⁻⁹`, against NR's `1.2·10⁻⁷`); centring `v` keeps the terms small.
#[inline(always)]
fn erfc_mid(a: f32x8, hi: f32x8, lo: f32x8) -> f32x8 {
    const P: [f32; 10] = [
        -0.261_580_32,
        -0.049_821_217,
        0.292_698_35,
        0.113_209_606,
        -0.282_102_53,
        -0.157_973_68,
        0.375_160_55,
        0.189_373_21,
        -1.345_286_5,
        -0.671_794_06,
    ];
    let r = f32x8::ONE / (splat(2.0) + a);
    let v = a * r - splat(0.5);
    let mut p = splat(P[0]);
    for &c in &P[1..] {
        p = p * v + splat(c);
    }
    (splat(2.0) * r) * exp_hi_lo(-hi, p - lo)
}

/// `erf x` for `|x| < 1`: `x + x·P(x²)` with `P(x²) ≈ erf(x)/x − 1`, a degree-6 Chebyshev fit
/// (relative error `< 1.3·10⁻⁹`); adding the exact `x` last keeps the rounding of the
/// alternating sum small.
#[inline(always)]
fn erf_small(x: f32x8) -> f32x8 {
    const P: [f32; 7] = [
        7.875_875e-5,
        -8.016_864e-4,
        5.189_087_4e-3,
        -2.685_421_2e-2,
        0.112_835_95,
        -0.376_126_27,
        0.128_379_17,
    ];
    let x2 = x * x;
    let mut p = splat(P[0]);
    for &c in &P[1..] {
        p = p * x2 + splat(c);
    }
    x + x * p
}

/// Complementary error function `1 − erf(x)`, within 5 ulp: `1 − erf x` for `|x| < ½`,
/// `erfc_mid` beyond (`2 − erfc|x|` for negative `x`).
#[inline]
pub fn erfc(x: f32x8) -> f32x8 {
    // erfc(10.2) < 2⁻¹⁵⁰ rounds to 0; clamping keeps the exponent finite.
    let a = x.abs().fast_min(splat(10.2));
    let (hi, lo) = square_hi_lo(a);
    let e = erfc_mid(a, hi, lo);
    let big = x.simd_lt(f32x8::ZERO).select(splat(2.0) - e, e);
    let small = f32x8::ONE - erf_small(x);
    keep_nan(x, x.abs().simd_lt(splat(0.5)).select(small, big))
}

/// Error function, within 2 ulp: `erf_small`'s polynomial for `|x| < 1`,
/// `±(1 − erfc|x|)` beyond.
#[inline]
pub fn erf(x: f32x8) -> f32x8 {
    // erf(4) rounds to 1.
    let a = x.abs().fast_min(splat(4.0));
    let (hi, lo) = square_hi_lo(a);
    let big = with_sign_of(f32x8::ONE - erfc_mid(a, hi, lo), x);
    keep_nan(x, x.abs().simd_lt(f32x8::ONE).select(erf_small(x), big))
}

/// Standard normal distribution function `Φ(x) = erfc(−x/√2)/2`, within 5.5 ulp:
/// `½ + ½·erf(x/√2)` for `|x| < 0.7`, `erfc_mid` beyond.
///
/// Computed from `|x|` directly rather than through `erfc(x/√2)`: the rounding of `x/√2`
/// would cost `x²·2⁻²⁴` relative error in the tail.
#[inline]
pub fn normal_cdf(x: f32x8) -> f32x8 {
    // Φ(−14.5) < 2⁻¹⁵⁰ rounds to 0.
    let a = x.abs().fast_min(splat(14.5));
    let z = a * splat(core::f32::consts::FRAC_1_SQRT_2);
    let (hi, lo) = square_hi_lo(a);
    let half = splat(0.5);
    // erfc(z) with the exponent −z² = −a²/2 taken exactly from a.
    let e = erfc_mid(z, hi * half, lo * half);
    let big = x
        .simd_lt(f32x8::ZERO)
        .select(half * e, f32x8::ONE - half * e);
    // Near 0 the formula's exponent cancels: ½ + ½·erf(z) instead.
    let small = half + half * erf_small(x * splat(core::f32::consts::FRAC_1_SQRT_2));
    keep_nan(x, a.simd_lt(splat(0.7)).select(small, big))
}

/// Standard normal density `φ(x) = e^(−x²/2)/√(2π)`, within 3 ulp (the square is formed
/// exactly).
#[inline]
pub fn normal_pdf(x: f32x8) -> f32x8 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    // φ(14.5) < 2⁻¹⁵⁰ rounds to 0.
    let a = x.abs().fast_min(splat(14.5));
    let (hi, lo) = square_hi_lo(a);
    let half = splat(0.5);
    keep_nan(
        x,
        exp_hi_lo(-(hi * half), -(lo * half)) * splat(INV_SQRT_2PI),
    )
}

/// Applies `f` to the first (up to) 8 values of `xs`, padded with `pad`, and returns the 8
/// lanes.
///
/// The kernels run their tails through this, so every element goes through the same
/// vector code whatever its position.
#[inline]
pub fn tail8(xs: &[f32], pad: f32, f: impl Fn(f32x8) -> f32x8) -> [f32; 8] {
    let mut a = [pad; 8];
    for (o, &v) in a.iter_mut().zip(xs) {
        *o = v;
    }
    f(f32x8::from(a)).to_array()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A float's position in value order (`−0` and `+0` both map to 0).
    fn key(f: f32) -> i64 {
        let b = f.to_bits();
        if b >> 31 == 0 {
            b as i64
        } else {
            -((b & 0x7fff_ffff) as i64)
        }
    }

    fn from_key(k: i64) -> f32 {
        if k >= 0 {
            f32::from_bits(k as u32)
        } else {
            f32::from_bits((-k) as u32 | 0x8000_0000)
        }
    }

    /// Every `step`-th float from `lo` to `hi` in value order (so every binade is sampled
    /// alike, tiny and huge values included), plus the 64 floats at each end.
    fn sweep(lo: f32, hi: f32, step: i64) -> impl Iterator<Item = f32> {
        let (a, b) = (key(lo), key(hi));
        let ends = (a..(a + 64).min(b)).chain((b - 64).max(a)..=b);
        ends.chain((a..=b).step_by(step as usize)).map(from_key)
    }

    /// Sweep steps over all floats and over a core range: release runs (CI) sample 1 in 2¹¹
    /// and 1 in 2¹⁰ floats; debug runs 16 times fewer, to stay short.
    const STEP: i64 = if cfg!(debug_assertions) {
        1 << 15
    } else {
        1 << 11
    };
    const CORE: i64 = STEP / 2;

    /// `|got − truth|` in ulps of the correctly rounded `truth` (subnormal spacing below
    /// `f32::MIN_POSITIVE`); 0 when both are the same infinity or both NaN.
    fn ulps(got: f32, truth: f64) -> f64 {
        if truth.is_nan() || got.is_nan() {
            return if truth.is_nan() && got.is_nan() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        let rounded = truth as f32;
        if rounded.is_infinite() || got.is_infinite() {
            return if rounded == got { 0.0 } else { f64::INFINITY };
        }
        let (_, e) = libm::frexp(truth);
        let ulp = libm::ldexp(1.0, (e - 24).max(-149));
        (got as f64 - truth).abs() / ulp
    }

    /// Runs `f` over `xs`, returns the largest error against `truth` (f64) and against the
    /// `libm` f32 `twin`, asserting both bounds.
    fn check(
        name: &str,
        f: fn(f32x8) -> f32x8,
        truth: impl Fn(f64) -> f64,
        twin: impl Fn(f32) -> f32,
        xs: impl Iterator<Item = f32>,
        bound: f64,
        twin_bound: f64,
    ) {
        let xs: Vec<f32> = xs.collect();
        let (mut worst, mut worst_x, mut worst_twin) = (0.0f64, 0.0f32, 0.0f64);
        for chunk in xs.chunks(8) {
            let y = tail8(chunk, 0.0, f);
            for (&x, &y) in chunk.iter().zip(&y) {
                let e = ulps(y, truth(x as f64));
                if e > worst {
                    (worst, worst_x) = (e, x);
                }
                worst_twin = worst_twin.max(ulps(y, twin(x) as f64));
            }
        }
        eprintln!(
            "{name}: {} points, max {worst:.3} ulp at {worst_x:e}, vs libm f32 {worst_twin:.3}",
            xs.len()
        );
        assert!(worst <= bound, "{name}: {worst} ulp at {worst_x:e}");
        assert!(
            worst_twin <= twin_bound,
            "{name}: {worst_twin} ulp from libm"
        );
    }

    const MAX: f32 = f32::MAX;
    const INF: f64 = f64::INFINITY;
    const SQRT2: f64 = core::f64::consts::SQRT_2;
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

    type F = fn(f32x8) -> f32x8;
    type Truth = fn(f64) -> f64;
    type Twin = fn(f32) -> f32;
    /// `(name, f, f64 truth, libm f32 twin, lo, hi, step, bound, bound vs twin)`.
    type Case = (&'static str, F, Truth, Twin, f32, f32, i64, f64, f64);

    /// The module docs' table. The twins of `Φ` and `φ` (`libm` on `x/√2`, on `x²/2`) lose
    /// accuracy in the tails, so only the `f64` bound applies there.
    #[rustfmt::skip]
    const CASES: &[Case] = &[
        ("exp", exp, libm::exp, libm::expf, -MAX, MAX, STEP, 1.1, 2.1),
        ("exp core", exp, libm::exp, libm::expf, -104.0, 89.0, CORE, 1.1, 2.1),
        ("exp overflow", exp, libm::exp, libm::expf, 88.0, 89.0, 64, 1.1, 2.1),
        ("expm1", expm1, libm::expm1, libm::expm1f, -MAX, MAX, STEP, 2.0, 3.0),
        ("expm1 core", expm1, libm::expm1, libm::expm1f, -1.0, 1.0, CORE, 2.0, 3.0),
        ("ln", ln, libm::log, libm::logf, 1e-45, MAX, STEP / 2, 1.0, 1.0),
        ("ln core", ln, libm::log, libm::logf, 0.0, 1e30, CORE, 1.0, 1.0),
        ("log1p", log1p, libm::log1p, libm::log1pf, -0.99999994, MAX, STEP, 2.0, 3.0),
        ("log1p core", log1p, libm::log1p, libm::log1pf, -0.5, 1.0, CORE, 2.0, 3.0),
        ("tanh", tanh, libm::tanh, libm::tanhf, -MAX, MAX, STEP, 3.0, 4.0),
        ("tanh core", tanh, libm::tanh, libm::tanhf, -10.0, 10.0, CORE, 3.0, 4.0),
        ("sigmoid", sigmoid, sig, sig32, -MAX, MAX, STEP, 3.0, 4.0),
        ("sigmoid core", sigmoid, sig, sig32, -110.0, 20.0, CORE, 3.0, 4.0),
        ("erf", erf, libm::erf, libm::erff, -MAX, MAX, STEP, 2.0, 3.0),
        ("erf core", erf, libm::erf, libm::erff, -5.0, 5.0, CORE, 2.0, 3.0),
        ("erfc", erfc, libm::erfc, libm::erfcf, -MAX, MAX, STEP, 5.0, 6.0),
        ("erfc core", erfc, libm::erfc, libm::erfcf, -5.0, 11.0, CORE, 5.0, 6.0),
        ("Φ", normal_cdf, cdf, cdf32, -MAX, MAX, STEP, 5.5, INF),
        ("Φ core", normal_cdf, cdf, cdf32, -15.0, 10.0, CORE, 5.5, INF),
        ("φ", normal_pdf, pdf, pdf32, -MAX, MAX, STEP, 3.0, INF),
        ("φ core", normal_pdf, pdf, pdf32, -15.0, 15.0, CORE, 3.0, INF),
    ];

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + libm::exp(-x))
    }
    fn sig32(x: f32) -> f32 {
        1.0 / (1.0 + libm::expf(-x))
    }
    fn cdf(x: f64) -> f64 {
        0.5 * libm::erfc(-x / SQRT2)
    }
    fn cdf32(x: f32) -> f32 {
        0.5 * libm::erfcf(-x * core::f32::consts::FRAC_1_SQRT_2)
    }
    fn pdf(x: f64) -> f64 {
        libm::exp(-0.5 * x * x) * INV_SQRT_2PI
    }
    fn pdf32(x: f32) -> f32 {
        libm::expf(-0.5 * x * x) * INV_SQRT_2PI as f32
    }

    /// One test per function family, so they run in parallel.
    fn run(prefix: &str) {
        let cases = CASES.iter().filter(|c| c.0.starts_with(prefix));
        for &(name, f, truth, twin, lo, hi, step, bound, twin_bound) in cases {
            check(name, f, truth, twin, sweep(lo, hi, step), bound, twin_bound);
        }
    }

    #[test]
    fn exp_accuracy() {
        run("exp");
    }

    #[test]
    fn log_accuracy() {
        run("ln");
        run("log1p");
    }

    #[test]
    fn tanh_sigmoid_accuracy() {
        run("tanh");
        run("sigmoid");
    }

    #[test]
    fn erf_accuracy() {
        run("erf");
    }

    #[test]
    fn normal_accuracy() {
        run("Φ");
        run("φ");
    }

    fn one(f: fn(f32x8) -> f32x8, x: f32) -> f32 {
        tail8(&[x], 0.0, f)[0]
    }

    fn same(a: f32, b: f32) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    #[test]
    fn special_values() {
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        let sub = f32::from_bits(5); // a subnormal
        #[rustfmt::skip]
        let cases: &[(&str, F, f32, f32)] = &[
            ("exp", exp, 0.0, 1.0), ("exp", exp, -0.0, 1.0), ("exp", exp, inf, inf),
            ("exp", exp, -inf, 0.0), ("exp", exp, nan, nan), ("exp", exp, 89.0, inf),
            ("exp", exp, 88.722_84, inf), ("exp", exp, -104.0, 0.0), ("exp", exp, -1e30, 0.0),
            ("exp", exp, 1e30, inf), ("exp", exp, sub, 1.0),
            ("expm1", expm1, 0.0, 0.0), ("expm1", expm1, -0.0, -0.0), ("expm1", expm1, sub, sub),
            ("expm1", expm1, -sub, -sub), ("expm1", expm1, -inf, -1.0), ("expm1", expm1, -50.0, -1.0),
            ("expm1", expm1, inf, inf), ("expm1", expm1, 100.0, inf), ("expm1", expm1, nan, nan),
            ("ln", ln, 1.0, 0.0), ("ln", ln, 0.0, -inf), ("ln", ln, -0.0, -inf),
            ("ln", ln, -1.0, nan), ("ln", ln, -inf, nan), ("ln", ln, inf, inf), ("ln", ln, nan, nan),
            ("log1p", log1p, 0.0, 0.0), ("log1p", log1p, -0.0, -0.0), ("log1p", log1p, sub, sub),
            ("log1p", log1p, -1.0, -inf), ("log1p", log1p, -2.0, nan), ("log1p", log1p, inf, inf),
            ("log1p", log1p, nan, nan), ("log1p", log1p, -inf, nan),
            ("tanh", tanh, 0.0, 0.0), ("tanh", tanh, -0.0, -0.0), ("tanh", tanh, sub, sub),
            ("tanh", tanh, -sub, -sub), ("tanh", tanh, inf, 1.0), ("tanh", tanh, -inf, -1.0),
            ("tanh", tanh, 20.0, 1.0), ("tanh", tanh, nan, nan),
            ("sigmoid", sigmoid, 0.0, 0.5), ("sigmoid", sigmoid, -0.0, 0.5),
            ("sigmoid", sigmoid, inf, 1.0), ("sigmoid", sigmoid, -inf, 0.0),
            ("sigmoid", sigmoid, 200.0, 1.0), ("sigmoid", sigmoid, -200.0, 0.0),
            ("sigmoid", sigmoid, nan, nan),
            ("erf", erf, 0.0, 0.0), ("erf", erf, -0.0, -0.0), ("erf", erf, inf, 1.0),
            ("erf", erf, -inf, -1.0), ("erf", erf, nan, nan),
            ("erfc", erfc, 0.0, 1.0), ("erfc", erfc, inf, 0.0), ("erfc", erfc, -inf, 2.0),
            ("erfc", erfc, 11.0, 0.0), ("erfc", erfc, nan, nan),
            ("Φ", normal_cdf, 0.0, 0.5), ("Φ", normal_cdf, -0.0, 0.5), ("Φ", normal_cdf, inf, 1.0),
            ("Φ", normal_cdf, -inf, 0.0), ("Φ", normal_cdf, -20.0, 0.0), ("Φ", normal_cdf, nan, nan),
            ("φ", normal_pdf, inf, 0.0), ("φ", normal_pdf, -inf, 0.0), ("φ", normal_pdf, nan, nan),
        ];
        for &(name, f, x, want) in cases {
            let got = one(f, x);
            assert!(same(got, want), "{name}({x:e}) = {got:e}, want {want:e}");
        }
        // Gradual underflow: e^−103 ≈ 1.4·10⁻⁴⁵ is the smallest subnormal's neighbourhood.
        assert!(one(exp, -103.0) > 0.0 && one(exp, -103.0) < f32::MIN_POSITIVE);
        assert!(one(exp, 88.722_83).is_finite());
        assert!(same(one(ln, sub), libm::logf(sub)));
    }

    /// A lane's result does not depend on the other lanes (the kernels rely on it: tails are
    /// padded, and a slice's split into chunks must not change any element).
    #[test]
    fn lanes_are_independent() {
        let xs = [0.3f32, -7.0, 88.0, -0.0, 1e-30, f32::NAN, -103.5, 12.0];
        let fs: [fn(f32x8) -> f32x8; 10] = [
            exp, expm1, ln, log1p, tanh, sigmoid, erf, erfc, normal_cdf, normal_pdf,
        ];
        for f in fs {
            let all = tail8(&xs, 0.0, f);
            for (i, &x) in xs.iter().enumerate() {
                assert!(same(all[i], tail8(&[x], 1.0, f)[0]), "lane {i}");
            }
        }
    }
}
