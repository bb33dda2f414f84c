//! [`Flatten`] and [`Reshape`]: change a sample's shape, keep its values in order.
//!
//! Tensors are row-major, so a reshape is a relabelling of the same numbers. The layers
//! still *copy* them (`y = x`, `∂x = ∂y`): a network gives every layer its own output buffer,
//! and the copy costs one `memcpy`, far less than the convolution or dense layer around it.

use super::{BackwardCtx, ForwardCtx, Layer};
use crate::error::{Error, Result};
use crate::tensor::{Shape, Tensor, TensorMut};

fn copy(from: &[f32], to: &mut [f32]) -> Result<()> {
    if from.len() != to.len() {
        return Err(Error::length("reshaped data", to.len(), from.len()));
    }
    to.copy_from_slice(from);
    Ok(())
}

fn backward_copy(dy: Tensor<'_>, dx: Option<TensorMut<'_>>) -> Result<()> {
    match dx {
        Some(mut dx) => copy(dy.data(), dx.data_mut()),
        None => Ok(()),
    }
}

/// Flattens each sample to a vector: `[H, W, C] -> [H·W·C]` (any rank to rank 1), the bridge
/// from convolutions to [`super::Dense`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flatten;

impl Layer for Flatten {
    fn name(&self) -> &'static str {
        "Flatten"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        let n = input
            .checked_numel()
            .ok_or(Error::config("input element count overflows usize"))?;
        Shape::try_new(&[n])
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
        copy(x.data(), y.data_mut())
    }

    fn backward(
        &mut self,
        _x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        _: BackwardCtx<'_>,
    ) -> Result<()> {
        backward_copy(dy, dx)
    }
}

/// Gives each sample a new shape with the same number of elements (e.g. `[784] -> [28, 28, 1]`
/// to feed flat MNIST pixels to a [`super::Conv2D`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reshape {
    /// The per-sample output shape (rank 1 to 3, so that the batch makes at most 4).
    pub shape: Shape,
}

impl Reshape {
    /// Reshapes each sample to `shape`.
    pub const fn new(shape: Shape) -> Reshape {
        Reshape { shape }
    }
}

impl Layer for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        if input.checked_numel() != self.shape.checked_numel() || self.shape.rank() == 0 {
            return Err(Error::config(
                "Reshape needs a target shape with as many elements as the input",
            ));
        }
        Ok(self.shape)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
        copy(x.data(), y.data_mut())
    }

    fn backward(
        &mut self,
        _x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        _: BackwardCtx<'_>,
    ) -> Result<()> {
        backward_copy(dy, dx)
    }
}
