//! Rnn and Lstm: finite-difference gradients through time, outputs against a plain scalar
//! re-implementation of the equations, inference equal to training, and bad input refused.

mod common;

use common::check;
use nanonn::layers::{BackwardCtx, ForwardCtx, Layer};
use nanonn::prelude::*;

fn uniform(rng: &mut Rng) -> f32 {
    rng.uniform_range(-1.0, 1.0)
}

#[test]
fn rnn_gradients() {
    for (f, h, t, batch) in [(1, 1, 1, 2), (3, 5, 3, 2), (5, 3, 5, 4), (2, 7, 3, 5)] {
        for seq in [false, true] {
            let layer = Rnn::new(f, h).return_sequences(seq);
            check(layer, Shape::matrix(t, f), batch, uniform);
        }
    }
}

#[test]
fn lstm_gradients() {
    for (f, h, t, batch) in [(1, 1, 1, 2), (3, 5, 3, 2), (5, 3, 5, 4), (2, 7, 3, 5)] {
        for seq in [false, true] {
            let layer = Lstm::new(f, h).return_sequences(seq);
            check(layer, Shape::matrix(t, f), batch, uniform);
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The equations of the module documentation, one sample at a time, in f64: returns every
/// hidden state `[T][H]`. `w` is `[F + H, G·H]` row-major, then `b` `[G·H]`.
fn reference(lstm: bool, f: usize, hid: usize, params: &[f32], x: &[f32]) -> Vec<Vec<f64>> {
    let g = if lstm { 4 * hid } else { hid };
    let w = |row: usize, col: usize| params[row * g + col] as f64;
    let b = |col: usize| params[(f + hid) * g + col] as f64;
    let (mut h, mut c) = (vec![0.0f64; hid], vec![0.0f64; hid]);
    let mut out = Vec::new();
    for xt in x.chunks(f) {
        let z: Vec<f64> = (0..g)
            .map(|col| {
                let from_x: f64 = (0..f).map(|i| xt[i] as f64 * w(i, col)).sum();
                let from_h: f64 = (0..hid).map(|j| h[j] * w(f + j, col)).sum();
                from_x + from_h + b(col)
            })
            .collect();
        if lstm {
            for j in 0..hid {
                let (i, fg) = (sigmoid(z[j]), sigmoid(z[hid + j]));
                let (gg, o) = (z[2 * hid + j].tanh(), sigmoid(z[3 * hid + j]));
                c[j] = fg * c[j] + i * gg;
                h[j] = o * c[j].tanh();
            }
        } else {
            h = z.iter().map(|v| v.tanh()).collect();
        }
        out.push(h.clone());
    }
    out
}

struct Run {
    y: Vec<f32>,
    cache: Vec<f32>,
    scratch: Vec<f32>,
}

fn run<L: Layer>(
    layer: &mut L,
    params: &[f32],
    x: &[f32],
    input: Shape,
    n: usize,
    mode: Mode,
) -> Run {
    let mem = layer.memory(input, n, mode);
    let ys = layer.output_shape(input).unwrap().batched(n).unwrap();
    let mut r = Run {
        y: vec![0.0; ys.numel()],
        cache: vec![0.0; mem.cache],
        scratch: vec![0.0; mem.scratch],
    };
    layer
        .forward(
            Tensor::new(x, input.batched(n).unwrap()).unwrap(),
            TensorMut::new(&mut r.y, ys).unwrap(),
            ForwardCtx {
                params,
                buffers: &mut [],
                cache: &mut r.cache,
                scratch: &mut r.scratch,
                rng: &mut Rng::new(0),
                mode,
            },
        )
        .unwrap();
    r
}

fn forward_matches_reference<L: Layer>(make: impl Fn(bool) -> L, lstm: bool) {
    let (f, hid, t, n) = (3, 5, 4, 6);
    let input = Shape::matrix(t, f);
    let mut rng = Rng::new(21);
    let x: Vec<f32> = (0..n * t * f).map(|_| uniform(&mut rng)).collect();
    for seq in [false, true] {
        let mut layer = make(seq);
        let mut params = vec![0.0; layer.param_len()];
        layer.init_params(&mut params, &mut rng).unwrap();
        params
            .iter_mut()
            .for_each(|p| *p += rng.uniform_range(-0.5, 0.5));
        let train = run(&mut layer, &params, &x, input, n, Mode::Train);
        let eval = run(&mut layer, &params, &x, input, n, Mode::Eval);
        assert_eq!(
            train.y, eval.y,
            "inference (one cached step) must equal training"
        );
        let per = if seq { t * hid } else { hid };
        for s in 0..n {
            let hs = reference(lstm, f, hid, &params, &x[s * t * f..(s + 1) * t * f]);
            let want: Vec<f64> = if seq { hs.concat() } else { hs[t - 1].clone() };
            for (a, e) in train.y[s * per..(s + 1) * per].iter().zip(&want) {
                assert!((*a as f64 - e).abs() < 1e-5, "sample {s}: {a} vs {e}");
            }
        }
    }
}

#[test]
fn rnn_forward_matches_the_equations() {
    forward_matches_reference(|seq| Rnn::new(3, 5).return_sequences(seq), false);
}

#[test]
fn lstm_forward_matches_the_equations() {
    forward_matches_reference(|seq| Lstm::new(3, 5).return_sequences(seq), true);
}

#[test]
fn lstm_forget_bias_is_initialised() {
    let l = Lstm::new(2, 3);
    let mut p = vec![9.0; l.param_len()];
    l.init_params(&mut p, &mut Rng::new(1)).unwrap();
    assert_eq!(p.len(), (2 + 3 + 1) * 12);
    let b = &p[(2 + 3) * 12..];
    assert_eq!(b, [0., 0., 0., 1., 1., 1., 0., 0., 0., 0., 0., 0.]);
    let l = l.with_forget_bias(0.0);
    l.init_params(&mut p, &mut Rng::new(1)).unwrap();
    assert!(p[(2 + 3) * 12..].iter().all(|&v| v == 0.0));
    assert_eq!(Rnn::new(2, 3).param_len(), (2 + 3 + 1) * 3);
}

#[test]
fn bad_shapes_are_refused() {
    let l = Lstm::new(4, 3);
    assert_eq!(
        l.output_shape(Shape::matrix(7, 4)).unwrap(),
        Shape::vector(3)
    );
    assert_eq!(
        l.return_sequences(true)
            .output_shape(Shape::matrix(7, 4))
            .unwrap(),
        Shape::matrix(7, 3)
    );
    assert!(
        l.output_shape(Shape::matrix(7, 5)).is_err(),
        "feature mismatch"
    );
    assert!(l.output_shape(Shape::vector(4)).is_err(), "rank 1");
    assert!(l.output_shape(Shape::new(&[2, 7, 4])).is_err(), "rank 3");
    assert!(
        l.output_shape(Shape::matrix(0, 4)).is_err(),
        "no time steps"
    );
    assert!(
        Lstm::new(4, 0).output_shape(Shape::matrix(7, 4)).is_err(),
        "hidden 0"
    );
    assert!(
        Rnn::new(0, 3).output_shape(Shape::matrix(7, 0)).is_err(),
        "input 0"
    );
    assert!(
        Rnn::new(4, 3)
            .max_len(0)
            .output_shape(Shape::matrix(1, 4))
            .is_err()
    );
    // Sequences up to max_len are accepted, longer ones refused with both shapes named.
    let capped = Rnn::new(4, 3).max_len(7);
    assert!(capped.output_shape(Shape::matrix(7, 4)).is_ok());
    let e = capped.output_shape(Shape::matrix(8, 4)).unwrap_err();
    assert!(format!("{e}").contains("max_len"), "{e}");
    let layers: [AnyLayer; 2] = [Lstm::new(4, 3).max_len(5).into(), Dense::new(3, 2).into()];
    let e = Plan::inference(&layers, Shape::matrix(6, 4), 2).unwrap_err();
    assert_eq!(e.layer.map(|l| l.index), Some(0));
}

#[test]
fn backward_needs_a_training_forward() {
    let mut l = Rnn::new(2, 3);
    let input = Shape::matrix(2, 2);
    let params = vec![0.1; l.param_len()];
    let x = [0.5; 8];
    let mut r = run(&mut l, &params, &x, input, 2, Mode::Eval);
    let (xs, ys) = (input.batched(2).unwrap(), Shape::matrix(2, 3));
    let mut grads = vec![0.0; params.len()];
    let e = l.backward(
        Tensor::new(&x, xs).unwrap(),
        Tensor::new(&r.y, ys).unwrap(),
        Tensor::new(&r.y, ys).unwrap(),
        None,
        BackwardCtx {
            params: &params,
            grads: &mut grads,
            buffers: &mut [],
            cache: &mut r.cache,
            scratch: &mut r.scratch,
        },
    );
    assert!(e.is_err());
}

#[test]
fn lstm_learns_to_remember_the_first_step() {
    // Target: the first element of a 6-step sequence of noise; only memory can solve it.
    let (t, n) = (6, 16);
    let layers: [AnyLayer; 2] = [Lstm::new(1, 8).into(), Dense::new(8, 1).into()];
    let mut model = Model::owned(layers, Shape::matrix(t, 1), n, Mse, Adam::new(0.02), 3).unwrap();
    let mut rng = Rng::new(5);
    let mut data = || {
        let x: Vec<f32> = (0..n * t).map(|_| uniform(&mut rng)).collect();
        let y: Vec<f32> = x.chunks(t).map(|s| s[0]).collect();
        (x, y)
    };
    let (tx, ty) = data();
    let xs = Shape::new(&[n, t, 1]);
    let start = model
        .evaluate_loss(
            Tensor::new(&tx, xs).unwrap(),
            Targets::Values(Tensor::matrix(&ty, n, 1).unwrap()),
        )
        .unwrap();
    for _ in 0..400 {
        let (x, y) = data();
        let x = Tensor::new(&x, xs).unwrap();
        model
            .train_step(x, Targets::Values(Tensor::matrix(&y, n, 1).unwrap()))
            .unwrap();
    }
    let end = model
        .evaluate_loss(
            Tensor::new(&tx, xs).unwrap(),
            Targets::Values(Tensor::matrix(&ty, n, 1).unwrap()),
        )
        .unwrap();
    assert!(end < 0.05 * start, "loss {start} -> {end}");

    // A network planned for inference (one cached step) predicts exactly what the trained
    // model predicts, with the same parameters.
    let layers: [AnyLayer; 2] = [Lstm::new(1, 8).into(), Dense::new(8, 1).into()];
    let input = Shape::matrix(t, 1);
    let mut net = Net::owned(layers, input, n, Purpose::Inference, 0).unwrap();
    assert!(net.plan().regions().cache < model.plan().regions().cache);
    net.params_mut().copy_from_slice(model.net().params());
    let x = Tensor::new(&tx, xs).unwrap();
    let want = model.predict(x).unwrap().data().to_vec();
    assert_eq!(net.forward(x).unwrap().data(), &want[..]);
}
