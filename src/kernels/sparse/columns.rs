//! Which columns of a matrix hold a nonzero: the list [`super::gemm_skip_zeros`] packs by.

/// Whether a value is nonzero, from its bits: any bit but the sign (`-0.0` is zero, NaN is not).
#[inline(always)]
fn nonzero_bits(bits: u32) -> bool {
    bits << 1 != 0
}

/// ORs the bit patterns of every row of `rows` (row length `acc.len()`) into `acc`: a column
/// of `acc` is then nonzero (sign aside) exactly where some row is. Plain ORs, which the
/// compiler vectorises, rather than compares.
///
/// Four rows at a time, so that `acc` is loaded and stored once per four rows rather than
/// once per row (a row at a time, the MNIST input's 128 × 784 took ~15 µs, mostly stores).
fn or_rows(acc: &mut [f32], rows: &[f32]) {
    let k = acc.len();
    let mut quads = rows.chunks_exact(4 * k);
    for quad in &mut quads {
        let (r0, rest) = quad.split_at(k);
        let (r1, rest) = rest.split_at(k);
        let (r2, r3) = rest.split_at(k);
        for ((((a, v0), v1), v2), v3) in acc.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            let bits = v0.to_bits() | v1.to_bits() | v2.to_bits() | v3.to_bits();
            *a = f32::from_bits(a.to_bits() | bits);
        }
    }
    for row in quads.remainder().chunks_exact(k) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a = f32::from_bits(a.to_bits() | v.to_bits());
        }
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
    or_rows(columns, first);
    if used(columns) > k - k / 8 {
        return None;
    }
    or_rows(columns, others);
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
