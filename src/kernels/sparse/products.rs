//! The compressed product `C = A·B` for A given as lists of `(depth, value)` per row of `C`
//! ([`Csr`]): the weight gradient `xᵀ·∂y`, whose A (`xᵀ`) has a list per input feature of
//! the samples where it is nonzero.
//!
//! Why it is arranged this way: every nonzero of A multiplies a whole row of `B`, so the
//! kernel does one load per multiply-add, where a packed dense GEMM reuses each load a dozen
//! times. From L1 that is affordable; from L2 it is not. Here `B` is `∂y`, whose rows are
//! the batch's samples (128 of them), and a block of `64` of its columns (32 KiB) is what
//! the random reads hit. (A kernel for the forward product `x·W`, which must read `W`'s 784
//! rows at random or scatter into `C`, ran slower than the dense GEMM at MNIST's density,
//! so that product drops only the batch's all-zero columns instead: see the module above.)
//!
//! Each row's block of `C` is a register sum; two interleaved sets of accumulators (even and
//! odd entries) keep eight multiply-add chains in flight, so the 4-cycle latency of one
//! chain does not bound it. Every element of `C` is the even entries' sum plus the odd
//! entries' sum, whichever column block or thread computes it; columns after the last full
//! vector (`n mod W`) always go through the scalar loop (plain multiply and add).

use core::ops::Range;

use super::compress::Csr;
use super::lanes::Lanes;

/// `C[rows, cols] = A[rows, :]·B[:, cols]` for A given as lists per row of `C`
/// (`a.row(r)`: the depths `p < k` where row `r` of A is nonzero, with the values), `B`
/// row-major `k × n`, `C` the rows' slice of a row-major matrix with `n` columns. `cols`
/// starts at a multiple of `L::W`.
#[inline(always)]
pub(super) fn gather<L: Lanes>(
    l: L,
    a: Csr<'_>,
    b: &[f32],
    n: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    c: &mut [f32],
) {
    let mut j0 = cols.start;
    while cols.end - j0 >= 4 * L::W {
        gather_block::<L, 4, 2>(l, a, b, n, rows.clone(), j0, c);
        j0 += 4 * L::W;
    }
    while cols.end - j0 >= L::W {
        gather_block::<L, 1, 2>(l, a, b, n, rows.clone(), j0, c);
        j0 += L::W;
    }
    if j0 < cols.end {
        for (r, c_row) in rows.zip(c.chunks_exact_mut(n)) {
            let (depths, values) = a.row(r);
            for j in j0..cols.end {
                let (mut even, mut odd) = (0.0f32, 0.0f32);
                let mut pairs = depths.chunks_exact(2).zip(values.chunks_exact(2));
                for (p, x) in &mut pairs {
                    even += x[0] * b[p[0].to_bits() as usize * n + j];
                    odd += x[1] * b[p[1].to_bits() as usize * n + j];
                }
                if let (Some(p), Some(x)) = (
                    depths.chunks_exact(2).remainder().first(),
                    values.chunks_exact(2).remainder().first(),
                ) {
                    even += x * b[p.to_bits() as usize * n + j];
                }
                c_row[j] = even + odd;
            }
        }
    }
}

/// One block of `V` vectors of columns from `j0`, for every row in `rows`: entry `e` of a
/// row goes into accumulator set `e mod S`, and the sets are summed in order at the end.
#[inline(always)]
fn gather_block<L: Lanes, const V: usize, const S: usize>(
    l: L,
    a: Csr<'_>,
    b: &[f32],
    n: usize,
    rows: Range<usize>,
    j0: usize,
    c: &mut [f32],
) {
    let width = V * L::W;
    for (r, c_row) in rows.zip(c.chunks_exact_mut(n)) {
        let (depths, values) = a.row(r);
        let mut acc = [[l.zero(); V]; S];
        let mut groups = depths.chunks_exact(S).zip(values.chunks_exact(S));
        for (p, x) in &mut groups {
            for s in 0..S {
                let p = p[s].to_bits() as usize;
                let (x, b_row) = (l.splat(x[s]), &b[p * n + j0..p * n + j0 + width]);
                for v in 0..V {
                    acc[s][v] = l.mul_add(x, l.load(&b_row[v * L::W..]), acc[s][v]);
                }
            }
        }
        let rest = depths.chunks_exact(S).remainder();
        let rest_values = values.chunks_exact(S).remainder();
        for (s, (p, &x)) in rest.iter().zip(rest_values).enumerate() {
            let p = p.to_bits() as usize;
            let (x, b_row) = (l.splat(x), &b[p * n + j0..p * n + j0 + width]);
            for v in 0..V {
                acc[s][v] = l.mul_add(x, l.load(&b_row[v * L::W..]), acc[s][v]);
            }
        }
        let c_part = &mut c_row[j0..j0 + width];
        for v in 0..V {
            let mut sum = acc[0][v];
            for set in &acc[1..] {
                sum = l.add(sum, set[v]);
            }
            l.store(&mut c_part[v * L::W..], sum);
        }
    }
}
