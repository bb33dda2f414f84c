//! `backward_to_input`: the gradient with respect to a network's own input (what a GAN's
//! generator learns from), checked against central finite differences of the loss.

use nanonn::prelude::*;

/// `∂loss/∂x` from `Model::backward_to_input` and by central differences of
/// `evaluate_loss` (Eval mode: these nets have no mode-dependent layers).
fn analytic_and_numeric(
    layers: Vec<AnyLayer<'static>>,
    input: Shape,
    batch: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut model = Model::owned(layers, input, batch, Mse, Sgd::new(0.1), 5).unwrap();
    let mut rng = Rng::new(9);
    let n_in = input.numel() * batch;
    let mut x: Vec<f32> = (0..n_in).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let out = model.net().output_shape().numel() * batch;
    let y: Vec<f32> = (0..out).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let batched = |s: Shape| s.batched(batch).unwrap();
    let targets_shape = batched(model.net().output_shape());

    model
        .forward(Tensor::new(&x, batched(input)).unwrap())
        .unwrap();
    let mut analytic = vec![f32::NAN; n_in];
    let targets = Targets::Values(Tensor::new(&y, targets_shape).unwrap());
    model.backward_to_input(targets, &mut analytic).unwrap();

    let h = 1e-2f32;
    let mut numeric = vec![0.0; n_in];
    let mut loss_at = |x: &[f32]| {
        let t = Targets::Values(Tensor::new(&y, targets_shape).unwrap());
        model
            .evaluate_loss(Tensor::new(x, batched(input)).unwrap(), t)
            .unwrap() as f64
    };
    for i in 0..n_in {
        let x0 = x[i];
        x[i] = x0 + h;
        let up = loss_at(&x);
        x[i] = x0 - h;
        let down = loss_at(&x);
        x[i] = x0;
        numeric[i] = ((up - down) / (2.0 * h as f64)) as f32;
    }
    (analytic, numeric)
}

fn assert_close(analytic: &[f32], numeric: &[f32]) {
    let scale = numeric.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!(
            (a - n).abs() <= 2e-2 * scale,
            "element {i}: analytic {a}, numeric {n} (scale {scale})"
        );
    }
}

#[test]
fn dense_net_input_gradient_matches_finite_differences() {
    let layers = vec![
        Dense::new(5, 4).into(),
        Activation::Tanh.into(),
        Dense::new(4, 3).into(),
    ];
    let (a, n) = analytic_and_numeric(layers, Shape::vector(5), 3);
    assert!(
        a.iter().any(|v| v.abs() > 1e-4),
        "a zero gradient proves nothing"
    );
    assert_close(&a, &n);
}

#[test]
fn conv_net_input_gradient_matches_finite_differences() {
    let layers = vec![
        Conv2D::new(2, 3, (3, 3)).into(),
        Activation::Tanh.into(),
        Flatten.into(),
        Dense::new(2 * 2 * 3, 2).into(),
    ];
    let (a, n) = analytic_and_numeric(layers, Shape::new(&[4, 4, 2]), 2);
    assert!(
        a.iter().any(|v| v.abs() > 1e-4),
        "a zero gradient proves nothing"
    );
    assert_close(&a, &n);
}

#[test]
fn wrong_input_gradient_length_is_an_error_and_nothing_is_written() {
    let layers = vec![Dense::new(5, 2).into()];
    let mut model = Model::owned(layers, Shape::vector(5), 4, Mse, Sgd::new(0.1), 1).unwrap();
    let x = vec![0.5f32; 3 * 5];
    let y = vec![0.0f32; 3 * 2];
    model.forward(Tensor::matrix(&x, 3, 5).unwrap()).unwrap();
    for len in [0, 14, 16, 20] {
        let mut g = vec![7.0f32; len];
        let t = Targets::Values(Tensor::matrix(&y, 3, 2).unwrap());
        let err = model.backward_to_input(t, &mut g).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::LengthMismatch { expected: 15, got, .. } if got == len),
            "{err}"
        );
        assert!(g.iter().all(|&v| v == 7.0));
    }
    let mut g = vec![0.0f32; 15];
    let t = Targets::Values(Tensor::matrix(&y, 3, 2).unwrap());
    model.backward_to_input(t, &mut g).unwrap();
    assert!(g.iter().all(|v| v.is_finite()));
}
