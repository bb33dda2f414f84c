//! The portable microkernel: `MR × NR` register tile with `wide::f32x8`.
//!
//! `wide` lowers `f32x8` to two SSE registers on x86 at default flags (one AVX register when
//! the crate is built with `-C target-feature=+avx`), two NEON registers on aarch64, and plain
//! scalars elsewhere, so this one kernel is the fallback on every target.
//!
//! Tile shape: each row of the tile is `NV` vectors of 8 lanes (`NR = 8 * NV` columns of `C`,
//! contiguous in memory), and there are `MR` rows. Per depth step the kernel loads `NV` vectors
//! from the packed B panel, broadcasts `MR` scalars from the packed A panel, and does
//! `MR * NV` vector multiply-adds into accumulators that stay in registers for the whole
//! `kc` loop.
//!
//! Why 4×8: with SSE (16 registers of 4 lanes, no FMA, two-operand instructions) every
//! multiply-add is a copy, a `mulps` and an `addps`, and every broadcast a load and a shuffle,
//! so the kernel is bound by instruction issue, not by registers. Measured on a Cascade Lake
//! Xeon at default flags, 4×8 (8 accumulator registers) was as fast as 6×8 (12) on square
//! sizes and 5–15 % faster on the MLP shapes (batch 128 is a multiple of 4; with 6 rows every
//! 64-row block ends in a partial tile); 8×8 spills and 3×16 / 2×16 were slower. Unrolling the
//! depth loop 4 times gained a few percent more.

use wide::f32x8;

use super::nest::{MicroKernel, gather_row, scatter_row};
use super::pack::{Region, Src, pack};

/// Rows of the tile.
const MR: usize = 4;
/// 8-lane vectors per tile row.
const NV: usize = 1;
/// Columns of the tile.
const NR: usize = 8 * NV;
/// Depth steps per loop iteration.
const UNROLL: usize = 4;

/// The `wide::f32x8` microkernel (see the module documentation).
pub(super) struct Portable;

impl MicroKernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    // Measured on a Cascade Lake Xeon (KC 192–512, MC 32–128, NC 512–2048): every choice was
    // within ±5 % (the noise) on the MLP and square shapes, so these are the textbook values,
    // kept small for small caches. A `KC × NR` B micro-panel is 8 KiB.
    const KC: usize = 256;
    const MC: usize = 64;
    const NC: usize = 1024;

    fn pack_a(&self, dst: &mut [f32], src: Src<'_>, region: Region) {
        pack::<MR>(dst, src, region);
    }

    fn pack_b(&self, dst: &mut [f32], src: Src<'_>, region: Region) {
        pack::<NR>(dst, src, region);
    }

    #[inline(never)]
    fn tile(
        &self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        (rsc, csc): (usize, usize),
        rows: usize,
        cols: usize,
    ) {
        let mut acc = [[f32x8::ZERO; NV]; MR];
        // The hot loop: both panels are read strictly forward, MR and NR floats per step,
        // UNROLL steps per iteration to spend fewer instructions on loop control.
        let (a, b) = (&a[..kc * MR], &b[..kc * NR]);
        let mut a_steps = a.chunks_exact(UNROLL * MR);
        let mut b_steps = b.chunks_exact(UNROLL * NR);
        for (a_u, b_u) in (&mut a_steps).zip(&mut b_steps) {
            for u in 0..UNROLL {
                step(
                    &mut acc,
                    &a_u[u * MR..u * MR + MR],
                    &b_u[u * NR..u * NR + NR],
                );
            }
        }
        let rest = a_steps.remainder().chunks_exact(MR);
        for (av, bv) in rest.zip(b_steps.remainder().chunks_exact(NR)) {
            step(&mut acc, av, bv);
        }

        for (i, row) in acc.iter().enumerate().take(rows) {
            let c_row = &mut c[i * rsc..];
            if csc == 1 && cols == NR {
                // Full row: combine with C in place.
                store_row(row, &mut c_row[..NR], beta);
            } else {
                // Edge or strided row (padded columns hold sums of zeros): combine a
                // full-width copy of the valid part of C with the same vector code, so every
                // element rounds alike, and write the valid part back.
                let mut t = gather_row::<NR>(c_row, csc, cols, beta != 0.0);
                store_row(row, &mut t, beta);
                scatter_row(&t, c_row, csc, cols);
            }
        }
    }
}

/// One depth step: `acc[i] += a[i] · b` for the `MR` rows of the tile.
#[inline(always)]
fn step(acc: &mut [[f32x8; NV]; MR], a: &[f32], b: &[f32]) {
    let bv: [f32x8; NV] = core::array::from_fn(|v| load8(&b[8 * v..]));
    for (row, &x) in acc.iter_mut().zip(a) {
        let x = f32x8::splat(x);
        for (acc, &bv) in row.iter_mut().zip(&bv) {
            *acc = x.mul_add(bv, *acc);
        }
    }
}

/// Loads 8 floats from the front of `s` (unaligned). `s` has at least 8 floats at every call.
#[inline(always)]
pub(super) fn load8(s: &[f32]) -> f32x8 {
    let arr: [f32; 8] = s[..8].try_into().unwrap_or([0.0; 8]);
    f32x8::new(arr)
}

/// `out[..8] = acc + beta · out[..8]`; `beta == 0` does not read `out`, so NaN garbage there
/// cannot leak into the result (the BLAS convention).
#[inline(always)]
pub(super) fn store8(out: &mut [f32], acc: f32x8, beta: f32) {
    let out = &mut out[..8];
    let r = if beta == 0.0 {
        acc
    } else {
        load8(out).mul_add(f32x8::splat(beta), acc)
    };
    out.copy_from_slice(&r.to_array());
}

/// [`store8`] for each vector of one tile row.
#[inline(always)]
fn store_row(acc: &[f32x8; NV], c_row: &mut [f32], beta: f32) {
    for (v, &acc) in acc.iter().enumerate() {
        store8(&mut c_row[8 * v..], acc, beta);
    }
}
