//! Which columns of a matrix hold a nonzero: the list [`super::gemm_skip_zeros`] packs by.

use crate::kernels::threads;

/// Whether a value is nonzero, from its bits: any bit but the sign (`-0.0` is zero, NaN is not).
#[inline(always)]
fn nonzero_bits(bits: u32) -> bool {
    bits << 1 != 0
}

/// ORs the bit patterns of columns `c0 .. c0 + acc.len()` of every row of the row-major
/// `rows` (`k` floats per row) into `acc`: a column of `acc` is then nonzero (sign aside)
/// exactly where some row is. Plain ORs, which the compiler vectorises, rather than
/// compares.
///
/// Four rows at a time, so that `acc` is loaded and stored once per four rows rather than
/// once per row (a row at a time, the MNIST input's 128 × 784 took ~15 µs, mostly stores).
fn or_rows(acc: &mut [f32], rows: &[f32], k: usize, c0: usize) {
    let w = acc.len();
    let mut quads = rows.chunks_exact(4 * k);
    for quad in &mut quads {
        let row = |r: usize| &quad[r * k + c0..][..w];
        let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
        for ((((a, v0), v1), v2), v3) in acc.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            let bits = v0.to_bits() | v1.to_bits() | v2.to_bits() | v3.to_bits();
            *a = f32::from_bits(a.to_bits() | bits);
        }
    }
    for row in quads.remainder().chunks_exact(k) {
        for (a, &v) in acc.iter_mut().zip(&row[c0..c0 + w]) {
            *a = f32::from_bits(a.to_bits() | v.to_bits());
        }
    }
}

/// Smallest number of floats ORed by one thread (MNIST's 128 × 784 input splits in two; a
/// 128 × 400 hidden layer stops after its first four rows anyway).
const PAR_MIN: usize = 1 << 14;

/// Columns ORed at a time when the rows are split: one thread's accumulator lives on its
/// stack (4 KiB).
const CHUNK: usize = 1024;

/// [`or_rows`] over the rows of `rows`, cut into `ways` blocks of rows ORed in parallel,
/// `CHUNK` columns at a time: each thread reads the rows it wrote in the pass before (a
/// batch is gathered and copied in blocks of rows the same way), where scanning by
/// columns would read half of every row from the other core. An OR does not depend on the
/// order, so neither does the result.
fn or_rows_split(acc: &mut [f32], rows: &[f32], k: usize, ways: usize) {
    if ways <= 1 {
        return or_rows(acc, rows, k, 0);
    }
    for c0 in (0..k).step_by(CHUNK) {
        let w = CHUNK.min(k - c0);
        or_rows_parts(&mut acc[c0..c0 + w], rows, k, c0, ways);
    }
}

/// [`or_rows`] of columns `c0 .. c0 + acc.len()` (at most `CHUNK`) on `ways` row blocks.
/// Never inlined, so that only a split scan has the accumulator on its stack (a
/// microcontroller's one-thread scan calls [`or_rows`] directly).
#[inline(never)]
fn or_rows_parts(acc: &mut [f32], rows: &[f32], k: usize, c0: usize, ways: usize) {
    let m = rows.len() / k;
    if ways <= 1 || m < 8 {
        return or_rows(acc, rows, k, c0);
    }
    // Blocks of whole quads of rows.
    let (top, bottom) = rows.split_at(threads::cut(m, ways, 4) * k);
    let mut theirs = [0.0f32; CHUNK];
    let theirs = &mut theirs[..acc.len()];
    let (w0, w1) = (ways / 2, ways - ways / 2);
    threads::join(
        || or_rows_parts(acc, top, k, c0, w0),
        || or_rows_parts(theirs, bottom, k, c0, w1),
    );
    for (a, t) in acc.iter_mut().zip(theirs.iter()) {
        *a = f32::from_bits(a.to_bits() | t.to_bits());
    }
}

/// The nonzero columns of the `m × k` matrix `a` (columns with a nonzero in any row), as
/// `u32` bits at the front of `scratch` (returned with the rest of it); `None` when fewer
/// than one column in eight is all zero (picking them would cost more than it saves) or
/// the scratch cannot hold the list and `dense_need` floats behind it.
pub(super) fn nonzero_columns<'s>(
    a: &[f32],
    m: usize,
    k: usize,
    dense_need: usize,
    scratch: &'s mut [f32],
) -> Option<(&'s [f32], &'s mut [f32])> {
    if scratch.len() < k.checked_add(dense_need)? || u32::try_from(k).is_err() || m == 0 {
        return None;
    }
    let (columns, rest) = scratch.split_at_mut(k);
    columns.fill(0.0);
    let used = |acc: &[f32]| acc.iter().filter(|v| nonzero_bits(v.to_bits())).count();
    // A column used by the first rows is used by the batch: if those rows already leave
    // too few columns unused (a ReLU layer's output), stop after four rows.
    let (first, others) = a.split_at(k * m.min(4));
    or_rows(columns, first, k, 0);
    if used(columns) > k - k / 8 {
        return None;
    }
    let ways = threads::ways(others.len(), PAR_MIN);
    or_rows_split(columns, others, k, ways);
    let count = used(columns);
    if count > k - k / 8 || count == 0 {
        return None;
    }
    // In place: entry `i <= p` is written after column `p`'s flag was read.
    let mut i = 0;
    for p in 0..k {
        if nonzero_bits(columns[p].to_bits()) {
            columns[i] = f32::from_bits(p as u32);
            i += 1;
        }
    }
    Some((&columns[..count], rest))
}
