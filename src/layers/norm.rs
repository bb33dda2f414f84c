//! Batch normalisation: see [`BatchNorm`].

use super::{BackwardCtx, ForwardCtx, Layer, LayerMemory, Mode};
use crate::error::{Error, Result, check_finite};
use crate::kernels::{
    batch_norm_input_grad, batch_norm_param_grads, column_mean_var, scale_shift_columns,
};
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor, TensorMut};

/// Batch normalisation (Ioffe & Szegedy, 2015): `y = γ·(x − μ)/√(σ² + ε) + β`.
///
/// # Which axis
/// nanonn lays images out NHWC (a sample is `[H, W, C]`), so the channel is always the
/// **last** dimension. [`BatchNorm`] therefore normalises over every dimension but the last:
/// for `[F]` inputs it keeps one mean per feature (statistics over the batch, PyTorch's
/// `BatchNorm1d`), for `[H, W, C]` inputs one per channel (statistics over the batch and all
/// pixels, PyTorch's `BatchNorm2d`). One implementation covers both, because a batch is seen
/// as a `[rows, C]` matrix either way.
///
/// # Modes
/// * [`Mode::Train`]: normalises with this batch's mean and (biased) variance, and folds them
///   into the running statistics, tinynn's convention:
///   `running = momentum · running + (1 − momentum) · batch` (momentum 0.9 by default, which
///   is PyTorch's `momentum=0.1`; the running variance is the biased one, as tinynn's
///   `np.var`).
/// * [`Mode::Eval`]: normalises with the running statistics, a fixed affine map.
///
/// # Memory
/// Parameters: `γ` `[C]` (initialised to 1), then `β` `[C]` (initialised to 0).
/// Buffers (saved with the model): running mean `[C]` (0), then running variance `[C]` (1).
/// Cache (training only): the batch mean `[C]` and `1/√(σ² + ε)` `[C]` — the normalised
/// input `x̂` is *recomputed* in `backward` from `x`, which the network hands over anyway,
/// instead of being cached (that would cost a whole activation's worth of memory).
/// Scratch: `2C` floats.
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm {
    /// Number of features or channels (the size of the input's last dimension).
    pub channels: usize,
    /// Weight of the old value in the running averages (tinynn's convention; 0.9 by default).
    pub momentum: f32,
    /// Added to the variance before the square root (1e-5 by default).
    pub eps: f32,
    /// The mode of the last `forward`, so that `backward` differentiates the function that
    /// `forward` computed (batch statistics or running ones).
    last_mode: Mode,
}

impl BatchNorm {
    /// Batch-norm over `channels` features or channels, momentum 0.9, eps 1e-5.
    pub const fn new(channels: usize) -> BatchNorm {
        BatchNorm {
            channels,
            momentum: 0.9,
            eps: 1e-5,
            last_mode: Mode::Train,
        }
    }

    /// The same layer with another running-average momentum (in `[0, 1]`; the weight of the
    /// old value, so 0.9 ≈ averaging the last ten batches).
    pub const fn momentum(mut self, momentum: f32) -> BatchNorm {
        self.momentum = momentum;
        self
    }

    /// The same layer with another `eps` (> 0).
    pub const fn eps(mut self, eps: f32) -> BatchNorm {
        self.eps = eps;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.channels == 0 {
            return Err(Error::config("BatchNorm needs at least one channel"));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::config("BatchNorm momentum must be in [0, 1]"));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config("BatchNorm eps must be finite and > 0"));
        }
        Ok(())
    }

    /// Writes `1/√(var + ε)` over `var`.
    fn inv_std_in_place(&self, var: &mut [f32]) {
        for v in var.iter_mut() {
            *v = 1.0 / libm::sqrtf(*v + self.eps);
        }
    }
}

impl PartialEq for BatchNorm {
    /// Compares the configuration (not the mode of the last forward pass).
    fn eq(&self, other: &Self) -> bool {
        (self.channels, self.momentum, self.eps) == (other.channels, other.momentum, other.eps)
    }
}

fn too_small(what: &'static str, needed: usize, got: usize) -> Result<()> {
    if got < needed {
        Err(Error::length(what, needed, got))
    } else {
        Ok(())
    }
}

impl Layer for BatchNorm {
    fn name(&self) -> &'static str {
        "BatchNorm"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        self.validate()?;
        if input.rank() == 0 {
            return Err(Error::config(
                "BatchNorm needs an input with a channel (last) dimension",
            ));
        }
        if input.last() != self.channels {
            let mut dims = input.dims();
            if let Some(last) = dims.last_mut() {
                *last = self.channels;
            }
            return Err(Error::shape(
                "input (channels last)",
                Shape::new(&dims),
                input,
            ));
        }
        Ok(input)
    }

    fn param_len(&self) -> usize {
        2 * self.channels
    }

    fn memory(&self, _input: Shape, _batch: usize, mode: Mode) -> LayerMemory {
        LayerMemory {
            buffers: 2 * self.channels,
            cache: if mode == Mode::Train {
                2 * self.channels
            } else {
                0
            },
            scratch: 2 * self.channels,
        }
    }

    fn init_params(&self, params: &mut [f32], _rng: &mut Rng) -> Result<()> {
        let (gamma, beta) = params.split_at_mut(self.channels);
        gamma.fill(1.0);
        beta.fill(0.0);
        Ok(())
    }

    fn init_buffers(&self, buffers: &mut [f32]) {
        let (mean, var) = buffers.split_at_mut(self.channels.min(buffers.len()));
        mean.fill(0.0);
        var.fill(1.0);
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        let c = self.channels;
        too_small("BatchNorm scratch", 2 * c, ctx.scratch.len())?;
        too_small("BatchNorm buffers", 2 * c, ctx.buffers.len())?;
        let (gamma, beta) = ctx.params.split_at(c);
        let (scale, rest) = ctx.scratch.split_at_mut(c);
        let shift = &mut rest[..c];
        let (running_mean, running_var) = ctx.buffers.split_at_mut(c);
        // Put 1/σ in `scale` and μ in `shift`, from this batch or from the running values.
        match ctx.mode {
            Mode::Train => {
                too_small("BatchNorm cache", 2 * c, ctx.cache.len())?;
                let (mean, rest) = ctx.cache.split_at_mut(c);
                let var = &mut rest[..c];
                column_mean_var(x.data(), mean, var)?;
                // A non-finite statistic would poison the running averages for good.
                check_finite("batch variance", var)?;
                let m = self.momentum;
                for (r, b) in running_mean.iter_mut().zip(mean.iter()) {
                    *r = m * *r + (1.0 - m) * b;
                }
                for (r, b) in running_var.iter_mut().zip(var.iter()) {
                    *r = m * *r + (1.0 - m) * b;
                }
                self.inv_std_in_place(var);
                scale.copy_from_slice(var);
                shift.copy_from_slice(mean);
            }
            Mode::Eval => {
                scale.copy_from_slice(running_var);
                self.inv_std_in_place(scale);
                shift.copy_from_slice(running_mean);
            }
        }
        self.last_mode = ctx.mode;
        // Fold γ and β in: y = x·(γ/σ) + (β − μ·γ/σ).
        for i in 0..c {
            let k = gamma[i] * scale[i];
            shift[i] = beta[i] - shift[i] * k;
            scale[i] = k;
        }
        scale_shift_columns(x.data(), scale, shift, y.data_mut())
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        let c = self.channels;
        too_small("BatchNorm scratch", 2 * c, ctx.scratch.len())?;
        let gamma = &ctx.params[..c];
        let (dgamma, dbeta) = ctx.grads.split_at_mut(c);
        let (a, rest) = ctx.scratch.split_at_mut(c);
        let b = &mut rest[..c];
        // μ and 1/σ that the last forward used.
        let (mean, inv_std): (&[f32], &[f32]) = match self.last_mode {
            Mode::Train => {
                too_small("BatchNorm cache", 2 * c, ctx.cache.len())?;
                let (mean, rest) = ctx.cache.split_at(c);
                (mean, &rest[..c])
            }
            Mode::Eval => {
                too_small("BatchNorm buffers", 2 * c, ctx.buffers.len())?;
                let (running_mean, running_var) = ctx.buffers.split_at(c);
                a.copy_from_slice(running_mean);
                b.copy_from_slice(&running_var[..c]);
                self.inv_std_in_place(b);
                (&*a, &*b)
            }
        };
        batch_norm_param_grads(x.data(), dy.data(), mean, inv_std, dgamma, dbeta)?;
        let Some(mut dx) = dx else {
            return Ok(());
        };
        match self.last_mode {
            Mode::Train => batch_norm_input_grad(
                x.data(),
                dy.data(),
                mean,
                inv_std,
                gamma,
                dgamma,
                dbeta,
                dx.data_mut(),
            ),
            Mode::Eval => {
                // Fixed statistics: ∂x = ∂y·γ/σ (σ is in `b`; `a` becomes the zero shift).
                for (k, g) in b.iter_mut().zip(gamma) {
                    *k *= g;
                }
                a.fill(0.0);
                scale_shift_columns(dy.data(), b, a, dx.data_mut())
            }
        }
    }
}
