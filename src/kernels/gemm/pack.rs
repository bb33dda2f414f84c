//! Packing: copies a block of `op(A)` or `op(B)` into the panel layout the microkernel reads.
//!
//! Both operands are packed by the same routine. A block is seen as `rows × depth`, where
//! *depth* is the summed dimension `k`: for `op(A)` the rows are the rows of `C`, for `op(B)`
//! they are the columns of `C` (so `op(B)` is packed as its transpose). The block is cut into
//! panels of `r` rows (`r` = the microkernel's `MR` for A, `NR` for B); each panel is stored
//! depth-major, `r` values per depth step, so the microkernel reads both panels strictly
//! forward, one short contiguous run per step. Rows missing from the last panel are filled
//! so that the microkernel can always compute a full tile; the caller keeps only the valid
//! part, so the fill never reaches `C`. It is zero rather than left as whatever the scratch
//! held, because stale values could be subnormal or NaN, which are slow on many CPUs.
//!
//! Whatever the transpose flags, the source is one of two layouts ([`Src`]); packing is where
//! the four `trans_a`/`trans_b` cases become one.

use wide::f32x4;

/// Where the elements of a `rows × depth` operand live in its row-major slice.
#[derive(Clone, Copy)]
pub(super) enum Src<'a> {
    /// Element `(row, d)` is `data[d * ld + row]`: the rows of one depth step are adjacent
    /// (`op(A)` when `trans_a`, `op(B)` when `!trans_b`). Packing copies runs of `r` values.
    RowsAdjacent {
        /// The whole stored matrix.
        data: &'a [f32],
        /// Distance between depth steps (the stored row length).
        ld: usize,
    },
    /// Element `(row, d)` is `data[depths[d] * ld + row]`: as [`Src::RowsAdjacent`], but the
    /// depth steps are the stored rows `depths` lists (`u32`s in `f32` bits), for a product
    /// that leaves out the depth steps where the other operand is all zero
    /// ([`super::gemm_depths`]).
    RowsAdjacentAt {
        /// The whole stored matrix.
        data: &'a [f32],
        /// Distance between stored rows.
        ld: usize,
        /// The stored row of each depth step.
        depths: &'a [f32],
    },
    /// Element `(row, d)` is `data[d * ld + rows[row]]`: as [`Src::RowsAdjacent`], but only the
    /// stored columns `rows` lists (`u32`s in `f32` bits) are rows of the operand, for a
    /// product whose other rows are known to be zero ([`super::gemm_rows`]).
    RowsAdjacentPicked {
        /// The whole stored matrix.
        data: &'a [f32],
        /// Distance between depth steps (the stored row length).
        ld: usize,
        /// The stored column of each row.
        rows: &'a [f32],
    },
    /// Element `(row, d)` is `data[row * ld + depths[d]]`: as [`Src::DepthAdjacent`], with the
    /// depth steps picked from the stored columns `depths` lists (`u32`s in `f32` bits).
    DepthAdjacentAt {
        /// The whole stored matrix.
        data: &'a [f32],
        /// Distance between rows.
        ld: usize,
        /// The stored column of each depth step.
        depths: &'a [f32],
    },
    /// Element `(row, d)` is `data[row * ld + d]`: a row's depth run is adjacent
    /// (`op(A)` when `!trans_a`, `op(B)` when `trans_b`). Packing scatters with stride `r`.
    DepthAdjacent {
        /// The whole stored matrix.
        data: &'a [f32],
        /// Distance between rows (the stored row length).
        ld: usize,
    },
}

/// Where a block lies in its operand: rows `row0..row0 + rows`, depth `d0..d0 + depth`.
#[derive(Clone, Copy)]
pub(super) struct Region {
    /// First row.
    pub row0: usize,
    /// Number of rows.
    pub rows: usize,
    /// First depth step.
    pub d0: usize,
    /// Number of depth steps.
    pub depth: usize,
}

/// Depth steps transposed at a time from a [`Src::DepthAdjacent`] operand.
const BLOCK: usize = 4;

/// Loads 4 floats from the front of `s` (which has at least 4 at every call).
#[inline(always)]
fn load4(s: &[f32]) -> f32x4 {
    f32x4::new(s[..4].try_into().unwrap_or([0.0; 4]))
}

/// Packs `region` of `src` into `dst` as `rows.div_ceil(R)` panels of `depth * R` floats:
/// `dst[(panel * depth + d) * R + i] = src(row0 + panel * R + i, d0 + d)`, and `0.0` where
/// `panel * R + i >= rows`.
///
/// The panel width `R` is a constant so that each kernel gets a copy with fixed-size moves
/// (and, inlined into a `#[target_feature]` function, that kernel's vector instructions):
/// full panels of a [`Src::DepthAdjacent`] operand are transposed 4 × 4 at a time in
/// registers.
///
/// `dst` must hold at least `rows.div_ceil(R) * R * depth` floats and `src` must contain the
/// block; the caller ([`super::gemm`]) guarantees both after checking lengths, so the slice
/// indexing here cannot fail.
#[inline(always)]
pub(super) fn pack<const R: usize>(dst: &mut [f32], src: Src<'_>, region: Region) {
    let Region {
        row0,
        rows,
        d0,
        depth,
    } = region;
    let panels = rows.div_ceil(R);
    let rows_adjacent = match src {
        Src::RowsAdjacent { data, ld } => Some((data, ld, None)),
        Src::RowsAdjacentAt { data, ld, depths } => Some((data, ld, Some(depths))),
        Src::RowsAdjacentPicked {
            data,
            ld,
            rows: picked,
        } => {
            // Depth-major, as below, but each step gathers the picked columns, or copies
            // them as one run for a panel whose `R` picked columns are adjacent (bit `p` of
            // `adjacent`, for the first 64 panels; the nonzero pixels of a batch come in runs
            // along the image's rows).
            let picked = &picked[row0..row0 + rows];
            let adjacent = picked
                .chunks(R)
                .take(64)
                .enumerate()
                .fold(0u64, |bits, (p, part)| {
                    let at = |i: usize| part[i].to_bits() as usize;
                    let run = part.len() == R && (1..R).all(|i| at(i) == at(0) + i);
                    bits | (u64::from(run) << p)
                });
            for d in 0..depth {
                let step_src = &data[(d0 + d) * ld..][..ld];
                let steps = dst.chunks_exact_mut(depth * R).take(panels);
                for (p, (panel, part)) in steps.zip(picked.chunks(R)).enumerate() {
                    let step = &mut panel[d * R..(d + 1) * R];
                    if p < 64 && adjacent >> p & 1 == 1 {
                        let start = part[0].to_bits() as usize;
                        step.copy_from_slice(&step_src[start..start + R]);
                        continue;
                    }
                    for (out, at) in step.iter_mut().zip(part) {
                        *out = step_src[at.to_bits() as usize];
                    }
                    step[part.len()..].fill(0.0);
                }
            }
            return;
        }
        Src::DepthAdjacent { .. } | Src::DepthAdjacentAt { .. } => None,
    };
    if let Some((data, ld, depths)) = rows_adjacent {
        // Depth-major order: each depth step reads one contiguous run of the source (a
        // stream the hardware prefetcher follows) and scatters it, `R` floats per panel.
        for d in 0..depth {
            let stored = depths.map_or(d0 + d, |at| at[d0 + d].to_bits() as usize);
            let run = &data[stored * ld + row0..][..rows];
            let steps = dst.chunks_exact_mut(depth * R).take(panels);
            for (panel, part) in steps.zip(run.chunks(R)) {
                let step = &mut panel[d * R..(d + 1) * R];
                if part.len() == R {
                    step.copy_from_slice(part);
                } else {
                    step[..part.len()].copy_from_slice(part);
                    step[part.len()..].fill(0.0);
                }
            }
        }
        return;
    }
    for (p, panel) in dst.chunks_exact_mut(depth * R).take(panels).enumerate() {
        let first = row0 + p * R;
        let valid = R.min(rows - p * R);
        match src {
            Src::RowsAdjacent { .. }
            | Src::RowsAdjacentAt { .. }
            | Src::RowsAdjacentPicked { .. } => {} // handled above
            Src::DepthAdjacent { data, ld } if valid == R => {
                // Full panel: transpose 4 rows × 4 depth steps at a time in registers
                // (`wide`'s 4×4 transpose: SSE shuffles on x86, NEON on ARM), four
                // 4-float loads and stores instead of sixteen single floats each way.
                let row = |i: usize| &data[(first + i) * ld + d0..][..depth];
                let src_rows: [&[f32]; R] = core::array::from_fn(row);
                let quads = R / 4;
                let mut steps = panel.chunks_exact_mut(BLOCK * R);
                for (blk, out) in (&mut steps).enumerate() {
                    let d = blk * BLOCK;
                    for g in 0..quads {
                        let rows = core::array::from_fn(|t| load4(&src_rows[4 * g + t][d..]));
                        for (t, col) in f32x4::transpose(rows).iter().enumerate() {
                            out[t * R + 4 * g..][..4].copy_from_slice(&col.to_array());
                        }
                    }
                    for (i, r) in src_rows.iter().enumerate().skip(4 * quads) {
                        for t in 0..BLOCK {
                            out[t * R + i] = r[d + t];
                        }
                    }
                }
                let done = depth / BLOCK * BLOCK;
                for (d, step) in steps.into_remainder().chunks_exact_mut(R).enumerate() {
                    for (o, r) in step.iter_mut().zip(&src_rows) {
                        *o = r[done + d];
                    }
                }
            }
            Src::DepthAdjacent { data, ld } => {
                for i in 0..valid {
                    let start = (first + i) * ld + d0;
                    let run = &data[start..start + depth];
                    for (out, &v) in panel[i..].iter_mut().step_by(R).zip(run) {
                        *out = v;
                    }
                }
                for i in valid..R {
                    for out in panel[i..].iter_mut().step_by(R) {
                        *out = 0.0;
                    }
                }
            }
            Src::DepthAdjacentAt { data, ld, depths } if valid == R => {
                // Full panel: where four listed columns are adjacent (the listed nonzero
                // pixels of an image come in runs along its rows), transpose 4 rows × 4
                // depth steps in registers as for `DepthAdjacent`; else pick one column.
                let at = &depths[d0..d0 + depth];
                let row = |i: usize| &data[(first + i) * ld..][..ld];
                let src_rows: [&[f32]; R] = core::array::from_fn(row);
                let column = |d: usize| at[d].to_bits() as usize;
                let mut d = 0;
                while d < depth {
                    let col = column(d);
                    let run = d + BLOCK <= depth && (1..BLOCK).all(|t| column(d + t) == col + t);
                    if run {
                        let out = &mut panel[d * R..(d + BLOCK) * R];
                        for g in 0..R / 4 {
                            let rows = core::array::from_fn(|t| load4(&src_rows[4 * g + t][col..]));
                            for (t, quad) in f32x4::transpose(rows).iter().enumerate() {
                                out[t * R + 4 * g..][..4].copy_from_slice(&quad.to_array());
                            }
                        }
                        for (i, r) in src_rows.iter().enumerate().skip(R / 4 * 4) {
                            for t in 0..BLOCK {
                                out[t * R + i] = r[col + t];
                            }
                        }
                        d += BLOCK;
                    } else {
                        let step = &mut panel[d * R..(d + 1) * R];
                        for (out, r) in step.iter_mut().zip(&src_rows) {
                            *out = r[col];
                        }
                        d += 1;
                    }
                }
            }
            Src::DepthAdjacentAt { data, ld, depths } => {
                // Depth-major, like the panel itself: each step picks one column of the
                // source for the panel's rows.
                let at = &depths[d0..d0 + depth];
                for (step, d) in panel.chunks_exact_mut(R).zip(at) {
                    let d = d.to_bits() as usize;
                    for (i, out) in step.iter_mut().enumerate().take(valid) {
                        *out = data[(first + i) * ld + d];
                    }
                }
                for i in valid..R {
                    for out in panel[i..].iter_mut().step_by(R) {
                        *out = 0.0;
                    }
                }
            }
        }
    }
}
