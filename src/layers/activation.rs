//! Activation layers: `y = f(x)` elementwise, no parameters.
//!
//! The function itself ([`Activation`]) is defined with its kernels in
//! [`crate::kernels`]; this file makes it a [`Layer`].

pub use crate::kernels::Activation;

use super::{BackwardCtx, ForwardCtx, Layer};
use crate::error::{Error, Result};
use crate::kernels::{activation_backward, activation_forward};
use crate::tensor::{Shape, Tensor, TensorMut};

impl Activation {
    fn validate(&self) -> Result<()> {
        match *self {
            Activation::LeakyReLU { slope } if !slope.is_finite() => {
                Err(Error::config("LeakyReLU slope must be finite"))
            }
            Activation::ELU { alpha } if !alpha.is_finite() => {
                Err(Error::config("ELU alpha must be finite"))
            }
            _ => Ok(()),
        }
    }
}

impl Layer for Activation {
    fn name(&self) -> &'static str {
        Activation::name(self)
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        self.validate()?;
        Ok(input)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _ctx: ForwardCtx<'_>) -> Result<()> {
        activation_forward(*self, x.data(), y.data_mut())
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        _ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        match dx {
            Some(mut dx) => {
                activation_backward(*self, x.data(), y.data(), dy.data(), dx.data_mut())
            }
            None => Ok(()),
        }
    }
}
