//! Dense (fully connected) layer: `y = x·W + b`.
//!
//! Parameters, in order: `W` as `[inputs, outputs]` row-major, then `b` as `[outputs]`.
//! (PyTorch's `nn.Linear` stores `W` transposed, as `[outputs, inputs]`.)
//!
//! Backward: `∂W = xᵀ·∂y`, `∂b = Σ_batch ∂y`, `∂x = ∂y·Wᵀ` — three products that
//! [`crate::kernels::gemm`] computes without materialising a transpose. The two with `x` on
//! the left go through [`crate::kernels::gemm_skip_zeros`], which leaves out the input's
//! all-zero columns (pixels black in every image of the batch, units dead for the whole
//! batch) and is the dense GEMM otherwise.

use super::{BackwardCtx, ForwardCtx, Layer, LayerMemory, Mode};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::{
    add_bias, column_list, column_list_len, gemm, gemm_scratch_len, gemm_skip_listed,
    gemm_skip_zeros, gemm_skip_zeros_scratch_len, sum_rows,
};
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor, TensorMut};

/// A fully connected layer from `inputs` to `outputs` features.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Initializer of the weights (default: Xavier uniform, as tinynn).
    pub weight_init: Init,
    /// Initializer of the bias (default: zeros).
    pub bias_init: Init,
}

impl Dense {
    /// A Dense layer with tinynn's default initialisation (Xavier-uniform weights, zero bias).
    pub const fn new(inputs: usize, outputs: usize) -> Dense {
        Dense {
            inputs,
            outputs,
            weight_init: Init::XAVIER_UNIFORM,
            bias_init: Init::Zeros,
        }
    }

    /// The same layer with other initializers.
    pub const fn with_init(mut self, weight: Init, bias: Init) -> Dense {
        self.weight_init = weight;
        self.bias_init = bias;
        self
    }

    fn weight_len(&self) -> usize {
        self.inputs * self.outputs
    }
}

impl Layer for Dense {
    fn name(&self) -> &'static str {
        "Dense"
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        if self.inputs == 0 || self.outputs == 0 {
            return Err(Error::config("Dense needs inputs > 0 and outputs > 0"));
        }
        if self.inputs.checked_mul(self.outputs + 1).is_none() {
            return Err(Error::config("Dense parameter count overflows usize"));
        }
        let expected = Shape::vector(self.inputs);
        if input != expected {
            return Err(Error::shape("input", expected, input));
        }
        Ok(Shape::vector(self.outputs))
    }

    fn param_len(&self) -> usize {
        self.weight_len() + self.outputs
    }

    fn memory(&self, _input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        let (i, o) = (self.inputs, self.outputs);
        let mut scratch = gemm_skip_zeros_scratch_len(batch, o, i);
        if mode == Mode::Train {
            scratch = scratch
                .max(gemm_skip_zeros_scratch_len(i, o, batch))
                .max(gemm_scratch_len(batch, i, o));
        }
        // Training keeps the input's nonzero columns from `forward` for `backward`'s `∂W`
        // (`kernels::column_list`): one scan of the input instead of two. Not for batches of
        // at most 3, whose forward product never leaves columns out (nor asks for scratch to),
        // so that a microcontroller's small-batch plan stays as it is.
        let cache = if mode == Mode::Train && batch > 3 {
            column_list_len(i)
        } else {
            0
        };
        LayerMemory {
            scratch,
            cache,
            ..LayerMemory::default()
        }
    }

    fn init_params(&self, params: &mut [f32], rng: &mut Rng) -> Result<()> {
        let (w, b) = params.split_at_mut(self.weight_len());
        self.weight_init.fill(w, self.inputs, self.outputs, rng)?;
        self.bias_init.fill(b, self.inputs, self.outputs, rng)
    }

    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        let (w, b) = ctx.params.split_at(self.weight_len());
        let n = x.batch();
        // Inputs are often mostly zeros (pixels, ReLU outputs): the product skips them then.
        let (i, o) = (self.inputs, self.outputs);
        if ctx.cache.len() >= column_list_len(i) {
            // Training: the list is kept for `backward`.
            column_list(x.data(), n, i, ctx.cache)?;
            gemm_skip_listed(
                false,
                n,
                o,
                i,
                x.data(),
                w,
                y.data_mut(),
                ctx.cache,
                ctx.scratch,
            )?;
        } else {
            gemm_skip_zeros(false, n, o, i, x.data(), w, y.data_mut(), ctx.scratch)?;
        }
        add_bias(y.data_mut(), b)
    }

    fn backward(
        &mut self,
        x: Tensor<'_>,
        _y: Tensor<'_>,
        dy: Tensor<'_>,
        dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        let (i, o, n) = (self.inputs, self.outputs, x.batch());
        let (dw, db) = ctx.grads.split_at_mut(self.weight_len());
        // ∂W = xᵀ·∂y : [i, n]·[n, o], by the nonzero columns of x that `forward` listed.
        if ctx.cache.len() >= column_list_len(i) {
            gemm_skip_listed(
                true,
                i,
                o,
                n,
                x.data(),
                dy.data(),
                dw,
                ctx.cache,
                ctx.scratch,
            )?;
        } else {
            gemm_skip_zeros(true, i, o, n, x.data(), dy.data(), dw, ctx.scratch)?;
        }
        sum_rows(dy.data(), db)?;
        if let Some(mut dx) = dx {
            // ∂x = ∂y·Wᵀ : [n, o]·[o, i]
            let w = &ctx.params[..self.weight_len()];
            gemm(
                false,
                true,
                n,
                i,
                o,
                dy.data(),
                w,
                0.0,
                dx.data_mut(),
                ctx.scratch,
            )?;
        }
        Ok(())
    }
}
