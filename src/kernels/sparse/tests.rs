//! `gemm_skip_zeros` against an independent f64 product on every path the host supports, with
//! and without all-zero columns; the column list against the matrix.

use super::*;
use crate::error::ErrorKind;
use crate::rng::Rng;

use crate::kernels::dispatch::supported_paths as paths;

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

/// Zeroes each column of the row-major `rows × cols` matrix `a` with probability 1/3 (the
/// black border of MNIST, as far as the products are concerned).
fn zero_columns(rng: &mut Rng, a: &mut [f32], rows: usize, cols: usize) {
    for p in 0..cols {
        if rng.below(3) == 0 {
            (0..rows).for_each(|r| a[r * cols + p] = 0.0);
        }
    }
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
                            let mut a = sparse_random(&mut rng, m * k, density);
                            let (rows, cols) = if trans_a { (k, m) } else { (m, k) };
                            zero_columns(&mut rng, &mut a, rows, cols);
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
    // A 28×28 image whose 5-pixel border is black in every sample, 30 % nonzero inside.
    let mut x = sparse_random(&mut rng, batch * inputs, 0.3);
    for (i, v) in x.iter_mut().enumerate() {
        let (row, col) = (i % inputs / 28, i % 28);
        if !(5..23).contains(&row) || !(5..23).contains(&col) {
            *v = 0.0;
        }
    }
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
fn nonzero_columns_lists_exactly_the_used_columns() {
    let mut rng = Rng::new(11);
    for (m, k) in [(13, 21), (5, 8), (9, 17), (40, 100)] {
        // Zero a random third of the columns, so that the list is worth making.
        let mut a = sparse_random(&mut rng, m * k, 0.5);
        for p in 0..k {
            if rng.below(3) == 0 {
                (0..m).for_each(|r| a[r * k + p] = 0.0);
            }
        }
        let want: Vec<u32> = (0..k)
            .filter(|&p| (0..m).any(|r| a[r * k + p] != 0.0))
            .map(|p| p as u32)
            .collect();
        let mut scratch = vec![0.0; k];
        match nonzero_columns(&a, m, k, 0, &mut scratch) {
            Some((columns, _)) => {
                let got: Vec<u32> = columns.iter().map(|c| c.to_bits()).collect();
                assert_eq!(got, want, "{m}x{k}");
            }
            None => assert!(
                want.len() > k - k / 8 || want.is_empty(),
                "{m}x{k}: {want:?}"
            ),
        }
    }
    // Dense: no list. Too little scratch: no list.
    let dense = vec![1.0; 6 * 16];
    assert!(nonzero_columns(&dense, 6, 16, 0, &mut [0.0; 64]).is_none());
    let mut sparse = vec![0.0; 6 * 16];
    sparse[3] = 1.0;
    assert!(nonzero_columns(&sparse, 6, 16, 0, &mut [0.0; 64]).is_some());
    assert!(nonzero_columns(&sparse, 6, 16, 49, &mut [0.0; 64]).is_none());
    assert!(nonzero_columns(&sparse, 6, 16, 48, &mut [0.0; 64]).is_some());
    // -0.0 is a zero; NaN is not.
    sparse[3] = -0.0;
    assert!(nonzero_columns(&sparse, 6, 16, 0, &mut [0.0; 64]).is_none());
    sparse[3] = f32::NAN;
    let mut scratch = [0.0; 64];
    let (columns, _) = nonzero_columns(&sparse, 6, 16, 0, &mut scratch).unwrap();
    assert_eq!(columns.iter().map(|c| c.to_bits()).collect::<Vec<_>>(), [3]);
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
fn nan_in_a_propagates_and_zero_columns_skip_infinities_of_b() {
    // x·W: A (4×4) has NaN at (0, 0), 1 at (1, 1), zeros elsewhere, so columns 2 and 3 are
    // all zero; B (4×2) has an infinite row 3, which only zeros of A meet.
    let mut a = [0.0f32; 16];
    a[0] = f32::NAN;
    a[5] = 1.0;
    let mut b = [1.0f32; 8];
    b[6] = f32::INFINITY;
    b[7] = f32::INFINITY;
    for path in paths() {
        let mut c = [0.0; 8];
        let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(4, 2, 4)];
        gemm_skip_zeros_with(path, false, 4, 2, 4, &a, &b, &mut c, &mut scratch).unwrap();
        let what = format!("{path}: {c:?}");
        assert!(c[0].is_nan() && c[1].is_nan(), "{what}");
        if path == KernelPath::Scalar {
            // The scalar twin is the dense triple loop: 0·∞ is NaN there.
            assert!(c[2..].iter().all(|v| v.is_nan()), "{what}");
        } else {
            assert_eq!(&c[2..], &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0], "{what}");
        }
    }
    // xᵀ·∂y: stored A (4 samples × 8 features) is nonzero in features 0..4 only, NaN at
    // (0, 0); ∂y (4×2) has an infinite element. Rows 4..8 of C (the all-zero features) are
    // exactly zero, where the dense product gives 0·∞ = NaN.
    let mut a = [0.0f32; 32];
    for d in 0..4 {
        a[d * 8 + d] = 1.0;
    }
    a[0] = f32::NAN;
    let mut b = [1.0f32; 8];
    b[4] = f32::INFINITY;
    for path in paths() {
        let mut c = [0.0; 16];
        let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(8, 2, 4)];
        gemm_skip_zeros_with(path, true, 8, 2, 4, &a, &b, &mut c, &mut scratch).unwrap();
        let what = format!("{path}: {c:?}");
        assert!(c[0].is_nan() && c[1].is_nan(), "{what}");
        if path == KernelPath::Scalar {
            // Column 0 meets the infinity (∂y[2][0]).
            assert!(c[8..].iter().step_by(2).all(|v| v.is_nan()), "{what}");
        } else {
            assert_eq!(&c[8..], &[0.0; 8], "{what}");
            // Row 1 (feature 1): 1·∂y[1] = [1, 1] plus zeros times finite and infinite rows.
            assert!(c[2].is_nan() || c[2] == 1.0, "{what}");
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

/// The column scan is split over threads by blocks of rows: every thread count lists the
/// same columns, including ones used only by the last row, or only by a row of the first
/// block after the four rows scanned first.
#[cfg(feature = "rayon")]
#[test]
fn column_lists_are_the_same_on_every_thread_count() {
    let mut rng = Rng::new(21);
    // MNIST's input; and more columns than one thread's accumulator holds at a time.
    for (m, k) in [(128, 784), (64, 1100)] {
        let mut a = sparse_random(&mut rng, m * k, 0.2);
        zero_columns(&mut rng, &mut a, m, k);
        let last = m - 1;
        for (p, r) in [
            (0, last),
            (15, 5),
            (16, last),
            (191, 33),
            (399, 34),
            (400, last),
            (783, 6),
        ] {
            (0..m).for_each(|r| a[r * k + p] = 0.0);
            a[r * k + p] = if p % 2 == 0 { -1e-40 } else { 2.0 };
        }
        let want: Vec<u32> = (0..k)
            .filter(|&p| (0..m).any(|r| a[r * k + p] != 0.0))
            .map(|p| p as u32)
            .collect();
        assert!(want.len() < k - k / 8, "the list must be worth making");
        for threads in [1, 2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| {
                let mut list = vec![f32::NAN; column_list_len(k)];
                column_list(&a, m, k, &mut list).unwrap();
                let count = list[0].to_bits() as usize;
                list[1..1 + count]
                    .iter()
                    .map(|c| c.to_bits())
                    .collect::<Vec<u32>>()
            });
            assert_eq!(got, want, "{m}x{k}, {threads} threads");
        }
    }
}

#[cfg(feature = "rayon")]
#[test]
fn every_thread_count_gives_the_same_bits() {
    // Large enough to be split over threads, with a third of the columns zero.
    let mut rng = Rng::new(9);
    // m = 128 with trans_a is MNIST's ∂W: one depth slice, rows copied to their places by
    // the thread that computed them; m = 256 is two slices, rows moved afterwards.
    let (n, k) = (400, 784);
    for (trans_a, m, density) in [(true, 128, 0.5), (true, 256, 0.5), (false, 256, 0.5)] {
        let mut a = sparse_random(&mut rng, m * k, density);
        zero_columns(&mut rng, &mut a, m, k); // stored m × k either way
        let b = sparse_random(&mut rng, k * n, 1.0);
        let (rows, depth) = if trans_a { (k, m) } else { (m, k) };
        let pool = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
        };
        // A plan made in a 1-thread pool holds fewer workers' blocks: in a larger pool the
        // product then uses fewer workers, but still leaves out the zero columns.
        let one_thread_plan = pool(1).install(|| gemm_skip_zeros_scratch_len(rows, n, depth));
        let results: Vec<Vec<f32>> = [(1, false), (2, false), (3, false), (3, true)]
            .iter()
            .map(|&(threads, small_plan)| {
                pool(threads).install(|| {
                    let mut c = vec![0.0; rows * n];
                    let len = if small_plan {
                        one_thread_plan
                    } else {
                        gemm_skip_zeros_scratch_len(rows, n, depth)
                    };
                    let mut scratch = vec![0.0; len];
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
        let differ = (0..results[0].len())
            .filter(|&i| results[0][i].to_bits() != results[3][i].to_bits())
            .count();
        assert_eq!(
            differ, 0,
            "trans_a={trans_a}: 3 threads with a 1-thread plan, elements that differ"
        );
    }
}

#[test]
fn a_listed_product_gives_the_bits_of_the_scanning_one() {
    // One list of x's nonzero columns serves both of a Dense layer's products by x, with the
    // bits `gemm_skip_zeros` gives when it scans x itself; a dense x lists nothing (count 0)
    // and both products then run dense.
    let mut rng = Rng::new(12);
    let (m, n, k) = (64, 40, 150); // x is m × k
    for density in [0.3, 1.0] {
        let mut x = sparse_random(&mut rng, m * k, density);
        if density < 1.0 {
            zero_columns(&mut rng, &mut x, m, k);
        }
        let w = sparse_random(&mut rng, k * n, 1.0);
        let dy = sparse_random(&mut rng, m * n, 1.0);
        let mut list = vec![f32::NAN; column_list_len(k)];
        column_list(&x, m, k, &mut list).unwrap();
        let count = list[0].to_bits() as usize;
        let used = (0..k)
            .filter(|&p| (0..m).any(|i| x[i * k + p] != 0.0))
            .count();
        assert_eq!(
            count,
            if density < 1.0 { used } else { 0 },
            "density {density}"
        );
        let products = [(false, m, n, k, &w), (true, k, n, m, &dy)];
        for (trans_a, rows, cols, depth, b) in products {
            let len = gemm_skip_zeros_scratch_len(rows, cols, depth);
            let (mut want, mut got) = (vec![0.0; rows * cols], vec![f32::NAN; rows * cols]);
            let mut scratch = vec![0.0; len];
            gemm_skip_zeros(trans_a, rows, cols, depth, &x, b, &mut want, &mut scratch).unwrap();
            gemm_skip_listed(
                trans_a,
                rows,
                cols,
                depth,
                &x,
                b,
                &mut got,
                &list,
                &mut scratch,
            )
            .unwrap();
            let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&got) == bits(&want),
                "density {density}, trans_a={trans_a}"
            );
        }
    }
}

#[test]
fn a_list_that_does_not_fit_the_matrix_is_an_error() {
    let (m, n, k) = (8, 4, 6);
    let (x, w) = (vec![1.0; m * k], vec![1.0; k * n]);
    let mut c = vec![0.0; m * n];
    let mut scratch = vec![0.0; gemm_skip_zeros_scratch_len(m, n, k)];
    let list = |entries: &[u32]| -> Vec<f32> {
        let count = [entries.len() as u32];
        count
            .iter()
            .chain(entries)
            .map(|&v| f32::from_bits(v))
            .collect()
    };
    let bad = [
        list(&[0, 6]),                              // a column past the last
        list(&[3, 1]),                              // not ascending
        list(&[2, 2]),                              // repeated
        vec![f32::from_bits(3), f32::from_bits(0)], // count beyond the entries
        vec![],                                     // no count at all
    ];
    for (i, l) in bad.iter().enumerate() {
        let err = gemm_skip_listed(false, m, n, k, &x, &w, &mut c, l, &mut scratch).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::InvalidConfig { .. }),
            "list {i}: {err}"
        );
    }
    // A short list buffer or a wrong matrix length is a length error.
    let mut short = vec![0.0; k];
    let err = column_list(&x, m, k, &mut short).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::LengthMismatch { .. }),
        "{err}"
    );
    let mut fits = vec![0.0; column_list_len(k)];
    let err = column_list(&x[1..], m, k, &mut fits).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::LengthMismatch { .. }),
        "{err}"
    );
}
