//! Pooling on NHWC images (`[H, W, C]` per sample): [`MaxPool2D`], [`AvgPool2D`] and
//! [`GlobalAvgPool2D`]. No parameters, no cache, no scratch.
//!
//! Padding positions are skipped: never a maximum, not counted in an average (TensorFlow's
//! behaviour; PyTorch's `count_include_pad=False`). Each padding must be smaller than the
//! kernel so that every window sees at least one pixel. Max pooling's backward pass
//! recomputes each window's (first) maximum from the input rather than caching indices; see
//! [`crate::kernels::max_pool2d_backward`].

use super::conv::{Padding, image};
use super::{BackwardCtx, ForwardCtx, Layer};
use crate::error::{Error, Result};
use crate::kernels::{
    Window2d, avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward,
    max_pool2d, max_pool2d_backward,
};
use crate::tensor::{Shape, Tensor, TensorMut};

const RANK: &str = "a pooling layer's input must be [height, width, channels]";

fn window(
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
    input: Shape,
) -> Result<Window2d> {
    let (h, w, c) = image(input, None, RANK)?;
    let g = padding.apply(Window2d {
        stride,
        ..Window2d::new((h, w, c), c, kernel)
    });
    g.pool_output_size()?;
    Ok(g)
}

fn output(g: &Window2d) -> Result<Shape> {
    let (oh, ow) = g.pool_output_size()?;
    Shape::try_new(&[oh, ow, g.in_channels])
}

/// The fields, constructor and builders shared by the two windowed pooling layers.
macro_rules! windowed_pool {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            /// Window `(KH, KW)`.
            pub kernel: (usize, usize),
            /// Stride `(SH, SW)` (default: the kernel, so windows do not overlap).
            pub stride: (usize, usize),
            /// Border handling (default [`Padding::Valid`]).
            pub padding: Padding,
        }

        impl $name {
            /// Non-overlapping `kernel`-sized windows (stride = kernel), no padding.
            pub const fn new(kernel: (usize, usize)) -> $name {
                $name {
                    kernel,
                    stride: kernel,
                    padding: Padding::Valid,
                }
            }

            /// The same layer with stride `(sh, sw)`.
            pub const fn stride(mut self, stride: (usize, usize)) -> $name {
                self.stride = stride;
                self
            }

            /// The same layer with other padding.
            pub const fn padding(mut self, padding: Padding) -> $name {
                self.padding = padding;
                self
            }

            /// The window geometry for a per-sample input shape, checked.
            pub fn window(&self, input: Shape) -> Result<Window2d> {
                window(self.kernel, self.stride, self.padding, input)
            }
        }
    };
}

windowed_pool!(
    /// Max pooling: each output is the largest input in its window, per channel.
    MaxPool2D
);

windowed_pool!(
    /// Average pooling: each output is the mean of the pixels in its window, per channel
    /// (padding not counted).
    AvgPool2D
);

impl Layer for MaxPool2D {
    fn name(&self) -> &'static str {
        "MaxPool2D"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        output(&self.window(input)?)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
        let g = self.window(x.shape().inner())?;
        max_pool2d(&g, x.batch(), x.data(), y.data_mut())
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        _: BackwardCtx<'_>,
    ) -> Result<()> {
        let Some(mut dx) = dx else {
            return Ok(());
        };
        let g = self.window(x.shape().inner())?;
        max_pool2d_backward(&g, x.batch(), x.data(), dy.data(), dx.data_mut())
    }
}

impl Layer for AvgPool2D {
    fn name(&self) -> &'static str {
        "AvgPool2D"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        output(&self.window(input)?)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
        let g = self.window(x.shape().inner())?;
        avg_pool2d(&g, x.batch(), x.data(), y.data_mut())
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        _: BackwardCtx<'_>,
    ) -> Result<()> {
        let Some(mut dx) = dx else {
            return Ok(());
        };
        let g = self.window(x.shape().inner())?;
        avg_pool2d_backward(&g, x.batch(), dy.data(), dx.data_mut())
    }
}

/// Global average pooling: `[H, W, C] -> [C]`, the mean of each channel over the image
/// (the usual head of a fully convolutional network).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalAvgPool2D;

impl GlobalAvgPool2D {
    fn split(input: Shape) -> Result<(usize, usize)> {
        let (h, w, c) = image(input, None, RANK)?;
        if h == 0 || w == 0 || c == 0 {
            return Err(Error::config(
                "global pooling needs at least one pixel and one channel",
            ));
        }
        Ok((h * w, c))
    }
}

impl Layer for GlobalAvgPool2D {
    fn name(&self) -> &'static str {
        "GlobalAvgPool2D"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        let (_, c) = Self::split(input)?;
        Ok(Shape::vector(c))
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
        let (pixels, c) = Self::split(x.shape().inner())?;
        global_avg_pool2d(x.batch(), pixels, c, x.data(), y.data_mut())
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        _: BackwardCtx<'_>,
    ) -> Result<()> {
        let Some(mut dx) = dx else {
            return Ok(());
        };
        let (pixels, c) = Self::split(x.shape().inner())?;
        global_avg_pool2d_backward(x.batch(), pixels, c, dy.data(), dx.data_mut())
    }
}
