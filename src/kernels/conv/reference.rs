//! Direct nested-loop convolutions: the scalar twins of the im2col + GEMM products, written
//! from the definition `y[b,oy,ox,co] = bias[co] + Σ_{ky,kx,ci} x[b,iy,ix,ci]·w[ky,kx,ci,co]`
//! so that they share nothing with the fast path but [`tap`].

use super::im2col::tap;
use super::{Window2d, check_len};
use crate::error::Result;

/// Scalar twin of [`super::conv2d_forward`] (no blocks, no scratch).
pub fn conv2d_forward_reference(
    g: &Window2d,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<()> {
    let d = g.dims()?;
    let (c_in, c_out) = (g.in_channels, g.out_channels);
    check_len("convolution input", n, d.in_len, x.len())?;
    check_len("convolution weights", d.k, c_out, w.len())?;
    check_len("convolution output", n, d.out_len, y.len())?;
    if let Some(b) = bias {
        check_len("convolution bias", 1, c_out, b.len())?;
    }
    let (kh, kw) = g.kernel;
    for b in 0..n {
        for oy in 0..d.oh {
            for ox in 0..d.ow {
                for co in 0..c_out {
                    let mut acc = bias.map_or(0.0, |b| b[co]);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let Some((iy, ix)) = tap(g, oy, ox, ky, kx) else {
                                continue;
                            };
                            for ci in 0..c_in {
                                acc += x[b * d.in_len + (iy * g.width + ix) * c_in + ci]
                                    * w[((ky * kw + kx) * c_in + ci) * c_out + co];
                            }
                        }
                    }
                    y[b * d.out_len + (oy * d.ow + ox) * c_out + co] = acc;
                }
            }
        }
    }
    Ok(())
}

/// Scalar twin of [`super::conv2d_backward_weights`]:
/// `dw[ky,kx,ci,co] = Σ_{b,oy,ox} x[b,iy,ix,ci]·dy[b,oy,ox,co]`, `db[co] = Σ dy[..,co]`.
pub fn conv2d_backward_weights_reference(
    g: &Window2d,
    n: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) -> Result<()> {
    let d = g.dims()?;
    let (c_in, c_out) = (g.in_channels, g.out_channels);
    check_len("convolution input", n, d.in_len, x.len())?;
    check_len("convolution output gradient", n, d.out_len, dy.len())?;
    check_len("convolution weight gradient", d.k, c_out, dw.len())?;
    let (kh, kw) = g.kernel;
    for ky in 0..kh {
        for kx in 0..kw {
            for ci in 0..c_in {
                for co in 0..c_out {
                    let mut acc = 0.0;
                    for b in 0..n {
                        for oy in 0..d.oh {
                            for ox in 0..d.ow {
                                if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                    acc += x[b * d.in_len + (iy * g.width + ix) * c_in + ci]
                                        * dy[b * d.out_len + (oy * d.ow + ox) * c_out + co];
                                }
                            }
                        }
                    }
                    dw[((ky * kw + kx) * c_in + ci) * c_out + co] = acc;
                }
            }
        }
    }
    if let Some(db) = db {
        check_len("convolution bias gradient", 1, c_out, db.len())?;
        for (co, out) in db.iter_mut().enumerate() {
            *out = dy.iter().skip(co).step_by(c_out).sum();
        }
    }
    Ok(())
}

/// Scalar twin of [`super::conv2d_backward_data`]:
/// `dx[b,iy,ix,ci] = Σ dy[b,oy,ox,co]·w[ky,kx,ci,co]` over every `(oy, ox, ky, kx)` whose tap
/// lands on `(iy, ix)`.
pub fn conv2d_backward_data_reference(
    g: &Window2d,
    n: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    let d = g.dims()?;
    let (c_in, c_out) = (g.in_channels, g.out_channels);
    check_len("convolution output gradient", n, d.out_len, dy.len())?;
    check_len("convolution weights", d.k, c_out, w.len())?;
    check_len("convolution input gradient", n, d.in_len, dx.len())?;
    let (kh, kw) = g.kernel;
    dx.fill(0.0);
    for b in 0..n {
        for oy in 0..d.oh {
            for ox in 0..d.ow {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let Some((iy, ix)) = tap(g, oy, ox, ky, kx) else {
                            continue;
                        };
                        for ci in 0..c_in {
                            let mut acc = 0.0;
                            for co in 0..c_out {
                                acc += dy[b * d.out_len + (oy * d.ow + ox) * c_out + co]
                                    * w[((ky * kw + kx) * c_in + ci) * c_out + co];
                            }
                            dx[b * d.in_len + (iy * g.width + ix) * c_in + ci] += acc;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
