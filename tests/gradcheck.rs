//! Finite-difference gradient checks for the built-in Dense and activation layers, w.r.t.
//! inputs and parameters, at batch > 1 and odd sizes (the checker is in `tests/common`).

mod common;

use common::{away_from_zero, check};
use nanonn::layers::{BackwardCtx, ForwardCtx, Layer};
use nanonn::prelude::*;

#[test]
fn dense_gradients() {
    for (i, o, b) in [(1, 1, 2), (3, 5, 3), (7, 3, 5), (17, 9, 4)] {
        check(Dense::new(i, o), Shape::vector(i), b, |r| {
            r.uniform_range(-1.0, 1.0)
        });
    }
}

#[test]
fn dense_gradients_with_all_zero_input_columns() {
    // Mostly-zero inputs at batches above 3, so that some input features are zero in every
    // sample and Dense leaves those columns out of x·W and xᵀ·∂y (kernels::gemm_skip_zeros).
    for (i, o, b) in [(17, 9, 4), (40, 33, 6), (64, 20, 5)] {
        check(Dense::new(i, o), Shape::vector(i), b, |r| {
            if r.uniform() < 0.7 {
                0.0
            } else {
                r.uniform_range(-1.0, 1.0)
            }
        });
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
        fn forward(
            &mut self,
            x: Tensor<'_>,
            mut y: TensorMut<'_>,
            _: ForwardCtx<'_>,
        ) -> nanonn::Result<()> {
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
