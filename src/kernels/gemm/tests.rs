//! `gemm` against `gemm_reference`, against an independent f64 product, and hand values,
//! on every kernel path the host supports.

use super::*;
use crate::error::ErrorKind;
use crate::rng::Rng;

use crate::kernels::dispatch::supported_paths as paths;

/// The largest block sizes among the compiled-in kernels, to cross every kernel's blocks.
fn largest_blocks() -> (usize, usize, usize) {
    let (mut mc, mut kc, mut nc) = (Portable::MC, Portable::KC, Portable::NC);
    #[cfg(target_arch = "x86_64")]
    {
        mc = mc.max(avx2::Avx2::MC).max(avx512::Avx512::MC);
        kc = kc.max(avx2::Avx2::KC).max(avx512::Avx512::KC);
        nc = nc.max(avx2::Avx2::NC).max(avx512::Avx512::NC);
    }
    (mc, kc, nc)
}

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
#[allow(clippy::too_many_arguments)]
fn check_case(
    path: KernelPath,
    rng: &mut Rng,
    (ta, tb): (bool, bool),
    m: usize,
    n: usize,
    k: usize,
    beta: f32,
) {
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
    gemm_with(path, ta, tb, m, n, k, &a, &b, beta, &mut fast, &mut scratch).unwrap();
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
            "{path}: ta={ta} tb={tb} m={m} n={n} k={k} beta={beta} at {idx}: gemm {f}, reference {s}"
        );
    }
    if path == KernelPath::Scalar {
        // The scalar path *is* the reference loop.
        let same = fast
            .iter()
            .zip(&slow)
            .all(|(f, s)| f.to_bits() == s.to_bits());
        assert!(same, "scalar path differs from gemm_reference");
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
            for path in paths() {
                let mut c = [1.0, 2.0, 3.0, 4.0];
                let mut scratch = vec![0.0; gemm_scratch_len(2, 2, 3)];
                gemm_with(path, ta, tb, 2, 2, 3, aa, bb, beta, &mut c, &mut scratch).unwrap();
                assert_eq!(c, want, "{path} ta={ta} tb={tb} beta={beta}");
            }
            let mut c = [1.0, 2.0, 3.0, 4.0];
            gemm_reference(ta, tb, 2, 2, 3, aa, bb, beta, &mut c).unwrap();
            assert_eq!(c, want, "reference ta={ta} tb={tb} beta={beta}");
        }
    }
}

#[test]
fn matches_reference_on_edge_sizes() {
    // 0, 1, the unpacked m <= 3 path, and one either side of every lane count and tile size
    // (8, 16, 32), for every transpose and every path. The full cube with beta = 0 (C is NaN
    // on entry); beta = 1 and 0.5 on the sizes up to 17, to keep debug-mode tests quick (the
    // larger tests below use those betas too).
    const DIMS: [usize; 13] = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33];
    for path in paths() {
        let mut rng = Rng::new(1);
        for trans in TRANS {
            for m in DIMS {
                for n in DIMS {
                    for k in DIMS {
                        check_case(path, &mut rng, trans, m, n, k, 0.0);
                        if m.max(n).max(k) <= 17 {
                            check_case(path, &mut rng, trans, m, n, k, 1.0);
                            check_case(path, &mut rng, trans, m, n, k, 0.5);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn matches_reference_on_odd_sizes() {
    // Odd sizes past the tiles (1, 3, 7, 17, 33, 129), with every beta.
    const ODD: [usize; 6] = [1, 3, 7, 17, 33, 129];
    for path in paths() {
        let mut rng = Rng::new(5);
        for trans in TRANS {
            for m in ODD {
                for n in ODD {
                    for k in ODD {
                        if m.min(n).min(k) < 33 && m.max(n).max(k) == 129 {
                            // Keep each 129 case to one beta, cycling through them.
                            let beta = [0.0, 1.0, 0.5][(m + n + k) % 3];
                            check_case(path, &mut rng, trans, m, n, k, beta);
                        } else {
                            for beta in [0.0, 1.0, 0.5] {
                                check_case(path, &mut rng, trans, m, n, k, beta);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn matches_reference_across_cache_blocks() {
    // Each dimension crosses its block size (MC, KC, NC of the largest kernel) with a ragged
    // remainder, so every loop of the nest runs more than once and the kc-slice
    // accumulation (beta -> 1) is used.
    let (mc, kc, nc) = largest_blocks();
    for path in paths().into_iter().filter(|&p| p != KernelPath::Scalar) {
        let mut rng = Rng::new(2);
        for trans in TRANS {
            check_case(path, &mut rng, trans, mc * 2 + 5, 40, kc * 2 + 3, 0.5);
            check_case(path, &mut rng, trans, 13, nc + 11, kc + 1, 0.0);
        }
    }
}

#[test]
fn matches_reference_on_mlp_shapes() {
    // The shapes of a 784-400-100-10 MLP with batch 128: forward, weight gradient, input
    // gradient, as the dense layer calls them.
    for path in paths().into_iter().filter(|&p| p != KernelPath::Scalar) {
        let mut rng = Rng::new(3);
        for (i, o) in [(784, 400), (400, 100), (100, 10)] {
            check_case(path, &mut rng, (false, false), 128, o, i, 0.0);
            check_case(path, &mut rng, (true, false), i, o, 128, 0.0);
            check_case(path, &mut rng, (false, true), 128, i, o, 0.0);
        }
        check_case(path, &mut rng, (true, true), 128, 100, 400, 1.0);
    }
}

#[test]
fn few_rows_need_no_scratch() {
    // m <= 3 is computed without packing (batch-1 inference): it needs no scratch at all.
    let mut rng = Rng::new(4);
    for m in 1..=3 {
        assert_eq!(gemm_scratch_len(m, 400, 784), 0);
        for trans in TRANS {
            let path = KernelPath::Portable; // every non-scalar path shares this code
            check_case(path, &mut rng, trans, m, 400, 784, 0.0);
            check_case(path, &mut rng, trans, m, 77, 45, 0.5);
            // Wider than two column blocks of the unpacked path, with a ragged end.
            check_case(path, &mut rng, trans, m, 1100, 20, 1.0);
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
    let need = scratch_len(m, n, k, false);
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
    // Large products need one cache block of each (per thread with rayon), no more.
    let big = scratch_len(100_000, 100_000, 100_000, false);
    assert_eq!(big, scratch_len(10_000, 10_000, 10_000, false));
    let (mc, kc, nc) = largest_blocks();
    assert!(big <= (mc + 32) * kc + kc * (nc + 32), "{big}");
    // The memory plan is never smaller than what one thread needs.
    for (m, n, k) in [(4, 5, 6), (128, 400, 784), (784, 400, 128), (5000, 3, 7000)] {
        assert!(gemm_scratch_len(m, n, k) >= scratch_len(m, n, k, false));
    }
}

#[test]
fn packed_path_on_exact_values() {
    // Small integers make every partial sum exact, so every path must give exactly the
    // hand-derived value: op(A)[i][p] = i + 1, op(B)[p][j] = j + 1 (for every p), so
    // C[i][j] = k·(i+1)·(j+1) + 0.5·C0[i][j] with C0[i][j] = 2.
    let (m, n, k) = (13, 37, 300);
    let a: Vec<f32> = (0..m * k).map(|x| (x / k + 1) as f32).collect(); // m×k, row i = i+1
    let b: Vec<f32> = (0..k * n).map(|x| (x % n + 1) as f32).collect(); // k×n, column j = j+1
    for path in paths() {
        let mut c = vec![2.0; m * n];
        let mut scratch = vec![f32::NAN; gemm_scratch_len(m, n, k)];
        gemm_with(
            path,
            false,
            false,
            m,
            n,
            k,
            &a,
            &b,
            0.5,
            &mut c,
            &mut scratch,
        )
        .unwrap();
        for (idx, &v) in c.iter().enumerate() {
            let (i, j) = (idx / n, idx % n);
            let want = (k * (i + 1) * (j + 1)) as f32 + 1.0;
            assert_eq!(v, want, "{path} at ({i},{j})");
        }
    }
}

#[test]
fn every_simd_path_is_used_when_forced() {
    // gemm_with must really run the path it is given: the AVX paths use FMA, the scalar
    // reference does not, so on a product whose rounding differs between the two they must
    // disagree somewhere, while each agrees with itself on a second run.
    let (m, n, k) = (40, 40, 300);
    let mut rng = Rng::new(9);
    let a = random(&mut rng, m * k);
    let b = random(&mut rng, k * n);
    let run = |path| {
        let mut c = vec![0.0; m * n];
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
            &mut c,
            &mut scratch,
        )
        .unwrap();
        c
    };
    let scalar = run(KernelPath::Scalar);
    for path in paths() {
        let c = run(path);
        assert_eq!(c, run(path), "{path} is not deterministic");
        if matches!(path, KernelPath::Avx2 | KernelPath::Avx512) {
            assert_ne!(c, scalar, "{path} gave the scalar loop's exact bits");
        }
    }
}

/// Bit patterns, to compare results exactly (NaN-safe).
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[cfg(feature = "rayon")]
#[test]
fn threads_give_bit_identical_results() {
    // Pools of 1, 2 and 3 threads, and the one-thread scratch (serial loop): same bits, for
    // every path, transpose and a ragged size that splits into uneven row blocks.
    // All are large enough to be split (2·m·n·k >= 2^21) yet quick in debug builds; (96,
    // 130, 200) splits into few row blocks, (301, 57, 300) into ragged ones, and (50, 70,
    // 1100) has five depth slices: a group of four and a group of one.
    let shapes = [
        (96, 130, 200),
        (301, 57, 300),
        (50, 70, 1100),
        (784, 40, 128),
    ];
    let split_before = parallel::SPLIT_CALLS.load(core::sync::atomic::Ordering::Relaxed);
    for path in paths().into_iter().filter(|&p| p != KernelPath::Scalar) {
        let mut rng = Rng::new(6);
        for (ta, tb) in TRANS {
            for &(m, n, k) in &shapes {
                let a = random(&mut rng, m * k);
                let b = random(&mut rng, k * n);
                let c0 = random(&mut rng, m * n);
                let run = |threads: usize, serial: bool| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    pool.install(|| {
                        let len = if serial {
                            scratch_len(m, n, k, false)
                        } else {
                            gemm_scratch_len(m, n, k)
                        };
                        let mut c = c0.clone();
                        let mut scratch = vec![0.0; len];
                        gemm_with(path, ta, tb, m, n, k, &a, &b, 0.5, &mut c, &mut scratch)
                            .unwrap();
                        bits(&c)
                    })
                };
                let serial = run(1, true);
                for threads in [1, 2, 3] {
                    assert!(
                        run(threads, false) == serial,
                        "{path} ta={ta} tb={tb} {m}x{n}x{k}: {threads} threads differ from serial"
                    );
                }
                // Scratch planned for 3 threads, run on 2, and the reverse.
                let mut c = c0.clone();
                let mut scratch = vec![0.0; run_len(3, m, n, k)];
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap();
                pool.install(|| {
                    gemm_with(path, ta, tb, m, n, k, &a, &b, 0.5, &mut c, &mut scratch)
                })
                .unwrap();
                assert!(
                    bits(&c) == serial,
                    "{path}: 3-thread plan on 2 threads differs"
                );
                let mut c = c0.clone();
                let mut scratch = vec![0.0; run_len(2, m, n, k)];
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(3)
                    .build()
                    .unwrap();
                pool.install(|| {
                    gemm_with(path, ta, tb, m, n, k, &a, &b, 0.5, &mut c, &mut scratch)
                })
                .unwrap();
                assert!(
                    bits(&c) == serial,
                    "{path}: 2-thread plan on 3 threads differs"
                );
                // Every scratch length between the one-thread need and a 3-thread plan: fewer
                // workers and smaller groups of depth slices, same bits.
                let (lo, hi) = (scratch_len(m, n, k, false), run_len(3, m, n, k));
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(3)
                    .build()
                    .unwrap();
                for step in 0..=3 {
                    let mut c = c0.clone();
                    let mut scratch = vec![0.0; lo + (hi - lo) * step / 3];
                    pool.install(|| {
                        gemm_with(path, ta, tb, m, n, k, &a, &b, 0.5, &mut c, &mut scratch)
                    })
                    .unwrap();
                    assert!(bits(&c) == serial, "{path}: scratch step {step} differs");
                }
            }
        }
    }
    // The loop above did split products across threads (at least one per shape and path).
    let splits = parallel::SPLIT_CALLS.load(core::sync::atomic::Ordering::Relaxed) - split_before;
    assert!(splits >= 4, "only {splits} products were split");
}

/// `gemm_scratch_len` as a pool of `threads` threads would plan it.
#[cfg(feature = "rayon")]
fn run_len(threads: usize, m: usize, n: usize, k: usize) -> usize {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| gemm_scratch_len(m, n, k))
}

#[cfg(feature = "rayon")]
#[test]
fn scratch_grows_with_the_pool_only_for_large_products() {
    let (one, three) = (run_len(1, 512, 512, 512), run_len(3, 512, 512, 512));
    assert_eq!(one, scratch_len(512, 512, 512, false));
    assert!(three > one, "{three} <= {one}");
    // Too small to split: no extra scratch whatever the pool.
    assert_eq!(run_len(3, 8, 8, 8), scratch_len(8, 8, 8, false));
}

#[test]
fn narrow_products_are_computed_transposed() {
    // The MLP's last layer (C is 128×10, and 100×10 for its weight gradient) is cheaper as
    // Cᵀ; wide or large products are not transposed. Correctness of the transposed path is
    // covered by the reference comparisons above (e.g. the MLP shapes and every n < 8 case).
    assert!(nest::swap_pays::<Portable>(128, 4, 100));
    assert!(!nest::swap_pays::<Portable>(128, 400, 784));
    #[cfg(target_arch = "x86_64")]
    {
        assert!(nest::swap_pays::<avx512::Avx512>(128, 10, 100));
        assert!(nest::swap_pays::<avx512::Avx512>(100, 10, 128));
        assert!(!nest::swap_pays::<avx512::Avx512>(128, 400, 784));
        assert!(!nest::swap_pays::<avx512::Avx512>(10, 128, 100));
    }
}

/// An element of `C` rounds the same whether its tile is full, a right or bottom edge, or
/// narrow enough for a kernel's half-width variant: column `j` of a product is bit-identical
/// to column `j` of the same product with more columns (and row `i` with more rows).
#[test]
fn edge_tiles_round_like_full_tiles() {
    let mut rng = Rng::new(12);
    let k = 37;
    let (m, n) = (29, 80);
    let a = random(&mut rng, m * k);
    let b = random(&mut rng, k * n);
    for path in paths().into_iter().filter(|&p| p != KernelPath::Scalar) {
        let product = |rows: usize, cols: usize| {
            let b_cols: Vec<f32> = b
                .chunks_exact(n)
                .flat_map(|r| &r[..cols])
                .copied()
                .collect();
            let mut c = vec![0.0; rows * cols];
            let mut scratch = vec![0.0; gemm_scratch_len(rows, cols, k)];
            let a_rows = &a[..rows * k];
            gemm_with(
                path,
                false,
                false,
                rows,
                cols,
                k,
                a_rows,
                &b_cols,
                0.0,
                &mut c,
                &mut scratch,
            )
            .unwrap();
            c
        };
        let full = product(m, n);
        for (rows, cols) in [
            (m, 1),
            (m, 4),
            (m, 16),
            (m, 17),
            (m, 36),
            (m, 48),
            (5, n),
            (13, 20),
            // Bottom edges of 4 and 8 rows, computed as 4- and 8-row tiles on AVX-512,
            // with full, half and quarter widths.
            (4, 4),
            (4, 17),
            (8, n),
            (16, 33),
            (28, 3),
            (20, n),
        ] {
            let part = product(rows, cols);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(
                        part[i * cols + j].to_bits(),
                        full[i * n + j].to_bits(),
                        "{path:?}: ({i}, {j}) of a {rows}×{cols} product",
                    );
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn panel_sparse_products_give_the_dense_bits() {
    // One depth slice (k <= every KC), so leaving out a step only leaves out `+0` terms: the
    // panel-sparse products behind `gemm_skip_zeros` must then give exactly the dense bits.
    // A's zeros come per 12-row panel (and per row), so whole panels skip different steps.
    // `x·W` runs 12 × 32 tiles, `xᵀ·∂y` 8 × 48 ones on AVX-512: the shapes leave bottom edges
    // of 4, 5 and 8 rows for either, and right edges of 2, 4, 8, 16, 18 and 32 columns.
    let mut rng = Rng::new(21);
    for (m, n) in [(40, 50), (45, 80), (44, 100), (29, 40), (20, 64)] {
        let k = 100;
        let mut a = random(&mut rng, m * k); // op(A) = m × k, stored m × k
        for i in 0..m {
            for p in 0..k {
                let panel_zero = (p * 7 + i / 12 * 3) % 5 < 2;
                if panel_zero || rng.below(4) == 0 {
                    a[i * k + p] = 0.0;
                }
            }
        }
        let a_t: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect(); // k × m
        let b = random(&mut rng, k * n);
        let all: Vec<f32> = (0..k as u32).map(f32::from_bits).collect();
        let rows: Vec<f32> = (0..m as u32).map(f32::from_bits).collect();
        for path in paths().into_iter().filter(|&p| p != KernelPath::Scalar) {
            let mut want = vec![0.0; m * n];
            let mut scratch = vec![0.0; sparse_scratch_len(m, n, k)];
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
            let in_place = || panels::IN_PLACE_BLOCKS.load(core::sync::atomic::Ordering::Relaxed);
            let sparse = || panels::SPARSE_BLOCKS.load(core::sync::atomic::Ordering::Relaxed);
            let before = in_place();
            let mut got = vec![f32::NAN; m * n];
            gemm_depths(path, (m, n, k), &a, &b, &all, &mut got, &mut scratch);
            assert_eq!(bits(&got), bits(&want), "{path} {m}×{n}: x·W");
            // (A product that computes `Cᵀ` instead is always dense.)
            if path == KernelPath::Avx512 && !nest::swap_pays::<avx512::Avx512>(m, n, k) {
                assert!(in_place() > before, "{m}×{n}: x·W must read B in place");
            }
            let before = sparse();
            let mut got = vec![f32::NAN; m * n];
            gemm_rows(path, (n, k, m), &a_t, &rows, &b, &mut got, &mut scratch);
            assert_eq!(bits(&got), bits(&want), "{path} {m}×{n}: xᵀ·∂y");
            if path == KernelPath::Avx512 && !nest::swap_pays::<avx512::Avx512Narrow>(m, n, k) {
                assert!(sparse() > before, "{m}×{n}: xᵀ·∂y must run panel-sparse");
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn reading_b_in_place_gives_the_bits_of_packing_it() {
    // `x·W` through a depth list that skips rows of B, over two or three depth
    // slices (k = 200 and 300 kept steps against KC = 128), with bottom edges of 5 and 8 rows
    // and right edges of 4, 16 and 18 columns: reading B in place must give the bits of the
    // loop that packs the listed rows (same slices, same kept steps per panel).
    let Some(kern) = avx512::Avx512::new() else {
        return;
    };
    let mut rng = Rng::new(22);
    for (m, n, k) in [(45, 100, 200), (128, 400, 300), (40, 50, 200)] {
        // Rows of W left out one in seven and one in five: runs of 1 to 6 listed rows, so the
        // A packing meets both its 4-step transposes and its single steps.
        let stored = k * 3 / 2; // rows of W
        let depths: Vec<f32> = (0..stored as u32)
            .filter(|r| r % 7 != 1 && r % 5 != 3)
            .take(k)
            .map(f32::from_bits)
            .collect();
        assert_eq!(depths.len(), k);
        let mut a = random(&mut rng, m * stored);
        for (x, v) in a.iter_mut().enumerate() {
            if (x % stored * 7 + x / stored / 12 * 3) % 5 < 2 || rng.below(4) == 0 {
                *v = 0.0;
            }
        }
        let w = random(&mut rng, stored * n);
        let a_src = pack::Src::DepthAdjacentAt {
            data: &a,
            ld: stored,
            depths: &depths,
        };
        let b_src = pack::Src::RowsAdjacentAt {
            data: &w,
            ld: n,
            depths: &depths,
        };
        let mut scratch = vec![0.0; sparse_scratch_len(m, n, k)];
        let mut packed = vec![f32::NAN; m * n];
        let (b_pack, a_pack) = scratch.split_at_mut(nest::b_pack_len::<avx512::Avx512>(n, k));
        nest::serial::<_, Sparse>(
            &kern,
            (m, n, k),
            a_src,
            b_src,
            0.0,
            &mut packed,
            (n, 1),
            b_pack,
            a_pack,
        );
        // The product itself, summed plainly: the packing must pick the listed columns.
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (depths.iter().map(|r| r.to_bits() as usize))
                    .map(|r| a[i * stored + r] * w[r * n + j])
                    .sum();
                let got = packed[i * n + j];
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{m}×{n}×{k}: ({i}, {j})"
                );
            }
        }
        // The scratch is planned inside the pool, as a network's memory plan is.
        let product = || {
            let mut got = vec![f32::NAN; m * n];
            let mut scratch = vec![0.0; sparse_scratch_len(m, n, k)];
            let (dims, path) = ((m, n, stored), KernelPath::Avx512);
            gemm_depths(path, dims, &a, &w, &depths, &mut got, &mut scratch);
            got
        };
        let run = |threads: usize| {
            let before = panels::IN_PLACE_BLOCKS.load(core::sync::atomic::Ordering::Relaxed);
            #[cfg(feature = "rayon")]
            let got = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(product);
            #[cfg(not(feature = "rayon"))]
            let got = {
                let _ = threads;
                product()
            };
            let after = panels::IN_PLACE_BLOCKS.load(core::sync::atomic::Ordering::Relaxed);
            assert!(after > before, "{m}×{n}×{k}: B must be read in place");
            got
        };
        for threads in [1, 2, 3] {
            let same = bits(&run(threads)) == bits(&packed);
            assert!(
                same,
                "{m}×{n}×{k}, {threads} threads: not the packed loop's bits"
            );
        }
    }
}

#[test]
fn scattered_rows_give_the_bits_of_rows_computed_in_front_and_moved() {
    // 150 rows of ∂W of which 100 are nonzero, in runs of two (more than one row block on
    // every kernel); with room for the scattered copy each block goes straight to its rows,
    // with only the one-thread minimum the rows are computed in front and moved down.
    // Both must give the same bits, zero rows included, over a C full of NaN.
    let mut rng = Rng::new(33);
    let (lda, n, k) = (150, 50, 64);
    let picked: Vec<usize> = (0..lda).filter(|i| i % 3 != 1).collect();
    let mut a = random(&mut rng, k * lda); // k × lda
    for p in 0..k {
        for i in (1..lda).step_by(3) {
            a[p * lda + i] = 0.0;
        }
    }
    let b = random(&mut rng, k * n);
    let rows: Vec<f32> = picked.iter().map(|&i| f32::from_bits(i as u32)).collect();
    let m = rows.len();
    let mut want = vec![0.0; lda * n];
    gemm_reference(true, false, lda, n, k, &a, &b, 0.0, &mut want).unwrap();
    let count = || scatter::SCATTERED.load(core::sync::atomic::Ordering::Relaxed);
    for path in paths().into_iter().filter(|&p| p != KernelPath::Scalar) {
        let mut scattered = vec![f32::NAN; lda * n];
        let before = count();
        let mut scratch = vec![0.0; sparse_scratch_len(m, n, k)];
        gemm_rows(
            path,
            (n, k, lda),
            &a,
            &rows,
            &b,
            &mut scattered,
            &mut scratch,
        );
        assert!(count() > before, "{path}: room for blocks must scatter");
        let mut moved = vec![f32::NAN; lda * n];
        let before = count();
        let mut scratch = vec![0.0; scratch_len(m, n, k, false)];
        gemm_rows(path, (n, k, lda), &a, &rows, &b, &mut moved, &mut scratch);
        assert_eq!(
            count(),
            before,
            "{path}: the one-thread minimum must move rows"
        );
        assert_eq!(bits(&scattered), bits(&moved), "{path}");
        for (i, (got, want)) in scattered.chunks(n).zip(want.chunks(n)).enumerate() {
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                    "{path}: row {i}: {g} vs {w}"
                );
            }
        }
    }
}
