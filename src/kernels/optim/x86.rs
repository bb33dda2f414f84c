//! The x86-64 lanes: AVX2 (`__m256`, 8 floats) and AVX-512F (`__m512`, 16 floats), and the
//! loops compiled with those instruction sets.
//!
//! Why: `wide` chooses its instructions when the crate is compiled, and a default x86-64
//! build only has SSE2, so each `f32x8` operation is two 4-float instructions; these lanes
//! are chosen at run time instead ([`crate::kernels::selected`]), as the GEMM's are.
//!
//! Soundness: the lane types are private to this module and their values are made only by
//! [`Lane::splat`] and [`Lane::load`] inside [`run_avx2`] and [`run_avx512`], which are
//! reached only through [`Avx2::run`] and [`Avx512::run`], and a value of [`Avx2`] or
//! [`Avx512`] exists only where the CPU (with `std`) or the build (without) supports the
//! instruction set. So every intrinsic below runs on a CPU that has it. The lane methods
//! are `#[inline(always)]` (a `#[target_feature]` function cannot be), so that they are
//! compiled into the feature-enabled loop, not called from it.
//!
//! Neither loop enables FMA: the formulas must round every product and every sum, as their
//! scalar twins do (the compiler never fuses them by itself), and leaving FMA out makes
//! that visible here.

use core::arch::x86_64::{
    __m256, __m512, _CMP_LT_OQ, _CMP_NLT_UQ, _mm256_add_ps, _mm256_andnot_ps, _mm256_cmp_ps,
    _mm256_div_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_sqrt_ps,
    _mm256_storeu_ps, _mm256_sub_ps, _mm512_abs_ps, _mm512_add_ps, _mm512_cmp_ps_mask,
    _mm512_div_ps, _mm512_loadu_ps, _mm512_maskz_mov_ps, _mm512_mul_ps, _mm512_set1_ps,
    _mm512_sqrt_ps, _mm512_storeu_ps, _mm512_sub_ps,
};
use core::ops::{Add, Div, Mul, Sub};

use super::drive::Update;
use super::lanes::{Lane, run};
use crate::kernels::KernelPath;

/// Proof that AVX2 is available: made only by [`Avx2::new`].
#[derive(Clone, Copy)]
pub(super) struct Avx2(());

impl Avx2 {
    /// The proof, if this CPU (with `std`) or this build (without) supports the AVX2 path.
    pub(super) fn new() -> Option<Avx2> {
        KernelPath::Avx2.is_supported().then_some(Avx2(()))
    }

    /// [`run`] with 8-float AVX2 lanes.
    pub(super) fn run<const S: usize, U: Update<S>>(
        self,
        params: &mut [f32],
        grads: &[f32],
        states: [&mut [f32]; S],
        u: &U,
    ) {
        // SAFETY: `self` exists only where AVX2 is available (`Avx2::new`).
        unsafe { run_avx2(params, grads, states, u) }
    }
}

/// Proof that AVX-512F is available: made only by [`Avx512::new`].
#[derive(Clone, Copy)]
pub(super) struct Avx512(());

impl Avx512 {
    /// The proof, if this CPU (with `std`) or this build (without) supports AVX-512F.
    pub(super) fn new() -> Option<Avx512> {
        KernelPath::Avx512.is_supported().then_some(Avx512(()))
    }

    /// [`run`] with 16-float AVX-512 lanes.
    pub(super) fn run<const S: usize, U: Update<S>>(
        self,
        params: &mut [f32],
        grads: &[f32],
        states: [&mut [f32]; S],
        u: &U,
    ) {
        // SAFETY: `self` exists only where AVX-512F is available (`Avx512::new`).
        unsafe { run_avx512(params, grads, states, u) }
    }
}

#[target_feature(enable = "avx2")]
fn run_avx2<const S: usize, U: Update<S>>(
    params: &mut [f32],
    grads: &[f32],
    states: [&mut [f32]; S],
    u: &U,
) {
    run::<Ymm, S, U>(params, grads, states, u);
}

#[target_feature(enable = "avx512f")]
fn run_avx512<const S: usize, U: Update<S>>(
    params: &mut [f32],
    grads: &[f32],
    states: [&mut [f32]; S],
    u: &U,
) {
    run::<Zmm, S, U>(params, grads, states, u);
}

/// 8 floats in an AVX register; exists only inside [`run_avx2`] (see the module docs).
#[derive(Clone, Copy)]
struct Ymm(__m256);

/// 16 floats in an AVX-512 register; exists only inside [`run_avx512`].
#[derive(Clone, Copy)]
struct Zmm(__m512);

/// `impl $op for $lane` with the intrinsic `$f`.
macro_rules! binary_op {
    ($lane:ident, $op:ident, $method:ident, $f:ident) => {
        impl $op for $lane {
            type Output = $lane;
            #[inline(always)]
            fn $method(self, rhs: $lane) -> $lane {
                // SAFETY: a lane value exists only where its instruction set is available
                // (see the module documentation).
                $lane(unsafe { $f(self.0, rhs.0) })
            }
        }
    };
}

binary_op!(Ymm, Add, add, _mm256_add_ps);
binary_op!(Ymm, Sub, sub, _mm256_sub_ps);
binary_op!(Ymm, Mul, mul, _mm256_mul_ps);
binary_op!(Ymm, Div, div, _mm256_div_ps);
binary_op!(Zmm, Add, add, _mm512_add_ps);
binary_op!(Zmm, Sub, sub, _mm512_sub_ps);
binary_op!(Zmm, Mul, mul, _mm512_mul_ps);
binary_op!(Zmm, Div, div, _mm512_div_ps);

// SAFETY (every `unsafe` block in the two impls below): the methods run only inside the
// loop compiled for the lane's instruction set (see the module documentation); loads and
// stores touch `s[..WIDTH]` only, after the slicing has checked it is in bounds.

impl Lane for Ymm {
    const WIDTH: usize = 8;
    #[inline(always)]
    fn splat(x: f32) -> Ymm {
        // SAFETY: see above.
        Ymm(unsafe { _mm256_set1_ps(x) })
    }
    #[inline(always)]
    fn sqrt(self) -> Ymm {
        // SAFETY: see above.
        Ymm(unsafe { _mm256_sqrt_ps(self.0) })
    }
    #[inline(always)]
    fn flush_below(self, limit: f32) -> Ymm {
        // SAFETY: see above.
        unsafe {
            let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0);
            // All ones where `|x| < limit` (never for NaN: the comparison is ordered).
            let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(abs, _mm256_set1_ps(limit));
            Ymm(_mm256_andnot_ps(tiny, self.0))
        }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Ymm {
        let s = &s[..8];
        // SAFETY: see above.
        Ymm(unsafe { _mm256_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        let s = &mut s[..8];
        // SAFETY: see above.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), self.0) }
    }
}

impl Lane for Zmm {
    const WIDTH: usize = 16;
    #[inline(always)]
    fn splat(x: f32) -> Zmm {
        // SAFETY: see above.
        Zmm(unsafe { _mm512_set1_ps(x) })
    }
    #[inline(always)]
    fn sqrt(self) -> Zmm {
        // SAFETY: see above.
        Zmm(unsafe { _mm512_sqrt_ps(self.0) })
    }
    #[inline(always)]
    fn flush_below(self, limit: f32) -> Zmm {
        // SAFETY: see above.
        unsafe {
            // Set where `|x| < limit` is false: `|x| >= limit` or NaN (unordered).
            let abs = _mm512_abs_ps(self.0);
            let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(abs, _mm512_set1_ps(limit));
            Zmm(_mm512_maskz_mov_ps(keep, self.0))
        }
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Zmm {
        let s = &s[..16];
        // SAFETY: see above.
        Zmm(unsafe { _mm512_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        let s = &mut s[..16];
        // SAFETY: see above.
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), self.0) }
    }
}
