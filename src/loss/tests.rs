//! Tests of the loss types: finite-difference gradient checks, hand-computed values, and
//! every error case.

use core::f32::consts::LN_2;

use crate::error::{Error, ErrorKind};
use crate::loss::{Huber, Loss, Mae, Mse, SigmoidCrossEntropy, SoftmaxCrossEntropy, Targets};
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor};

const BATCH: usize = 3;
const WIDTHS: [usize; 2] = [5, 7];

fn t<'a>(data: &'a [f32], dims: &[usize]) -> Tensor<'a> {
    Tensor::new(data, Shape::new(dims)).unwrap()
}

fn value_and_grad(loss: &dyn Loss, p: Tensor<'_>, targets: Targets<'_>) -> (f32, Vec<f32>) {
    let mut g = vec![f32::NAN; p.data().len()];
    let v = loss.loss_and_grad(p, targets, &mut g).unwrap();
    (v, g)
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Largest violation of `|numeric − analytic| <= 1e-2 · max(|numeric|, |analytic|) + 1e-3`
/// (≤ 1 passes), with central differences of `loss()` in steps of about 1e-3. The difference
/// quotient is formed in f64 over the step actually taken in f32.
fn grad_check_ratio(loss: &dyn Loss, x: &[f32], dims: &[usize], targets: Targets<'_>) -> f64 {
    let (_, analytic) = value_and_grad(loss, t(x, dims), targets);
    let mut worst = 0.0f64;
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        let eps = 1e-3 * x[i].abs().max(1.0);
        xp[i] = x[i] + eps;
        let (hi_x, hi) = (xp[i], loss.loss(t(&xp, dims), targets).unwrap());
        xp[i] = x[i] - eps;
        let (lo_x, lo) = (xp[i], loss.loss(t(&xp, dims), targets).unwrap());
        xp[i] = x[i];
        let numeric = (hi as f64 - lo as f64) / (hi_x as f64 - lo_x as f64);
        let a = analytic[i] as f64;
        let tol = 1e-2 * numeric.abs().max(a.abs()) + 1e-3;
        worst = worst.max((numeric - a).abs() / tol);
    }
    worst
}

fn assert_grad_ok(name: &str, loss: &dyn Loss, x: &[f32], dims: &[usize], targets: Targets<'_>) {
    let r = grad_check_ratio(loss, x, dims, targets);
    assert!(r <= 1.0, "{name} {dims:?}: gradient off by {r} tolerances");
}

/// Predictions and targets whose differences stay away from the kinks of |d| (at 0) and of
/// Huber (at ±delta), so central differences are valid there.
fn regression_data(rng: &mut Rng, n: usize, delta: f32) -> (Vec<f32>, Vec<f32>) {
    let target: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let pred = target
        .iter()
        .map(|&t| {
            loop {
                let d = rng.normal() * 2.0;
                if d.abs() > 0.05 && (d.abs() - delta).abs() > 0.05 {
                    break t + d;
                }
            }
        })
        .collect();
    (pred, target)
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(11);
    for w in WIDTHS {
        let n = BATCH * w;
        let dims = [BATCH, w];
        let logits: Vec<f32> = (0..n).map(|_| rng.normal() * 2.0).collect();
        let labels: Vec<u32> = (0..BATCH).map(|_| rng.below(w) as u32).collect();
        let sce = SoftmaxCrossEntropy;
        assert_grad_ok(
            "softmax labels",
            &sce,
            &logits,
            &dims,
            Targets::Classes(&labels),
        );
        // Soft labels, deliberately not normalised (rows sum to 0.7, 1.0, 1.3 roughly), to
        // check the exact `softmax · Σt − t` form.
        let soft: Vec<f32> = (0..n).map(|_| rng.uniform() * 2.0 / w as f32).collect();
        let tv = Targets::Values(t(&soft, &dims));
        assert_grad_ok("softmax soft", &sce, &logits, &dims, tv);

        let bits: Vec<f32> = (0..n).map(|_| rng.below(2) as f32).collect();
        let tv = Targets::Values(t(&bits, &dims));
        assert_grad_ok("sigmoid", &SigmoidCrossEntropy, &logits, &dims, tv);

        let (p, y) = regression_data(&mut rng, n, 1.0);
        let tv = Targets::Values(t(&y, &dims));
        assert_grad_ok("mse", &Mse, &p, &dims, tv);
        assert_grad_ok("mae", &Mae, &p, &dims, tv);
        assert_grad_ok("huber", &Huber::default(), &p, &dims, tv);
        let (p, y) = regression_data(&mut rng, n, 0.3);
        let tv = Targets::Values(t(&y, &dims));
        assert_grad_ok("huber 0.3", &Huber::new(0.3), &p, &dims, tv);
    }
    // Binary labels with one output per sample.
    let x = [0.3f32, -1.2, 2.0];
    let labels = [1u32, 0, 1];
    let tc = Targets::Classes(&labels);
    assert_grad_ok("sigmoid labels", &SigmoidCrossEntropy, &x, &[3, 1], tc);
}

#[test]
fn grad_check_can_fail() {
    // A loss whose gradient is 5 % too large must be caught by the checker.
    struct Skewed;
    impl Loss for Skewed {
        fn name(&self) -> &'static str {
            "Skewed"
        }
        fn loss(&self, p: Tensor<'_>, t: Targets<'_>) -> crate::Result<f32> {
            Mse.loss(p, t)
        }
        fn loss_and_grad(
            &self,
            p: Tensor<'_>,
            t: Targets<'_>,
            g: &mut [f32],
        ) -> crate::Result<f32> {
            let v = Mse.loss_and_grad(p, t, g)?;
            g.iter_mut().for_each(|x| *x *= 1.05);
            Ok(v)
        }
    }
    let mut rng = Rng::new(5);
    let (p, y) = regression_data(&mut rng, 15, 1.0);
    let tv = Targets::Values(t(&y, &[3, 5]));
    assert!(grad_check_ratio(&Mse, &p, &[3, 5], tv) <= 1.0);
    assert!(grad_check_ratio(&Skewed, &p, &[3, 5], tv) > 1.0);
}

#[test]
fn loss_equals_loss_and_grad() {
    let mut rng = Rng::new(12);
    let dims = [BATCH, 7];
    let n = BATCH * 7;
    let x: Vec<f32> = (0..n).map(|_| rng.normal() * 3.0).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.uniform()).collect();
    let labels = [6u32, 0, 3];
    let p = t(&x, &dims);
    let tv = Targets::Values(t(&y, &dims));
    let huber = Huber::new(0.7);
    let all: [(&dyn Loss, Targets<'_>); 6] = [
        (&SoftmaxCrossEntropy, Targets::Classes(&labels)),
        (&SoftmaxCrossEntropy, tv),
        (&SigmoidCrossEntropy, tv),
        (&Mse, tv),
        (&Mae, tv),
        (&huber, tv),
    ];
    for (loss, targets) in all {
        let (v, _) = value_and_grad(loss, p, targets);
        assert_eq!(loss.loss(p, targets).unwrap(), v, "{}", loss.name());
    }
    // Binary labels, more than one chunk of them.
    let x: Vec<f32> = (0..150).map(|_| rng.normal()).collect();
    let l: Vec<u32> = (0..150).map(|_| rng.below(2) as u32).collect();
    let lf: Vec<f32> = l.iter().map(|&v| v as f32).collect();
    let p = t(&x, &[150, 1]);
    let (v, g) = value_and_grad(&SigmoidCrossEntropy, p, Targets::Classes(&l));
    assert_eq!(
        SigmoidCrossEntropy.loss(p, Targets::Classes(&l)).unwrap(),
        v
    );
    let (v2, g2) = value_and_grad(&SigmoidCrossEntropy, p, Targets::Values(t(&lf, &[150, 1])));
    assert!(close(v, v2, 1e-6), "{v} vs {v2}");
    assert_eq!(g, g2);
}

#[test]
fn softmax_cross_entropy_by_hand() {
    let sce = SoftmaxCrossEntropy;
    let (v, g) = value_and_grad(&sce, t(&[0.0, 0.0], &[1, 2]), Targets::Classes(&[0]));
    assert!(close(v, LN_2, 1e-6), "{v}");
    assert_eq!(g, [-0.5, 0.5]);
    // Three equal logits: ln 3, whatever the label.
    let v = sce
        .loss(t(&[0.0; 3], &[1, 3]), Targets::Classes(&[2]))
        .unwrap();
    assert!(close(v, 3.0f32.ln(), 1e-6), "{v}");
    // Large logits: no overflow. Sample 0 (label 1 on the losing side) costs 1000, sample 1
    // (two tied winners) ln 2; the batch mean is (1000 + ln 2) / 2.
    let x = [1000.0, 0.0, 1000.0, 1000.0];
    let (v, g) = value_and_grad(&sce, t(&x, &[2, 2]), Targets::Classes(&[1, 0]));
    assert!(close(v, (1000.0 + LN_2) / 2.0, 1e-6), "{v}");
    assert_eq!(g, [0.5, -0.5, -0.25, 0.25]);
    // A confident, correct prediction costs (almost) nothing.
    let v = sce
        .loss(t(&[1000.0, 0.0], &[1, 2]), Targets::Classes(&[0]))
        .unwrap();
    assert_eq!(v, 0.0);
    // Soft labels [0.5, 0.5] on equal logits: ln 2, and no gradient.
    let (v, g) = value_and_grad(
        &sce,
        t(&[0.0, 0.0], &[1, 2]),
        Targets::Values(t(&[0.5; 2], &[1, 2])),
    );
    assert!(close(v, LN_2, 1e-6), "{v}");
    assert_eq!(g, [0.0, 0.0]);
    // The same large logits with one-hot Values instead of labels.
    let onehot = [0.0, 1.0, 1.0, 0.0];
    let tv = Targets::Values(t(&onehot, &[2, 2]));
    let (v, g) = value_and_grad(&sce, t(&x, &[2, 2]), tv);
    assert!(close(v, (1000.0 + LN_2) / 2.0, 1e-6), "{v}");
    assert_eq!(g, [0.5, -0.5, -0.25, 0.25]);
    // Dimensions after the batch are flattened into the classes.
    let v = sce
        .loss(t(&[0.0; 4], &[2, 1, 2]), Targets::Classes(&[0, 1]))
        .unwrap();
    assert!(close(v, LN_2, 1e-6), "{v}");
}

#[test]
fn sigmoid_cross_entropy_by_hand() {
    let sig = SigmoidCrossEntropy;
    // σ(0) = ½: each element costs ln 2 whatever its target.
    let (v, g) = value_and_grad(
        &sig,
        t(&[0.0, 0.0], &[1, 2]),
        Targets::Values(t(&[1.0, 0.0], &[1, 2])),
    );
    assert!(close(v, 2.0 * LN_2, 1e-6), "{v}");
    assert_eq!(g, [-0.5, 0.5]);
    // Large logits on the wrong side cost |x|, averaged over the batch of 2.
    let x = [1000.0, -1000.0];
    let (v, g) = value_and_grad(
        &sig,
        t(&x, &[2, 1]),
        Targets::Values(t(&[0.0, 1.0], &[2, 1])),
    );
    assert_eq!(v, 1000.0);
    assert_eq!(g, [0.5, -0.5]);
    let v = sig
        .loss(t(&x, &[2, 1]), Targets::Values(t(&[1.0, 0.0], &[2, 1])))
        .unwrap();
    assert_eq!(v, 0.0);
    // Binary labels for one output per sample.
    let (v, g) = value_and_grad(&sig, t(&[0.0], &[1, 1]), Targets::Classes(&[1]));
    assert!(close(v, LN_2, 1e-6), "{v}");
    assert_eq!(g, [-0.5]);
    // x = ln 3: σ = 3/4, loss for label 0 is −ln(1/4) = ln 4.
    let v = sig
        .loss(t(&[3.0f32.ln()], &[1]), Targets::Classes(&[0]))
        .unwrap();
    assert!(close(v, 4.0f32.ln(), 1e-6), "{v}");
}

#[test]
fn regression_losses_by_hand() {
    // MSE: 0.5 · (1 + 4) / batch 2.
    let p = t(&[1.0, 2.0], &[2, 1]);
    let (v, g) = value_and_grad(&Mse, p, Targets::Values(t(&[0.0, 0.0], &[2, 1])));
    assert_eq!(v, 1.25);
    assert_eq!(g, [0.5, 1.0]);
    // Summed over a sample, averaged over the batch only: 0.5 · 6 / 2.
    let v = Mse
        .loss(
            t(&[1.0; 6], &[2, 3]),
            Targets::Values(t(&[0.0; 6], &[2, 3])),
        )
        .unwrap();
    assert_eq!(v, 1.5);
    // MAE with an exact fit (sign(0) = 0).
    let p = t(&[1.0, -2.0, 3.0], &[1, 3]);
    let (v, g) = value_and_grad(&Mae, p, Targets::Values(t(&[0.0, 0.0, 3.0], &[1, 3])));
    assert_eq!(v, 3.0);
    assert_eq!(g, [1.0, -1.0, 0.0]);
    // Huber, delta 1: 0.125 + (2 − 0.5) + (3 − 0.5).
    let p = t(&[0.5, 2.0, -3.0], &[1, 3]);
    let (v, g) = value_and_grad(&Huber::default(), p, Targets::Values(t(&[0.0; 3], &[1, 3])));
    assert_eq!(v, 4.125);
    assert_eq!(g, [0.5, 1.0, -1.0]);
    // Huber, delta 2, d = 3: 2 · (3 − 1); at |d| = delta both pieces agree (½ · 4 = 2).
    let (v, g) = value_and_grad(
        &Huber::new(2.0),
        t(&[3.0, 2.0], &[2, 1]),
        Targets::Values(t(&[0.0; 2], &[2, 1])),
    );
    assert_eq!(v, (4.0 + 2.0) / 2.0);
    assert_eq!(g, [1.0, 1.0]);
}

fn every_loss() -> [&'static dyn Loss; 5] {
    [
        &SoftmaxCrossEntropy,
        &SigmoidCrossEntropy,
        &Mse,
        &Mae,
        &Huber { delta: 1.0 },
    ]
}

/// `loss()` and `loss_and_grad()` (with a correct buffer) both return this error.
fn both_err(loss: &dyn Loss, p: Tensor<'_>, targets: Targets<'_>) -> Error {
    let mut g = vec![0.0; p.data().len()];
    let a = loss.loss(p, targets).unwrap_err();
    let b = loss.loss_and_grad(p, targets, &mut g).unwrap_err();
    assert_eq!(a, b, "{}", loss.name());
    a
}

#[test]
fn errors_common_to_every_loss() {
    let x = [0.5f32; 6];
    let p = t(&x, &[2, 3]);
    let good = Targets::Values(p);
    for loss in every_loss() {
        let name = loss.name();
        // Values of another shape.
        let e = both_err(loss, p, Targets::Values(t(&x, &[3, 2])));
        let want = Error::shape("targets", Shape::new(&[2, 3]), Shape::new(&[3, 2]));
        assert_eq!(e, want, "{name}");
        // Gradient buffer of the wrong length.
        let mut g = [0.0; 5];
        let e = loss.loss_and_grad(p, good, &mut g).unwrap_err();
        assert_eq!(e, Error::length("grad", 6, 5), "{name}");
        // Empty batch.
        let e = both_err(loss, t(&[], &[0, 3]), Targets::Values(t(&[], &[0, 3])));
        assert!(
            matches!(e.kind, ErrorKind::InvalidConfig { .. }),
            "{name}: {e}"
        );
        // No batch dimension at all.
        let e = both_err(loss, t(&[1.0], &[]), Targets::Values(t(&[1.0], &[])));
        assert!(
            matches!(e.kind, ErrorKind::InvalidConfig { .. }),
            "{name}: {e}"
        );
        // Non-finite predictions and targets.
        let mut bad = x;
        bad[4] = f32::NAN;
        let e = both_err(loss, t(&bad, &[2, 3]), good);
        let want = ErrorKind::NonFinite {
            what: "predictions",
            index: 4,
        };
        assert_eq!(e.kind, want, "{name}");
        let mut bad = x;
        bad[1] = f32::NEG_INFINITY;
        let e = both_err(loss, p, Targets::Values(t(&bad, &[2, 3])));
        assert_eq!(
            e.kind,
            ErrorKind::NonFinite {
                what: "targets",
                index: 1
            },
            "{name}"
        );
        // Class labels: wrong count (softmax / sigmoid) or not allowed at all (regression,
        // whatever their count).
        if name.ends_with("CrossEntropy") {
            let e = both_err(loss, p, Targets::Classes(&[0]));
            assert_eq!(e, Error::length("labels", 2, 1), "{name}");
        } else {
            for labels in [&[0u32][..], &[0, 1]] {
                let e = both_err(loss, p, Targets::Classes(labels));
                let msg = format!("{e}");
                assert!(
                    matches!(e.kind, ErrorKind::InvalidConfig { .. }),
                    "{name}: {msg}"
                );
                assert!(
                    msg.contains(name) && msg.contains("Targets::Values"),
                    "{msg}"
                );
            }
        }
    }
}

#[test]
fn class_label_errors() {
    let x = [0.0f32; 6];
    let p = t(&x, &[2, 3]);
    let e = both_err(&SoftmaxCrossEntropy, p, Targets::Classes(&[0, 3]));
    assert_eq!(
        e.kind,
        ErrorKind::LabelOutOfRange {
            sample: 1,
            label: 3,
            classes: 3
        }
    );
    let e = both_err(&SoftmaxCrossEntropy, p, Targets::Classes(&[0]));
    assert_eq!(e, Error::length("labels", 2, 1));
    // Sigmoid takes labels only for one output per sample, and only 0 or 1.
    let e = both_err(&SigmoidCrossEntropy, p, Targets::Classes(&[0, 1]));
    assert!(matches!(e.kind, ErrorKind::InvalidConfig { .. }), "{e}");
    let p1 = t(&x[..2], &[2, 1]);
    let e = both_err(&SigmoidCrossEntropy, p1, Targets::Classes(&[1, 2]));
    assert_eq!(
        e.kind,
        ErrorKind::LabelOutOfRange {
            sample: 1,
            label: 2,
            classes: 2
        }
    );
    let e = both_err(&SigmoidCrossEntropy, p1, Targets::Classes(&[1, 0, 1]));
    assert_eq!(e, Error::length("labels", 2, 3));
    // Zero classes per sample.
    let e = both_err(
        &SoftmaxCrossEntropy,
        t(&[], &[2, 0]),
        Targets::Classes(&[0, 0]),
    );
    assert!(matches!(e.kind, ErrorKind::InvalidConfig { .. }), "{e}");
    // A bad Huber delta.
    let e = both_err(&Huber::new(-1.0), p, Targets::Values(p));
    assert!(matches!(e.kind, ErrorKind::InvalidConfig { .. }), "{e}");
}
