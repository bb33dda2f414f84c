//! 2-D convolution ([`Conv2D`]) and transposed convolution ([`ConvTranspose2D`]) on NHWC
//! images.
//!
//! # Layout
//! Per-sample shapes are `[height, width, channels]` (batch-first tensors
//! `[N, H, W, C]`), as in CMSIS-NN and tflite-micro: channels-last makes each im2col row a
//! few contiguous copies and makes `im2col(X)·W` the NHWC output directly, with no transpose
//! (see [`crate::kernels::Window2d`] and the `kernels::conv` module for the whole argument).
//!
//! # Parameters
//! [`Conv2D`]: weights `[KH, KW, C_in, C_out]` row-major (a `[KH·KW·C_in, C_out]` matrix, so
//! the forward pass is one GEMM), then, if enabled, the bias `[C_out]`. PyTorch stores
//! `[C_out, C_in, KH, KW]`; Keras stores the same `[KH, KW, C_in, C_out]` as nanonn.
//!
//! # Memory
//! Neither layer caches anything between forward and backward (the input is kept by the
//! network anyway). Their scratch — the im2col matrix and the GEMM's packing buffers — is
//! reported exactly by [`Layer::memory`], and bounded by gathering `im2col` a block of rows
//! (output pixels) at a time: by default [`IM2COL_FLOATS`] floats' worth, or as many rows as
//! [`Conv2D::im2col_rows`] says (one row is the least memory a convolution can run in).

use super::{BackwardCtx, ForwardCtx, Layer, LayerMemory, Mode};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::{
    Window2d, add_bias, conv2d_backward_data, conv2d_backward_weights, conv2d_data_scratch_len,
    conv2d_forward, conv2d_forward_scratch_len, conv2d_weights_scratch_len, sum_rows,
};
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor, TensorMut};

/// Size, in floats, of the im2col block a convolution gathers at a time unless told
/// otherwise (1 MiB): large enough that each GEMM has hundreds of rows, so packing the weights
/// once per block is cheap, and small enough to stay in a desktop L2 cache between being
/// written and being read. On the MNIST example's second layer (`K = 800`, 327 rows per
/// block) this was about 20 % faster than one im2col of the whole batch of 64 and than
/// 64-row blocks (CPU time; `benches/conv.rs`, group `block`).
pub const IM2COL_FLOATS: usize = 1 << 18;

/// Rows per im2col block: `rows` if given (checked non-zero), else as many rows of `k`
/// floats as fit in [`IM2COL_FLOATS`].
fn block_rows(rows: Option<usize>, k: usize) -> usize {
    rows.unwrap_or((IM2COL_FLOATS / k.max(1)).max(1))
}

fn check_rows(rows: Option<usize>) -> Result<()> {
    if rows == Some(0) {
        Err(Error::config("im2col_rows must be at least 1"))
    } else {
        Ok(())
    }
}

/// How a sliding window treats the image border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding: the window stays inside the image (`OH = (H - span) / stride + 1`).
    #[default]
    Valid,
    /// Zero padding so that `OH = ceil(H / stride)`, split as TensorFlow does (the odd row or
    /// column goes to the bottom/right). For a transposed convolution, `OH = H · stride`.
    Same,
    /// Explicit rows/columns of padding on each side.
    Explicit {
        /// Rows above.
        top: usize,
        /// Rows below.
        bottom: usize,
        /// Columns on the left.
        left: usize,
        /// Columns on the right.
        right: usize,
    },
}

impl Padding {
    /// `ph` rows above and below, `pw` columns left and right (PyTorch's `padding=(ph, pw)`).
    pub const fn symmetric(ph: usize, pw: usize) -> Padding {
        Padding::Explicit {
            top: ph,
            bottom: ph,
            left: pw,
            right: pw,
        }
    }

    /// Sets `g`'s four paddings for its size, kernel, dilation and stride.
    pub(crate) fn apply(self, mut g: Window2d) -> Window2d {
        let (top, bottom, left, right) = match self {
            Padding::Valid => (0, 0, 0, 0),
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => (top, bottom, left, right),
            Padding::Same => {
                let same = |size: usize, k: usize, d: usize, s: usize| {
                    let span = k.saturating_sub(1).saturating_mul(d).saturating_add(1);
                    let out = size.div_ceil(s.max(1));
                    let total = out
                        .saturating_sub(1)
                        .saturating_mul(s)
                        .saturating_add(span)
                        .saturating_sub(size);
                    (total / 2, total - total / 2)
                };
                let (t, b) = same(g.height, g.kernel.0, g.dilation.0, g.stride.0);
                let (l, r) = same(g.width, g.kernel.1, g.dilation.1, g.stride.1);
                (t, b, l, r)
            }
        };
        g.pad_top = top;
        g.pad_bottom = bottom;
        g.pad_left = left;
        g.pad_right = right;
        g
    }
}

/// Splits a per-sample image shape `[H, W, C]` (checking `C` against `channels` when given),
/// or returns `rank_error` for another rank.
pub(crate) fn image(
    input: Shape,
    channels: Option<usize>,
    rank_error: &'static str,
) -> Result<(usize, usize, usize)> {
    let (Some(h), Some(w), Some(c), 3) = (input.dim(0), input.dim(1), input.dim(2), input.rank())
    else {
        return Err(Error::config(rank_error));
    };
    match channels {
        Some(expected) if c != expected => {
            Err(Error::shape("input", Shape::new(&[h, w, expected]), input))
        }
        _ => Ok((h, w, c)),
    }
}

const RANK: &str = "a convolution's input must be [height, width, channels]";

/// A 2-D convolution from `in_channels` to `out_channels` on `[H, W, C_in]` inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2D {
    /// Input channels `C_in`.
    pub in_channels: usize,
    /// Output channels (filters) `C_out`.
    pub out_channels: usize,
    /// Kernel `(KH, KW)`.
    pub kernel: (usize, usize),
    /// Stride `(SH, SW)` (default `(1, 1)`).
    pub stride: (usize, usize),
    /// Border handling (default [`Padding::Valid`]).
    pub padding: Padding,
    /// Dilation `(DH, DW)` (default `(1, 1)`).
    pub dilation: (usize, usize),
    /// Whether there is a bias (default `true`).
    pub bias: bool,
    /// Initializer of the weights (default Xavier uniform with fans `KH·KW·C_in` and
    /// `KH·KW·C_out`, as tinynn).
    pub weight_init: Init,
    /// Initializer of the bias (default zeros).
    pub bias_init: Init,
    /// Output pixels gathered per im2col block (default `None`: [`IM2COL_FLOATS`] floats'
    /// worth); scratch grows with it.
    pub im2col_rows: Option<usize>,
}

impl Conv2D {
    /// A convolution with stride 1, no padding, dilation 1, a bias, Xavier-uniform weights.
    pub const fn new(in_channels: usize, out_channels: usize, kernel: (usize, usize)) -> Conv2D {
        Conv2D {
            in_channels,
            out_channels,
            kernel,
            stride: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
            bias: true,
            weight_init: Init::XAVIER_UNIFORM,
            bias_init: Init::Zeros,
            im2col_rows: None,
        }
    }

    /// The same layer with stride `(sh, sw)`.
    pub const fn stride(mut self, stride: (usize, usize)) -> Conv2D {
        self.stride = stride;
        self
    }

    /// The same layer with other padding.
    pub const fn padding(mut self, padding: Padding) -> Conv2D {
        self.padding = padding;
        self
    }

    /// The same layer with dilation `(dh, dw)`.
    pub const fn dilation(mut self, dilation: (usize, usize)) -> Conv2D {
        self.dilation = dilation;
        self
    }

    /// The same layer with or without a bias.
    pub const fn bias(mut self, bias: bool) -> Conv2D {
        self.bias = bias;
        self
    }

    /// The same layer with other initializers.
    pub const fn with_init(mut self, weight: Init, bias: Init) -> Conv2D {
        self.weight_init = weight;
        self.bias_init = bias;
        self
    }

    /// The same layer gathering at most `rows` output pixels per im2col block: less scratch
    /// for small devices (0 is rejected by `output_shape`).
    pub const fn im2col_rows(mut self, rows: usize) -> Conv2D {
        self.im2col_rows = Some(rows);
        self
    }

    /// The window geometry for a per-sample input shape, checked.
    pub fn window(&self, input: Shape) -> Result<Window2d> {
        let (h, w, _) = image(input, Some(self.in_channels), RANK)?;
        let g = Window2d {
            stride: self.stride,
            dilation: self.dilation,
            ..Window2d::new((h, w, self.in_channels), self.out_channels, self.kernel)
        };
        let g = self.padding.apply(g);
        g.output_size()?;
        Ok(g)
    }

    fn weight_len(&self) -> usize {
        weight_len(self.kernel, self.in_channels, self.out_channels)
    }
}

fn weight_len(kernel: (usize, usize), a: usize, b: usize) -> usize {
    kernel
        .0
        .saturating_mul(kernel.1)
        .saturating_mul(a)
        .saturating_mul(b)
}

impl Layer for Conv2D {
    fn name(&self) -> &'static str {
        "Conv2D"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        check_rows(self.im2col_rows)?;
        let (oh, ow) = self.window(input)?.output_size()?;
        Shape::try_new(&[oh, ow, self.out_channels])
    }

    fn param_len(&self) -> usize {
        let bias = if self.bias { self.out_channels } else { 0 };
        self.weight_len().saturating_add(bias)
    }

    fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        let Ok(g) = self.window(input) else {
            return LayerMemory::default();
        };
        let rows = block_rows(self.im2col_rows, g.col_width());
        let mut scratch = conv2d_forward_scratch_len(&g, batch, rows);
        if mode == Mode::Train {
            scratch = scratch
                .max(conv2d_weights_scratch_len(&g, batch, rows))
                .max(conv2d_data_scratch_len(&g, batch, rows));
        }
        LayerMemory {
            scratch,
            ..LayerMemory::default()
        }
    }

    fn init_params(&self, params: &mut [f32], rng: &mut Rng) -> Result<()> {
        let taps = self.kernel.0 * self.kernel.1;
        let (fan_in, fan_out) = (taps * self.in_channels, taps * self.out_channels);
        let (w, b) = params.split_at_mut(self.weight_len());
        self.weight_init.fill(w, fan_in, fan_out, rng)?;
        self.bias_init.fill(b, fan_in, fan_out, rng)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        let g = self.window(x.shape().inner())?;
        let (w, b) = ctx.params.split_at(self.weight_len());
        let bias = if self.bias { Some(b) } else { None };
        let n = x.batch();
        let rows = block_rows(self.im2col_rows, g.col_width());
        conv2d_forward(&g, n, rows, x.data(), w, bias, y.data_mut(), ctx.scratch)
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        let g = self.window(x.shape().inner())?;
        let n = x.batch();
        let (dw, db) = ctx.grads.split_at_mut(self.weight_len());
        let db = if self.bias { Some(db) } else { None };
        let rows = block_rows(self.im2col_rows, g.col_width());
        conv2d_backward_weights(&g, n, rows, x.data(), dy.data(), dw, db, ctx.scratch)?;
        if let Some(mut dx) = dx {
            let w = &ctx.params[..self.weight_len()];
            conv2d_backward_data(&g, n, rows, dy.data(), w, dx.data_mut(), ctx.scratch)?;
        }
        Ok(())
    }
}

/// A transposed convolution ("deconvolution") from `in_channels` to `out_channels`: the
/// gradient of a [`Conv2D`] with respect to its input, used to upsample.
///
/// Its output size is `OH = (H - 1)·stride + (KH - 1)·dilation + 1 + output_padding - top -
/// bottom` for [`Padding::Valid`] and [`Padding::Explicit`] (PyTorch's formula), and
/// `H · stride` for [`Padding::Same`] (TensorFlow's). `output_padding` (less than the stride)
/// picks among the output sizes that a strided convolution maps to the same `H`.
///
/// Parameters: weights `[KH, KW, C_out, C_in]` — the layout of the [`Conv2D`] from `C_out` to
/// `C_in` channels whose backward pass this layer's forward pass is (PyTorch stores its
/// `ConvTranspose2d` weights in the same orientation, `[C_in, C_out, KH, KW]`) — then the
/// bias `[C_out]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvTranspose2D {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `(KH, KW)`.
    pub kernel: (usize, usize),
    /// Stride `(SH, SW)`: the upsampling factor (default `(1, 1)`).
    pub stride: (usize, usize),
    /// Padding removed from the output (default [`Padding::Valid`]).
    pub padding: Padding,
    /// Extra rows/columns added at the bottom/right (each less than the stride; default 0).
    pub output_padding: (usize, usize),
    /// Dilation `(DH, DW)` (default `(1, 1)`).
    pub dilation: (usize, usize),
    /// Whether there is a bias (default `true`).
    pub bias: bool,
    /// Initializer of the weights (default Xavier uniform).
    pub weight_init: Init,
    /// Initializer of the bias (default zeros).
    pub bias_init: Init,
    /// Output pixels gathered per im2col block (default `None`: automatic).
    pub im2col_rows: Option<usize>,
}

impl ConvTranspose2D {
    /// A transposed convolution with stride 1, no padding, dilation 1, a bias.
    pub const fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
    ) -> ConvTranspose2D {
        ConvTranspose2D {
            in_channels,
            out_channels,
            kernel,
            stride: (1, 1),
            padding: Padding::Valid,
            output_padding: (0, 0),
            dilation: (1, 1),
            bias: true,
            weight_init: Init::XAVIER_UNIFORM,
            bias_init: Init::Zeros,
            im2col_rows: None,
        }
    }

    /// The same layer with stride `(sh, sw)`.
    pub const fn stride(mut self, stride: (usize, usize)) -> ConvTranspose2D {
        self.stride = stride;
        self
    }

    /// The same layer with other padding.
    pub const fn padding(mut self, padding: Padding) -> ConvTranspose2D {
        self.padding = padding;
        self
    }

    /// The same layer with `(rows, columns)` of output padding.
    pub const fn output_padding(mut self, extra: (usize, usize)) -> ConvTranspose2D {
        self.output_padding = extra;
        self
    }

    /// The same layer with dilation `(dh, dw)`.
    pub const fn dilation(mut self, dilation: (usize, usize)) -> ConvTranspose2D {
        self.dilation = dilation;
        self
    }

    /// The same layer with or without a bias.
    pub const fn bias(mut self, bias: bool) -> ConvTranspose2D {
        self.bias = bias;
        self
    }

    /// The same layer with other initializers.
    pub const fn with_init(mut self, weight: Init, bias: Init) -> ConvTranspose2D {
        self.weight_init = weight;
        self.bias_init = bias;
        self
    }

    /// The same layer gathering at most `rows` pixels per im2col block.
    pub const fn im2col_rows(mut self, rows: usize) -> ConvTranspose2D {
        self.im2col_rows = Some(rows);
        self
    }

    /// The geometry of the equivalent convolution: from this layer's *output*
    /// `[OH, OW, C_out]` to its input `[H, W, C_in]`.
    pub fn window(&self, input: Shape) -> Result<Window2d> {
        let (h, w, _) = image(input, Some(self.in_channels), RANK)?;
        let ((sh, sw), (dh, dw), (kh, kw)) = (self.stride, self.dilation, self.kernel);
        let (oph, opw) = self.output_padding;
        if sh == 0 || sw == 0 || dh == 0 || dw == 0 || kh == 0 || kw == 0 || h == 0 || w == 0 {
            return Err(Error::config(
                "transposed convolution needs kernel, stride, dilation and input of at least 1",
            ));
        }
        if oph >= sh || opw >= sw {
            return Err(Error::config(
                "output padding must be smaller than the stride",
            ));
        }
        let full = |size: usize, s: usize, k: usize, d: usize, extra: usize| {
            (size - 1)
                .checked_mul(s)
                .zip((k - 1).checked_mul(d))
                .and_then(|(a, b)| a.checked_add(b))
                .and_then(|v| v.checked_add(1 + extra))
                .ok_or(Error::config(
                    "transposed convolution output size overflows",
                ))
        };
        let base = Window2d {
            stride: self.stride,
            dilation: self.dilation,
            ..Window2d::new((0, 0, self.out_channels), self.in_channels, self.kernel)
        };
        let g = match self.padding {
            Padding::Same => {
                if (oph, opw) != (0, 0) {
                    return Err(Error::config(
                        "output padding needs Valid or Explicit padding",
                    ));
                }
                let too_big = Error::config("transposed convolution output size overflows");
                let height = h.checked_mul(sh).ok_or(too_big)?;
                let width = w.checked_mul(sw).ok_or(too_big)?;
                Padding::Same.apply(Window2d {
                    height,
                    width,
                    ..base
                })
            }
            p => {
                let g = p.apply(base);
                let height = full(h, sh, kh, dh, oph)?.checked_sub(g.pad_top + g.pad_bottom);
                let width = full(w, sw, kw, dw, opw)?.checked_sub(g.pad_left + g.pad_right);
                match (height, width) {
                    (Some(height), Some(width)) if height > 0 && width > 0 => {
                        Window2d { height, width, ..g }
                    }
                    _ => {
                        return Err(Error::config(
                            "transposed convolution padding removes the whole output",
                        ));
                    }
                }
            }
        };
        // By construction the convolution maps the output back to the input size.
        if g.output_size()? != (h, w) {
            return Err(Error::config(
                "transposed convolution geometry is inconsistent",
            ));
        }
        Ok(g)
    }

    fn weight_len(&self) -> usize {
        weight_len(self.kernel, self.out_channels, self.in_channels)
    }
}

impl Layer for ConvTranspose2D {
    fn name(&self) -> &'static str {
        "ConvTranspose2D"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        check_rows(self.im2col_rows)?;
        let g = self.window(input)?;
        Shape::try_new(&[g.height, g.width, self.out_channels])
    }

    fn param_len(&self) -> usize {
        let bias = if self.bias { self.out_channels } else { 0 };
        self.weight_len().saturating_add(bias)
    }

    fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        let Ok(g) = self.window(input) else {
            return LayerMemory::default();
        };
        let rows = block_rows(self.im2col_rows, g.col_width());
        let mut scratch = conv2d_data_scratch_len(&g, batch, rows);
        if mode == Mode::Train {
            scratch = scratch
                .max(conv2d_weights_scratch_len(&g, batch, rows))
                .max(conv2d_forward_scratch_len(&g, batch, rows));
        }
        LayerMemory {
            scratch,
            ..LayerMemory::default()
        }
    }

    fn init_params(&self, params: &mut [f32], rng: &mut Rng) -> Result<()> {
        let taps = self.kernel.0 * self.kernel.1;
        let (fan_in, fan_out) = (taps * self.in_channels, taps * self.out_channels);
        let (w, b) = params.split_at_mut(self.weight_len());
        self.weight_init.fill(w, fan_in, fan_out, rng)?;
        self.bias_init.fill(b, fan_in, fan_out, rng)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        let g = self.window(x.shape().inner())?;
        let (w, b) = ctx.params.split_at(self.weight_len());
        let n = x.batch();
        let rows = block_rows(self.im2col_rows, g.col_width());
        conv2d_backward_data(&g, n, rows, x.data(), w, y.data_mut(), ctx.scratch)?;
        if self.bias {
            add_bias(y.data_mut(), b)?;
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
    ) -> Result<()> {
        let g = self.window(x.shape().inner())?;
        let n = x.batch();
        let rows = block_rows(self.im2col_rows, g.col_width());
        let (dw, db) = ctx.grads.split_at_mut(self.weight_len());
        // The equivalent convolution reads this layer's output gradient as its input and
        // this layer's input as its output gradient.
        conv2d_backward_weights(&g, n, rows, dy.data(), x.data(), dw, None, ctx.scratch)?;
        if self.bias {
            sum_rows(dy.data(), db)?;
        }
        if let Some(mut dx) = dx {
            let w = &ctx.params[..self.weight_len()];
            conv2d_forward(&g, n, rows, dy.data(), w, None, dx.data_mut(), ctx.scratch)?;
        }
        Ok(())
    }
}
