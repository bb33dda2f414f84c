//! Max, average and global-average pooling on NHWC images, forward and backward.
//!
//! The loops run along the channels (adjacent in NHWC), so each window tap is one vectorizable
//! pass over `C` floats. A pooling window uses [`Window2d`] with `out_channels ==
//! in_channels`, dilation 1 and each padding smaller than the kernel, so that every window
//! holds at least one input value; padding positions are skipped (neither a max candidate
//! nor counted in an average).
//!
//! Max pooling takes, per channel, the *first* largest value of the window (row-major tap
//! order). Its backward recomputes that argmax from `x` instead of reading indices saved by
//! the forward pass: the same cost as the forward pass, but no cache memory (which would be
//! as large as the output).

use core::ops::Range;

use super::im2col::tap;
use super::{Dims, Window2d, check_len};
use crate::error::{Error, Result};

/// Channels handled at once by the max-pool backward (stack arrays, no allocation).
const BLOCK: usize = 16;

impl Window2d {
    /// The output `(OH, OW)` of a pooling window, or an error: the checks of
    /// [`Window2d::output_size`], plus `out_channels == in_channels`, dilation 1 and each
    /// padding smaller than the kernel (so that no window lies entirely in the padding).
    pub fn pool_output_size(&self) -> Result<(usize, usize)> {
        pool_dims(self).map(|d| (d.oh, d.ow))
    }
}

fn pool_dims(g: &Window2d) -> Result<Dims> {
    let d = g.dims()?;
    if g.out_channels != g.in_channels {
        return Err(Error::config("pooling keeps the channel count"));
    }
    if g.dilation != (1, 1) {
        return Err(Error::config("pooling has no dilation"));
    }
    let (kh, kw) = g.kernel;
    if g.pad_top.max(g.pad_bottom) >= kh || g.pad_left.max(g.pad_right) >= kw {
        return Err(Error::config(
            "pooling padding must be smaller than the kernel",
        ));
    }
    Ok(d)
}

fn check_io(g: &Window2d, n: usize, x: usize, y: usize) -> Result<Dims> {
    let d = pool_dims(g)?;
    check_len("pooling input", n, d.in_len, x)?;
    check_len("pooling output", n, d.out_len, y)?;
    Ok(d)
}

/// The taps of one pooling window that lie inside the image. Pooling has dilation 1, so they
/// form a rectangle of image rows and columns: no per-tap padding test is needed.
struct Rect {
    rows: Range<usize>,
    cols: Range<usize>,
}

impl Rect {
    fn new(g: &Window2d, oy: usize, ox: usize) -> Rect {
        let clip = |p: usize, k: usize, pad: usize, size: usize| {
            p.saturating_sub(pad)..(p + k).saturating_sub(pad).min(size)
        };
        Rect {
            rows: clip(oy * g.stride.0, g.kernel.0, g.pad_top, g.height),
            cols: clip(ox * g.stride.1, g.kernel.1, g.pad_left, g.width),
        }
    }

    fn count(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// Offsets of all taps, in row-major order.
    fn offsets<'g>(&self, g: &'g Window2d) -> impl Iterator<Item = usize> + 'g {
        let cols = self.cols.clone();
        self.rows.clone().flat_map(move |iy| {
            cols.clone()
                .map(move |ix| (iy * g.width + ix) * g.in_channels)
        })
    }
}

/// Max pooling: `y[b,oy,ox,c]` = the largest `x` in the window. `x` is `[n, H, W, C]`,
/// `y` `[n, OH, OW, C]`.
pub fn max_pool2d(g: &Window2d, n: usize, x: &[f32], y: &mut [f32]) -> Result<()> {
    let d = check_io(g, n, x.len(), y.len())?;
    let c = g.in_channels;
    for (img, out) in x.chunks_exact(d.in_len).zip(y.chunks_exact_mut(d.out_len)) {
        for (p, yrow) in out.chunks_exact_mut(c).enumerate() {
            let mut offsets = Rect::new(g, p / d.ow, p % d.ow).offsets(g);
            if let Some(first) = offsets.next() {
                yrow.copy_from_slice(&img[first..first + c]);
            }
            for off in offsets {
                for (a, &v) in yrow.iter_mut().zip(&img[off..off + c]) {
                    if v > *a {
                        *a = v;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Copies `src[..cn]` into `dst` (a fixed-size copy when the block is full).
#[inline]
fn load(dst: &mut [f32; BLOCK], src: &[f32], cn: usize) {
    match src
        .get(..BLOCK)
        .and_then(|s| <&[f32; BLOCK]>::try_from(s).ok())
    {
        Some(full) if cn == BLOCK => *dst = *full,
        _ => dst[..cn].copy_from_slice(&src[..cn]),
    }
}

/// Running first maximum over a block of channels: `best[j]` and the offset `at[j]` of the
/// tap it came from. Fixed-length arrays let the loop vectorize.
#[inline]
fn keep_max(best: &mut [f32; BLOCK], at: &mut [usize; BLOCK], vals: &[f32; BLOCK], off: usize) {
    for j in 0..BLOCK {
        if vals[j] > best[j] {
            best[j] = vals[j];
            at[j] = off;
        }
    }
}

/// Max-pool backward: `dx` (overwritten) receives each `dy` at the position of its window's
/// maximum (recomputed from `x`; see the module documentation).
pub fn max_pool2d_backward(
    g: &Window2d,
    n: usize,
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    let d = check_io(g, n, x.len(), dy.len())?;
    check_len("pooling input gradient", n, d.in_len, dx.len())?;
    let c = g.in_channels;
    let (mut best, mut vals) = ([0.0; BLOCK], [0.0; BLOCK]);
    let samples = x.chunks_exact(d.in_len).zip(dy.chunks_exact(d.out_len));
    for ((img, grads), dimg) in samples.zip(dx.chunks_exact_mut(d.in_len)) {
        dimg.fill(0.0); // per sample, so it is still in cache for the scatter below
        for (p, grow) in grads.chunks_exact(c).enumerate() {
            let rect = Rect::new(g, p / d.ow, p % d.ow);
            for cb in (0..c).step_by(BLOCK) {
                let cn = BLOCK.min(c - cb);
                let mut offsets = rect.offsets(g).map(|o| o + cb);
                // The first tap wins unless beaten, as in the forward pass.
                let Some(first) = offsets.next() else {
                    continue;
                };
                load(&mut best, &img[first..], cn);
                let mut at = [first; BLOCK];
                for off in offsets {
                    load(&mut vals, &img[off..], cn);
                    keep_max(&mut best, &mut at, &vals, off);
                }
                for (j, (&off, &gv)) in at[..cn].iter().zip(&grow[cb..cb + cn]).enumerate() {
                    dimg[off + j] += gv;
                }
            }
        }
    }
    Ok(())
}

/// Average pooling: `y` = the mean of the window's values inside the image (padding is not
/// counted, as Keras/TF `"same"` pooling and PyTorch's `count_include_pad=False`).
pub fn avg_pool2d(g: &Window2d, n: usize, x: &[f32], y: &mut [f32]) -> Result<()> {
    let d = check_io(g, n, x.len(), y.len())?;
    let c = g.in_channels;
    for (img, out) in x.chunks_exact(d.in_len).zip(y.chunks_exact_mut(d.out_len)) {
        for (p, yrow) in out.chunks_exact_mut(c).enumerate() {
            yrow.fill(0.0);
            let rect = Rect::new(g, p / d.ow, p % d.ow);
            for off in rect.offsets(g) {
                for (a, v) in yrow.iter_mut().zip(&img[off..off + c]) {
                    *a += v;
                }
            }
            let count = rect.count().max(1) as f32;
            yrow.iter_mut().for_each(|v| *v /= count);
        }
    }
    Ok(())
}

/// Average-pool backward: `dx` (overwritten) gets `dy / count` added at every counted
/// position of each window.
pub fn avg_pool2d_backward(g: &Window2d, n: usize, dy: &[f32], dx: &mut [f32]) -> Result<()> {
    let d = check_io(g, n, dx.len(), dy.len())?;
    let c = g.in_channels;
    for (grads, dimg) in dy
        .chunks_exact(d.out_len)
        .zip(dx.chunks_exact_mut(d.in_len))
    {
        dimg.fill(0.0);
        for (p, grow) in grads.chunks_exact(c).enumerate() {
            let rect = Rect::new(g, p / d.ow, p % d.ow);
            let count = rect.count().max(1) as f32;
            for off in rect.offsets(g) {
                for (o, v) in dimg[off..off + c].iter_mut().zip(grow) {
                    *o += v / count;
                }
            }
        }
    }
    Ok(())
}

fn check_global(n: usize, pixels: usize, c: usize, x: usize, y: usize) -> Result<()> {
    if pixels == 0 || c == 0 {
        return Err(Error::config(
            "global pooling needs at least one pixel and one channel",
        ));
    }
    check_len("global pooling input", n, pixels.saturating_mul(c), x)?;
    check_len("global pooling output", n, c, y)
}

/// Global average pooling: `y[b,c]` = the mean of `x[b,·,·,c]` over the `pixels = H·W`
/// positions. `x` is `[n, pixels, c]`, `y` `[n, c]`.
pub fn global_avg_pool2d(
    n: usize,
    pixels: usize,
    c: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<()> {
    check_global(n, pixels, c, x.len(), y.len())?;
    let scale = pixels as f32;
    for (img, yrow) in x.chunks_exact(pixels * c).zip(y.chunks_exact_mut(c)) {
        yrow.fill(0.0);
        for px in img.chunks_exact(c) {
            for (a, v) in yrow.iter_mut().zip(px) {
                *a += v;
            }
        }
        yrow.iter_mut().for_each(|v| *v /= scale);
    }
    Ok(())
}

/// Global-average-pool backward: `dx[b,p,c] = dy[b,c] / pixels` (overwritten).
pub fn global_avg_pool2d_backward(
    n: usize,
    pixels: usize,
    c: usize,
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    check_global(n, pixels, c, dx.len(), dy.len())?;
    let scale = pixels as f32;
    for (dimg, grow) in dx.chunks_exact_mut(pixels * c).zip(dy.chunks_exact(c)) {
        for px in dimg.chunks_exact_mut(c) {
            for (o, v) in px.iter_mut().zip(grow) {
                *o = v / scale;
            }
        }
    }
    Ok(())
}

/// The index (within a sample) of the window maximum of channel `ci` at output pixel `p`:
/// first largest value, as [`max_pool2d`].
fn argmax_reference(g: &Window2d, d: &Dims, img: &[f32], p: usize, ci: usize) -> Option<usize> {
    let (kh, kw) = g.kernel;
    let mut best: Option<usize> = None;
    for ky in 0..kh {
        for kx in 0..kw {
            if let Some((iy, ix)) = tap(g, p / d.ow, p % d.ow, ky, kx) {
                let i = (iy * g.width + ix) * g.in_channels + ci;
                if best.is_none_or(|b| img[i] > img[b]) {
                    best = Some(i);
                }
            }
        }
    }
    best
}

/// Scalar twin of [`max_pool2d`].
pub fn max_pool2d_reference(g: &Window2d, n: usize, x: &[f32], y: &mut [f32]) -> Result<()> {
    let d = check_io(g, n, x.len(), y.len())?;
    let c = g.in_channels;
    for b in 0..n {
        let img = &x[b * d.in_len..(b + 1) * d.in_len];
        for p in 0..d.oh * d.ow {
            for ci in 0..c {
                y[b * d.out_len + p * c + ci] =
                    argmax_reference(g, &d, img, p, ci).map_or(0.0, |i| img[i]);
            }
        }
    }
    Ok(())
}

/// Scalar twin of [`max_pool2d_backward`].
pub fn max_pool2d_backward_reference(
    g: &Window2d,
    n: usize,
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    let d = check_io(g, n, x.len(), dy.len())?;
    check_len("pooling input gradient", n, d.in_len, dx.len())?;
    let c = g.in_channels;
    dx.fill(0.0);
    for b in 0..n {
        let img = &x[b * d.in_len..(b + 1) * d.in_len];
        for p in 0..d.oh * d.ow {
            for ci in 0..c {
                if let Some(i) = argmax_reference(g, &d, img, p, ci) {
                    dx[b * d.in_len + i] += dy[b * d.out_len + p * c + ci];
                }
            }
        }
    }
    Ok(())
}

/// Positions (within a sample) counted by the window at output pixel `p`, channel `ci`.
fn window_reference(g: &Window2d, d: &Dims, p: usize, ci: usize) -> impl Iterator<Item = usize> {
    let (kh, kw) = g.kernel;
    let g = *g;
    let ow = d.ow;
    (0..kh * kw).filter_map(move |t| {
        tap(&g, p / ow, p % ow, t / kw, t % kw)
            .map(|(iy, ix)| (iy * g.width + ix) * g.in_channels + ci)
    })
}

/// Scalar twin of [`avg_pool2d`].
pub fn avg_pool2d_reference(g: &Window2d, n: usize, x: &[f32], y: &mut [f32]) -> Result<()> {
    let d = check_io(g, n, x.len(), y.len())?;
    let c = g.in_channels;
    for b in 0..n {
        for p in 0..d.oh * d.ow {
            for ci in 0..c {
                let (mut sum, mut count) = (0.0f32, 0usize);
                for i in window_reference(g, &d, p, ci) {
                    sum += x[b * d.in_len + i];
                    count += 1;
                }
                y[b * d.out_len + p * c + ci] = sum / count.max(1) as f32;
            }
        }
    }
    Ok(())
}

/// Scalar twin of [`avg_pool2d_backward`].
pub fn avg_pool2d_backward_reference(
    g: &Window2d,
    n: usize,
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    let d = check_io(g, n, dx.len(), dy.len())?;
    let c = g.in_channels;
    dx.fill(0.0);
    for b in 0..n {
        for p in 0..d.oh * d.ow {
            for ci in 0..c {
                let count = window_reference(g, &d, p, ci).count().max(1) as f32;
                for i in window_reference(g, &d, p, ci) {
                    dx[b * d.in_len + i] += dy[b * d.out_len + p * c + ci] / count;
                }
            }
        }
    }
    Ok(())
}

/// Scalar twin of [`global_avg_pool2d`].
pub fn global_avg_pool2d_reference(
    n: usize,
    pixels: usize,
    c: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<()> {
    check_global(n, pixels, c, x.len(), y.len())?;
    for b in 0..n {
        for ci in 0..c {
            let sum: f32 = (0..pixels).map(|p| x[(b * pixels + p) * c + ci]).sum();
            y[b * c + ci] = sum / pixels as f32;
        }
    }
    Ok(())
}

/// Scalar twin of [`global_avg_pool2d_backward`].
pub fn global_avg_pool2d_backward_reference(
    n: usize,
    pixels: usize,
    c: usize,
    dy: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    check_global(n, pixels, c, dx.len(), dy.len())?;
    for b in 0..n {
        for p in 0..pixels {
            for ci in 0..c {
                dx[(b * pixels + p) * c + ci] = dy[b * c + ci] / pixels as f32;
            }
        }
    }
    Ok(())
}
