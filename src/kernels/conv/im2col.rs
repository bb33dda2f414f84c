//! `im2col` (gather the input under each kernel position into a row) and its adjoint
//! `col2im` (scatter-add rows back into an image).
//!
//! With NHWC input and dilation 1 along the width, the `KW` taps of one kernel row read
//! `KW·C` adjacent floats, so each kernel row is one `copy_from_slice` (plus zero fill where
//! it overhangs the padding); with dilation > 1 each tap is a run of `C` floats.

use super::{Dims, Window2d, check_len};
use crate::error::Result;

/// The part `[lo, hi)` of the taps `0..k` (at padded positions `start + t·d`) that falls
/// inside `pad .. pad + size`. Only meaningful for `d == 1` (the taps then form one run).
fn valid_run(start: usize, k: usize, pad: usize, size: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(start).min(k);
    let hi = (pad + size).saturating_sub(start).min(k).max(lo);
    (lo, hi)
}

/// Calls `f(dst_offset, Some(src_offset))` for each run of `len` floats of one output
/// pixel's `col` row that maps to the input, and `f(dst_offset, None)` for runs in the
/// padding. Offsets are in floats; `src` is relative to the start of the sample.
#[inline]
fn for_each_run(
    g: &Window2d,
    oy: usize,
    ox: usize,
    mut f: impl FnMut(usize, usize, Option<usize>),
) {
    let (kh, kw) = g.kernel;
    let (dh, dw) = g.dilation;
    let c = g.in_channels;
    let (py, px) = (oy * g.stride.0, ox * g.stride.1);
    for ky in 0..kh {
        let row = ky * kw * c;
        let pos = py + ky * dh;
        let iy = match pos.checked_sub(g.pad_top) {
            Some(iy) if iy < g.height => iy,
            _ => {
                f(row, kw * c, None);
                continue;
            }
        };
        let line = iy * g.width * c;
        if dw == 1 {
            let (lo, hi) = valid_run(px, kw, g.pad_left, g.width);
            if lo > 0 {
                f(row, lo * c, None);
            }
            if hi > lo {
                f(
                    row + lo * c,
                    (hi - lo) * c,
                    Some(line + (px + lo - g.pad_left) * c),
                );
            }
            if hi < kw {
                f(row + hi * c, (kw - hi) * c, None);
            }
        } else {
            for kx in 0..kw {
                let src = (px + kx * dw)
                    .checked_sub(g.pad_left)
                    .filter(|&ix| ix < g.width)
                    .map(|ix| line + ix * c);
                f(row + kx * c, c, src);
            }
        }
    }
}

/// Writes `col` (`[n·OH·OW, KH·KW·C_in]`): row `(b, oy, ox)` holds the input values under the
/// kernel placed at output pixel `(oy, ox)` of image `b`, ordered `(ky, kx, c)`, with 0 where
/// the kernel lies over padding. `x` is `[n, H, W, C_in]`.
pub fn im2col(g: &Window2d, n: usize, x: &[f32], col: &mut [f32]) -> Result<()> {
    let d = g.dims()?;
    check_len("im2col input", n, d.in_len, x.len())?;
    check_len(
        "im2col output",
        n.saturating_mul(d.oh * d.ow),
        d.k,
        col.len(),
    )?;
    im2col_rows(g, &d, x, 0, col);
    Ok(())
}

/// The output pixel `(b, oy, ox)` a `col` row stands for, stepped row by row (no division
/// per row).
struct Pixel {
    b: usize,
    oy: usize,
    ox: usize,
}

impl Pixel {
    fn at(d: &Dims, row: usize) -> Pixel {
        let p = row % (d.oh * d.ow);
        Pixel {
            b: row / (d.oh * d.ow),
            oy: p / d.ow,
            ox: p % d.ow,
        }
    }

    fn step(&mut self, d: &Dims) {
        self.ox += 1;
        if self.ox == d.ow {
            self.ox = 0;
            self.oy += 1;
            if self.oy == d.oh {
                self.oy = 0;
                self.b += 1;
            }
        }
    }
}

/// When the whole window at output pixel `(oy, ox)` lies inside the image and taps along the
/// width are adjacent (dilation 1), the input offset of its top-left tap: each kernel row is
/// then one run of `KW·C` floats at `offset + ky·DH·W·C`.
#[inline]
fn interior(g: &Window2d, oy: usize, ox: usize) -> Option<usize> {
    let (kh, kw) = g.kernel;
    if g.dilation.1 != 1 {
        return None;
    }
    let iy = (oy * g.stride.0).checked_sub(g.pad_top)?;
    let ix = (ox * g.stride.1).checked_sub(g.pad_left)?;
    let inside = iy + (kh - 1) * g.dilation.0 < g.height && ix + kw <= g.width;
    inside.then_some((iy * g.width + ix) * g.in_channels)
}

/// [`im2col`] of the rows `first .. first + col.len() / K` of the whole batch's `col`
/// matrix (rows run over images, then output rows, then output columns). The caller has
/// checked that `x` holds every image these rows read.
pub(crate) fn im2col_rows(g: &Window2d, d: &Dims, x: &[f32], first: usize, col: &mut [f32]) {
    let run = g.kernel.1 * g.in_channels;
    let line = g.dilation.0 * g.width * g.in_channels;
    let mut px = Pixel::at(d, first);
    for row in col.chunks_exact_mut(d.k) {
        let img = &x[px.b * d.in_len..(px.b + 1) * d.in_len];
        if let Some(start) = interior(g, px.oy, px.ox) {
            for (ky, out) in row.chunks_exact_mut(run).enumerate() {
                let s = start + ky * line;
                out.copy_from_slice(&img[s..s + run]);
            }
        } else {
            for_each_run(g, px.oy, px.ox, |dst, len, src| {
                let out = &mut row[dst..dst + len];
                match src {
                    Some(s) => out.copy_from_slice(&img[s..s + len]),
                    None => out.fill(0.0),
                }
            });
        }
        px.step(d);
    }
}

/// The adjoint of [`im2col`]: `x` (overwritten, `[n, H, W, C_in]`) becomes the sum, over all
/// rows of `col`, of each value added back at the input position it was gathered from;
/// padding positions are dropped.
pub fn col2im(g: &Window2d, n: usize, col: &[f32], x: &mut [f32]) -> Result<()> {
    let d = g.dims()?;
    check_len("col2im output", n, d.in_len, x.len())?;
    check_len(
        "col2im input",
        n.saturating_mul(d.oh * d.ow),
        d.k,
        col.len(),
    )?;
    x.fill(0.0);
    col2im_add_rows(g, &d, col, 0, x);
    Ok(())
}

/// Adds the rows `first ..` of a `col` matrix back into the batch `x` (see [`im2col_rows`]).
pub(crate) fn col2im_add_rows(g: &Window2d, d: &Dims, col: &[f32], first: usize, x: &mut [f32]) {
    let run = g.kernel.1 * g.in_channels;
    let line = g.dilation.0 * g.width * g.in_channels;
    let mut px = Pixel::at(d, first);
    for row in col.chunks_exact(d.k) {
        let img = &mut x[px.b * d.in_len..(px.b + 1) * d.in_len];
        let add = |img: &mut [f32], s: usize, vals: &[f32]| {
            for (o, v) in img[s..s + vals.len()].iter_mut().zip(vals) {
                *o += v;
            }
        };
        if let Some(start) = interior(g, px.oy, px.ox) {
            for (ky, vals) in row.chunks_exact(run).enumerate() {
                add(img, start + ky * line, vals);
            }
        } else {
            for_each_run(g, px.oy, px.ox, |dst, len, src| {
                if let Some(s) = src {
                    add(img, s, &row[dst..dst + len]);
                }
            });
        }
        px.step(d);
    }
}

/// Input position `(iy, ix)` read by tap `(ky, kx)` at output pixel `(oy, ox)`, or `None`
/// in the padding — the definition the references and the tests share.
pub(crate) fn tap(
    g: &Window2d,
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
) -> Option<(usize, usize)> {
    let iy = (oy * g.stride.0 + ky * g.dilation.0).checked_sub(g.pad_top)?;
    let ix = (ox * g.stride.1 + kx * g.dilation.1).checked_sub(g.pad_left)?;
    (iy < g.height && ix < g.width).then_some((iy, ix))
}

/// Scalar twin of [`im2col`]: one element at a time.
pub fn im2col_reference(g: &Window2d, n: usize, x: &[f32], col: &mut [f32]) -> Result<()> {
    let d = g.dims()?;
    check_len("im2col input", n, d.in_len, x.len())?;
    check_len(
        "im2col output",
        n.saturating_mul(d.oh * d.ow),
        d.k,
        col.len(),
    )?;
    let (kh, kw) = g.kernel;
    let c = g.in_channels;
    for b in 0..n {
        for oy in 0..d.oh {
            for ox in 0..d.ow {
                let row = ((b * d.oh + oy) * d.ow + ox) * d.k;
                for ky in 0..kh {
                    for kx in 0..kw {
                        for ci in 0..c {
                            let j = row + (ky * kw + kx) * c + ci;
                            col[j] = match tap(g, oy, ox, ky, kx) {
                                Some((iy, ix)) => x[b * d.in_len + (iy * g.width + ix) * c + ci],
                                None => 0.0,
                            };
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Scalar twin of [`col2im`].
pub fn col2im_reference(g: &Window2d, n: usize, col: &[f32], x: &mut [f32]) -> Result<()> {
    let d = g.dims()?;
    check_len("col2im output", n, d.in_len, x.len())?;
    check_len(
        "col2im input",
        n.saturating_mul(d.oh * d.ow),
        d.k,
        col.len(),
    )?;
    let (kh, kw) = g.kernel;
    let c = g.in_channels;
    x.fill(0.0);
    for b in 0..n {
        for oy in 0..d.oh {
            for ox in 0..d.ow {
                let row = ((b * d.oh + oy) * d.ow + ox) * d.k;
                for ky in 0..kh {
                    for kx in 0..kw {
                        if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                            for ci in 0..c {
                                x[b * d.in_len + (iy * g.width + ix) * c + ci] +=
                                    col[row + (ky * kw + kx) * c + ci];
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
