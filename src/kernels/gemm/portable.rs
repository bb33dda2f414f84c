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

use super::MicroKernel;

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

    #[inline(never)]
    fn tile(
        kc: usize,
        a: &[f32],
        b: &[f32],
        beta: f32,
        c: &mut [f32],
        rsc: usize,
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

        if rows == MR && cols == NR {
            // Full tile: combine with C in place.
            for (i, row) in acc.iter().enumerate() {
                let c_row = &mut c[i * rsc..i * rsc + NR];
                store_row(row, c_row, beta);
            }
        } else {
            // Edge tile: the padded rows/columns hold sums of zeros; spill the tile and keep
            // only the `rows × cols` part that lies inside C.
            let mut tile = [[0.0f32; NR]; MR];
            for (out, row) in tile.iter_mut().zip(&acc) {
                store_row(row, out, 0.0);
            }
            for (i, t) in tile.iter().enumerate().take(rows) {
                let c_row = &mut c[i * rsc..i * rsc + cols];
                for (cv, &t) in c_row.iter_mut().zip(t) {
                    *cv = if beta == 0.0 { t } else { beta * *cv + t };
                }
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
