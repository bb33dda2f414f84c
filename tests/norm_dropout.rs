//! BatchNorm and Dropout: finite-difference gradients in both modes, running statistics and
//! masks checked against hand-computed values, and bad configurations refused.

mod common;

use common::{check, check_mode};
use nanonn::layers::{BackwardCtx, ForwardCtx, Layer, LayerMemory};
use nanonn::prelude::*;

/// Spread-out inputs with a non-zero mean, so batch statistics are well conditioned.
fn spread(rng: &mut Rng) -> f32 {
    0.5 + rng.normal()
}

/// Runs one forward pass of `layer` on `batch` samples of shape `input` with explicit memory.
#[allow(clippy::too_many_arguments)]
fn forward<L: Layer>(
    layer: &mut L,
    x: &[f32],
    input: Shape,
    batch: usize,
    mode: Mode,
    params: &[f32],
    buffers: &mut [f32],
    cache: &mut Vec<f32>,
    rng: &mut Rng,
) -> Vec<f32> {
    let mem: LayerMemory = layer.memory(input, batch, mode);
    cache.resize(mem.cache.max(cache.len()), 0.0);
    let mut scratch = vec![0.0; mem.scratch];
    let ys = layer.output_shape(input).unwrap().batched(batch).unwrap();
    let mut y = vec![0.0; ys.numel()];
    layer
        .forward(
            Tensor::new(x, input.batched(batch).unwrap()).unwrap(),
            TensorMut::new(&mut y, ys).unwrap(),
            ForwardCtx {
                params,
                buffers,
                cache,
                scratch: &mut scratch,
                rng,
                mode,
            },
        )
        .unwrap();
    y
}

#[test]
fn batch_norm_gradients_train_mode() {
    for (shape, batch) in [
        (Shape::vector(1), 3),
        (Shape::vector(3), 4),
        (Shape::vector(7), 5),
        (Shape::vector(9), 3),
        (Shape::new(&[2, 3, 5]), 2),
        (Shape::new(&[3, 2, 3]), 3),
        (Shape::new(&[1, 3, 11]), 2),
    ] {
        let c = shape.last();
        check(BatchNorm::new(c), shape, batch, spread);
    }
}

#[test]
fn batch_norm_gradients_eval_mode() {
    for (shape, batch) in [
        (Shape::vector(3), 2),
        (Shape::vector(9), 1),
        (Shape::new(&[2, 2, 5]), 2),
    ] {
        let c = shape.last();
        check_mode(BatchNorm::new(c), shape, batch, Mode::Eval, spread);
    }
}

#[test]
fn batch_norm_running_statistics_by_hand() {
    // Two features, batch of two: columns [1, 3] and [2, 6]: batch means 2 and 4, biased
    // variances 1 and 4.
    let mut bn = BatchNorm::new(2);
    let input = Shape::vector(2);
    let x = [1.0, 2.0, 3.0, 6.0];
    let params = [1.0, 1.0, 0.0, 0.0]; // γ = 1, β = 0
    let mut buffers = [0.0; 4];
    bn.init_buffers(&mut buffers);
    assert_eq!(buffers, [0.0, 0.0, 1.0, 1.0]);
    let mut cache = Vec::new();
    let mut rng = Rng::new(0);
    let y = forward(
        &mut bn,
        &x,
        input,
        2,
        Mode::Train,
        &params,
        &mut buffers,
        &mut cache,
        &mut rng,
    );
    // Normalised with the batch statistics: every column becomes [-1, 1] (up to ε).
    let s = 1.0 / (1.0f32 + 1e-5).sqrt();
    let s2 = 2.0 / (4.0f32 + 1e-5).sqrt();
    for (a, e) in y.iter().zip([-s, -s2, s, s2]) {
        assert!((a - e).abs() < 1e-6, "{y:?}");
    }
    // running = 0.9·running + 0.1·batch.
    let expected = [0.2, 0.4, 0.9 + 0.1, 0.9 + 0.4];
    for (a, e) in buffers.iter().zip(expected) {
        assert!((a - e).abs() < 1e-6, "{buffers:?}");
    }
    // A second batch moves them again: columns [0, 0] and [5, 5] (variance 0).
    let x2 = [0.0, 5.0, 0.0, 5.0];
    forward(
        &mut bn,
        &x2,
        input,
        2,
        Mode::Train,
        &params,
        &mut buffers,
        &mut cache,
        &mut rng,
    );
    let expected = [0.18, 0.9 * 0.4 + 0.5, 0.9, 0.9 * 1.3];
    for (a, e) in buffers.iter().zip(expected) {
        assert!((a - e).abs() < 1e-6, "{buffers:?}");
    }
    // Eval uses the running statistics, with γ = 2, β = -1, and leaves them alone.
    let params = [2.0, 2.0, -1.0, -1.0];
    let before = buffers;
    let y = forward(
        &mut bn,
        &x,
        input,
        2,
        Mode::Eval,
        &params,
        &mut buffers,
        &mut cache,
        &mut rng,
    );
    assert_eq!(buffers, before);
    for (i, (a, &xv)) in y.iter().zip(&x).enumerate() {
        let c = i % 2;
        let e = 2.0 * (xv - before[c]) / (before[2 + c] + 1e-5).sqrt() - 1.0;
        assert!((a - e).abs() < 1e-5, "{y:?}");
    }
}

#[test]
fn batch_norm_is_per_channel_over_pixels() {
    // One [2, 2, 2] NHWC image: channel 0 holds 1, 2, 3, 4 and channel 1 holds 10, 10, 10, 30.
    let mut bn = BatchNorm::new(2).momentum(0.0);
    let input = Shape::new(&[2, 2, 2]);
    let x = [1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 4.0, 30.0];
    let params = [1.0, 1.0, 0.0, 0.0];
    let mut buffers = [0.0; 4];
    let mut cache = Vec::new();
    let mut rng = Rng::new(0);
    let y = forward(
        &mut bn,
        &x,
        input,
        1,
        Mode::Train,
        &params,
        &mut buffers,
        &mut cache,
        &mut rng,
    );
    // momentum 0: the running values are this batch's: means 2.5, 15; variances 1.25, 75.
    for (a, e) in buffers.iter().zip([2.5, 15.0, 1.25, 75.0]) {
        assert!((a - e).abs() < 1e-5, "{buffers:?}");
    }
    for (i, (a, &xv)) in y.iter().zip(&x).enumerate() {
        let (m, v) = if i % 2 == 0 {
            (2.5, 1.25)
        } else {
            (15.0, 75.0)
        };
        let e = (xv - m) / (v + 1e-5f32).sqrt();
        assert!((a - e).abs() < 1e-5, "{y:?}");
    }
}

#[test]
fn batch_norm_in_a_model_trains_and_predicts() {
    let layers: [AnyLayer; 4] = [
        Dense::new(3, 8).into(),
        BatchNorm::new(8).into(),
        Activation::Tanh.into(),
        Dense::new(8, 1).into(),
    ];
    let mut model = Model::owned(layers, Shape::vector(3), 8, Mse, Adam::new(0.02), 1).unwrap();
    assert_eq!(model.net().buffers().len(), 16);
    let mut rng = Rng::new(4);
    let xs: Vec<f32> = (0..24).map(|_| rng.normal()).collect();
    let ys: Vec<f32> = xs
        .chunks(3)
        .map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2])
        .collect();
    let x = Tensor::matrix(&xs, 8, 3).unwrap();
    let y = Tensor::matrix(&ys, 8, 1).unwrap();
    let first = model.evaluate_loss(x, Targets::Values(y)).unwrap();
    for _ in 0..300 {
        model.train_step(x, Targets::Values(y)).unwrap();
    }
    let last = model.evaluate_loss(x, Targets::Values(y)).unwrap();
    assert!(last < 0.1 * first, "eval loss {first} -> {last}");
    // The running statistics moved away from their initial (0, 1).
    assert!(model.net().buffers()[..8].iter().any(|m| m.abs() > 1e-3));
}

#[test]
fn batch_norm_refuses_bad_configurations() {
    let bn = BatchNorm::new(3);
    assert!(bn.output_shape(Shape::vector(3)).is_ok());
    assert!(bn.output_shape(Shape::new(&[4, 4, 3])).is_ok());
    let e = bn.output_shape(Shape::vector(4)).unwrap_err();
    assert!(format!("{e}").contains("[3]"), "{e}");
    assert!(bn.output_shape(Shape::new(&[3, 4, 4])).is_err()); // NCHW-looking input
    assert!(bn.output_shape(Shape::new(&[])).is_err());
    assert!(BatchNorm::new(0).output_shape(Shape::vector(0)).is_err());
    for m in [-0.1, 1.5, f32::NAN] {
        assert!(bn.momentum(m).output_shape(Shape::vector(3)).is_err());
    }
    for eps in [0.0, -1.0, f32::INFINITY] {
        assert!(bn.eps(eps).output_shape(Shape::vector(3)).is_err());
    }
    let layers: [AnyLayer; 2] = [Dense::new(4, 5).into(), BatchNorm::new(4).into()];
    let e = Plan::inference(&layers, Shape::vector(4), 2).unwrap_err();
    assert_eq!(e.layer.map(|l| l.index), Some(1));
}

#[test]
fn dropout_gradients_and_eval_identity() {
    for keep in [0.5, 0.8, 1.0] {
        for (shape, batch) in [(Shape::vector(7), 3), (Shape::new(&[2, 3, 3]), 2)] {
            check(Dropout::new(keep), shape, batch, spread);
            check_mode(Dropout::new(keep), shape, batch, Mode::Eval, spread);
        }
    }
    // Eval is exactly the identity, forward and backward.
    let mut d = Dropout::new(0.3);
    let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.37 - 2.0).collect();
    let input = Shape::vector(6);
    let mut cache = Vec::new();
    let y = forward(
        &mut d,
        &x,
        input,
        2,
        Mode::Eval,
        &[],
        &mut [],
        &mut cache,
        &mut Rng::new(1),
    );
    assert_eq!(y, x);
    let dy: Vec<f32> = x.iter().map(|v| v * 3.0).collect();
    let mut dx = vec![0.0; 12];
    let s = input.batched(2).unwrap();
    d.backward(
        Tensor::new(&x, s).unwrap(),
        Tensor::new(&y, s).unwrap(),
        Tensor::new(&dy, s).unwrap(),
        Some(TensorMut::new(&mut dx, s).unwrap()),
        BackwardCtx {
            params: &[],
            grads: &mut [],
            buffers: &mut [],
            cache: &mut cache,
            scratch: &mut [],
        },
    )
    .unwrap();
    assert_eq!(dx, dy);
}

#[test]
fn dropout_keeps_about_keep_prob_and_scales() {
    let n = 100_000;
    let x: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();
    let input = Shape::vector(1000);
    for keep in [0.25f32, 0.5, 0.9] {
        let mut d = Dropout::new(keep);
        let mut cache = Vec::new();
        let y = forward(
            &mut d,
            &x,
            input,
            100,
            Mode::Train,
            &[],
            &mut [],
            &mut cache,
            &mut Rng::new(7),
        );
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        let frac = kept as f32 / n as f32;
        assert!((frac - keep).abs() < 0.01, "keep {keep}: kept {frac}");
        for (a, b) in y.iter().zip(&x) {
            assert!(*a == 0.0 || *a == b * (1.0 / keep), "{a} from {b}");
        }
        // The mean is preserved (inverted dropout).
        let (sy, sx): (f64, f64) = (
            y.iter().map(|&v| v as f64).sum(),
            x.iter().map(|&v| v as f64).sum(),
        );
        assert!((sy / sx - 1.0).abs() < 0.02, "{}", sy / sx);
    }
}

#[test]
fn dropout_masks_follow_the_seed() {
    let x = vec![1.0f32; 64];
    let input = Shape::vector(64);
    let mut d = Dropout::new(0.5);
    let mut run = |seed| {
        let mut cache = Vec::new();
        forward(
            &mut d,
            &x,
            input,
            1,
            Mode::Train,
            &[],
            &mut [],
            &mut cache,
            &mut Rng::new(seed),
        )
    };
    let (a, b, c) = (run(3), run(3), run(4));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn dropout_refuses_bad_keep_prob() {
    for keep in [0.0, -0.5, 1.01, f32::NAN, f32::INFINITY] {
        assert!(
            Dropout::new(keep).output_shape(Shape::vector(3)).is_err(),
            "{keep}"
        );
    }
    assert!(Dropout::new(1.0).output_shape(Shape::vector(3)).is_ok());
    let layers: [AnyLayer; 2] = [Dense::new(4, 5).into(), Dropout::new(0.0).into()];
    assert!(Plan::inference(&layers, Shape::vector(4), 2).is_err());
}

#[test]
fn dropout_in_a_model_is_deterministic_at_predict() {
    let layers: [AnyLayer; 3] = [
        Dense::new(4, 16).into(),
        Dropout::new(0.5).into(),
        Dense::new(16, 2).into(),
    ];
    let mut model = Model::owned(layers, Shape::vector(4), 4, Mse, Sgd::new(0.01), 9).unwrap();
    let xs = [0.5f32; 16];
    let x = Tensor::matrix(&xs, 4, 4).unwrap();
    let a = model.predict(x).unwrap().data().to_vec();
    let t1 = model.forward(x).unwrap().data().to_vec();
    let t2 = model.forward(x).unwrap().data().to_vec();
    let b = model.predict(x).unwrap().data().to_vec();
    assert_eq!(a, b);
    assert_ne!(t1, t2, "training passes draw fresh masks");
    assert_ne!(t1, a);
}
