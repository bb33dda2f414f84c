//! The vector operations the compressed products need ([`Lanes`]), for `wide::f32x8`
//! (portable), AVX2+FMA and AVX-512F. The kernels are written once over this trait and
//! inlined into a `#[target_feature]` function per instruction set.

/// What the kernel needs from a vector unit. A value of an implementing type proves the
/// CPU supports its instructions (so that its safe methods may use them).
pub(super) trait Lanes: Copy {
    /// Floats per vector.
    const W: usize;
    /// The vector.
    type V: Copy;
    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::V;
    /// `W` floats from the front of `s` (`s.len() >= W`).
    fn load(self, s: &[f32]) -> Self::V;
    /// `a · b + c` (fused where the unit has FMA).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// Writes `v` to the front of `s` (`s.len() >= W`).
    fn store(self, s: &mut [f32], v: Self::V);
}

/// `wide::f32x8`: whatever the build targets (SSE2 on generic x86-64, NEON, scalar).
#[derive(Clone, Copy)]
pub(super) struct Portable;

impl Lanes for Portable {
    const W: usize = 8;
    type V = wide::f32x8;
    #[inline(always)]
    fn zero(self) -> Self::V {
        wide::f32x8::ZERO
    }
    #[inline(always)]
    fn splat(self, x: f32) -> Self::V {
        wide::f32x8::splat(x)
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> Self::V {
        let arr: [f32; 8] = s[..8].try_into().unwrap_or([0.0; 8]);
        wide::f32x8::new(arr)
    }
    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        a + b
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: Self::V) {
        s[..8].copy_from_slice(&v.to_array());
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{
        __m256, __m512, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };

    use super::Lanes;
    use crate::kernels::KernelPath;

    /// AVX2 + FMA, 8 lanes. Exists only where the CPU has both.
    #[derive(Clone, Copy)]
    pub(in crate::kernels::sparse) struct Avx2(());

    impl Avx2 {
        /// The unit, if this CPU (with `std`) or build (without) has AVX2 and FMA.
        pub(in crate::kernels::sparse) fn new() -> Option<Avx2> {
            KernelPath::Avx2.is_supported().then_some(Avx2(()))
        }
    }

    // SAFETY (every block below): a value of `Avx2` exists only where AVX2 and FMA are
    // available (`Avx2::new`); loads and stores touch `s[..8]`, which the slicing checks.
    impl Lanes for Avx2 {
        const W: usize = 8;
        type V = __m256;
        #[inline(always)]
        fn zero(self) -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m256 {
            let s = &s[..8];
            unsafe { _mm256_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], v: __m256) {
            let s = &mut s[..8];
            unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
        }
    }

    /// AVX-512F, 16 lanes. Exists only where the CPU has it.
    #[derive(Clone, Copy)]
    pub(in crate::kernels::sparse) struct Avx512(());

    impl Avx512 {
        /// The unit, if this CPU (with `std`) or build (without) has AVX-512F.
        pub(in crate::kernels::sparse) fn new() -> Option<Avx512> {
            KernelPath::Avx512.is_supported().then_some(Avx512(()))
        }
    }

    // SAFETY (every block below): a value of `Avx512` exists only where AVX-512F is
    // available (`Avx512::new`); loads and stores touch `s[..16]`, which the slicing checks.
    impl Lanes for Avx512 {
        const W: usize = 16;
        type V = __m512;
        #[inline(always)]
        fn zero(self) -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m512 {
            let s = &s[..16];
            unsafe { _mm512_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn store(self, s: &mut [f32], v: __m512) {
            let s = &mut s[..16];
            unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
        }
    }
}
