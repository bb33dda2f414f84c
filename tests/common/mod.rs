//! Shared test helpers: a finite-difference gradient checker for any [`Layer`].
//!
//! The scalar probed is `L = Σ w ⊙ f(x)` with fixed random weights `w`, so `∂L/∂y = w`. Each
//! analytic derivative from `backward` is compared with a central difference of `L`
//! computed in f64 from f32 forward passes. Every forward pass gets a fresh `Rng::new(0)`, so
//! random layers (dropout) use the same mask in every pass.
#![allow(dead_code)]

use nanonn::layers::{BackwardCtx, ForwardCtx, Layer, Mode};
use nanonn::prelude::*;

struct Setup {
    mode: Mode,
    input: Shape,
    batch: usize,
    buffers: Vec<f32>,
    cache: Vec<f32>,
    scratch: Vec<f32>,
    w: Vec<f32>,
}

fn forward_loss<L: Layer>(layer: &mut L, s: &mut Setup, x: &[f32], params: &[f32]) -> f64 {
    let xs = s.input.batched(s.batch).unwrap();
    let ys = layer
        .output_shape(s.input)
        .unwrap()
        .batched(s.batch)
        .unwrap();
    let mut y = vec![0.0; ys.numel()];
    let mut rng = Rng::new(0);
    layer
        .forward(
            Tensor::new(x, xs).unwrap(),
            TensorMut::new(&mut y, ys).unwrap(),
            ForwardCtx {
                params,
                buffers: &mut s.buffers,
                cache: &mut s.cache,
                scratch: &mut s.scratch,
                rng: &mut rng,
                mode: s.mode,
            },
        )
        .unwrap();
    y.iter().zip(&s.w).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Checks `layer` on `batch` samples of shape `input`, with inputs drawn from `draw`.
pub fn check<L: Layer>(layer: L, input: Shape, batch: usize, draw: impl Fn(&mut Rng) -> f32) {
    check_mode(layer, input, batch, Mode::Train, draw)
}

/// [`check`] in a chosen mode (e.g. `Mode::Eval` for batch-norm's running statistics).
pub fn check_mode<L: Layer>(
    mut layer: L,
    input: Shape,
    batch: usize,
    mode: Mode,
    draw: impl Fn(&mut Rng) -> f32,
) {
    let name = layer.name();
    let mut rng = Rng::new(11);
    let out = layer.output_shape(input).unwrap();
    let xs = input.batched(batch).unwrap();
    let ys = out.batched(batch).unwrap();
    let mem = layer.memory(input, batch, mode);
    let mut params = vec![0.0; layer.param_len()];
    layer.init_params(&mut params, &mut rng).unwrap();
    // Non-zero biases and weights everywhere so every path is exercised.
    for p in params.iter_mut() {
        *p += rng.uniform_range(-0.3, 0.3);
    }
    let x: Vec<f32> = (0..xs.numel()).map(|_| draw(&mut rng)).collect();
    let mut s = Setup {
        mode,
        input,
        batch,
        buffers: vec![0.0; mem.buffers],
        cache: vec![0.0; mem.cache],
        scratch: vec![0.0; mem.scratch],
        w: (0..ys.numel())
            .map(|_| rng.uniform_range(-1.0, 1.0))
            .collect(),
    };

    layer.init_buffers(&mut s.buffers);

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
                buffers: &mut s.buffers,
                cache: &mut s.cache,
                scratch: &mut s.scratch,
                rng: &mut Rng::new(0),
                mode: s.mode,
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
                buffers: &mut s.buffers,
                cache: &mut s.cache,
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
    assert!(
        grads.iter().all(|g| g.is_finite()),
        "{name}: a gradient was not written"
    );
}

/// Inputs away from the kinks of ReLU-like functions, where finite differences are unreliable.
pub fn away_from_zero(rng: &mut Rng) -> f32 {
    let v = rng.uniform_range(0.1, 2.0);
    if rng.uniform() < 0.5 { -v } else { v }
}
