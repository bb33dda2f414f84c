//! Finite-difference gradient checks for every built-in layer, w.r.t. inputs and parameters,
//! at batch > 1 and odd sizes.
//!
//! The scalar probed is `L = Σ w ⊙ f(x)` with fixed random weights `w`, so `∂L/∂y = w`. Each
//! analytic derivative from `backward` is compared with a central difference of `L`
//! computed in f64 from f32 forward passes.

use nanonn::layers::{BackwardCtx, ForwardCtx, Layer, Mode};
use nanonn::prelude::*;

struct Setup {
    input: Shape,
    batch: usize,
    state: Vec<f32>,
    scratch: Vec<f32>,
    w: Vec<f32>,
}

fn forward_loss<L: Layer>(layer: &mut L, s: &mut Setup, x: &[f32], params: &[f32]) -> f64 {
    let xs = s.input.batched(s.batch).unwrap();
    let ys = layer.output_shape(s.input).unwrap().batched(s.batch).unwrap();
    let mut y = vec![0.0; ys.numel()];
    let mut rng = Rng::new(0);
    layer
        .forward(
            Tensor::new(x, xs).unwrap(),
            TensorMut::new(&mut y, ys).unwrap(),
            ForwardCtx {
                params,
                state: &mut s.state,
                scratch: &mut s.scratch,
                rng: &mut rng,
                mode: Mode::Train,
            },
        )
        .unwrap();
    y.iter().zip(&s.w).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Checks `layer` on `batch` samples of shape `input`, with inputs drawn from `draw`.
fn check<L: Layer>(mut layer: L, input: Shape, batch: usize, draw: impl Fn(&mut Rng) -> f32) {
    let name = layer.name();
    let mut rng = Rng::new(11);
    let out = layer.output_shape(input).unwrap();
    let xs = input.batched(batch).unwrap();
    let ys = out.batched(batch).unwrap();
    let mem = layer.memory(input, batch, Mode::Train);
    let mut params = vec![0.0; layer.param_len()];
    layer.init_params(&mut params, &mut rng).unwrap();
    // Non-zero biases and weights everywhere so every path is exercised.
    for p in params.iter_mut() {
        *p += rng.uniform_range(-0.3, 0.3);
    }
    let x: Vec<f32> = (0..xs.numel()).map(|_| draw(&mut rng)).collect();
    let mut s = Setup {
        input,
        batch,
        state: vec![0.0; mem.state],
        scratch: vec![0.0; mem.scratch],
        w: (0..ys.numel()).map(|_| rng.uniform_range(-1.0, 1.0)).collect(),
    };

    // Analytic gradients.
    let mut y = vec![0.0; ys.numel()];
    let mut dx = vec![0.0; xs.numel()];
    let mut grads = vec![f32::NAN; params.len()];
    layer
        .forward(
            Tensor::new(&x, xs).unwrap(),
            TensorMut::new(&mut y, ys).unwrap(),
            ForwardCtx {
                params: &params,
                state: &mut s.state,
                scratch: &mut s.scratch,
                rng: &mut Rng::new(0),
                mode: Mode::Train,
            },
        )
        .unwrap();
    layer
        .backward(
            Tensor::new(&x, xs).unwrap(),
            Tensor::new(&y, ys).unwrap(),
            Tensor::new(&s.w, ys).unwrap(),
            Some(TensorMut::new(&mut dx, xs).unwrap()),
            BackwardCtx {
                params: &params,
                grads: &mut grads,
                state: &mut s.state,
                scratch: &mut s.scratch,
            },
        )
        .unwrap();

    let h = 1e-2f32;
    let close = |numeric: f64, analytic: f32, what: &str, i: usize| {
        let tol = 2e-2 * (1.0 + numeric.abs());
        assert!(
            (numeric - analytic as f64).abs() <= tol,
            "{name}: d{what}[{i}]: numeric {numeric}, analytic {analytic}"
        );
    };
    for i in 0..x.len() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += h;
        xm[i] -= h;
        let numeric = (forward_loss(&mut layer, &mut s, &xp, &params)
            - forward_loss(&mut layer, &mut s, &xm, &params))
            / (2.0 * h as f64);
        close(numeric, dx[i], "x", i);
    }
    for i in 0..params.len() {
        let (mut pp, mut pm) = (params.clone(), params.clone());
        pp[i] += h;
        pm[i] -= h;
        let numeric = (forward_loss(&mut layer, &mut s, &x, &pp)
            - forward_loss(&mut layer, &mut s, &x, &pm))
            / (2.0 * h as f64);
        close(numeric, grads[i], "param", i);
    }
    assert!(grads.iter().all(|g| g.is_finite()), "{name}: a gradient was not written");
}

/// Inputs away from the kinks of ReLU-like functions, where finite differences are unreliable.
fn away_from_zero(rng: &mut Rng) -> f32 {
    let v = rng.uniform_range(0.1, 2.0);
    if rng.uniform() < 0.5 { -v } else { v }
}

#[test]
fn dense_gradients() {
    for (i, o, b) in [(1, 1, 2), (3, 5, 3), (7, 3, 5), (17, 9, 4)] {
        check(Dense::new(i, o), Shape::vector(i), b, |r| r.uniform_range(-1.0, 1.0));
    }
}

#[test]
fn activation_gradients() {
    let all = [
        Activation::ReLU,
        Activation::LeakyReLU { slope: 0.2 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::ELU { alpha: 1.0 },
        Activation::GELU,
    ];
    for act in all {
        for (width, batch) in [(1, 2), (7, 3), (33, 2)] {
            check(act, Shape::vector(width), batch, away_from_zero);
        }
    }
}

#[test]
fn activation_accepts_any_shape() {
    check(Activation::Tanh, Shape::new(&[3, 5]), 2, away_from_zero);
}

#[test]
fn a_wrong_gradient_is_caught() {
    // The checker itself must be able to fail: a layer with a deliberately wrong backward.
    struct Wrong;
    impl Layer for Wrong {
        fn name(&self) -> &'static str {
            "Wrong"
        }
        fn output_shape(&self, input: Shape) -> nanonn::Result<Shape> {
            Ok(input)
        }
        fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> nanonn::Result<()> {
            for (o, i) in y.data_mut().iter_mut().zip(x.data()) {
                *o = i * i;
            }
            Ok(())
        }
        fn backward(
            &mut self,
            x: Tensor<'_>,
            _: Tensor<'_>,
            dy: Tensor<'_>,
            dx: Option<TensorMut<'_>>,
            _: BackwardCtx<'_>,
        ) -> nanonn::Result<()> {
            let mut dx = dx.unwrap();
            for ((d, g), i) in dx.data_mut().iter_mut().zip(dy.data()).zip(x.data()) {
                *d = g * i; // should be 2 * g * i
            }
            Ok(())
        }
    }
    let result = std::panic::catch_unwind(|| check(Wrong, Shape::vector(3), 2, away_from_zero));
    assert!(result.is_err());
}
