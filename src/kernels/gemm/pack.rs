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
    /// Element `(row, d)` is `data[row * ld + d]`: a row's depth run is adjacent
    /// (`op(A)` when `!trans_a`, `op(B)` when `trans_b`). Packing scatters with stride `r`.
    DepthAdjacent {
        /// The whole stored matrix.
        data: &'a [f32],
        /// Distance between rows (the stored row length).
        ld: usize,
    },
}

/// Packs rows `row0..row0 + rows` and depth `d0..d0 + depth` of `src` into `dst`, as
/// `rows.div_ceil(r)` panels of `depth * r` floats:
/// `dst[(panel * depth + d) * r + i] = src(row0 + panel * r + i, d0 + d)`, and `0.0` where
/// `panel * r + i >= rows`.
///
/// `dst` must hold at least `rows.div_ceil(r) * r * depth` floats and `src` must contain the
/// block; the caller ([`super::gemm`]) guarantees both after checking lengths, so the slice
/// indexing here cannot fail.
pub(super) fn pack(
    dst: &mut [f32],
    src: Src<'_>,
    r: usize,
    row0: usize,
    rows: usize,
    d0: usize,
    depth: usize,
) {
    let panels = rows.div_ceil(r);
    for (p, panel) in dst.chunks_exact_mut(depth * r).take(panels).enumerate() {
        let first = row0 + p * r;
        let valid = r.min(rows - p * r);
        match src {
            Src::RowsAdjacent { data, ld } => {
                for (d, step) in panel.chunks_exact_mut(r).enumerate() {
                    let start = (d0 + d) * ld + first;
                    step[..valid].copy_from_slice(&data[start..start + valid]);
                    step[valid..].fill(0.0);
                }
            }
            Src::DepthAdjacent { data, ld } => {
                for i in 0..valid {
                    let start = (first + i) * ld + d0;
                    let run = &data[start..start + depth];
                    for (out, &v) in panel[i..].iter_mut().step_by(r).zip(run) {
                        *out = v;
                    }
                }
                for i in valid..r {
                    for out in panel[i..].iter_mut().step_by(r) {
                        *out = 0.0;
                    }
                }
            }
        }
    }
}
