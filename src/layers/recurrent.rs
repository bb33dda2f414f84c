//! Recurrent layers, [`Rnn`] and [`Lstm`], trained by backpropagation through time; the
//! shapes, equations and parameter layout are documented on [`Lstm`].

use super::{BackwardCtx, ForwardCtx, Layer, LayerMemory, Mode};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::{
    add_bias, gemm, gemm_scratch_len, lstm_cell_backward, lstm_cell_forward, rnn_cell_backward,
    rnn_cell_forward,
};
use crate::rng::Rng;
use crate::tensor::{Shape, Tensor, TensorMut};

/// The recurrence of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Rnn,
    Lstm,
}

impl Cell {
    fn name(self) -> &'static str {
        match self {
            Cell::Rnn => "Rnn",
            Cell::Lstm => "Lstm",
        }
    }

    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
        }
    }
}

/// The configuration both layers share, and their implementation.
#[derive(Clone, Copy, Debug)]
struct Spec {
    cell: Cell,
    input_size: usize,
    hidden_size: usize,
    return_sequences: bool,
    max_len: Option<usize>,
}

/// Sizes of one forward/backward call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    /// Batch.
    n: usize,
    /// Time steps.
    t: usize,
    /// Input features.
    f: usize,
    /// Hidden size.
    h: usize,
    /// Gate width `G·H`.
    g: usize,
    /// Stacked input width `F + H`.
    k: usize,
    /// Cell-state width per sample (`H` for LSTM, 0 for RNN).
    c: usize,
}

impl Dims {
    /// Cache floats of one time step.
    fn step(&self) -> usize {
        self.n.saturating_mul(self.k + self.g + self.c)
    }

    /// Forward scratch: `h` `[N, H]`, then the product's packing space.
    fn forward_scratch(&self) -> usize {
        self.n
            .saturating_mul(self.h)
            .saturating_add(gemm_scratch_len(self.n, self.g, self.k))
    }

    /// Backward scratch: `∂h`, `∂c` `[N, H]`, `∂z` `[N, G·H]`, `∂x_t` `[N, F]`, then packing
    /// space for the three products of a step.
    fn backward_scratch(&self) -> usize {
        let (n, f, h, g, k) = (self.n, self.f, self.h, self.g, self.k);
        let pack = gemm_scratch_len(k, g, n)
            .max(gemm_scratch_len(n, h, g))
            .max(gemm_scratch_len(n, f, g));
        n.saturating_mul(2 * h + g + f).saturating_add(pack)
    }
}

fn too_small(what: &'static str, needed: usize, got: usize) -> Result<()> {
    if got < needed {
        Err(Error::length(what, needed, got))
    } else {
        Ok(())
    }
}

impl Spec {
    fn weight_rows(&self) -> usize {
        self.input_size + self.hidden_size
    }

    fn gate_width(&self) -> usize {
        self.cell.gates() * self.hidden_size
    }

    fn param_len(&self) -> usize {
        (self.weight_rows() + 1) * self.gate_width()
    }

    fn output_shape(&self, input: Shape) -> Result<Shape> {
        if self.input_size == 0 || self.hidden_size == 0 {
            return Err(Error::config(
                "a recurrent layer needs input_size > 0 and hidden_size > 0",
            ));
        }
        let params = self
            .weight_rows()
            .checked_add(1)
            .and_then(|r| r.checked_mul(self.cell.gates()))
            .and_then(|r| r.checked_mul(self.hidden_size));
        if params.is_none() {
            return Err(Error::config(
                "recurrent layer parameter count overflows usize",
            ));
        }
        if self.max_len == Some(0) {
            return Err(Error::config(
                "a recurrent layer's max_len must be at least 1",
            ));
        }
        let steps = input.dim(0).unwrap_or(0);
        let expected = Shape::matrix(steps.max(1), self.input_size);
        if input.rank() != 2 || input.last() != self.input_size {
            return Err(Error::shape(
                "input [time steps, features]",
                expected,
                input,
            ));
        }
        if steps == 0 {
            return Err(Error::config(
                "a recurrent layer needs at least one time step",
            ));
        }
        if let Some(max) = self.max_len
            && steps > max
        {
            return Err(Error::shape(
                "input sequence (longer than max_len)",
                Shape::matrix(max, self.input_size),
                input,
            ));
        }
        Ok(if self.return_sequences {
            Shape::matrix(steps, self.hidden_size)
        } else {
            Shape::vector(self.hidden_size)
        })
    }

    fn dims(&self, n: usize, steps: usize) -> Dims {
        let h = self.hidden_size;
        Dims {
            n,
            t: steps,
            f: self.input_size,
            h,
            g: self.gate_width(),
            k: self.weight_rows(),
            c: if self.cell == Cell::Lstm { h } else { 0 },
        }
    }

    fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
        let d = self.dims(batch, input.dim(0).unwrap_or(0));
        let (slots, scratch) = match mode {
            Mode::Train => (d.t, d.forward_scratch().max(d.backward_scratch())),
            Mode::Eval => (1, d.forward_scratch()),
        };
        LayerMemory {
            buffers: 0,
            cache: d.step().saturating_mul(slots),
            scratch,
        }
    }

    fn init_params(
        &self,
        params: &mut [f32],
        rng: &mut Rng,
        init: Init,
        forget_bias: f32,
    ) -> Result<()> {
        let (w, b) = params.split_at_mut(self.weight_rows() * self.gate_width());
        init.fill(w, self.weight_rows(), self.gate_width(), rng)?;
        b.fill(0.0);
        if self.cell == Cell::Lstm {
            let h = self.hidden_size;
            b[h..2 * h].fill(forget_bias);
        }
        Ok(())
    }

    /// Checks `x` and `y` against the configuration and returns the sizes.
    fn check(&self, x: Shape, y: Shape) -> Result<Dims> {
        let out = self.output_shape(x.inner())?;
        let n = x.outer();
        let expected = out.batched(n)?;
        if x.rank() != 3 || y != expected {
            return Err(Error::shape("output", expected, y));
        }
        Ok(self.dims(n, x.dim(1).unwrap_or(0)))
    }

    fn forward(&self, x: Tensor<'_>, mut y: TensorMut<'_>, ctx: ForwardCtx<'_>) -> Result<()> {
        let d = self.check(x.shape(), y.shape())?;
        let (n, f, h, g, k) = (d.n, d.f, d.h, d.g, d.k);
        let slots = if ctx.mode == Mode::Train { d.t } else { 1 };
        let step = d.step();
        too_small(
            "recurrent cache",
            step.saturating_mul(slots),
            ctx.cache.len(),
        )?;
        too_small("recurrent scratch", d.forward_scratch(), ctx.scratch.len())?;
        let (w, b) = ctx.params.split_at(k * g);
        let (hbuf, pack) = ctx.scratch.split_at_mut(n * h);
        let (x, y) = (x.data(), y.data_mut());
        for t in 0..d.t {
            let slot = if ctx.mode == Mode::Train { t } else { 0 };
            let (before, here) = ctx.cache.split_at_mut(slot * step);
            let (xh, rest) = here[..step].split_at_mut(n * k);
            let (z, c) = rest.split_at_mut(n * g);
            // [x_t, h_{t−1}] for every sample (h_{−1} = 0).
            for (r, row) in xh.chunks_exact_mut(k).enumerate() {
                let at = (r * d.t + t) * f;
                row[..f].copy_from_slice(&x[at..at + f]);
                if t == 0 {
                    row[f..].fill(0.0);
                } else {
                    row[f..].copy_from_slice(&hbuf[r * h..(r + 1) * h]);
                }
            }
            gemm(false, false, n, g, k, xh, w, 0.0, z, pack)?;
            add_bias(z, b)?;
            match self.cell {
                Cell::Rnn => rnn_cell_forward(z, hbuf)?,
                Cell::Lstm => {
                    // c holds c_{t−1}: zero at t = 0, copied from the previous slot in training
                    // (in inference the single slot already holds it).
                    if t == 0 {
                        c.fill(0.0);
                    } else if slot > 0 {
                        let prev = &before[(slot - 1) * step + n * (k + g)..slot * step];
                        c.copy_from_slice(prev);
                    }
                    lstm_cell_forward(h, z, c, hbuf)?;
                }
            }
            if self.return_sequences {
                for (r, hr) in hbuf.chunks_exact(h).enumerate() {
                    let at = (r * d.t + t) * h;
                    y[at..at + h].copy_from_slice(hr);
                }
            } else if t + 1 == d.t {
                y.copy_from_slice(hbuf);
            }
        }
        Ok(())
    }

    fn backward(
        &self,
        x: Tensor<'_>,
        y: Tensor<'_>,
        dy: Tensor<'_>,
        mut dx: Option<TensorMut<'_>>,
        ctx: BackwardCtx<'_>,
    ) -> Result<()> {
        let d = self.check(x.shape(), y.shape())?;
        if dy.shape() != y.shape() {
            return Err(Error::shape("output gradient", y.shape(), dy.shape()));
        }
        if let Some(dx) = &dx
            && dx.shape() != x.shape()
        {
            return Err(Error::shape("input gradient", x.shape(), dx.shape()));
        }
        let (n, f, h, g, k) = (d.n, d.f, d.h, d.g, d.k);
        let step = d.step();
        too_small("recurrent cache", step.saturating_mul(d.t), ctx.cache.len())?;
        too_small("recurrent scratch", d.backward_scratch(), ctx.scratch.len())?;
        let (w, _) = ctx.params.split_at(k * g);
        let (w_x, w_h) = w.split_at(f * g);
        let (dw, db) = ctx.grads.split_at_mut(k * g);
        dw.fill(0.0);
        db.fill(0.0);
        let (dh, rest) = ctx.scratch.split_at_mut(n * h);
        let (dc, rest) = rest.split_at_mut(n * h);
        let (dz, rest) = rest.split_at_mut(n * g);
        let (dxt, pack) = rest.split_at_mut(n * f);
        let dy = dy.data();
        dc.fill(0.0);
        for t in (0..d.t).rev() {
            // ∂L/∂h_t: from the output at this step, plus (already in dh) from step t + 1.
            if t + 1 == d.t {
                dh.fill(0.0);
            }
            if self.return_sequences {
                for (r, dr) in dh.chunks_exact_mut(h).enumerate() {
                    let at = (r * d.t + t) * h;
                    for (a, b) in dr.iter_mut().zip(&dy[at..at + h]) {
                        *a += b;
                    }
                }
            } else if t + 1 == d.t {
                dh.copy_from_slice(dy);
            }
            let here = &ctx.cache[t * step..(t + 1) * step];
            let (xh, rest) = here.split_at(n * k);
            let (acts, c) = rest.split_at(n * g);
            match self.cell {
                Cell::Rnn => rnn_cell_backward(acts, dh, dz)?,
                Cell::Lstm => {
                    let c_prev = if t == 0 {
                        None
                    } else {
                        let start = (t - 1) * step + n * (k + g);
                        Some(&ctx.cache[start..start + n * h])
                    };
                    lstm_cell_backward(h, acts, c, c_prev, dh, dc, dz)?;
                }
            }
            // ∂W += [x_t, h_{t−1}]ᵀ·∂z, ∂b += Σ_rows ∂z.
            gemm(true, false, k, g, n, xh, dz, 1.0, dw, pack)?;
            for row in dz.chunks_exact(g) {
                for (a, b) in db.iter_mut().zip(row) {
                    *a += b;
                }
            }
            if let Some(dx) = dx.as_mut() {
                gemm(false, true, n, f, g, dz, w_x, 0.0, dxt, pack)?;
                let dx = dx.data_mut();
                for (r, src) in dxt.chunks_exact(f).enumerate() {
                    let at = (r * d.t + t) * f;
                    dx[at..at + f].copy_from_slice(src);
                }
            }
            if t > 0 {
                // ∂L/∂h_{t−1} through the recurrence.
                gemm(false, true, n, h, g, dz, w_h, 0.0, dh, pack)?;
            }
        }
        Ok(())
    }
}

/// Defines a public recurrent layer type: its configuration fields (the shared ones plus
/// `$extra`), builders, and a [`Layer`] implementation that delegates to [`Spec`].
macro_rules! recurrent_layer {
    (
        $(#[$doc:meta])*
        $name:ident, $cell:expr, forget_bias: |$me:ident| $forget:expr,
        { $($(#[$fdoc:meta])* $field:ident: $ty:ty = $init:expr),* }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name {
            /// Features per time step (`F`).
            pub input_size: usize,
            /// Hidden state size (`H`).
            pub hidden_size: usize,
            /// Output every hidden state `[T, H]` instead of the last one `[H]`.
            pub return_sequences: bool,
            /// Longest sequence the layer accepts (`None`: whatever the network is planned
            /// with).
            pub max_len: Option<usize>,
            /// Initializer of `W` (fans `F + H` and `G·H`; default Xavier uniform).
            pub weight_init: Init,
            $($(#[$fdoc])* pub $field: $ty,)*
            /// The mode of the last `forward`: `backward` needs a training-mode one, whose
            /// cache holds every step.
            last_mode: Mode,
        }

        impl PartialEq for $name {
            /// Compares the configuration (not the mode of the last forward pass).
            fn eq(&self, o: &Self) -> bool {
                (self.input_size, self.hidden_size, self.return_sequences, self.max_len)
                    == (o.input_size, o.hidden_size, o.return_sequences, o.max_len)
                    && self.weight_init == o.weight_init
                    $(&& self.$field == o.$field)*
            }
        }

        impl $name {
            /// A layer reading `input_size` features per step into a hidden state of
            /// `hidden_size`, returning the last hidden state.
            pub const fn new(input_size: usize, hidden_size: usize) -> Self {
                $name {
                    input_size,
                    hidden_size,
                    return_sequences: false,
                    max_len: None,
                    weight_init: Init::XAVIER_UNIFORM,
                    $($field: $init,)*
                    last_mode: Mode::Train,
                }
            }

            /// The same layer returning every hidden state (`true`, output `[T, H]`) or only
            /// the last one (`false`, output `[H]`).
            pub const fn return_sequences(mut self, all: bool) -> Self {
                self.return_sequences = all;
                self
            }

            /// The same layer refusing (when the network is planned) sequences longer than
            /// `steps`.
            pub const fn max_len(mut self, steps: usize) -> Self {
                self.max_len = Some(steps);
                self
            }

            /// The same layer with another initializer for `W`.
            pub const fn with_init(mut self, weight: Init) -> Self {
                self.weight_init = weight;
                self
            }

            fn spec(&self) -> Spec {
                Spec {
                    cell: $cell,
                    input_size: self.input_size,
                    hidden_size: self.hidden_size,
                    return_sequences: self.return_sequences,
                    max_len: self.max_len,
                }
            }
        }

        impl Layer for $name {
            fn name(&self) -> &'static str {
                $cell.name()
            }

            fn output_shape(&self, input: Shape) -> Result<Shape> {
                self.spec().output_shape(input)
            }

            fn param_len(&self) -> usize {
                self.spec().param_len()
            }

            fn memory(&self, input: Shape, batch: usize, mode: Mode) -> LayerMemory {
                self.spec().memory(input, batch, mode)
            }

            fn init_params(&self, params: &mut [f32], rng: &mut Rng) -> Result<()> {
                let $me = self;
                self.spec().init_params(params, rng, self.weight_init, $forget)
            }

            fn forward(
                &mut self,
                x: Tensor<'_>,
                y: TensorMut<'_>,
                ctx: ForwardCtx<'_>,
            ) -> Result<()> {
                self.last_mode = ctx.mode;
                self.spec().forward(x, y, ctx)
            }

            fn backward(
                &mut self,
                x: Tensor<'_>,
                y: Tensor<'_>,
                dy: Tensor<'_>,
                dx: Option<TensorMut<'_>>,
                ctx: BackwardCtx<'_>,
            ) -> Result<()> {
                if self.last_mode != Mode::Train {
                    return Err(Error::state(
                        "a recurrent layer's backward needs a training-mode forward first",
                    ));
                }
                self.spec().backward(x, y, dy, dx, ctx)
            }
        }
    };
}

recurrent_layer! {
    /// An Elman RNN: `h_t = tanh(x_t·W_x + h_{t−1}·W_h + b)`. Input `[T, F]`, output `[H]`
    /// (or `[T, H]`). Shapes, parameter layout (`W` `[F + H, H]`, then `b` `[H]`) and memory
    /// are as documented on [`Lstm`], with one gate instead of four.
    Rnn, Cell::Rnn, forget_bias: |_me| 0.0, {}
}

recurrent_layer! {
    /// A long short-term memory layer (Hochreiter & Schmidhuber, 1997, with forget gate),
    /// trained by backpropagation through time over the whole sequence. What follows holds
    /// for [`Rnn`] too.
    ///
    /// # Shapes
    /// A sample is a sequence `[T, F]` (time steps, then features); a batch is `[N, T, F]`
    /// (batch-first, like every nanonn tensor; PyTorch's `batch_first=True`). The output is the
    /// last hidden state `[H]`, or with [`Rnn::return_sequences`] every hidden state `[T, H]`.
    /// The initial state is zero. `T` is the one the network is planned with; `.max_len(L)` makes
    /// planning fail for sequences longer than `L`.
    ///
    /// # Parameters
    /// One matrix `W` of shape `[F + H, G·H]`, row-major — the input weights `W_x` `[F, G·H]`
    /// stacked on the recurrent weights `W_h` `[H, G·H]` — then the bias `b` `[G·H]`, where `G`
    /// is the number of gates (1 for [`Rnn`], 4 for [`Lstm`]). Stacking lets one product
    /// `[x_t, h_{t−1}] · W` do both halves of each step. LSTM gates are, in order, input `i`,
    /// forget `f`, cell `g`, output `o` (PyTorch's order):
    ///
    /// ```text
    /// RNN:   h_t = tanh(x_t·W_x + h_{t−1}·W_h + b)
    /// LSTM:  [i f g o] = [σ σ tanh σ](x_t·W_x + h_{t−1}·W_h + b)
    ///        c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
    /// ```
    ///
    /// (PyTorch keeps `W_ih` `[G·H, F]` and `W_hh` `[G·H, H]`, i.e. these blocks transposed, and
    /// two biases whose sum is `b`.)
    ///
    /// # Memory
    /// The cache keeps, for every step, the stacked input `[x_t, h_{t−1}]` `[N, F+H]`, the
    /// activated gates `[N, G·H]` and (LSTM) the cell state `[N, H]`: `N·T·(F + H + G·H [+ H])`
    /// floats in training, one step's worth for inference. Products run on
    /// [`crate::kernels::gemm`], whose packing scratch is part of the layer's scratch.
    Lstm, Cell::Lstm, forget_bias: |me| me.forget_bias, {
        /// Initial bias of the forget gate (default 1.0, as Jozefowicz et al. 2015 advise:
        /// the cell starts out remembering, which helps gradients through long sequences).
        forget_bias: f32 = 1.0
    }
}

impl Lstm {
    /// The same layer with another initial forget-gate bias.
    pub const fn with_forget_bias(mut self, bias: f32) -> Self {
        self.forget_bias = bias;
        self
    }
}
