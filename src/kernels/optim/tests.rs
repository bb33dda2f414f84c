//! Tests of the optimizer kernels: every kernel on every path this machine supports against
//! its scalar twin, bit for bit, and their errors.
use super::lanes::TINY;
use super::*;
use crate::ErrorKind;
use crate::rng::Rng;

/// Lengths around the lane widths (8, 16) and their multiples, and one long odd one.
const LENS: [usize; 13] = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 129, 1001];

/// A kernel as the tests call it: `(path, k, params, grads, state)` runs it on `path` for
/// the `k`-th call, `state` holding its state slices one after the other.
type Kernel =
    Box<dyn Fn(KernelPath, u64, &mut [f32], &[f32], &mut [f32]) -> Result<()> + Send + Sync>;

/// Splits a state buffer into two slices of `n` (or fewer, to provoke length errors).
fn halves(n: usize, s: &mut [f32]) -> (&mut [f32], &mut [f32]) {
    s.split_at_mut(n.min(s.len()))
}

/// Every kernel variant as `(name, state floats per parameter, kernel)`; Adam and RAdam
/// take step `first_step + k` on the `k`-th call.
fn kernels(decay: DecayRates, first_step: u64) -> Vec<(&'static str, usize, Kernel)> {
    let sgd = SgdHyper { lr: 0.1, decay };
    let momentum = MomentumHyper {
        lr: 0.1,
        momentum: 0.9,
        nesterov: false,
        decay,
    };
    let nesterov = MomentumHyper {
        nesterov: true,
        ..momentum
    };
    let adagrad = AdagradHyper {
        lr: 0.1,
        eps: 1e-8,
        decay,
    };
    let rms = RmsPropHyper {
        lr: 0.01,
        rho: 0.99,
        eps: 1e-8,
        momentum: 0.0,
        decay,
    };
    let rms_momentum = RmsPropHyper {
        momentum: 0.9,
        ..rms
    };
    let adadelta = AdadeltaHyper {
        lr: 1.0,
        rho: 0.9,
        eps: 1e-6,
        decay,
    };
    let adam = move |k| AdamHyper {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: first_step + k,
        decay,
    };
    vec![
        (
            "sgd",
            0,
            Box::new(move |path, _, p, g, _| sgd_with(path, p, g, sgd)),
        ),
        (
            "momentum",
            1,
            Box::new(move |path, _, p, g, s| momentum_with(path, p, g, s, momentum)),
        ),
        (
            "nesterov",
            1,
            Box::new(move |path, _, p, g, s| momentum_with(path, p, g, s, nesterov)),
        ),
        (
            "adagrad",
            1,
            Box::new(move |path, _, p, g, s| adagrad_with(path, p, g, s, adagrad)),
        ),
        (
            "rmsprop",
            2,
            Box::new(move |path, _, p, g, s| {
                let (a, b) = halves(p.len(), s);
                rmsprop_with(path, p, g, a, b, rms)
            }),
        ),
        (
            "rmsprop+momentum",
            2,
            Box::new(move |path, _, p, g, s| {
                let (a, b) = halves(p.len(), s);
                rmsprop_with(path, p, g, a, b, rms_momentum)
            }),
        ),
        (
            "adadelta",
            2,
            Box::new(move |path, _, p, g, s| {
                let (a, b) = halves(p.len(), s);
                adadelta_with(path, p, g, a, b, adadelta)
            }),
        ),
        (
            "adam",
            2,
            Box::new(move |path, k, p, g, s| {
                let (m, v) = halves(p.len(), s);
                adam_with(path, p, g, m, v, adam(k), false)
            }),
        ),
        (
            "radam",
            2,
            Box::new(move |path, k, p, g, s| {
                let (m, v) = halves(p.len(), s);
                adam_with(path, p, g, m, v, adam(k), true)
            }),
        ),
    ]
}

/// No decay, L2, decoupled.
fn decays() -> [DecayRates; 3] {
    [(0.0, 0.0), (0.05, 0.0), (0.0, 0.05)].map(|(l2, decoupled)| DecayRates { l2, decoupled })
}

/// The fast paths this machine runs (a path it lacks would silently run the portable code,
/// so it is left out rather than tested twice).
fn fast_paths() -> Vec<KernelPath> {
    let mut paths = crate::kernels::dispatch::supported_paths();
    paths.retain(|&p| p != KernelPath::Scalar);
    paths
}

/// Whether `path` must match the scalar twin bit for bit: always, except the portable path
/// on targets where `wide` has no hardware square root (then within 1e-6 relative).
fn exact(path: KernelPath) -> bool {
    path != KernelPath::Portable
        || cfg!(any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64"
        ))
}

/// Same bits, or both NaN (which NaN payload survives an operation on two NaNs depends on
/// the operand order the compiler picks, not on the formula).
fn same(path: KernelPath, a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
        || (a.is_nan() && b.is_nan())
        || (!exact(path) && (a - b).abs() <= 1e-6 * a.abs().max(b.abs()))
}

/// Asserts that `fast` (parameters then state, after a step on `path`) equals the scalar
/// twin's `reference`.
fn assert_same(path: KernelPath, fast: (&[f32], &[f32]), reference: (&[f32], &[f32]), what: &str) {
    assert_eq!(fast.0.len(), reference.0.len(), "{what}");
    let f = fast.0.iter().chain(fast.1);
    let r = reference.0.iter().chain(reference.1);
    for (i, (a, b)) in f.zip(r).enumerate() {
        assert!(
            same(path, *a, *b),
            "{what} on {path}, element {i}: {a:e} ({:#010x}) vs scalar {b:e} ({:#010x})",
            a.to_bits(),
            b.to_bits()
        );
    }
}

/// Runs `path` and the scalar twin for 3 steps from the same random start on every length
/// in `LENS`, comparing parameters and state after each step.
fn compare(path: KernelPath, name: &str, state_per_param: usize, kernel: &Kernel) {
    let mut rng = Rng::new(7);
    for n in LENS {
        let params: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let (mut pf, mut pr) = (params.clone(), params.clone());
        let mut sf = vec![0.0; n * state_per_param];
        let mut sr = sf.clone();
        for k in 0..3 {
            let grads: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            kernel(path, k, &mut pf, &grads, &mut sf).unwrap();
            kernel(KernelPath::Scalar, k, &mut pr, &grads, &mut sr).unwrap();
            let what = format!("{name} n={n} step={k}");
            assert_same(path, (&pf, &sf), (&pr, &sr), &what);
        }
        // The kernels did something: every parameter stayed finite and nearly all moved
        // (a step from a gradient near zero can be below half an ulp of its parameter).
        assert!(pf.iter().all(|p| p.is_finite()), "{name} on {path} n={n}");
        let moved = pf.iter().zip(&params).filter(|(a, b)| a != b).count();
        assert!(
            moved * 20 >= n * 19,
            "{name} on {path} n={n}: {moved} moved"
        );
    }
}

#[test]
fn every_path_matches_the_scalar_twin_bit_for_bit() {
    for path in fast_paths() {
        for decay in decays() {
            // Adam steps 1..3 (RAdam unrectified) and 20..22 (rectified).
            for first_step in [1, 20] {
                for (name, state_per_param, kernel) in kernels(decay, first_step) {
                    compare(path, name, state_per_param, &kernel);
                }
            }
        }
    }
}

/// The values where paths could part: NaN and infinities (propagated, never turned into
/// numbers), signed zeros, values on both sides of [`TINY`] (flushed to `+0.0` or kept),
/// subnormals, and squares that overflow or underflow.
const SPECIAL: [f32; 18] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    0.0,
    -0.0,
    TINY,
    -TINY,
    0.99 * TINY,
    -0.99 * TINY,
    1.01 * TINY,
    1e-38,
    -1e-40,
    f32::MIN_POSITIVE,
    1e-20,
    1e30,
    f32::MAX,
    0.5,
    -2.0,
];

/// Special values in parameters, gradients and state, at every lane position and in the
/// tails, give the same bits (or NaN for NaN) on every path as in the scalar twin.
#[test]
fn special_values_match_the_scalar_twin() {
    let k = SPECIAL.len();
    // Parameters, gradients and each state slice cycle through the values with different
    // strides, so that (nearly) every combination meets in some element.
    let fill = |n: usize, stride: usize, offset: usize| -> Vec<f32> {
        (0..n).map(|i| SPECIAL[(i * stride + offset) % k]).collect()
    };
    let n = k * k + 5; // not a multiple of 8 or 16: a tail on every path
    for path in fast_paths() {
        for decay in decays() {
            for (name, per, kernel) in kernels(decay, 20) {
                let params = fill(n, 1, 0);
                let (mut pf, mut pr) = (params.clone(), params);
                let mut sf: Vec<f32> = (0..per).flat_map(|s| fill(n, 5 + 2 * s, 3 * s)).collect();
                // Adagrad's sum of squares and Adadelta's, Adam's and RMSProp's mean squares
                // are never negative in use; negative ones are still compared (NaN roots).
                let mut sr = sf.clone();
                for step in 0..2 {
                    let grads = fill(n, k + 1, step);
                    kernel(path, step as u64, &mut pf, &grads, &mut sf).unwrap();
                    kernel(KernelPath::Scalar, step as u64, &mut pr, &grads, &mut sr).unwrap();
                    let what = format!("{name} decay={decay:?} step={step}");
                    assert_same(path, (&pf, &sf), (&pr, &sr), &what);
                }
                // The values did reach the kernels: NaN and infinities propagated.
                assert!(pf.iter().any(|x| x.is_nan()), "{name}");
            }
        }
    }
}

/// The portable path finishes its tail with the scalar code; a flush with the `f32` lane
/// alone, by hand: tiny values become `+0.0`, `TINY` itself and NaN stay.
#[test]
fn flush_tiny_by_hand() {
    use super::lanes::Lane;
    let cases = [
        (0.99 * TINY, 0.0f32),
        (-0.99 * TINY, 0.0),
        (1e-38, 0.0),
        (-0.0, 0.0),
        (TINY, TINY),
        (-TINY, -TINY),
        (1.0, 1.0),
        (f32::INFINITY, f32::INFINITY),
    ];
    for (x, want) in cases {
        assert_eq!(x.flush_tiny().to_bits(), want.to_bits(), "{x:e}");
    }
    assert!(f32::NAN.flush_tiny().is_nan());
}

fn is_length(r: Result<()>, expected: usize, got: usize) -> bool {
    let e = r.err().map(|e| e.kind);
    matches!(e, Some(ErrorKind::LengthMismatch { expected: x, got: y, .. }) if (x, y) == (expected, got))
}

#[test]
fn length_mismatches_are_errors_and_write_nothing() {
    for (name, per, kernel) in kernels(DecayRates::default(), 1) {
        for path in KernelPath::ALL {
            let mut p = [1.0; 9];
            let mut state = vec![0.0; 9 * per];
            for grads in [&[0.5; 8][..], &[0.5; 10]] {
                let r = kernel(path, 0, &mut p, grads, &mut state);
                assert!(is_length(r, 9, grads.len()), "{name} {path}: gradients");
            }
            if per > 0 {
                for len in [9 * per - 1, 9 * per + 1] {
                    state.resize(len, 0.0);
                    let r = kernel(path, 0, &mut p, &[0.5; 9], &mut state);
                    let got = len - 9 * (per - 1); // the last slice is the odd one
                    assert!(is_length(r, 9, got), "{name} {path}: state of {len}");
                }
            }
            assert_eq!(p, [1.0; 9], "{name}");
            assert!(state.iter().all(|&s| s == 0.0), "{name}");
        }
    }
}

#[test]
fn adam_step_zero_is_an_error() {
    for (name, per, kernel) in kernels(DecayRates::default(), 0) {
        for path in KernelPath::ALL {
            let mut p = [1.0; 3];
            let r = kernel(path, 0, &mut p, &[0.5; 3], &mut vec![0.0; 3 * per]);
            assert_eq!(r.is_err(), name.contains("adam"), "{name} {path}");
        }
    }
}

/// Where gradients stop (a dead unit), decaying state must reach exactly zero without ever
/// being subnormal (see [`TINY`]): after one real step, 2,000 zero-gradient steps would take
/// Adam's first moment (0.9ⁿ) and momentum (0.9ⁿ) deep into the subnormal range unflushed.
#[test]
fn decaying_state_is_flushed_not_subnormal() {
    let subnormal = |x: f32| x != 0.0 && x.abs() < f32::MIN_POSITIVE;
    // 35: two 16-float lanes (four 8-float ones) and a tail of 3 on every path.
    let n = 35;
    for (name, per, kernel) in kernels(DecayRates::default(), 1) {
        // The state that decays by 0.9 a step and so must be gone after 2,000 (the slow
        // ones, 0.99ⁿ and 0.999ⁿ, are still normal numbers then).
        let gone = match name {
            "sgd" | "adagrad" | "rmsprop" => None,
            "rmsprop+momentum" => Some(1),
            _ => Some(0),
        };
        for path in crate::kernels::dispatch::supported_paths() {
            let mut p = vec![0.5f32; n];
            let mut s = vec![0.0f32; n * per];
            kernel(path, 0, &mut p, &[1e-3; 35], &mut s).unwrap();
            let mut seen_small = false;
            for k in 1..2000 {
                kernel(path, k, &mut p, &[0.0; 35], &mut s).unwrap();
                assert!(!s.iter().any(|&x| subnormal(x)), "{name} {path} step {k}");
                seen_small |= s.iter().any(|&x| x != 0.0 && x.abs() < TINY);
            }
            assert!(
                !seen_small,
                "{name} {path}: state between 0 and TINY was kept"
            );
            if let Some(half) = gone {
                let state = &s[half * n..(half + 1) * n];
                assert!(state.iter().all(|&x| x == 0.0), "{name} {path}: {state:?}");
            }
        }
    }
}

/// With `rayon`, updates long enough to split give the same bits on every pool size as
/// the scalar twin on one thread (the parts are cut at multiples of the widest lane, and
/// each element is updated exactly once).
#[cfg(feature = "rayon")]
#[test]
fn every_thread_count_gives_the_same_bits() {
    let n = 3 * drive::PAR_MIN + 37;
    let mut rng = Rng::new(11);
    let params: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let grads: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    for (name, per, kernel) in kernels(
        DecayRates {
            l2: 0.01,
            decoupled: 0.0,
        },
        20,
    ) {
        let mut pr = params.clone();
        let mut sr = vec![0.25; n * per];
        kernel(KernelPath::Scalar, 0, &mut pr, &grads, &mut sr).unwrap();
        for threads in [1, 2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for path in fast_paths() {
                let mut pf = params.clone();
                let mut sf = vec![0.25; n * per];
                pool.install(|| kernel(path, 0, &mut pf, &grads, &mut sf))
                    .unwrap();
                let what = format!("{name} with {threads} threads");
                assert_same(path, (&pf, &sf), (&pr, &sr), &what);
            }
        }
    }
}

/// Adam written out plainly, one float at a time, with every moment term computed (no
/// gradient left out): what `adam_update` must equal bit for bit.
fn plain_adam(p: f32, g: f32, m: f32, v: f32, h: &AdamHyper) -> [f32; 3] {
    let t = h.step as f64;
    let m_scale = (f64::from(h.lr) / (1.0 - libm::pow(f64::from(h.beta1), t))) as f32;
    let v_scale = (1.0 / (1.0 - libm::pow(f64::from(h.beta2), t))) as f32;
    let flush = |x: f32| if x.abs() < TINY { 0.0 } else { x };
    let g = g + 0.0 * p;
    let m = flush(h.beta1 * m + (1.0 - h.beta1) * g);
    let v = flush(h.beta2 * v + (1.0 - h.beta2) * g * g);
    let step = m_scale * m / ((v * v_scale).sqrt() + h.eps);
    [p * 1.0 - step, m, v]
}

#[test]
fn adam_leaves_out_only_moment_terms_that_cannot_change_the_moments() {
    // Gradients around the magnitudes below which (1 - beta1)·g or (1 - beta2)·g² would be
    // subnormal (subnormal ones too), against moments around the flush threshold TINY.
    let mags = [
        0.0, 1e-45, 1e-40, 1.1e-38, 1e-37, 1.9e-37, 2e-37, 2.1e-37, 1e-36, 1e-25, 1e-20, 1.3e-19,
        1.414e-19, 1.42e-19, 1.5e-19, 1e-18, 1e-10, 0.5,
    ];
    let moments = [
        0.0,
        TINY,
        TINY * 1.0000001,
        1.02e-30,
        1.2e-30,
        2e-30,
        1e-20,
        1e-3,
    ];
    let (mut p, mut g, mut m, mut v) = (vec![], vec![], vec![], vec![]);
    for (i, &mag) in mags.iter().enumerate() {
        for (j, &mi) in moments.iter().enumerate() {
            for &vi in &moments {
                p.push(0.25);
                g.push(if (i + j) % 2 == 0 { mag } else { -mag });
                m.push(if j % 3 == 0 { -mi } else { mi });
                v.push(vi);
            }
        }
    }
    for (beta1, beta2) in [(0.9, 0.999), (0.5, 0.9), (0.0, 0.0), (0.9, 1.0)] {
        let h = AdamHyper {
            lr: 1e-3,
            beta1,
            beta2,
            eps: 1e-8,
            step: 3,
            decay: DecayRates::default(),
        };
        let want: Vec<[f32; 3]> = (0..p.len())
            .map(|e| plain_adam(p[e], g[e], m[e], v[e], &h))
            .collect();
        for path in crate::kernels::dispatch::supported_paths() {
            let (mut p2, mut m2, mut v2) = (p.clone(), m.clone(), v.clone());
            adam_with(path, &mut p2, &g, &mut m2, &mut v2, h, false).unwrap();
            for (e, w) in want.iter().enumerate() {
                let got = [p2[e], m2[e], v2[e]];
                assert!(
                    got.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{path} betas ({beta1}, {beta2}), g {} m {} v {}: {got:?} != {w:?}",
                    g[e],
                    m[e],
                    v[e]
                );
            }
        }
    }
}
