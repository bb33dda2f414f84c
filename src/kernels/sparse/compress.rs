//! Compressed sparse rows (CSR) of a dense matrix, built in caller-provided scratch.
//!
//! Layout inside an `&mut [f32]`: `rows + 1` offsets, then the nonzeros' indices, then their
//! values, each array row after row, indices ascending within a row, with room for
//! [`SLACK`] more entries than the budget. Offsets and indices are `u32`s stored with
//! [`f32::from_bits`] and read back with [`f32::to_bits`] (a bit copy, so any `u32` survives;
//! the scratch is `f32` because that is what the memory plan hands out).
//!
//! The builder stops as soon as the nonzeros exceed a budget and returns `None`: the caller
//! then runs the dense product instead, having spent at most one pass over the matrix.
//!
//! Speed: rows are scanned eight floats at a time (`wide::f32x8` compare and bit mask); an
//! all-zero chunk, the common case for MNIST's black border, costs one compare.

use wide::f32x8;

/// Entries of room beyond the budget, for the branch-free writes of one 8-float chunk.
const SLACK: usize = 8;

/// A compressed matrix in scratch: `offsets[r]..offsets[r + 1]` index row `r`'s entries in
/// `indices` and `values`.
#[derive(Clone, Copy)]
pub(super) struct Csr<'a> {
    /// `rows + 1` offsets (as `u32` bits).
    offsets: &'a [f32],
    /// Column index of each entry (as `u32` bits).
    indices: &'a [f32],
    /// Value of each entry.
    values: &'a [f32],
}

impl<'a> Csr<'a> {
    /// Number of rows.
    #[cfg(test)]
    pub(super) fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Row `r`'s column indices (as `u32` bits) and values.
    #[inline(always)]
    pub(super) fn row(&self, r: usize) -> (&'a [f32], &'a [f32]) {
        let start = self.offsets[r].to_bits() as usize;
        let end = self.offsets[r + 1].to_bits() as usize;
        (&self.indices[start..end], &self.values[start..end])
    }

    /// Number of nonzeros.
    #[cfg(any(test, feature = "rayon"))]
    pub(super) fn nonzeros(&self) -> usize {
        self.offsets[self.offsets.len() - 1].to_bits() as usize
    }

    /// Where to cut `rows` (at least two) so that the first part holds about `part / ways` of
    /// their nonzeros: a row strictly inside `rows`.
    pub(super) fn balanced_cut(
        &self,
        rows: core::ops::Range<usize>,
        part: usize,
        ways: usize,
    ) -> usize {
        let at = |r: usize| self.offsets[r].to_bits() as usize;
        let (lo, hi) = (at(rows.start), at(rows.end));
        let target = lo + (hi - lo) * part / ways.max(1);
        // First row whose start reaches the target, kept off both ends.
        let mid = rows.start
            + self.offsets[rows.clone()].partition_point(|o| (o.to_bits() as usize) < target);
        mid.clamp(rows.start + 1, rows.end - 1)
    }
}

/// Floats of scratch a CSR of `rows` rows with at most `max_nonzeros` entries takes.
pub(super) const fn csr_len(rows: usize, max_nonzeros: usize) -> usize {
    rows + 1 + 2 * (max_nonzeros + SLACK)
}

/// Splits `scratch` into offsets, indices and values for `rows` rows and as many nonzeros
/// as fit (at most `max_nonzeros`), returning that budget too; `None` when not even an empty
/// CSR fits or a count could overflow a `u32`.
#[allow(clippy::type_complexity)] // three named slices and a count, documented above
fn layout(
    scratch: &mut [f32],
    rows: usize,
    max_nonzeros: usize,
) -> Option<(&mut [f32], &mut [f32], &mut [f32], usize)> {
    let room = scratch.len().checked_sub(rows + 1)? / 2;
    let limit = max_nonzeros.min(room.checked_sub(SLACK)?);
    u32::try_from(limit + SLACK).ok()?;
    let (offsets, rest) = scratch.split_at_mut(rows + 1);
    let (indices, rest) = rest.split_at_mut(limit + SLACK);
    Some((offsets, indices, &mut rest[..limit + SLACK], limit))
}

/// Bit `j` set where `chunk[j]` is not zero (NaN counts as nonzero).
#[inline(always)]
fn nonzero_mask(chunk: &[f32]) -> u32 {
    let arr: [f32; 8] = chunk[..8].try_into().unwrap_or([0.0; 8]);
    f32x8::new(arr).simd_ne(f32x8::ZERO).to_bitmask()
}

/// CSR of the transpose of the `m × k` row-major matrix `a` (its columns: `k` rows of up to
/// `m` entries, indices ascending), or `None` when it has more than `max_nonzeros`
/// nonzeros or `scratch` is shorter than [`cols_len`]`(m, k, nonzeros)`.
///
/// Two steps, both without unpredictable branches: the rows of `a` are compressed into the
/// back of `scratch` (eight floats at a time; an all-zero chunk, MNIST's black border, costs
/// one compare, and a chunk with nonzeros writes all eight lanes while the count advances
/// over the nonzeros only, hence [`SLACK`]); then a counting sort by column moves each entry
/// to its column's list at the front. (Counting and placing straight from the dense matrix
/// was twice as slow: one mispredicted loop exit per chunk with nonzeros.)
pub(super) fn compress_cols<'s>(
    a: &[f32],
    m: usize,
    k: usize,
    max_nonzeros: usize,
    scratch: &'s mut [f32],
) -> Option<Csr<'s>> {
    // Split the scratch so that both parts hold the same number of entries.
    let fixed = (k + 1) + (m + 1) + 4 * SLACK;
    let limit = max_nonzeros.min(scratch.len().checked_sub(fixed)? / 4);
    let (front, back) = scratch.split_at_mut(csr_len(k, limit));
    let (row_offsets, row_indices, row_values, limit) = layout(back, m, limit)?;
    u32::try_from(k.max(m)).ok()?;
    // Step 1: the rows of `a`, compressed.
    let mut count = 0usize;
    row_offsets[0] = f32::from_bits(0);
    for (r, row) in a.chunks_exact(k).take(m).enumerate() {
        let mut chunks = row.chunks_exact(8);
        for (p0, chunk) in (0u32..).step_by(8).zip(&mut chunks) {
            let mask = nonzero_mask(chunk);
            if mask == 0 {
                continue;
            }
            if count > limit {
                return None;
            }
            // `count <= limit`, so the eight writes stay below `limit + SLACK`.
            for (j, &v) in (0u32..).zip(chunk) {
                row_indices[count] = f32::from_bits(p0 + j);
                row_values[count] = v;
                count += ((mask >> j) & 1) as usize;
            }
        }
        let tail_start = (k - chunks.remainder().len()) as u32;
        for (p, &v) in (tail_start..).zip(chunks.remainder()) {
            if v != 0.0 {
                if count > limit {
                    return None;
                }
                row_indices[count] = f32::from_bits(p);
                row_values[count] = v;
                count += 1;
            }
        }
        row_offsets[r + 1] = f32::from_bits(count as u32);
    }
    if count > limit {
        return None;
    }
    // Step 2: counting sort by column into the front part.
    let (offsets, indices, values, _) = layout(front, k, limit)?;
    offsets.fill(f32::from_bits(0));
    for p in &row_indices[..count] {
        let slot = &mut offsets[p.to_bits() as usize + 1];
        *slot = f32::from_bits(slot.to_bits() + 1);
    }
    // Prefix sums: offsets[p + 1] = end of list p = start of list p + 1.
    let mut end = 0u32;
    for o in &mut offsets[1..] {
        end += o.to_bits();
        *o = f32::from_bits(end);
    }
    // Place each entry at its list's cursor, `offsets[p]` (the start of list p), and advance
    // it; rows ascend, so each list's indices ascend.
    for r in 0..m {
        let (lo, hi) = (
            row_offsets[r].to_bits() as usize,
            row_offsets[r + 1].to_bits() as usize,
        );
        for (p, &v) in row_indices[lo..hi].iter().zip(&row_values[lo..hi]) {
            let p = p.to_bits() as usize;
            let at = offsets[p].to_bits();
            indices[at as usize] = f32::from_bits(r as u32);
            values[at as usize] = v;
            offsets[p] = f32::from_bits(at + 1);
        }
    }
    // Each offsets[p] now holds the end of list p: shift them one place to get the starts.
    offsets.copy_within(0..k, 1);
    offsets[0] = f32::from_bits(0);
    Some(Csr {
        offsets,
        indices: &indices[..count],
        values: &values[..count],
    })
}

/// Floats of scratch [`compress_cols`] needs for an `m × k` matrix with up to `nonzeros`
/// nonzeros: the column lists and, behind them, the compressed rows it builds first.
pub(super) const fn cols_len(m: usize, k: usize, nonzeros: usize) -> usize {
    csr_len(k, nonzeros) + csr_len(m, nonzeros)
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
    let need = k.checked_add(dense_need)?.max(k + k.div_ceil(8));
    if scratch.len() < need || u32::try_from(k).is_err() || m == 0 {
        return None;
    }
    let (columns, rest) = scratch.split_at_mut(k);
    // One mask per eight columns (bit set: used), kept behind the list.
    let masks = &mut rest[..k.div_ceil(8)];
    masks.fill(f32::from_bits(0));
    let add_rows = |masks: &mut [f32], rows: &[f32]| {
        for row in rows.chunks_exact(k) {
            for (mask, chunk) in masks.iter_mut().zip(row.chunks(8)) {
                let bits = if chunk.len() == 8 {
                    nonzero_mask(chunk)
                } else {
                    (0..)
                        .zip(chunk)
                        .fold(0, |b, (j, &v)| b | (u32::from(v != 0.0) << j))
                };
                *mask = f32::from_bits(mask.to_bits() | bits);
            }
        }
    };
    let too_few_unused = |masks: &[f32]| {
        let used: u32 = masks.iter().map(|b| b.to_bits().count_ones()).sum();
        used as usize > k - k / 8
    };
    // A column used by the first rows is used by the batch: if those rows already leave
    // too few columns unused (a ReLU layer's output), stop after four rows.
    let (first, others) = a.split_at(k * m.min(4));
    add_rows(masks, first);
    if too_few_unused(masks) {
        return None;
    }
    add_rows(masks, others);
    if too_few_unused(masks) {
        return None;
    }
    let mut used = 0;
    for (c, mask) in masks.iter().enumerate() {
        let mut bits = mask.to_bits();
        while bits != 0 {
            columns[used] = f32::from_bits((8 * c) as u32 + bits.trailing_zeros());
            bits &= bits - 1;
            used += 1;
        }
    }
    if used == 0 {
        return None;
    }
    Some((&columns[..used], rest))
}
