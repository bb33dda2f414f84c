//! `gemm_skip_zeros` against an independent f64 product on every path the host supports, at
//! densities on both sides of the threshold; the compressors against the dense matrix.

use super::*;
use crate::error::ErrorKind;
use crate::rng::Rng;

fn paths() -> Vec<KernelPath> {
    KernelPath::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect()
}

/// `len` values in [-1, 1), each zero with probability `1 - density`.
fn sparse_random(rng: &mut Rng, len: usize, density: f32) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let keep = rng.uniform() < density;
            let v = rng.uniform_range(-1.0, 1.0);
            if keep { v } else { 0.0 }
        })
        .collect()
}

/// `op(A)[i][p]`, read from the definition in the docs.
fn op_a(trans_a: bool, a: &[f32], m: usize, k: usize, i: usize, p: usize) -> f32 {
    if trans_a { a[p * m + i] } else { a[i * k + p] }
}

/// Every element of `got` against the f64 product, within the classic bound for a sum of
/// `k` f32 products: `2·(k+2)·eps·Σ|terms|`.
#[allow(clippy::too_many_arguments)]
fn assert_close(trans_a: bool, m: usize, n: usize, k: usize, a: &[f32], b: &[f32], got: &[f32]) {
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut magnitude) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = op_a(trans_a, a, m, k, i, p) as f64 * b[p * n + j] as f64;
                exact += t;
                magnitude += t.abs();
            }
            let bound = 2.0 * (k as f64 + 2.0) * f32::EPSILON as f64 * magnitude + 1e-30;
            let g = got[i * n + j] as f64;
            assert!(
                (g - exact).abs() <= bound,
                "C[{i}][{j}] = {g}, exact {exact} (m={m} n={n} k={k} trans_a={trans_a})"
            );
        }
    }
}

#[test]
fn matches_the_exact_product_on_every_path_size_and_density() {
    let mut rng = Rng::new(7);
    let dims = [1, 3, 7, 17, 33, 129];
    // Column counts that cross every block width of every path (8, 16, 32, 64, 128, 256).
    let widths = [1, 7, 8, 9, 15, 16, 17, 33, 63, 64, 65, 129, 400];
    for path in paths() {
        for &density in &[0.0, 0.05, 0.2, 0.35, 0.9] {
            for &m in &dims {
                for &k in &dims {
                    for &n in &widths {
                        for trans_a in [false, true] {
                            let a = sparse_random(&mut rng, m * k, density);
                            let b = sparse_random(&mut rng, k * n, 1.0);
                            let mut c = vec![f32::NAN; m * n];
                            let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(m, n, k)];
                            gemm_skip_zeros_with(
                                path,
                                trans_a,
                                m,
                                n,
                                k,
                                &a,
                                &b,
                                &mut c,
                                &mut scratch,
                            )
                            .unwrap();
                            assert_close(trans_a, m, n, k, &a, &b, &c);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn mnist_first_layer_shapes_match_the_reference() {
    // The two products the skip is for, x·W (128×784·784×400) and xᵀ·∂y
    // (784×128·128×400), at MNIST's density, against the dense scalar twin.
    let mut rng = Rng::new(3);
    let (batch, inputs, outputs) = (128, 784, 400);
    let x = sparse_random(&mut rng, batch * inputs, 0.19);
    let w = sparse_random(&mut rng, inputs * outputs, 1.0);
    let dy = sparse_random(&mut rng, batch * outputs, 0.5);
    for path in paths() {
        let cases: [(bool, usize, usize, usize, &[f32]); 2] = [
            (false, batch, outputs, inputs, &w),
            (true, inputs, outputs, batch, &dy),
        ];
        for (trans_a, m, n, k, b) in cases {
            let mut want = vec![0.0; m * n];
            gemm_reference(trans_a, false, m, n, k, &x, b, 0.0, &mut want).unwrap();
            let mut got = vec![f32::NAN; m * n];
            let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(m, n, k)];
            gemm_skip_zeros_with(path, trans_a, m, n, k, &x, b, &mut got, &mut scratch).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                    "{path} trans_a={trans_a}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn compressed_columns_hold_exactly_the_nonzeros() {
    let mut rng = Rng::new(11);
    for (m, k) in [(13, 21), (5, 8), (9, 17), (1, 1)] {
        let a = sparse_random(&mut rng, m * k, 0.3);
        let nonzeros = a.iter().filter(|v| **v != 0.0).count();
        let mut scratch = vec![0.0; cols_len(m, k, m * k)];
        let cols = compress_cols(&a, m, k, m * k, &mut scratch).unwrap();
        assert_eq!((cols.rows(), cols.nonzeros()), (k, nonzeros));
        let mut dense = vec![0.0; m * k];
        for p in 0..k {
            let mut last = None;
            let (indices, values) = cols.row(p);
            for (r, v) in indices.iter().zip(values) {
                let r = r.to_bits() as usize;
                assert!(last < Some(r), "column {p}: rows not ascending");
                last = Some(r);
                dense[r * k + p] = *v;
            }
        }
        assert_eq!(dense, a);
    }
}

#[test]
fn over_budget_or_short_scratch_gives_up() {
    // 2×3 with 3 nonzeros: [[1, 0, 2], [3, 0, 0]].
    let a = [1.0, 0.0, 2.0, 3.0, 0.0, 0.0];
    let mut scratch = vec![0.0; 64];
    assert!(compress_cols(&a, 2, 3, 2, &mut scratch).is_none());
    assert!(compress_cols(&a, 2, 3, 3, &mut scratch).is_some());
    // `cols_len` is exactly enough; one float less allows a budget of only 2 entries.
    let fits = cols_len(2, 3, 3);
    assert!(compress_cols(&a, 2, 3, 3, &mut scratch[..fits - 1]).is_none());
    assert!(compress_cols(&a, 2, 3, 3, &mut scratch[..fits]).is_some());
    assert!(compress_cols(&a, 2, 3, 3, &mut scratch[..2]).is_none());
}

#[test]
fn balanced_cut_splits_the_nonzeros() {
    // Column p of this 8×8 matrix has p nonzeros, so compressing its columns gives rows with
    // 0 + 1 + ... + 7 = 28 entries; half is 14, and the first row starting at or after it is
    // row 6 (rows 0..6 hold 0+1+...+5 = 15).
    let (m, k) = (8, 8);
    let a: Vec<f32> = (0..m * k)
        .map(|i| if i / k < i % k { 1.0 } else { 0.0 })
        .collect();
    let mut scratch = vec![0.0; cols_len(m, k, m * k)];
    let csr = compress_cols(&a, m, k, m * k, &mut scratch).unwrap();
    assert_eq!(csr.balanced_cut(0..k, 1, 2), 6);
    // Always strictly inside the range.
    assert_eq!(csr.balanced_cut(0..2, 0, 2), 1);
    assert_eq!(csr.balanced_cut(0..2, 2, 2), 1);
}

#[test]
fn dense_a_falls_back_to_gemm_with_the_same_result() {
    let mut rng = Rng::new(5);
    let (m, n, k) = (40, 24, 30);
    let a = sparse_random(&mut rng, m * k, 1.0);
    let b = sparse_random(&mut rng, k * n, 1.0);
    for path in paths() {
        let mut got = vec![0.0; m * n];
        let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(m, n, k)];
        gemm_skip_zeros_with(path, false, m, n, k, &a, &b, &mut got, &mut scratch).unwrap();
        let mut want = vec![0.0; m * n];
        let mut scratch = vec![0.0; gemm_scratch_len(m, n, k)];
        gemm_with(
            path,
            false,
            false,
            m,
            n,
            k,
            &a,
            &b,
            0.0,
            &mut want,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(got, want, "{path}: a dense A must run the dense GEMM");
    }
}

#[test]
fn nan_in_a_propagates_and_skipped_zeros_skip_infinities_of_b() {
    // A (4×4): NaN at (0, 0), 1 at (1, 1), zeros elsewhere, so column 3 is all zero and
    // symmetric (op(A) = A either way). B (4×2): row 3 is infinite.
    let mut a = [0.0f32; 16];
    a[0] = f32::NAN;
    a[5] = 1.0;
    let mut b = [1.0f32; 8];
    b[6] = f32::INFINITY;
    b[7] = f32::INFINITY;
    for path in paths() {
        for trans_a in [false, true] {
            let mut c = [0.0; 8];
            let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(4, 2, 4)];
            gemm_skip_zeros_with(path, trans_a, 4, 2, 4, &a, &b, &mut c, &mut scratch).unwrap();
            let what = format!("{path} trans_a={trans_a}: {c:?}");
            assert!(c[0].is_nan() && c[1].is_nan(), "{what}");
            if path == KernelPath::Scalar {
                // The scalar twin is the dense triple loop: 0·∞ is NaN there.
                assert!(c[2..].iter().all(|v| v.is_nan()), "{what}");
            } else {
                assert_eq!(&c[2..], &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0], "{what}");
            }
        }
    }
}

#[test]
fn wrong_lengths_are_errors() {
    let mut scratch = vec![0.0; 64];
    let mut c = [0.0; 4];
    let err =
        gemm_skip_zeros(false, 2, 2, 2, &[0.0; 3], &[0.0; 4], &mut c, &mut scratch).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::LengthMismatch { .. }),
        "{err}"
    );
    let err = gemm_skip_zeros(
        true,
        2,
        2,
        2,
        &[0.0; 4],
        &[0.0; 4],
        &mut c[..3],
        &mut scratch,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::LengthMismatch { .. }),
        "{err}"
    );
}

#[cfg(feature = "rayon")]
#[test]
fn every_thread_count_gives_the_same_bits() {
    // Large enough to be split (see `SPLIT_MIN_MULTIPLY_ADDS`), sparse enough for both kernels.
    let mut rng = Rng::new(9);
    let (m, n, k) = (256, 400, 784);
    for (trans_a, density) in [(true, 0.19), (false, 0.1)] {
        let a = sparse_random(&mut rng, m * k, density);
        let b = sparse_random(&mut rng, k * n, 1.0);
        let results: Vec<Vec<f32>> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let (rows, depth) = if trans_a { (k, m) } else { (m, k) };
                    let mut c = vec![0.0; rows * n];
                    let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(rows, n, depth)];
                    gemm_skip_zeros(
                        trans_a,
                        rows,
                        n,
                        depth,
                        &a,
                        &b[..depth * n],
                        &mut c,
                        &mut scratch,
                    )
                    .unwrap();
                    c
                })
            })
            .collect();
        let bits = |c: &Vec<f32>| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&results[0]),
            bits(&results[1]),
            "trans_a={trans_a}: 1 vs 2 threads"
        );
        assert_eq!(
            bits(&results[0]),
            bits(&results[2]),
            "trans_a={trans_a}: 1 vs 3 threads"
        );
    }
}
