//! `gemm` against `gemm_reference`, against an independent f64 product, and hand values.

use super::*;
use crate::error::ErrorKind;
use crate::rng::Rng;

const TRANS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

fn random(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

/// `op(A)[i][p]` and `op(B)[p][j]` read straight from the definition in the docs.
fn op_a(ta: bool, a: &[f32], m: usize, k: usize, i: usize, p: usize) -> f32 {
    if ta { a[p * m + i] } else { a[i * k + p] }
}
fn op_b(tb: bool, b: &[f32], k: usize, n: usize, p: usize, j: usize) -> f32 {
    if tb { b[j * k + p] } else { b[p * n + j] }
}

/// Checks `got` against the exact (f64) product. The allowed error is the classic bound for a
/// sum of `k` products in f32, whatever the summation order: `2·(k+2)·eps·Σ|terms|`.
/// Large products check every 7th row and the last (the comparison with `gemm_reference`
/// covers every element), to keep debug-mode tests quick.
#[allow(clippy::too_many_arguments)]
fn assert_close_f64(
    (ta, tb): (bool, bool),
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c0: &[f32],
    got: &[f32],
) {
    let every = if m * n * k > 100_000 { 7 } else { 1 };
    for i in (0..m).filter(|&i| i % every == 0 || i == m - 1) {
        for j in 0..n {
            let (mut exact, mut scale) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = op_a(ta, a, m, k, i, p) as f64 * op_b(tb, b, k, n, p, j) as f64;
                exact += t;
                scale += t.abs();
            }
            if beta != 0.0 {
                let t = beta as f64 * c0[i * n + j] as f64;
                exact += t;
                scale += t.abs();
            }
            let tol = 2.0 * (k + 2) as f64 * f32::EPSILON as f64 * scale + 1e-30;
            let g = got[i * n + j] as f64;
            assert!(
                (g - exact).abs() <= tol,
                "ta={ta} tb={tb} m={m} n={n} k={k} beta={beta} at ({i},{j}): got {g}, exact {exact}, tol {tol}"
            );
        }
    }
}

/// Runs `gemm` and `gemm_reference` on the same random operands and compares them (and
/// `gemm` with the f64 product). `C` starts as random values, or NaN when `beta == 0`, to
/// prove it is not read; scratch starts as NaN to prove the padding is written.
fn check_case(rng: &mut Rng, (ta, tb): (bool, bool), m: usize, n: usize, k: usize, beta: f32) {
    let a = random(rng, m * k);
    let b = random(rng, k * n);
    let c0 = if beta == 0.0 {
        vec![f32::NAN; m * n]
    } else {
        random(rng, m * n)
    };
    let mut fast = c0.clone();
    let mut slow = c0.clone();
    let mut scratch = vec![f32::NAN; gemm_scratch_len(m, n, k)];
    gemm(ta, tb, m, n, k, &a, &b, beta, &mut fast, &mut scratch).unwrap();
    gemm_reference(ta, tb, m, n, k, &a, &b, beta, &mut slow).unwrap();
    assert!(
        fast.iter().all(|v| v.is_finite()),
        "non-finite output m={m} n={n} k={k}"
    );
    for (idx, (&f, &s)) in fast.iter().zip(&slow).enumerate() {
        // Both are within the f32 error bound of the exact value, so of each other.
        let tol = 4.0 * (k + 2) as f32 * f32::EPSILON * (k as f32 + 1.0);
        assert!(
            (f - s).abs() <= tol,
            "ta={ta} tb={tb} m={m} n={n} k={k} beta={beta} at {idx}: gemm {f}, reference {s}"
        );
    }
    assert_close_f64((ta, tb), m, n, k, &a, &b, beta, &c0, &fast);
}

#[test]
fn hand_computed_all_transposes() {
    // op(A) = [[1,2,3],[4,5,6]], op(B) = [[7,8],[9,10],[11,12]]:
    // op(A)·op(B) = [[58,64],[139,154]]; with beta = 0.5 and C = [[1,2],[3,4]]:
    // [[58.5,65],[140.5,156]].
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let a_t = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
    let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
    let b_t = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0];
    for (ta, tb) in TRANS {
        let aa: &[f32] = if ta { &a_t } else { &a };
        let bb: &[f32] = if tb { &b_t } else { &b };
        for (beta, want) in [
            (0.0, [58.0, 64.0, 139.0, 154.0]),
            (0.5, [58.5, 65.0, 140.5, 156.0]),
        ] {
            let mut c = [1.0, 2.0, 3.0, 4.0];
            let mut scratch = vec![0.0; gemm_scratch_len(2, 2, 3)];
            gemm(ta, tb, 2, 2, 3, aa, bb, beta, &mut c, &mut scratch).unwrap();
            assert_eq!(c, want, "gemm ta={ta} tb={tb} beta={beta}");
            let mut c = [1.0, 2.0, 3.0, 4.0];
            gemm_reference(ta, tb, 2, 2, 3, aa, bb, beta, &mut c).unwrap();
            assert_eq!(c, want, "reference ta={ta} tb={tb} beta={beta}");
        }
    }
}

#[test]
fn matches_reference_on_edge_sizes() {
    // Around the tile sizes (MR = 4, NR = 8, and the unpacked m <= 3 path), for every
    // transpose. The full cube with beta = 0 (C is NaN on entry); beta = 1 and 0.5 leave out
    // 129 to keep debug-mode tests quick (the larger tests below use those betas).
    const DIMS: [usize; 10] = [0, 1, 2, 3, 7, 8, 9, 17, 33, 129];
    let mut rng = Rng::new(1);
    for trans in TRANS {
        for m in DIMS {
            for n in DIMS {
                for k in DIMS {
                    check_case(&mut rng, trans, m, n, k, 0.0);
                    if m.max(n).max(k) < 129 {
                        check_case(&mut rng, trans, m, n, k, 1.0);
                        check_case(&mut rng, trans, m, n, k, 0.5);
                    }
                }
            }
        }
    }
}

#[test]
fn matches_reference_across_cache_blocks() {
    // Each dimension crosses its block size (MC, KC, NC) with a ragged remainder, so every
    // loop of the nest runs more than once and the kc-slice accumulation (beta -> 1) is used.
    let mut rng = Rng::new(2);
    for trans in TRANS {
        check_case(&mut rng, trans, MC * 2 + 5, 40, KC * 2 + 3, 0.5);
        check_case(&mut rng, trans, 13, NC + 11, KC + 1, 0.0);
    }
}

#[test]
fn matches_reference_on_mlp_shapes() {
    // The shapes of a 784-400-100-10 MLP with batch 128: forward, weight gradient, input
    // gradient, as the dense layer calls them.
    let mut rng = Rng::new(3);
    for (i, o) in [(784, 400), (400, 100), (100, 10)] {
        check_case(&mut rng, (false, false), 128, o, i, 0.0);
        check_case(&mut rng, (true, false), i, o, 128, 0.0);
        check_case(&mut rng, (false, true), 128, i, o, 0.0);
    }
    check_case(&mut rng, (true, true), 128, 100, 400, 1.0);
}

#[test]
fn few_rows_need_no_scratch() {
    // m <= 3 is computed without packing (batch-1 inference): it needs no scratch at all.
    let mut rng = Rng::new(4);
    for m in 1..=3 {
        assert_eq!(gemm_scratch_len(m, 400, 784), 0);
        for trans in TRANS {
            check_case(&mut rng, trans, m, 400, 784, 0.0);
            check_case(&mut rng, trans, m, 77, 45, 0.5);
            // Wider than two column blocks of the unpacked path, with a ragged end.
            check_case(&mut rng, trans, m, 1100, 20, 1.0);
        }
    }
    assert!(gemm_scratch_len(4, 400, 784) > 0);
}

#[test]
fn k_zero_scales_c() {
    let mut c = [1.0, -2.0, 3.0, 4.0, 5.0, 6.0];
    gemm(false, false, 2, 3, 0, &[], &[], 0.5, &mut c, &mut []).unwrap();
    assert_eq!(c, [0.5, -1.0, 1.5, 2.0, 2.5, 3.0]);
    let mut c = [f32::NAN; 6];
    gemm(true, true, 2, 3, 0, &[], &[], 0.0, &mut c, &mut []).unwrap();
    assert_eq!(c, [0.0; 6]);
    let mut c = [f32::NAN; 6];
    gemm_reference(false, true, 2, 3, 0, &[], &[], 0.0, &mut c).unwrap();
    assert_eq!(c, [0.0; 6]);
}

fn is_length_error(r: Result<()>) -> bool {
    matches!(r, Err(e) if matches!(e.kind, ErrorKind::LengthMismatch { .. }))
}

#[test]
fn scratch_too_small_is_an_error() {
    let (m, n, k) = (9, 17, 33);
    let (a, b) = (vec![1.0; m * k], vec![1.0; k * n]);
    let mut c = vec![0.0; m * n];
    let need = gemm_scratch_len(m, n, k);
    assert!(need > 0);
    let mut scratch = vec![0.0; need];
    let r = gemm(
        false,
        false,
        m,
        n,
        k,
        &a,
        &b,
        0.0,
        &mut c,
        &mut scratch[..need - 1],
    );
    assert!(is_length_error(r));
    assert!(gemm(false, false, m, n, k, &a, &b, 0.0, &mut c, &mut scratch).is_ok());
    assert!(c.iter().all(|&v| v == k as f32));
}

#[test]
fn wrong_operand_lengths_are_errors() {
    let (m, n, k) = (3, 4, 5);
    let mut scratch = vec![0.0; gemm_scratch_len(m, n, k)];
    for (ta, tb) in TRANS {
        for (da, db, dc) in [
            (1, 0, 0),
            (-1, 0, 0),
            (0, 1, 0),
            (0, -1, 0),
            (0, 0, 1),
            (0, 0, -1),
        ] {
            let len = |base: usize, d: i32| (base as i32 + d) as usize;
            let a = vec![1.0; len(m * k, da)];
            let b = vec![1.0; len(k * n, db)];
            let mut c = vec![0.0; len(m * n, dc)];
            let r = gemm(ta, tb, m, n, k, &a, &b, 0.0, &mut c, &mut scratch);
            assert!(is_length_error(r), "gemm accepted lengths ({da},{db},{dc})");
            let r = gemm_reference(ta, tb, m, n, k, &a, &b, 0.0, &mut c);
            assert!(
                is_length_error(r),
                "reference accepted lengths ({da},{db},{dc})"
            );
        }
    }
    // Sizes whose product overflows usize are reported, not a panic.
    let r = gemm(
        false,
        false,
        usize::MAX,
        1,
        2,
        &[],
        &[0.0; 2],
        0.0,
        &mut [],
        &mut [],
    );
    assert!(is_length_error(r));
}

#[test]
fn scratch_len_is_small_for_small_and_capped_for_large() {
    assert_eq!(gemm_scratch_len(0, 5, 5), 0);
    assert_eq!(gemm_scratch_len(5, 0, 5), 0);
    assert_eq!(gemm_scratch_len(5, 5, 0), 0);
    // A small product needs about one copy of each operand, padded to the tile.
    let (m, n, k) = (5, 8, 16);
    let len = gemm_scratch_len(m, n, k);
    assert!(
        len >= m * k + k * n && len <= (m + 16) * k + k * (n + 16),
        "{len}"
    );
    // Large products need one cache block of each, no more.
    let big = gemm_scratch_len(100_000, 100_000, 100_000);
    assert_eq!(big, gemm_scratch_len(10_000, 10_000, 10_000));
    assert!(big <= (MC + 16) * KC + KC * (NC + 16));
}
