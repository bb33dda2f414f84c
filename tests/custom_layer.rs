//! A user-defined layer mixed with built-in ones, trained without a heap-owned layer list.

use nanonn::layers::{BackwardCtx, ForwardCtx, Layer};
use nanonn::prelude::*;

/// `y = a · x` elementwise with one learnable scalar `a` (initialised to 1).
struct Scale;

impl Layer for Scale {
    fn name(&self) -> &'static str {
        "Scale"
    }
    fn output_shape(&self, input: Shape) -> nanonn::Result<Shape> {
        Ok(input)
    }
    fn param_len(&self) -> usize {
        1
    }
    fn init_params(&self, params: &mut [f32], _rng: &mut Rng) -> nanonn::Result<()> {
        params[0] = 1.0;
        Ok(())
    }
    fn forward(
        &mut self,
        x: Tensor<'_>,
        mut y: TensorMut<'_>,
        ctx: ForwardCtx<'_>,
    ) -> nanonn::Result<()> {
        for (o, i) in y.data_mut().iter_mut().zip(x.data()) {
            *o = ctx.params[0] * i;
        }
        Ok(())
    }
    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> nanonn::Result<()> {
        ctx.grads[0] = x.data().iter().zip(dy.data()).map(|(a, b)| a * b).sum();
        if let Some(mut dx) = dx {
            for (d, g) in dx.data_mut().iter_mut().zip(dy.data()) {
                *d = ctx.params[0] * g;
            }
        }
        Ok(())
    }
}

#[test]
fn custom_layer_learns_its_scale() {
    // Target: y = 3 * x through Dense(identity-initialised is not needed) -> Scale.
    let mut scale = Scale;
    let layers: [AnyLayer; 2] = [
        Dense::new(2, 2)
            .with_init(Init::Constant(0.0), Init::Zeros)
            .into(),
        (&mut scale).into(),
    ];
    let mut memory = [0.0f32; 4096];
    let mut model = Model::new(
        layers,
        Shape::vector(2),
        4,
        Mse,
        Sgd::new(0.05),
        &mut memory[..],
        0,
    )
    .unwrap();
    let x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0, 0.5];
    let y: Vec<f32> = x.iter().map(|v| 3.0 * v).collect();
    let xt = Tensor::matrix(&x, 4, 2).unwrap();
    let yt = Tensor::matrix(&y, 4, 2).unwrap();
    let mut loss = 0.0;
    for _ in 0..2000 {
        loss = model.train_step(xt, Targets::Values(yt)).unwrap();
    }
    assert!(loss < 1e-4, "loss {loss}");
    let (layer, p, _) = model.net().layer_params(1).unwrap();
    assert_eq!(layer.name(), "Scale");
    assert_eq!(p.len(), 1);
}
