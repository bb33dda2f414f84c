//! Dropout: see [`Dropout`].

use super::{BackwardCtx, ForwardCtx, Layer, LayerMemory, Mode};
use crate::error::{Error, Result};
use crate::tensor::{Shape, Tensor, TensorMut};

/// Dropout (Srivastava et al., 2014), "inverted" as in tinynn and PyTorch.
///
/// In [`Mode::Train`] every element is kept with probability `keep_prob` and scaled by
/// `1/keep_prob`, or zeroed: `y = x ⊙ m`, `m ∈ {0, 1/keep_prob}`. Scaling at training time
/// keeps `E[y] = x`, so [`Mode::Eval`] is the identity and inference pays nothing.
///
/// The mask is drawn from the network's seeded [`crate::rng::Rng`] (so a run is reproducible
/// bit for bit) and kept in the layer's cache (`batch × sample` floats, training only) for
/// `backward`: `∂x = ∂y ⊙ m`.
///
/// Note the parameter is tinynn's *keep* probability; PyTorch's `p` is the drop probability
/// `1 − keep_prob`.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    /// Probability of keeping an element, in `(0, 1]` (1 makes the layer the identity).
    pub keep_prob: f32,
    /// The mode of the last `forward`, so that `backward` differentiates what `forward` did.
    last_mode: Mode,
}

impl PartialEq for Dropout {
    /// Compares the configuration (not the mode of the last forward pass).
    fn eq(&self, other: &Self) -> bool {
        self.keep_prob == other.keep_prob
    }
}

impl Dropout {
    /// Dropout keeping each element with probability `keep_prob` (in `(0, 1]`; checked when
    /// the network is planned).
    pub const fn new(keep_prob: f32) -> Dropout {
        Dropout {
            keep_prob,
            last_mode: Mode::Train,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.keep_prob > 0.0 && self.keep_prob <= 1.0 {
            Ok(())
        } else {
            Err(Error::config("Dropout keep_prob must be in (0, 1]"))
        }
    }
}

impl Layer for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        self.validate()?;
        Ok(input)
    }

    fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        LayerMemory {
            cache: match mode {
                Mode::Train => input.numel().saturating_mul(batch),
                Mode::Eval => 0,
            },
            ..LayerMemory::default()
        }
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        self.validate()?;
        self.last_mode = ctx.mode;
        let (x, y) = (x.data(), y.data_mut());
        if x.len() != y.len() {
            return Err(Error::length("Dropout output", x.len(), y.len()));
        }
        if ctx.mode == Mode::Eval {
            y.copy_from_slice(x);
            return Ok(());
        }
        let Some(mask) = ctx.cache.get_mut(..x.len()) else {
            return Err(Error::length(
                "Dropout mask cache",
                x.len(),
                ctx.cache.len(),
            ));
        };
        let (p, scale) = (self.keep_prob, 1.0 / self.keep_prob);
        for ((m, o), v) in mask.iter_mut().zip(y.iter_mut()).zip(x) {
            *m = if ctx.rng.uniform() < p { scale } else { 0.0 };
            *o = v * *m;
        }
        Ok(())
    }

    fn backward(
        &mut self,
        _x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        let Some(mut dx) = dx else {
            return Ok(());
        };
        let (dy, dx) = (dy.data(), dx.data_mut());
        if dx.len() != dy.len() {
            return Err(Error::length("Dropout input gradient", dy.len(), dx.len()));
        }
        if self.last_mode == Mode::Eval {
            dx.copy_from_slice(dy);
            return Ok(());
        }
        let Some(mask) = ctx.cache.get(..dy.len()) else {
            return Err(Error::length(
                "Dropout mask cache",
                dy.len(),
                ctx.cache.len(),
            ));
        };
        for ((o, d), m) in dx.iter_mut().zip(dy).zip(mask) {
            *o = d * m;
        }
        Ok(())
    }
}
