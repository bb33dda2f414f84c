//! Helpers shared by the optimizer tests, and a convergence check for every optimizer.

use super::*;

/// Runs `opt` from `p0` over the gradient list, with zeroed state; returns the parameters.
pub(super) fn run(opt: &mut dyn Optimizer, p0: &[f32], grads: &[&[f32]]) -> Vec<f32> {
    let mut state = vec![0.0; opt.state_per_param() * p0.len()];
    run_with_state(opt, p0, grads, &mut state)
}

/// [`run`] with a caller-provided state, to inspect it afterwards.
pub(super) fn run_with_state(
    opt: &mut dyn Optimizer,
    p0: &[f32],
    grads: &[&[f32]],
    state: &mut [f32],
) -> Vec<f32> {
    let mut p = p0.to_vec();
    for g in grads {
        opt.step(&mut p, g, state).unwrap();
    }
    p
}

/// Asserts `got` matches values computed independently in f64, to f32 rounding.
pub(super) fn assert_close(got: &[f32], expected: &[f64]) {
    assert_eq!(got.len(), expected.len());
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let tol = 2e-6 * e.abs().max(1.0);
        assert!(
            (g as f64 - e).abs() <= tol,
            "element {i}: got {g}, expected {e}\n{got:?}"
        );
    }
}

/// Minimises `f(x) = sum((x - 3)²)` from `x = 0` (17 parameters: SIMD body and tail).
fn minimise(opt: &mut dyn Optimizer, steps: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; 17];
    let mut g = vec![0.0f32; 17];
    let mut state = vec![0.0; opt.state_per_param() * x.len()];
    for _ in 0..steps {
        for (g, x) in g.iter_mut().zip(&x) {
            *g = 2.0 * (x - 3.0);
        }
        opt.step(&mut x, &g, &mut state).unwrap();
    }
    x
}

#[test]
fn every_optimizer_minimises_a_quadratic() {
    let cases: [(Box<dyn Optimizer>, usize); 9] = [
        (Box::new(Sgd::new(0.1)), 100),
        (Box::new(Momentum::new(0.05)), 300),
        (Box::new(Momentum::new(0.05).with_nesterov(true)), 300),
        (Box::new(Adagrad::new(1.0)), 500),
        (Box::new(RMSProp::new(0.01)), 1000),
        (Box::new(RMSProp::new(0.01).with_momentum(0.5)), 1000),
        (Box::new(Adadelta::default()), 3000),
        (Box::new(Adam::new(0.1)), 500),
        (Box::new(RAdam::new(0.1)), 500),
    ];
    for (mut opt, steps) in cases {
        let x = minimise(opt.as_mut(), steps);
        assert_eq!(opt.steps(), steps as u64);
        for v in &x {
            assert!((v - 3.0).abs() < 0.05, "{} ended at {v}", opt.name());
        }
    }
}

#[test]
fn decoupled_decay_pulls_the_minimum_towards_zero() {
    // With decoupled decay c the fixed point of SGD solves 2(x - 3) + c x = 0: x = 6 / (2 + c).
    let mut opt = Sgd::new(0.1).with_weight_decay(WeightDecay::Decoupled(1.0));
    let x = minimise(&mut opt, 200);
    for v in &x {
        assert!((v - 2.0).abs() < 1e-4, "{v}");
    }
}

#[test]
fn names_and_state_sizes() {
    let all: [(&dyn Optimizer, &str, usize); 7] = [
        (&Sgd::default(), "SGD", 0),
        (&Momentum::new(0.1), "Momentum", 1),
        (&Adagrad::default(), "Adagrad", 1),
        (&RMSProp::default(), "RMSProp", 2),
        (&Adadelta::default(), "Adadelta", 2),
        (&Adam::default(), "Adam", 2),
        (&RAdam::default(), "RAdam", 2),
    ];
    for (opt, name, per) in all {
        assert_eq!((opt.name(), opt.state_per_param()), (name, per));
    }
}

#[test]
fn set_lr_and_set_steps() {
    let mut opt = Adam::default();
    assert_eq!(opt.lr(), 1e-3);
    opt.set_lr(0.5);
    assert_eq!((opt.lr(), opt.lr), (0.5, 0.5));
    opt.set_steps(41);
    let mut p = [0.0; 2];
    opt.step(&mut p, &[1.0, 1.0], &mut [0.0; 4]).unwrap();
    assert_eq!(opt.steps(), 42);
}

#[test]
fn defaults_validate_and_validate_names_the_bad_value() {
    let good: [&dyn Optimizer; 7] = [
        &Sgd::default(),
        &Momentum::new(0.1).with_nesterov(true),
        &Adagrad::default(),
        &RMSProp::default().with_momentum(0.5),
        &Adadelta::default(),
        &Adam::default().with_weight_decay(WeightDecay::Decoupled(0.01)),
        &RAdam::default(),
    ];
    for opt in good {
        assert_eq!(opt.validate(), Ok(()), "{}", opt.name());
    }
    let message = |opt: &dyn Optimizer| opt.validate().unwrap_err().to_string();
    assert!(message(&Sgd::new(-1.0)).contains("learning rate"));
    assert!(message(&Momentum::new(0.1).with_momentum(1.0)).contains("momentum"));
    assert!(message(&Adagrad::default().with_eps(0.0)).contains("eps"));
    assert!(message(&Adam::default().with_betas(0.9, 1.0)).contains("beta2"));
    assert!(message(&RMSProp::default().with_rho(-0.5)).contains("rho"));
    let decay = WeightDecay::L2(f32::INFINITY);
    assert!(message(&Adadelta::default().with_weight_decay(decay)).contains("weight decay"));
}

#[test]
fn model_construction_reports_a_bad_optimizer() {
    use crate::layers::{AnyLayer, Dense};
    use crate::loss::Mse;
    use crate::model::Model;
    use crate::plan::Plan;
    use crate::tensor::Shape;

    let layers = || -> [AnyLayer<'static>; 1] { [Dense::new(2, 1).into()] };
    // Enough memory for any of the optimizers below: only the optimizer can be wrong.
    let floats = Plan::training(&layers(), Shape::vector(2), 4, &Adam::default())
        .unwrap()
        .floats();
    let build = |optimizer: &dyn Fn() -> Adam| {
        let mut memory = vec![1.0f32; floats];
        let made = Model::new(
            layers(),
            Shape::vector(2),
            4,
            Mse,
            optimizer(),
            &mut memory[..],
            7,
        )
        .map(|_| ());
        (made, memory.iter().all(|&x| x == 1.0))
    };
    let (made, untouched) = build(&|| Adam::new(0.01));
    assert_eq!(made, Ok(()));
    assert!(!untouched, "a good model initialises its parameters");

    let bad = || Adam::new(0.01).with_eps(-1.0);
    let (made, untouched) = build(&bad);
    assert_eq!(made, Err(bad().validate().unwrap_err()));
    assert!(
        untouched,
        "the optimizer is checked before the memory is used"
    );
    let (made, _) = build(&|| Adam::new(f32::NAN));
    assert_eq!(made, Err(Sgd::new(f32::NAN).validate().unwrap_err()));
}
