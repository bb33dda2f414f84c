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
use crate::kernels::threads::join_if;
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

/// Smallest backward products (multiply-adds of each) that run side by side on two threads:
/// the MLP's 128 × 100 × 10 last layer does, as its two ~5 µs products cost more than a
/// `join`.
const SIDE_BY_SIDE_MIN: usize = 1 << 16;

/// How many backward passes ran their two products side by side (tests check the path).
#[cfg(test)]
static SIDE_BY_SIDE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

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
        let (x, dy, w) = (x.data(), dy.data(), &ctx.params[..self.weight_len()]);
        let cache = &*ctx.cache;
        // ∂W = xᵀ·∂y : [i, n]·[n, o], by the nonzero columns of x that `forward` listed.
        let weights = |dw: &mut [f32], scratch: &mut [f32]| {
            if cache.len() >= column_list_len(i) {
                gemm_skip_listed(true, i, o, n, x, dy, dw, cache, scratch)
            } else {
                gemm_skip_zeros(true, i, o, n, x, dy, dw, scratch)
            }
        };
        // ∂x = ∂y·Wᵀ : [n, o]·[o, i]
        let inputs = |dx: &mut [f32], scratch: &mut [f32]| {
            gemm(false, true, n, i, o, dy, w, 0.0, dx, scratch)
        };
        let scratch = &mut *ctx.scratch;
        match dx {
            Some(mut dx) => {
                // The two products are independent: on several threads they run side by
                // side, each on its own part of the scratch, when it holds both (the
                // network's scratch is sized for its largest layer, so a smaller layer's
                // two products usually fit). Why: the second layer of the MNIST MLP has
                // two 128-row products of ~5 M multiply-adds each, which split over two
                // threads leave a core idle in their row blocks of 72 and 56 rows and in
                // their fork-joins; side by side each runs on one core. Either way each
                // product is the same bits (a product's result does not depend on how it
                // is split).
                let need = gemm_skip_zeros_scratch_len(i, o, n);
                let both = need + gemm_scratch_len(n, i, o);
                let worth = n.saturating_mul(i).saturating_mul(o) >= SIDE_BY_SIDE_MIN;
                if worth && scratch.len() >= both {
                    #[cfg(test)]
                    SIDE_BY_SIDE.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                    let (mine, theirs) = scratch.split_at_mut(need);
                    let (a, b) =
                        join_if(true, || weights(dw, mine), || inputs(dx.data_mut(), theirs));
                    a.and(b)?;
                } else {
                    weights(dw, scratch)?;
                    inputs(dx.data_mut(), scratch)?;
                }
            }
            None => weights(dw, scratch)?,
        }
        sum_rows(dy, db)?;
        Ok(())
    }
}

#[cfg(all(test, feature = "rayon"))]
mod tests {
    use super::*;
    use core::sync::atomic::Ordering;

    /// `∂W`, `∂b` and `∂x` of one backward pass with `scratch` floats of scratch on a pool
    /// of `threads`, as bits.
    fn backward_bits(threads: usize, scratch: usize) -> Vec<u32> {
        let (i, o, n) = (200, 120, 64);
        let mut layer = Dense::new(i, o);
        let mut rng = Rng::new(3);
        let mem = layer.memory(Shape::vector(i), n, Mode::Train);
        let mut params = vec![0.0; layer.param_len()];
        layer.init_params(&mut params, &mut rng).unwrap();
        // A sparse input (every other column zero), as a first layer sees.
        let x: Vec<f32> = (0..n * i)
            .map(|e| if e % 2 == 0 { 0.0 } else { rng.normal() })
            .collect();
        let dy: Vec<f32> = (0..n * o).map(|_| rng.normal()).collect();
        let (mut y, mut dx) = (vec![0.0; n * o], vec![f32::NAN; n * i]);
        let mut grads = vec![f32::NAN; params.len()];
        let (mut cache, mut scratch) = (vec![0.0; mem.cache], vec![0.0; scratch]);
        let (xs, ys) = (Shape::matrix(n, i), Shape::matrix(n, o));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let ctx = ForwardCtx {
                params: &params,
                buffers: &mut [],
                cache: &mut cache,
                scratch: &mut scratch,
                rng: &mut Rng::new(0),
                mode: Mode::Train,
            };
            let (xt, yt) = (
                Tensor::new(&x, xs).unwrap(),
                TensorMut::new(&mut y, ys).unwrap(),
            );
            layer.forward(xt, yt, ctx).unwrap();
            let ctx = BackwardCtx {
                params: &params,
                grads: &mut grads,
                buffers: &mut [],
                cache: &mut cache,
                scratch: &mut scratch,
            };
            let dxt = Some(TensorMut::new(&mut dx, xs).unwrap());
            let (xt, yt) = (Tensor::new(&x, xs).unwrap(), Tensor::new(&y, ys).unwrap());
            layer
                .backward(xt, yt, Tensor::new(&dy, ys).unwrap(), dxt, ctx)
                .unwrap();
        });
        grads.iter().chain(&dx).map(|v| v.to_bits()).collect()
    }

    /// Side by side or one after the other, on one thread or two: the same bits.
    #[test]
    fn the_backward_products_side_by_side_give_the_same_bits() {
        let planned = Dense::new(200, 120)
            .memory(Shape::vector(200), 64, Mode::Train)
            .scratch;
        let one = backward_bits(1, planned);
        let before = SIDE_BY_SIDE.load(Ordering::Relaxed);
        let roomy = backward_bits(2, 3 * planned);
        assert!(
            SIDE_BY_SIDE.load(Ordering::Relaxed) > before,
            "side by side never ran"
        );
        assert!(one == roomy, "side by side changed the gradients");
        assert!(
            one == backward_bits(2, planned),
            "two threads changed the gradients"
        );
        assert!(
            one == backward_bits(3, 3 * planned),
            "three threads changed the gradients"
        );
    }
}
