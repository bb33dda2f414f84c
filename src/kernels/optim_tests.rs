//! Tests of the optimizer kernels: every fast kernel against its scalar twin, and against
//! hand-computed steps.
use super::*;
use crate::ErrorKind;
use crate::rng::Rng;

const LENS: [usize; 9] = [0, 1, 3, 7, 8, 9, 17, 33, 129];

/// A kernel as the tests call it: `(fast, k, params, grads, state)` runs the fast or the
/// reference version for the `k`-th call, `state` holding its state slices one after the
/// other.
type Kernel = Box<dyn Fn(bool, u64, &mut [f32], &[f32], &mut [f32]) -> Result<()>>;

/// Splits a state buffer into two slices of `n` (or fewer, to provoke length errors).
fn halves(n: usize, s: &mut [f32]) -> (&mut [f32], &mut [f32]) {
    s.split_at_mut(n.min(s.len()))
}

/// Every kernel variant as `(name, state floats per parameter, kernel)`; Adam and RAdam
/// take step `first_step + k` on the `k`-th call. The fast side calls the `wide` code
/// directly, so that `NANONN_KERNEL=scalar` does not make it reference vs reference.
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
            Box::new(move |fast, _, p, g, _| {
                if fast {
                    super::sgd::<true>(p, g, sgd)
                } else {
                    super::sgd::<false>(p, g, sgd)
                }
            }),
        ),
        (
            "momentum",
            1,
            Box::new(move |fast, _, p, g, s| {
                let f = if fast {
                    super::momentum::<true>
                } else {
                    super::momentum::<false>
                };
                f(p, g, s, momentum)
            }),
        ),
        (
            "nesterov",
            1,
            Box::new(move |fast, _, p, g, s| {
                let f = if fast {
                    super::momentum::<true>
                } else {
                    super::momentum::<false>
                };
                f(p, g, s, nesterov)
            }),
        ),
        (
            "adagrad",
            1,
            Box::new(move |fast, _, p, g, s| {
                let f = if fast {
                    super::adagrad::<true>
                } else {
                    super::adagrad::<false>
                };
                f(p, g, s, adagrad)
            }),
        ),
        (
            "rmsprop",
            2,
            Box::new(move |fast, _, p, g, s| {
                let f = if fast {
                    super::rmsprop::<true>
                } else {
                    super::rmsprop::<false>
                };
                let (a, b) = halves(p.len(), s);
                f(p, g, a, b, rms)
            }),
        ),
        (
            "rmsprop+momentum",
            2,
            Box::new(move |fast, _, p, g, s| {
                let f = if fast {
                    super::rmsprop::<true>
                } else {
                    super::rmsprop::<false>
                };
                let (a, b) = halves(p.len(), s);
                f(p, g, a, b, rms_momentum)
            }),
        ),
        (
            "adadelta",
            2,
            Box::new(move |fast, _, p, g, s| {
                let f = if fast {
                    super::adadelta::<true>
                } else {
                    super::adadelta::<false>
                };
                let (a, b) = halves(p.len(), s);
                f(p, g, a, b, adadelta)
            }),
        ),
        (
            "adam",
            2,
            Box::new(move |fast, k, p, g, s| {
                let f = if fast {
                    super::adam::<true>
                } else {
                    super::adam::<false>
                };
                let (m, v) = halves(p.len(), s);
                f(p, g, m, v, adam(k), false)
            }),
        ),
        (
            "radam",
            2,
            Box::new(move |fast, k, p, g, s| {
                let f = if fast {
                    super::adam::<true>
                } else {
                    super::adam::<false>
                };
                let (m, v) = halves(p.len(), s);
                f(p, g, m, v, adam(k), true)
            }),
        ),
    ]
}

/// No decay, L2, decoupled.
fn decays() -> [DecayRates; 3] {
    [(0.0, 0.0), (0.05, 0.0), (0.0, 0.05)].map(|(l2, decoupled)| DecayRates { l2, decoupled })
}

fn close(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

/// Runs the fast and the reference version for 3 steps from the same random start on
/// every length in `LENS`, comparing parameters and state after each step.
fn compare(name: &str, state_per_param: usize, kernel: &Kernel) {
    let mut rng = Rng::new(7);
    for n in LENS {
        let params: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let (mut pf, mut pr) = (params.clone(), params.clone());
        let mut sf = vec![0.0; n * state_per_param];
        let mut sr = sf.clone();
        for k in 0..3 {
            let grads: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            kernel(true, k, &mut pf, &grads, &mut sf).unwrap();
            kernel(false, k, &mut pr, &grads, &mut sr).unwrap();
            for (i, (a, b)) in pf.iter().zip(&pr).chain(sf.iter().zip(&sr)).enumerate() {
                assert!(close(*a, *b), "{name} n={n} step={k} i={i}: {a} vs {b}");
            }
        }
        // The kernels did something: every parameter moved and stayed finite.
        for (now, before) in pf.iter().zip(&params) {
            assert!(
                now.is_finite() && now != before,
                "{name} n={n}: {before} -> {now}"
            );
        }
    }
}

#[test]
fn fast_matches_reference() {
    for decay in decays() {
        // Adam steps 1..3 (RAdam unrectified) and 20..22 (rectified).
        for first_step in [1, 20] {
            for (name, state_per_param, kernel) in kernels(decay, first_step) {
                compare(name, state_per_param, &kernel);
            }
        }
    }
}

fn is_length(r: Result<()>, expected: usize, got: usize) -> bool {
    let e = r.err().map(|e| e.kind);
    matches!(e, Some(ErrorKind::LengthMismatch { expected: x, got: y, .. }) if (x, y) == (expected, got))
}

#[test]
fn length_mismatches_are_errors_and_write_nothing() {
    for (name, per, kernel) in kernels(DecayRates::default(), 1) {
        for fast in [true, false] {
            let mut p = [1.0; 9];
            let mut state = vec![0.0; 9 * per];
            for grads in [&[0.5; 8][..], &[0.5; 10]] {
                let r = kernel(fast, 0, &mut p, grads, &mut state);
                assert!(is_length(r, 9, grads.len()), "{name} {fast}: gradients");
            }
            if per > 0 {
                for len in [9 * per - 1, 9 * per + 1] {
                    state.resize(len, 0.0);
                    let r = kernel(fast, 0, &mut p, &[0.5; 9], &mut state);
                    let got = len - 9 * (per - 1); // the last slice is the odd one
                    assert!(is_length(r, 9, got), "{name} {fast}: state of {len}");
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
        let mut p = [1.0; 3];
        let r = kernel(true, 0, &mut p, &[0.5; 3], &mut vec![0.0; 3 * per]);
        assert_eq!(r.is_err(), name.contains("adam"), "{name}");
    }
}

/// Where gradients stop (a dead unit), decaying state must reach exactly zero without ever
/// being subnormal (see [`TINY`]): after one real step, 2,000 zero-gradient steps would take
/// Adam's first moment (0.9ⁿ) and momentum (0.9ⁿ) deep into the subnormal range unflushed.
#[test]
fn decaying_state_is_flushed_not_subnormal() {
    let subnormal = |x: f32| x != 0.0 && x.abs() < f32::MIN_POSITIVE;
    for (name, per, kernel) in kernels(DecayRates::default(), 1) {
        // The state that decays by 0.9 a step and so must be gone after 2,000 (the slow
        // ones, 0.99ⁿ and 0.999ⁿ, are still normal numbers then).
        let gone = match name {
            "sgd" | "adagrad" | "rmsprop" => None,
            "rmsprop+momentum" => Some(1),
            _ => Some(0),
        };
        for fast in [true, false] {
            let n = 19;
            let mut p = vec![0.5f32; n];
            let mut s = vec![0.0f32; n * per];
            kernel(fast, 0, &mut p, &[1e-3; 19], &mut s).unwrap();
            let mut seen_small = false;
            for k in 1..2000 {
                kernel(fast, k, &mut p, &[0.0; 19], &mut s).unwrap();
                assert!(
                    !s.iter().any(|&x| subnormal(x)),
                    "{name} fast={fast} step {k}"
                );
                seen_small |= s.iter().any(|&x| x != 0.0 && x.abs() < TINY);
            }
            assert!(!seen_small, "{name}: state between 0 and TINY was kept");
            if let Some(half) = gone {
                let state = &s[half * n..(half + 1) * n];
                assert!(
                    state.iter().all(|&x| x == 0.0),
                    "{name} fast={fast}: {state:?}"
                );
            }
        }
    }
}
