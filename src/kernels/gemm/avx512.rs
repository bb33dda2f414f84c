//! The AVX-512F microkernels: an `MR × NR` tile in `MR·NR/16` zmm accumulators (12 × 32 for every
//! dense product, 8 × 48 for the panel-sparse weight gradient of a sparse input; fewer at an edge).
//!
//! Per depth step the 12 × 32 tile loads one 32-float row of the packed B panel (two zmm),
//! broadcasts each of the `MR` values of the packed A column (one broadcast load each) and
//! issues `2·MR` fused multiply-adds. With two FMA units of 4-cycle latency, at least 8
//! independent accumulators are needed to keep both busy; 24 leave room, and the loads
//! (`MR + 2 = 14` per 24 FMAs) stay well under the two load ports' limit, where a 16 × 16
//! tile (one B vector, 16 broadcasts per 16 FMAs) is load-bound. The 8 × 48 tile is the same
//! arithmetic with three B vectors and 8 broadcasts (see [`Avx512Narrow`] for why).
//!
//! Why 12 × 32 and these blocks: measured on a Cascade Lake Xeon (2 vCPUs, shared, so only
//! relative to `matrixmultiply` in the same process), 12 rows beat 8 and 14 on every MLP and
//! square shape by 5–10 %; MC 48–192 were within the noise (KC: see `KC` below).
//!
//! Edges use AVX-512 lane masks: a partial tile loads and stores only its valid columns with
//! the same instructions as a full tile, so edge elements round exactly like the others and
//! nothing outside `C` is touched. A right-edge tile of at most 16 columns (`N = 100` leaves
//! one of 4) runs the half-width variant, `MR` zmm and `MR` FMAs per depth step: the other
//! half would only compute masked-off lanes; one of at most 4 columns packs four rows into a
//! zmm (`MR / 4` FMAs per step, see `quad_sums`). A bottom-edge tile of at most 8 rows
//! (`M = 128` leaves one of 8) computes only 4 or 8 rows, not the panel's zero padding. Each
//! element still sees the same FMA sequence, so it rounds as in a full tile (test
//! `edge_tiles_round_like_full_tiles`).
//!
//! The AVX-512 intrinsics are stable since Rust 1.89, so this module needs 1.89 whatever
//! `rust-version` in Cargo.toml says (its `mod` line tells clippy so).

use core::arch::x86_64::{
    __m128, __m512, __mmask16, _MM_HINT_T0, _mm_loadu_ps, _mm_prefetch, _mm512_add_epi32,
    _mm512_broadcast_f32x4, _mm512_castps128_ps512, _mm512_castps512_ps128, _mm512_fmadd_ps,
    _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_permutexvar_ps,
    _mm512_set1_epi32, _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_ps,
};

use super::nest::{MicroKernel, gather_row, scatter_row};
use super::pack::{Region, Src, pack};
use super::panels::SparseTile;
use crate::kernels::KernelPath;

/// The AVX-512F microkernel with an `MR × NR` tile (`MR` a multiple of 4 from 8 to 12, `NR`
/// 32 or 48). A value exists only on a CPU with AVX-512F (see [`Avx512Tiles::new`]), which is
/// what makes calling its `#[target_feature]` code sound.
#[derive(Clone, Copy)]
pub(super) struct Avx512Tiles<const MR: usize, const NR: usize>(());

/// The 12 × 32 kernel of every dense product.
pub(super) type Avx512 = Avx512Tiles<12, 32>;

/// An 8 × 48 kernel for the panel-sparse weight gradient `xᵀ·∂y` of a sparse input
/// ([`super::gemm_rows`]). Why narrower panels there: a panel keeps a depth step (a sample)
/// when any of its rows (pixels) is nonzero in it, and on MNIST 8 pixels keep 0.58 of the
/// samples where 12 keep 0.70, so the tile does a sixth fewer multiply-adds; 24 accumulators
/// and 3 + 8 loads per 24 multiply-adds keep the FMA units as busy as the 12 × 32 tile does.
/// Measured inside a training step (temporary timers, µs for that product, 1 / 2 threads):
/// 357–395 / 234–265 with 12 × 32, 316–324 / 215–224 with 8 × 48 (6 × 64 and 4 × 64 were
/// alike; `x·W` and the dense products were slower with any of them, so they keep 12 × 32).
/// A skipped step adds exactly zero, so the result has the same bits either way.
pub(super) type Avx512Narrow = Avx512Tiles<8, 48>;

impl<const MR: usize, const NR: usize> Avx512Tiles<MR, NR> {
    /// The kernel, if this CPU (with `std`) or this build (without) supports AVX-512F.
    pub(super) fn new() -> Option<Self> {
        KernelPath::Avx512.is_supported().then_some(Avx512Tiles(()))
    }

    /// The kernel with another tile: `self` already proves that AVX-512F is available.
    pub(super) fn retiled<const M: usize, const N: usize>(self) -> Avx512Tiles<M, N> {
        Avx512Tiles(())
    }
}

impl<const MR: usize, const NR: usize> MicroKernel for Avx512Tiles<MR, NR> {
    const MR: usize = MR;
    const NR: usize = NR;
    // A `KC × NR` B micro-panel of the 12 × 32 tile is 16 KiB (24 KiB for 8 × 48): half of a
    // 32 KiB L1, so that it stays there while the A micro-panels (6 KiB each) stream past it;
    // an `MC × KC` A block is 48 KiB (L2 is 1 MiB). Measured on the Cascade Lake Xeon (thread CPU time, best of 60, alternating
    // builds): KC 128 beat 256 by 8–17 % at 128×784×400, 128×400×784 and 256³, where a
    // 32 KiB B micro-panel filled L1 and was evicted by the A stream.
    const KC: usize = 128;
    const MC: usize = 96;
    // A multiple of NR (1008 for the 48-column tile).
    const NC: usize = 1024 / NR * NR;

    fn pack_a(&self, dst: &mut [f32], src: Src<'_>, region: Region) {
        // SAFETY: `self` exists only if AVX-512F is available.
        unsafe { pack_with_features::<MR>(dst, src, region) }
    }

    fn pack_b(&self, dst: &mut [f32], src: Src<'_>, region: Region) {
        // SAFETY: `self` exists only if AVX-512F is available.
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
        let steps = a.as_chunks::<MR>().0.iter().zip(b.as_chunks::<NR>().0);
        self.tile_of(steps, beta, c, strides, rows, cols);
    }
}

impl<const MR: usize, const NR: usize> SparseTile for Avx512Tiles<MR, NR> {
    #[inline]
    fn tile_sparse(
        &self,
        steps: &[f32],
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    ) {
        let b_rows = b.as_chunks::<NR>().0;
        // Indexing `b_rows` checks each step against the panel's depth (one compare per 2·MR
        // multiply-adds).
        let a_steps = a.as_chunks::<MR>().0.iter().zip(steps);
        let steps = a_steps.map(|(av, d)| (av, &b_rows[d.to_bits() as usize]));
        self.tile_of(steps, beta, c, strides, rows, cols);
    }

    #[inline]
    fn tile_sparse_in_place(
        &self,
        steps: &[f32],
        a: &[f32],
        (b, ld): (&[f32], usize),
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    ) {
        // Slicing checks each step's row against `b` (one compare per 2·MR multiply-adds).
        let a_steps = a.as_chunks::<MR>().0.iter().zip(steps);
        let steps = a_steps.map(|(av, r)| {
            let at = r.to_bits() as usize * ld;
            // Fetch this row's part two column panels on. Rows of `W` lie `ld` floats apart,
            // a stride the hardware prefetchers do not follow, so without this the first
            // tile of each column panel waits on every one of its rows (L2 or L3). Measured
            // in a training step (MNIST's `x·W`, µs, 1 / 2 threads): 453–462 / 367–381
            // without, 402–417 / 295–300 one panel on, 390–392 / 254–278 two on, and no
            // better three or four on.
            let ahead = b[at..].as_ptr().wrapping_add(2 * NR);
            for line in (0..NR).step_by(16) {
                // SAFETY: a prefetch is only a hint, and never faults whatever the address.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line).cast()) };
            }
            (av, InPlace(&b[at..at + cols]))
        });
        self.tile_of(steps, beta, c, strides, rows, cols);
    }
}

/// Where a tile reads the B row of one depth step: a packed micro-panel row (`&[f32; NR]`,
/// zero-padded to the tile's width) or a row of the stored matrix itself ([`InPlace`]).
///
/// The methods are `#[inline(always)]`, to be compiled into [`tile_impl`] and [`quad_sums`]
/// (`#[target_feature]` functions), and `unsafe`: they use AVX-512F intrinsics, so the caller
/// must run where AVX-512F is available.
trait BRow: Copy {
    /// Floats `16·h .. 16·h + 16` of the row, `h < H` of the calling tile, whose lanes
    /// outside `mask` (the tile's columns) may be anything.
    ///
    /// # Safety
    /// AVX-512F must be available.
    unsafe fn half(self, h: usize, mask: __mmask16) -> __m512;
    /// The first 4 floats (a tile of at most 4 columns), the ones past the tile's `cols`
    /// being anything.
    ///
    /// # Safety
    /// AVX-512F must be available.
    unsafe fn quad(self, mask: __mmask16) -> __m128;
}

impl<const NR: usize> BRow for &[f32; NR] {
    #[inline(always)]
    unsafe fn half(self, h: usize, _: __mmask16) -> __m512 {
        let half = &self[16 * h..16 * h + 16];
        // SAFETY: `half` has 16 floats; AVX-512F is available (the caller's contract).
        unsafe { _mm512_loadu_ps(half.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn quad(self, _: __mmask16) -> __m128 {
        let quad = &self[..4];
        // SAFETY: `quad` has 4 floats (SSE, part of x86-64).
        unsafe { _mm_loadu_ps(quad.as_ptr()) }
    }
}

/// A B row read where the matrix stores it: exactly the tile's `cols` floats, so the loads
/// are masked to them (a row of `W` is not padded to the tile's width, and its last row
/// ends where the slice does).
#[derive(Clone, Copy)]
struct InPlace<'b>(&'b [f32]);

impl BRow for InPlace<'_> {
    #[inline(always)]
    unsafe fn half(self, h: usize, mask: __mmask16) -> __m512 {
        // `16·h < cols = self.0.len()` for every half a tile computes (`H = ceil(cols / 16)`),
        // so the offset is in bounds; the mask selects the tile's columns of this half.
        let from = &self.0[16 * h..];
        // SAFETY: the masked-off lanes are not read (no fault, no value); the selected ones
        // are in `from`. AVX-512F is available (the caller's contract).
        unsafe { _mm512_maskz_loadu_ps(mask, from.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn quad(self, mask: __mmask16) -> __m128 {
        // SAFETY: as for `half` with `h = 0`.
        unsafe { _mm512_castps512_ps128(_mm512_maskz_loadu_ps(mask, self.0.as_ptr())) }
    }
}

impl<const MR: usize, const NR: usize> Avx512Tiles<MR, NR> {
    /// The tile over `steps` (pairs of a packed A column and the B row it meets), dense or
    /// panel-sparse: the variant with as many 16-float halves as a right edge needs.
    #[inline(always)]
    fn tile_of<'p>(
        &self,
        steps: impl Iterator<Item = (&'p [f32; MR], impl BRow)>,
        beta: f32,
        c: &mut [f32],
        strides: (usize, usize),
        rows: usize,
        cols: usize,
    ) {
        assert!((1..=MR).contains(&rows) && (1..=NR).contains(&cols));
        // SAFETY: `self` exists only if AVX-512F is available (`Avx512::new`), so the
        // `#[target_feature]` function can run here; the assert above establishes what it
        // requires of `rows` and `cols` (it indexes `c` with checks).
        unsafe {
            match (cols.div_ceil(16), rows.div_ceil(4)) {
                (1, 1) => tile_impl::<MR, NR, 1, 4, _, _>(steps, beta, c, strides, rows, cols),
                (1, 2) => tile_impl::<MR, NR, 1, 8, _, _>(steps, beta, c, strides, rows, cols),
                (1, _) => tile_impl::<MR, NR, 1, MR, _, _>(steps, beta, c, strides, rows, cols),
                (2, 1) => tile_impl::<MR, NR, 2, 4, _, _>(steps, beta, c, strides, rows, cols),
                (2, 2) => tile_impl::<MR, NR, 2, 8, _, _>(steps, beta, c, strides, rows, cols),
                (2, _) => tile_impl::<MR, NR, 2, MR, _, _>(steps, beta, c, strides, rows, cols),
                (_, 1) => tile_impl::<MR, NR, 3, 4, _, _>(steps, beta, c, strides, rows, cols),
                (_, 2) => tile_impl::<MR, NR, 3, 8, _, _>(steps, beta, c, strides, rows, cols),
                (_, _) => tile_impl::<MR, NR, 3, MR, _, _>(steps, beta, c, strides, rows, cols),
            }
        }
    }
}

/// Lane mask of the first `n` of 16 lanes (`n` may exceed 16).
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 { 0xFFFF } else { (1u16 << n) - 1 }
}

/// The tile: the sum over `steps` (a packed A column and the B row it meets, one pair per
/// depth step: every step of the panels for a dense tile, the kept ones for a panel-sparse
/// one) times `C`'s rows, `1 <= rows <= MR`, `1 <= cols <= 16 * H`. Only callable where
/// AVX-512F is enabled (a `#[target_feature]` function).
///
/// `H` is the number of 16-float halves of the B row computed: 2 for a full tile, 1 for a
/// right-edge tile of at most 16 columns (e.g. the last 4 of `n = 100`), which then costs half
/// the multiply-adds. `R` (4, 8 or `MR`, at least `rows`) is the number of rows computed: a
/// bottom-edge tile of at most 8 rows (the last 8 of `m = 128`) computes only those, not all
/// `MR` of the zero-padded panel. Each element of `C` gets the same fused multiply-adds in the
/// same order either way, so every variant rounds alike.
#[target_feature(enable = "avx512f")]
fn tile_impl<
    'p,
    const MR: usize,
    const NR: usize,
    const H: usize,
    const R: usize,
    B: BRow,
    S: Iterator<Item = (&'p [f32; MR], B)>,
>(
    steps: S,
    beta: f32,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
    rows: usize,
    cols: usize,
) {
    // Only instantiations that fit the tile are ever called (`tile_of` picks `H` and `R`
    // from `cols <= NR` and `rows <= MR`); the others exist only as unreachable match arms.
    assert!(H <= 3 && 16 * H <= NR && R <= MR && rows <= R && cols <= 16 * H);
    // Start fetching the tile of C now: its rows are `rsc` apart, often outside L2 (C is
    // written once per depth slice), and the loads or stores at the end would otherwise
    // wait for them. A prefetch is only a hint and never faults.
    for i in 0..rows {
        let row = c[i * rsc..].as_ptr();
        _mm_prefetch::<_MM_HINT_T0>(row.cast());
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add((cols - 1) * csc).cast());
    }
    // The tile's columns of each 16-float half of a B row (at most three: `H <= 3`).
    let col_masks = [0, 16, 32].map(|skip| lanes(cols.saturating_sub(skip)));
    let mut acc: [[__m512; H]; R] = [[_mm512_setzero_ps(); H]; R];
    if H == 1 && cols <= 4 {
        acc = quad_sums::<MR, H, R, B, S>(steps, col_masks[0]);
    } else {
        for (av, bv) in steps {
            let mut bh = [_mm512_setzero_ps(); H];
            for (h, v) in bh.iter_mut().enumerate() {
                // SAFETY: this runs with AVX-512F enabled (a `#[target_feature]` function
                // reached only through a kernel value).
                *v = unsafe { bv.half(h, col_masks[h]) };
            }
            for (row, &x) in acc.iter_mut().zip(av) {
                let x = _mm512_set1_ps(x);
                for (r, &b) in row.iter_mut().zip(&bh) {
                    *r = _mm512_fmadd_ps(x, b, *r);
                }
            }
        }
    }
    // `out = sum + beta·out` for one row of `out.len() <= NR` contiguous floats, with lane
    // masks for a partial row (`beta == 0` does not read `out`). A macro rather than a
    // function: a `#[target_feature]` function cannot be forced inline, and this must be.
    let betav = _mm512_set1_ps(beta);
    macro_rules! store_row {
        ($sum:expr, $out:expr) => {{
            let (sum, out): (&[__m512; H], &mut [f32]) = ($sum, $out);
            let cols = out.len().min(16 * H);
            // One mask per 16-float half (at most three: `H <= 3`, asserted above).
            let masks = [0, 16, 32].map(|skip| lanes(cols.saturating_sub(skip)));
            for (half, (&sum, &mask)) in sum.iter().zip(&masks).enumerate() {
                if mask == 0 {
                    continue;
                }
                // The mask selects columns `16·half .. min(cols, 16·half + 16)`, all in `out`.
                let p = out[16 * half..].as_mut_ptr();
                let r = if beta == 0.0 {
                    sum
                } else {
                    // SAFETY: masked-off lanes are not read; the selected ones are in `out`.
                    _mm512_fmadd_ps(unsafe { _mm512_maskz_loadu_ps(mask, p) }, betav, sum)
                };
                // SAFETY: as for the load: only the selected, in-bounds lanes are written.
                unsafe { _mm512_mask_storeu_ps(p, mask, r) };
            }
        }};
    }
    if rows == R && csc == 1 {
        // The common full-height tile: `acc` is indexed by constants only (the loop is
        // unrolled), so it never leaves the registers.
        for (i, row) in acc.iter().enumerate() {
            store_row!(row, &mut c[i * rsc..i * rsc + cols]);
        }
    } else {
        // Bottom edge or transposed product: a copy of `acc` (so that only the copy is
        // indexed at run time) and, for a strided row, a contiguous copy of the row of C.
        let spilled = acc;
        for (i, row) in spilled.iter().enumerate().take(rows) {
            let c_row = &mut c[i * rsc..];
            if csc == 1 {
                store_row!(row, &mut c_row[..cols]);
            } else {
                let mut t = gather_row::<NR>(c_row, csc, cols, beta != 0.0);
                let t = &mut t[..16 * H];
                store_row!(row, t);
                scatter_row(t, c_row, csc, cols);
            }
        }
    }
}

/// The sums of a right-edge tile of at most 4 columns (the last 4 of `n = 100`), four rows to
/// a zmm: lane `4·q + j` of `quads[g]` is row `4·g + q`, column `j`. Per depth step that is
/// `MR / 4` multiply-adds (and as many lane shuffles of the A column) instead of `MR`, and
/// each element still gets one fused multiply-add per step in the same order, so it rounds
/// as in a full tile. Returned as [`tile_impl`]'s accumulators: row `i` in lanes `0..4` of
/// `acc[i][0]` (the other lanes are never stored). Only callable where AVX-512F is enabled.
#[target_feature(enable = "avx512f")]
fn quad_sums<
    'p,
    const MR: usize,
    const H: usize,
    const R: usize,
    B: BRow,
    S: Iterator<Item = (&'p [f32; MR], B)>,
>(
    steps: S,
    mask: __mmask16,
) -> [[__m512; H]; R] {
    // Lane l takes element l / 4 of a 4-float A group.
    let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    // At most 3 groups (`MR <= 12`); the first `R / 4` are used (an array length cannot be
    // `R / 4`).
    let mut quads = [_mm512_setzero_ps(); 3];
    for (av, bv) in steps {
        // SAFETY: AVX-512F is enabled here, as in `tile_impl`.
        let b = _mm512_broadcast_f32x4(unsafe { bv.quad(mask) });
        for (quad, a4) in quads.iter_mut().zip(av.as_chunks::<4>().0).take(R / 4) {
            // SAFETY: `a4` has 4 floats. Lanes 4..16 of the cast are undefined but unused.
            let a = _mm512_castps128_ps512(unsafe { _mm_loadu_ps(a4.as_ptr()) });
            *quad = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread, a), b, *quad);
        }
    }
    let mut acc = [[_mm512_setzero_ps(); H]; R];
    let first_four = _mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
    for (i, row) in acc.iter_mut().enumerate() {
        let from = _mm512_add_epi32(first_four, _mm512_set1_epi32(4 * (i % 4) as i32));
        row[0] = _mm512_permutexvar_ps(from, quads[i / 4]);
    }
    acc
}

/// [`pack`] compiled with AVX-512F (it is inlined here). Only callable where those are
/// enabled (a `#[target_feature]` function).
#[target_feature(enable = "avx512f")]
fn pack_with_features<const R: usize>(dst: &mut [f32], src: Src<'_>, region: Region) {
    pack::<R>(dst, src, region);
}
