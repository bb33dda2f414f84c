//! Layers: the [`Layer`] trait, the built-in layers, and [`AnyLayer`] to mix them in a
//! [`crate::net::Net`].
//!
//! # Who owns what
//! In tinynn a layer owns its parameters and gradients. In nanonn a layer is only its
//! *configuration* (`Dense { inputs: 784, outputs: 400, .. }`); the network keeps every
//! layer's parameters in one flat slice and every gradient in a second slice with the same
//! layout, and hands each layer its part in [`ForwardCtx`] / [`BackwardCtx`]. That is what lets
//! the whole network live in one caller-provided buffer, lets the optimizer update all
//! parameters in one fused pass, and makes saving a model a single copy.
//!
//! # Writing your own layer
//! Implement [`Layer`] and wrap it with [`AnyLayer::Custom`] (no heap) or, with the `alloc`
//! feature, [`AnyLayer::Boxed`]. See `tests/custom_layer.rs` for a complete example.

mod activation;
mod conv;
mod dense;
mod dropout;
mod norm;
mod pool;
mod recurrent;
mod reshape;

pub use activation::Activation;
pub use conv::{Conv2D, ConvTranspose2D, IM2COL_FLOATS, Padding};
pub use dense::Dense;
pub use dropout::Dropout;
pub use norm::BatchNorm;
pub use pool::{AvgPool2D, GlobalAvgPool2D, MaxPool2D};
pub use recurrent::{Lstm, Rnn};
pub use reshape::{Flatten, Reshape};

use crate::error::Result;
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor, TensorMut};

/// Whether a network is training or evaluating (dropout and batch-norm behave differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Training: layers keep what `backward` needs and use batch statistics.
    #[default]
    Train,
    /// Evaluation / inference: deterministic, nothing kept for `backward`.
    Eval,
}

/// Memory a layer needs beyond its parameters, in `f32` elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerMemory {
    /// Non-trainable values that are part of the model and saved with it (batch-norm's
    /// running mean and variance); passed as [`ForwardCtx::buffers`]. Must not depend on the
    /// batch size or the mode.
    pub buffers: usize,
    /// Values kept from `forward` to `backward` (dropout masks, normalised inputs); passed as
    /// [`ForwardCtx::cache`]. May depend on the batch size and the mode.
    pub cache: usize,
    /// Temporary space valid only during one call; shared by all layers of a network.
    pub scratch: usize,
}

/// What a layer gets during [`Layer::forward`].
pub struct ForwardCtx<'a> {
    /// This layer's parameters (length [`Layer::param_len`]).
    pub params: &'a [f32],
    /// This layer's persistent buffers (length [`LayerMemory::buffers`]).
    pub buffers: &'a mut [f32],
    /// This layer's forward-to-backward cache (length [`LayerMemory::cache`]).
    pub cache: &'a mut [f32],
    /// Scratch space (at least [`LayerMemory::scratch`] elements).
    pub scratch: &'a mut [f32],
    /// The network's random generator (dropout).
    pub rng: &'a mut Rng,
    /// Training or evaluation.
    pub mode: Mode,
}

/// What a layer gets during [`Layer::backward`].
pub struct BackwardCtx<'a> {
    /// This layer's parameters.
    pub params: &'a [f32],
    /// Where to write the gradient of the loss w.r.t. the parameters (same layout as
    /// `params`). Overwritten, not accumulated.
    pub grads: &'a mut [f32],
    /// This layer's persistent buffers.
    pub buffers: &'a mut [f32],
    /// This layer's cache, as left by the last training-mode `forward`.
    pub cache: &'a mut [f32],
    /// Scratch space (at least [`LayerMemory::scratch`] elements).
    pub scratch: &'a mut [f32],
}

/// A differentiable layer: a function `y = f(x; params)` with its backward pass.
///
/// Shapes passed to [`Layer::output_shape`] and [`Layer::memory`] are **per sample**
/// (`[784]`); tensors passed to `forward` and `backward` carry the batch in front
/// (`[batch, 784]`).
pub trait Layer {
    /// A short name for messages ("Dense", "ReLU").
    fn name(&self) -> &'static str;

    /// The per-sample output shape for a per-sample input shape, or an error naming the
    /// mismatch.
    fn output_shape(&self, input: Shape) -> Result<Shape>;

    /// Number of trainable parameters.
    fn param_len(&self) -> usize {
        0
    }

    /// Memory needed besides parameters, for `batch` samples of shape `input`.
    fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        let _ = (input, batch, mode);
        LayerMemory::default()
    }

    /// Fills `params` (length [`Layer::param_len`]) with initial values.
    fn init_params(&self, params: &mut [f32], rng: &mut Rng) -> Result<()> {
        let _ = (params, rng);
        Ok(())
    }

    /// Fills the persistent `buffers` (length [`LayerMemory::buffers`]) with their initial
    /// values (e.g. a running variance of 1). They are zero before this is called.
    fn init_buffers(&self, buffers: &mut [f32]) {
        let _ = buffers;
    }

    /// Computes `y = f(x)`. Shapes have been checked against [`Layer::output_shape`].
    fn forward(&mut self, x: Tensor<'_>, y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()>;

    /// Given `x` and `y` from the last `forward` and `dy = ∂L/∂y`, writes `∂L/∂params` into
    /// `ctx.grads` and, when `dx` is `Some`, `∂L/∂x` into it. (`dx` is `None` for the first
    /// layer of a network, which saves a matrix product.)
    fn backward(
        &mut self,
        x: Tensor<'_>,
        y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()>;
}

/// Any layer a [`crate::net::Net`] can hold: the built-in ones by value, user layers by
/// reference (or boxed, with `alloc`).
#[non_exhaustive]
pub enum AnyLayer<'a> {
    /// A fully connected layer.
    Dense(Dense),
    /// An elementwise activation.
    Activation(Activation),
    /// A 2-D convolution on NHWC images.
    Conv2D(Conv2D),
    /// A 2-D transposed convolution on NHWC images.
    ConvTranspose2D(ConvTranspose2D),
    /// 2-D max pooling.
    MaxPool2D(MaxPool2D),
    /// 2-D average pooling.
    AvgPool2D(AvgPool2D),
    /// Global average pooling, `[H, W, C] -> [C]`.
    GlobalAvgPool2D(GlobalAvgPool2D),
    /// Flattening of each sample to a vector.
    Flatten(Flatten),
    /// A change of per-sample shape.
    Reshape(Reshape),
    /// Batch normalisation.
    BatchNorm(BatchNorm),
    /// Inverted dropout.
    Dropout(Dropout),
    /// An Elman (tanh) recurrent layer.
    Rnn(Rnn),
    /// A long short-term memory layer.
    Lstm(Lstm),
    /// A user-defined layer, borrowed.
    Custom(&'a mut (dyn Layer + Send)),
    /// A user-defined layer, owned.
    #[cfg(feature = "alloc")]
    Boxed(alloc::boxed::Box<dyn Layer + Send>),
}

impl core::fmt::Debug for AnyLayer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AnyLayer::Dense(d) => d.fmt(f),
            AnyLayer::Activation(a) => a.fmt(f),
            AnyLayer::Conv2D(l) => l.fmt(f),
            AnyLayer::ConvTranspose2D(l) => l.fmt(f),
            AnyLayer::MaxPool2D(l) => l.fmt(f),
            AnyLayer::AvgPool2D(l) => l.fmt(f),
            AnyLayer::GlobalAvgPool2D(l) => l.fmt(f),
            AnyLayer::Flatten(l) => l.fmt(f),
            AnyLayer::Reshape(l) => l.fmt(f),
            AnyLayer::BatchNorm(l) => l.fmt(f),
            AnyLayer::Dropout(l) => l.fmt(f),
            AnyLayer::Rnn(l) => l.fmt(f),
            AnyLayer::Lstm(l) => l.fmt(f),
            other => f.write_str(other.as_layer().name()),
        }
    }
}

impl<'a> AnyLayer<'a> {
    /// A copy of a built-in layer, which owns all its configuration and so may live as long
    /// as the caller wants (any lifetime, `'static` included); `None` for a user layer
    /// ([`AnyLayer::Custom`], [`AnyLayer::Boxed`]), which is borrowed or behind a
    /// `dyn Layer` that cannot be cloned.
    ///
    /// A layer is only configuration (its parameters live in the net's memory), so the copy
    /// describes the same layer: e.g. several nets can be built from one list of layers.
    pub fn try_clone<'b>(&self) -> Option<AnyLayer<'b>> {
        Some(match self {
            AnyLayer::Dense(l) => AnyLayer::Dense(*l),
            AnyLayer::Activation(l) => AnyLayer::Activation(*l),
            AnyLayer::Conv2D(l) => AnyLayer::Conv2D(*l),
            AnyLayer::ConvTranspose2D(l) => AnyLayer::ConvTranspose2D(*l),
            AnyLayer::MaxPool2D(l) => AnyLayer::MaxPool2D(*l),
            AnyLayer::AvgPool2D(l) => AnyLayer::AvgPool2D(*l),
            AnyLayer::GlobalAvgPool2D(l) => AnyLayer::GlobalAvgPool2D(*l),
            AnyLayer::Flatten(l) => AnyLayer::Flatten(*l),
            AnyLayer::Reshape(l) => AnyLayer::Reshape(*l),
            AnyLayer::BatchNorm(l) => AnyLayer::BatchNorm(*l),
            AnyLayer::Dropout(l) => AnyLayer::Dropout(*l),
            AnyLayer::Rnn(l) => AnyLayer::Rnn(*l),
            AnyLayer::Lstm(l) => AnyLayer::Lstm(*l),
            AnyLayer::Custom(_) => return None,
            #[cfg(feature = "alloc")]
            AnyLayer::Boxed(_) => return None,
        })
    }

    fn as_layer(&self) -> &dyn Layer {
        match self {
            AnyLayer::Dense(l) => l,
            AnyLayer::Activation(l) => l,
            AnyLayer::Conv2D(l) => l,
            AnyLayer::ConvTranspose2D(l) => l,
            AnyLayer::MaxPool2D(l) => l,
            AnyLayer::AvgPool2D(l) => l,
            AnyLayer::GlobalAvgPool2D(l) => l,
            AnyLayer::Flatten(l) => l,
            AnyLayer::Reshape(l) => l,
            AnyLayer::BatchNorm(l) => l,
            AnyLayer::Dropout(l) => l,
            AnyLayer::Rnn(l) => l,
            AnyLayer::Lstm(l) => l,
            AnyLayer::Custom(l) => &**l,
            #[cfg(feature = "alloc")]
            AnyLayer::Boxed(l) => &**l,
        }
    }

    fn as_layer_mut(&mut self) -> &mut dyn Layer {
        match self {
            AnyLayer::Dense(l) => l,
            AnyLayer::Activation(l) => l,
            AnyLayer::Conv2D(l) => l,
            AnyLayer::ConvTranspose2D(l) => l,
            AnyLayer::MaxPool2D(l) => l,
            AnyLayer::AvgPool2D(l) => l,
            AnyLayer::GlobalAvgPool2D(l) => l,
            AnyLayer::Flatten(l) => l,
            AnyLayer::Reshape(l) => l,
            AnyLayer::BatchNorm(l) => l,
            AnyLayer::Dropout(l) => l,
            AnyLayer::Rnn(l) => l,
            AnyLayer::Lstm(l) => l,
            AnyLayer::Custom(l) => &mut **l,
            #[cfg(feature = "alloc")]
            AnyLayer::Boxed(l) => &mut **l,
        }
    }
}

impl Layer for AnyLayer<'_> {
    fn name(&self) -> &'static str {
        self.as_layer().name()
    }
    fn output_shape(&self, input: Shape) -> Result<Shape> {
        self.as_layer().output_shape(input)
    }
    fn param_len(&self) -> usize {
        self.as_layer().param_len()
    }
    fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        self.as_layer().memory(input, batch, mode)
    }
    fn init_params(&self, params: &mut [f32], rng: &mut Rng) -> Result<()> {
        self.as_layer().init_params(params, rng)
    }
    fn init_buffers(&self, buffers: &mut [f32]) {
        self.as_layer().init_buffers(buffers)
    }
    fn forward(&mut self, x: Tensor<'_>, y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        self.as_layer_mut().forward(x, y, ctx)
    }
    fn backward(
        &mut self,
        x: Tensor<'_>,
        y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        self.as_layer_mut().backward(x, y, dy, dx, ctx)
    }
}

impl From<Dense> for AnyLayer<'_> {
    fn from(l: Dense) -> Self {
        AnyLayer::Dense(l)
    }
}

impl From<Activation> for AnyLayer<'_> {
    fn from(l: Activation) -> Self {
        AnyLayer::Activation(l)
    }
}

impl From<Conv2D> for AnyLayer<'_> {
    fn from(l: Conv2D) -> Self {
        AnyLayer::Conv2D(l)
    }
}

impl From<ConvTranspose2D> for AnyLayer<'_> {
    fn from(l: ConvTranspose2D) -> Self {
        AnyLayer::ConvTranspose2D(l)
    }
}

impl From<MaxPool2D> for AnyLayer<'_> {
    fn from(l: MaxPool2D) -> Self {
        AnyLayer::MaxPool2D(l)
    }
}

impl From<AvgPool2D> for AnyLayer<'_> {
    fn from(l: AvgPool2D) -> Self {
        AnyLayer::AvgPool2D(l)
    }
}

impl From<GlobalAvgPool2D> for AnyLayer<'_> {
    fn from(l: GlobalAvgPool2D) -> Self {
        AnyLayer::GlobalAvgPool2D(l)
    }
}

impl From<Flatten> for AnyLayer<'_> {
    fn from(l: Flatten) -> Self {
        AnyLayer::Flatten(l)
    }
}

impl From<Reshape> for AnyLayer<'_> {
    fn from(l: Reshape) -> Self {
        AnyLayer::Reshape(l)
    }
}

impl From<BatchNorm> for AnyLayer<'_> {
    fn from(l: BatchNorm) -> Self {
        AnyLayer::BatchNorm(l)
    }
}

impl From<Dropout> for AnyLayer<'_> {
    fn from(l: Dropout) -> Self {
        AnyLayer::Dropout(l)
    }
}

impl From<Rnn> for AnyLayer<'_> {
    fn from(l: Rnn) -> Self {
        AnyLayer::Rnn(l)
    }
}

impl From<Lstm> for AnyLayer<'_> {
    fn from(l: Lstm) -> Self {
        AnyLayer::Lstm(l)
    }
}

impl<'a, L: Layer + Send> From<&'a mut L> for AnyLayer<'a> {
    fn from(l: &'a mut L) -> Self {
        AnyLayer::Custom(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user layer: the identity.
    struct Identity;

    impl Layer for Identity {
        fn name(&self) -> &'static str {
            "Identity"
        }
        fn output_shape(&self, input: Shape) -> Result<Shape> {
            Ok(input)
        }
        fn forward(&mut self, _: Tensor<'_>, _: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
            Ok(())
        }
        fn backward(
            &mut self,
            _: Tensor<'_>,
            _: Tensor<'_>,
            _: Tensor<'_>,
            _: Option<TensorMut<'_>>,
            _: BackwardCtx<'_>,
        ) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn try_clone_copies_every_built_in_layer_and_no_user_layer() {
        // Configurations other than the defaults, so that a copy of the wrong value shows.
        let mut conv = Conv2D::new(3, 5, (3, 2));
        conv.stride = (2, 1);
        let mut deconv = ConvTranspose2D::new(4, 2, (2, 2));
        deconv.output_padding = (1, 0);
        let mut norm = BatchNorm::new(6);
        norm.eps = 1e-3;
        let built_in: [AnyLayer<'_>; 13] = [
            Dense::new(7, 3).into(),
            Activation::LeakyReLU { slope: 0.3 }.into(),
            conv.into(),
            deconv.into(),
            MaxPool2D::new((3, 3)).into(),
            AvgPool2D::new((2, 4)).into(),
            GlobalAvgPool2D.into(),
            Flatten.into(),
            Reshape::new(Shape::matrix(2, 3)).into(),
            norm.into(),
            Dropout::new(0.7).into(),
            Rnn::new(5, 9).into(),
            Lstm::new(2, 11).into(),
        ];
        for layer in &built_in {
            // 'static: the copy borrows nothing from `built_in`.
            let Some::<AnyLayer<'static>>(copy) = layer.try_clone() else {
                panic!("{} was not copied", layer.name());
            };
            assert_eq!(format!("{copy:?}"), format!("{layer:?}"));
            assert_eq!(copy.param_len(), layer.param_len(), "{}", layer.name());
        }

        let mut user = Identity;
        let borrowed = AnyLayer::from(&mut user);
        assert!(borrowed.try_clone().is_none());
        #[cfg(feature = "alloc")]
        assert!(
            AnyLayer::Boxed(alloc::boxed::Box::new(Identity))
                .try_clone()
                .is_none()
        );
    }
}
