//! 2-D convolution and pooling on **NHWC** images: `[batch, height, width, channels]`.
//!
//! # Why channels-last
//! CMSIS-NN and tflite-micro store images NHWC, and so does nanonn: one pixel's channels are
//! adjacent, so the `KW·C` values a kernel row sees in one input row are one contiguous run.
//! [`im2col`] then copies runs instead of gathering single floats, its rows are contiguous, and
//! the product `col · W` *is* the NHWC output — no transpose on the way in or out. Pooling
//! vectorizes along the channels for the same reason. (PyTorch's NCHW suits GPUs, where a
//! whole plane is one operand.)
//!
//! # Convolution as one matrix product
//! With weights stored `[KH, KW, C_in, C_out]` row-major (a `[K, C_out]` matrix with
//! `K = KH·KW·C_in`), a convolution of `N` images is
//!
//! ```text
//! forward:          Y  [N·OH·OW, C_out] = col [N·OH·OW, K] · W  [K, C_out]   (+ bias)
//! weight gradient: ∂W  [K, C_out]       = colᵀ              · ∂Y              (gemm trans_a)
//! input gradient:  ∂X  = col2im(∂Y · Wᵀ)                                      (gemm trans_b)
//! ```
//!
//! where `col = im2col(X)` holds one row per output pixel: the `K` input values under the
//! kernel there (zeros where the kernel overhangs the padding). All three products go through
//! [`gemm`]; [`col2im`] is the adjoint of [`im2col`] (it scatters and sums).
//!
//! # Scratch
//! The `col` matrix and the GEMM's packing buffers live in caller-provided scratch, sized up
//! front by [`conv2d_forward_scratch_len`], [`conv2d_weights_scratch_len`] and
//! [`conv2d_data_scratch_len`] (the counterpart of CMSIS-NN's `*_get_buffer_size`). To bound
//! it, `col` is built `block` rows (output pixels, counted across the batch) at a time and
//! each block is multiplied before the next is gathered: scratch grows with `block`, not with
//! the batch or the image. A block of a few hundred rows keeps `col` in L2 between being
//! written and being read, which is also faster than one huge `col` (see `benches/conv.rs`).
//! A 1×1 convolution with stride 1 and no padding needs no `col` at all (`col` would equal
//! `X`) and is one GEMM.
//!
//! Every product has a direct nested-loop twin in `reference` that the tests compare against.

mod im2col;
mod pool;
mod reference;
#[cfg(test)]
mod tests;

pub use im2col::{col2im, col2im_reference, im2col, im2col_reference};

use im2col::{col2im_add_rows, im2col_rows};
pub use pool::*;
pub use reference::{
    conv2d_backward_data_reference, conv2d_backward_weights_reference, conv2d_forward_reference,
};

use super::{add_bias, gemm, gemm_scratch_len, sum_rows};
use crate::error::{Error, Result};

/// Geometry of a 2-D sliding window (convolution or pooling) over NHWC images.
///
/// `pad_*` are rows/columns of zeros added around each image (for pooling, positions that
/// are skipped). The window covers `(k - 1)·dilation + 1` input positions per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// Input channels `C_in`.
    pub in_channels: usize,
    /// Output channels `C_out` (a convolution's filters; equal to `in_channels` for pooling).
    pub out_channels: usize,
    /// Kernel `(KH, KW)`.
    pub kernel: (usize, usize),
    /// Stride `(SH, SW)`.
    pub stride: (usize, usize),
    /// Dilation `(DH, DW)`: the gap between kernel taps, 1 for a dense kernel.
    pub dilation: (usize, usize),
    /// Rows of padding above the image.
    pub pad_top: usize,
    /// Rows of padding below the image.
    pub pad_bottom: usize,
    /// Columns of padding left of the image.
    pub pad_left: usize,
    /// Columns of padding right of the image.
    pub pad_right: usize,
}

/// The sizes a kernel needs, derived once from a checked [`Window2d`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub oh: usize,
    pub ow: usize,
    /// Floats per input sample (`H·W·C_in`).
    pub in_len: usize,
    /// Floats per output sample (`OH·OW·C_out`).
    pub out_len: usize,
    /// Width of an im2col row (`KH·KW·C_in`).
    pub k: usize,
}

fn too_big() -> Error {
    Error::config("convolution sizes overflow usize")
}

fn mul(a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(too_big)
}

impl Window2d {
    /// A window with stride 1, dilation 1 and no padding.
    pub const fn new(
        (height, width, in_channels): (usize, usize, usize),
        out_channels: usize,
        kernel: (usize, usize),
    ) -> Window2d {
        Window2d {
            height,
            width,
            in_channels,
            out_channels,
            kernel,
            stride: (1, 1),
            dilation: (1, 1),
            pad_top: 0,
            pad_bottom: 0,
            pad_left: 0,
            pad_right: 0,
        }
    }

    /// The output `(OH, OW)`, or an error naming what is wrong: a zero size, kernel, stride or
    /// dilation, a (dilated) kernel larger than the padded input, or sizes that overflow.
    pub fn output_size(&self) -> Result<(usize, usize)> {
        self.dims().map(|d| (d.oh, d.ow))
    }

    /// `KH·KW·C_in`: the width of an im2col row and the number of weight rows.
    pub fn col_width(&self) -> usize {
        self.kernel
            .0
            .saturating_mul(self.kernel.1)
            .saturating_mul(self.in_channels)
    }

    /// Floating-point operations of one forward convolution of `batch` images
    /// (`2·N·OH·OW·K·C_out`, multiply and add counted apart); 0 for an invalid window.
    pub fn flops(&self, batch: usize) -> u64 {
        self.dims().map_or(0, |d| {
            [batch, d.oh, d.ow, d.k, self.out_channels]
                .iter()
                .fold(2u64, |acc, &v| acc.saturating_mul(v as u64))
        })
    }

    /// Whether `col` would equal the input (1×1 kernel, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.kernel == (1, 1)
            && self.stride == (1, 1)
            && self.pad_top + self.pad_bottom + self.pad_left + self.pad_right == 0
    }

    pub(crate) fn dims(&self) -> Result<Dims> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (dh, dw) = self.dilation;
        if self.height == 0 || self.width == 0 || self.in_channels == 0 || self.out_channels == 0 {
            return Err(Error::config(
                "window needs height, width and channels of at least 1",
            ));
        }
        if kh == 0 || kw == 0 {
            return Err(Error::config("kernel size must be at least 1"));
        }
        if sh == 0 || sw == 0 {
            return Err(Error::config("stride must be at least 1"));
        }
        if dh == 0 || dw == 0 {
            return Err(Error::config("dilation must be at least 1"));
        }
        let axis = |size: usize, lo: usize, hi: usize, k: usize, d: usize, s: usize| {
            let padded = size
                .checked_add(lo)
                .and_then(|v| v.checked_add(hi))
                .filter(|&v| v <= isize::MAX as usize)
                .ok_or_else(too_big)?;
            let span = mul(k - 1, d)? + 1;
            if span > padded {
                return Err(Error::config(
                    "kernel (with dilation) is larger than the padded input",
                ));
            }
            Ok((padded - span) / s + 1)
        };
        let oh = axis(self.height, self.pad_top, self.pad_bottom, kh, dh, sh)?;
        let ow = axis(self.width, self.pad_left, self.pad_right, kw, dw, sw)?;
        let in_len = mul(mul(self.height, self.width)?, self.in_channels)?;
        let out_len = mul(mul(oh, ow)?, self.out_channels)?;
        let k = mul(mul(kh, kw)?, self.in_channels)?;
        mul(k, self.out_channels)?;
        Ok(Dims {
            oh,
            ow,
            in_len,
            out_len,
            k,
        })
    }

    /// Rows of `col` per pass for a requested `block` over `n` images, and the floats of `col`
    /// that takes (0 when the convolution is pointwise: `X` is used in place and the whole
    /// batch is one pass).
    fn pass(&self, d: &Dims, n: usize, block: usize) -> (usize, usize) {
        let rows = n.saturating_mul(d.oh * d.ow);
        if self.is_pointwise() {
            (rows.max(1), 0)
        } else {
            let block = block.min(rows).max(1);
            (block, block.saturating_mul(d.k))
        }
    }
}

/// Scratch floats [`conv2d_forward`] needs for `n` images in blocks of `block` rows: `col`
/// plus the GEMM's packing buffers. 0 for an invalid window.
pub fn conv2d_forward_scratch_len(g: &Window2d, n: usize, block: usize) -> usize {
    g.dims().map_or(0, |d| {
        let (rows, col) = g.pass(&d, n, block);
        col.saturating_add(gemm_scratch_len(rows, g.out_channels, d.k))
    })
}

/// Scratch floats [`conv2d_backward_weights`] needs for `n` images in blocks of `block` rows.
pub fn conv2d_weights_scratch_len(g: &Window2d, n: usize, block: usize) -> usize {
    g.dims().map_or(0, |d| {
        let (rows, col) = g.pass(&d, n, block);
        col.saturating_add(gemm_scratch_len(d.k, g.out_channels, rows))
    })
}

/// Scratch floats [`conv2d_backward_data`] needs for `n` images in blocks of `block` rows.
pub fn conv2d_data_scratch_len(g: &Window2d, n: usize, block: usize) -> usize {
    g.dims().map_or(0, |d| {
        let (rows, col) = g.pass(&d, n, block);
        col.saturating_add(gemm_scratch_len(rows, d.k, g.out_channels))
    })
}

/// Checks that `len` is `n · per` elements.
pub(crate) fn check_len(what: &'static str, n: usize, per: usize, len: usize) -> Result<()> {
    let expected = n.saturating_mul(per);
    if len == expected {
        Ok(())
    } else {
        Err(Error::length(what, expected, len))
    }
}

/// Checks `block` and `scratch` and splits the scratch into `col` and the GEMM's part.
/// Returns the rows per pass too.
fn prepare<'s>(
    g: &Window2d,
    d: &Dims,
    n: usize,
    block: usize,
    needed: usize,
    scratch: &'s mut [f32],
) -> Result<(usize, &'s mut [f32], &'s mut [f32])> {
    if block == 0 {
        return Err(Error::config("convolution block must be at least 1 row"));
    }
    if scratch.len() < needed {
        return Err(Error::length(
            "convolution scratch (minimum)",
            needed,
            scratch.len(),
        ));
    }
    let (rows, col) = g.pass(d, n, block);
    let (col, gs) = scratch.split_at_mut(col);
    Ok((rows, col, gs))
}

/// `Y = conv(X, W) + bias` for `n` NHWC images: `x` is `[n, H, W, C_in]`, `w` is
/// `[KH, KW, C_in, C_out]`, `bias` (optional) `[C_out]`, `y` is `[n, OH, OW, C_out]`
/// (overwritten).
///
/// `col` is gathered `block` rows (output pixels) at a time; `scratch` must hold at least
/// [`conv2d_forward_scratch_len`]`(g, n, block)` floats. Results are those of
/// [`conv2d_forward_reference`] up to rounding.
///
/// # Errors
/// An invalid window, `block == 0`, a slice of the wrong length, or too little scratch.
#[allow(clippy::too_many_arguments)] // geometry, batch, block and the operands; all needed
pub fn conv2d_forward(
    g: &Window2d,
    n: usize,
    block: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    let d = g.dims()?;
    let c_out = g.out_channels;
    check_len("convolution input", n, d.in_len, x.len())?;
    check_len("convolution weights", d.k, c_out, w.len())?;
    check_len("convolution output", n, d.out_len, y.len())?;
    if let Some(b) = bias {
        check_len("convolution bias", 1, c_out, b.len())?;
    }
    let needed = conv2d_forward_scratch_len(g, n, block);
    let (rows, col, gs) = prepare(g, &d, n, block, needed, scratch)?;
    for (i, ys) in y.chunks_mut(rows * c_out).enumerate() {
        let m = ys.len() / c_out;
        let a: &[f32] = if g.is_pointwise() {
            x
        } else {
            let col = &mut col[..m * d.k];
            im2col_rows(g, &d, x, i * rows, col);
            col
        };
        gemm(false, false, m, c_out, d.k, a, w, 0.0, ys, gs)?;
    }
    match bias {
        Some(b) => add_bias(y, b),
        None => Ok(()),
    }
}

/// `∂W = colᵀ·∂Y` and, when `db` is given, `∂b = Σ ∂Y` over the batch (both overwritten).
/// Shapes as in [`conv2d_forward`]; `dy` is `[n, OH, OW, C_out]`, `dw` `[KH, KW, C_in, C_out]`.
///
/// `scratch` must hold at least [`conv2d_weights_scratch_len`]`(g, n, block)` floats.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weights(
    g: &Window2d,
    n: usize,
    block: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    scratch: &mut [f32],
) -> Result<()> {
    let d = g.dims()?;
    let c_out = g.out_channels;
    check_len("convolution input", n, d.in_len, x.len())?;
    check_len("convolution output gradient", n, d.out_len, dy.len())?;
    check_len("convolution weight gradient", d.k, c_out, dw.len())?;
    if let Some(db) = &db {
        check_len("convolution bias gradient", 1, c_out, db.len())?;
    }
    let needed = conv2d_weights_scratch_len(g, n, block);
    let (rows, col, gs) = prepare(g, &d, n, block, needed, scratch)?;
    dw.fill(0.0);
    for (i, dys) in dy.chunks(rows * c_out).enumerate() {
        let m = dys.len() / c_out;
        let a: &[f32] = if g.is_pointwise() {
            x
        } else {
            let col = &mut col[..m * d.k];
            im2col_rows(g, &d, x, i * rows, col);
            col
        };
        let beta = if i == 0 { 0.0 } else { 1.0 };
        gemm(true, false, d.k, c_out, m, a, dys, beta, dw, gs)?;
    }
    match db {
        Some(db) => sum_rows(dy, db),
        None => Ok(()),
    }
}

/// `∂X = col2im(∂Y·Wᵀ)` (overwritten). Shapes as in [`conv2d_forward`].
///
/// This is also the forward pass of a transposed convolution. `scratch` must hold at least
/// [`conv2d_data_scratch_len`]`(g, n, block)` floats.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_data(
    g: &Window2d,
    n: usize,
    block: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    let d = g.dims()?;
    let c_out = g.out_channels;
    check_len("convolution output gradient", n, d.out_len, dy.len())?;
    check_len("convolution weights", d.k, c_out, w.len())?;
    check_len("convolution input gradient", n, d.in_len, dx.len())?;
    let needed = conv2d_data_scratch_len(g, n, block);
    let (rows, col, gs) = prepare(g, &d, n, block, needed, scratch)?;
    if g.is_pointwise() {
        return gemm(false, true, n * d.oh * d.ow, d.k, c_out, dy, w, 0.0, dx, gs);
    }
    dx.fill(0.0);
    for (i, dys) in dy.chunks(rows * c_out).enumerate() {
        let m = dys.len() / c_out;
        let col = &mut col[..m * d.k];
        gemm(false, true, m, d.k, c_out, dys, w, 0.0, col, gs)?;
        col2im_add_rows(g, &d, col, i * rows, dx);
    }
    Ok(())
}
