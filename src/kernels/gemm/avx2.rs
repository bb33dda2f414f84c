//! The AVX2+FMA microkernel: a 6 × 16 tile in 12 ymm accumulators.
//!
//! Per depth step it loads one 16-float row of the packed B panel (two ymm), broadcasts the
//! six values of the packed A column and issues 12 fused multiply-adds: 12 accumulators, 2
//! B registers and a broadcast fill 15 of the 16 ymm registers, and 12 independent FMAs
//! cover the two FMA units' 4-cycle latency. This is the classic Haswell shape (BLIS, and
//! the measurement of a 6×16 tile).
//!
//! Edge tiles go through a full-size copy of the valid part of `C` and the same vector
//! epilogue as full tiles, so edge elements round exactly like the others.

use core::arch::x86_64::{
    __m256, _MM_HINT_T0, _mm_prefetch, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::nest::{MicroKernel, gather_row, scatter_row};
use super::pack::{Region, Src, pack};
use crate::kernels::KernelPath;

/// Rows of the tile.
const MR: usize = 6;
/// Columns of the tile (two ymm).
const NR: usize = 16;

/// The AVX2+FMA microkernel. A value exists only on a CPU with AVX2 and FMA (see
/// [`Avx2::new`]), which is what makes calling its `#[target_feature]` code sound.
#[derive(Clone, Copy)]
pub(super) struct Avx2(());

impl Avx2 {
    /// The kernel, if this CPU (with `std`) or this build (without) supports AVX2 and FMA.
    pub(super) fn new() -> Option<Avx2> {
        KernelPath::Avx2.is_supported().then_some(Avx2(()))
    }
}

impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    // Textbook sizes (not tuned: this machine runs the AVX-512 kernel): a `KC × NR` B
    // micro-panel is 16 KiB, an `MC × KC` A block 72 KiB.
    const KC: usize = 256;
    const MC: usize = 72;
    const NC: usize = 1024;

    fn pack_a(&self, dst: &mut [f32], src: Src<'_>, region: Region) {
        // SAFETY: `self` exists only if AVX2 and FMA is available.
        unsafe { pack_with_features::<MR>(dst, src, region) }
    }

    fn pack_b(&self, dst: &mut [f32], src: Src<'_>, region: Region) {
        // SAFETY: `self` exists only if AVX2 and FMA is available.
        unsafe { pack_with_features::<NR>(dst, src, region) }
    }

    #[inline]
    fn tile(
        &self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    ) {
        let (a, b) = (&a[..kc * MR], &b[..kc * NR]);
        assert!((1..=MR).contains(&rows) && (1..=NR).contains(&cols));
        // SAFETY: `self` exists only if AVX2 and FMA are available (`Avx2::new`), so the
        // `#[target_feature]` function can run here; it indexes `c` with bounds checks.
        unsafe { tile_impl(a, b, beta, c, strides, rows, cols) }
    }
}

/// One tile: [`accumulate`], then [`store_row`] for each row.
/// Only callable where AVX2 and FMA are enabled (a `#[target_feature]` function).
#[target_feature(enable = "avx2,fma")]
fn tile_impl(
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
    rows: usize,
    cols: usize,
) {
    // Start fetching the tile of C (see the AVX-512 kernel); a prefetch never faults.
    for i in 0..rows {
        let row = c[i * rsc..].as_ptr();
        _mm_prefetch::<_MM_HINT_T0>(row.cast());
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add((cols - 1) * csc).cast());
    }
    let acc = accumulate(a, b);
    for (i, row) in acc.iter().enumerate().take(rows) {
        let c_row = &mut c[i * rsc..];
        if csc == 1 && cols == NR {
            store_row(row, &mut c_row[..NR], beta);
        } else {
            // Edge or strided row: the same vector code on a full-width copy.
            let mut t = gather_row::<NR>(c_row, csc, cols, beta != 0.0);
            store_row(row, &mut t, beta);
            scatter_row(&t, c_row, csc, cols);
        }
    }
}

/// `A~·B~` for one tile: `a` holds `kc * MR` floats, `b` `kc * NR` (any `kc`).
/// Only callable where AVX2 and FMA are enabled (a `#[target_feature]` function).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn accumulate(a: &[f32], b: &[f32]) -> [[__m256; 2]; MR] {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        // SAFETY: `bv` has exactly NR = 16 floats, so both 8-float loads are in bounds.
        let (b0, b1) = unsafe {
            (
                _mm256_loadu_ps(bv.as_ptr()),
                _mm256_loadu_ps(bv.as_ptr().add(8)),
            )
        };
        for (row, &x) in acc.iter_mut().zip(av) {
            let x = _mm256_set1_ps(x);
            row[0] = _mm256_fmadd_ps(x, b0, row[0]);
            row[1] = _mm256_fmadd_ps(x, b1, row[1]);
        }
    }
    acc
}

/// `out = sum + beta·out` for one full tile row (`beta == 0` does not read `out`).
/// Only callable where AVX2 and FMA are enabled (a `#[target_feature]` function).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn store_row(sum: &[__m256; 2], out: &mut [f32], beta: f32) {
    let betav = _mm256_set1_ps(beta);
    for (half, &sum) in sum.iter().enumerate() {
        let p = out[8 * half..8 * half + 8].as_mut_ptr();
        let r = if beta == 0.0 {
            sum
        } else {
            // SAFETY: `p` points at 8 floats of `out` (checked by the slicing above).
            _mm256_fmadd_ps(unsafe { _mm256_loadu_ps(p) }, betav, sum)
        };
        // SAFETY: as for the load.
        unsafe { _mm256_storeu_ps(p, r) };
    }
}

/// [`pack`] compiled with AVX2 and FMA (it is inlined here). Only callable where those are
/// enabled (a `#[target_feature]` function).
#[target_feature(enable = "avx2,fma")]
fn pack_with_features<const R: usize>(dst: &mut [f32], src: Src<'_>, region: Region) {
    pack::<R>(dst, src, region);
}
