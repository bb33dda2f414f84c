//! `NanonnNetBuilder`: a network described layer by layer, checked as it grows.
//!
//! Each `nanonn_net_builder_add_*` checks at once that the new layer accepts the previous
//! layer's output, so a mistake is reported at the line that makes it
//! (`layer 1 (Dense): input shape [400] does not match the expected [300]`) and leaves the
//! builder unchanged. A builder is only a description: models are made from it by
//! `nanonn_model_new` / `nanonn_model_new_in`, which copy its layers, so one builder can make
//! several models and may be freed as soon as they are made.

use core::ffi::c_char;

use nn::format::ModelFile;
use nn::layers::{
    AnyLayer, AvgPool2D, BatchNorm, Conv2D, ConvTranspose2D, Dense, Dropout, Flatten,
    GlobalAvgPool2D, Layer, Lstm, MaxPool2D, Reshape, Rnn,
};
use nn::plan::MAX_LAYERS;
use nn::{ErrorKind, Shape};

use crate::config::{NanonnActivation, NanonnConv2dConfig, NanonnPool2dConfig, or_one, padding};
use crate::file::{path_bytes, read_path};
use crate::status::{
    Failure, NanonnStatus, Outcome, flag, guard, guard_void, handle, handle_mut, optional_slice,
    out_ptr, slice, write_out,
};

/// A network under construction: the per-sample input shape and the layers so far.
pub struct NanonnNetBuilder {
    input: Shape,
    output: Shape,
    layers: Vec<AnyLayer<'static>>,
}

/// A copy of a built-in layer (the builder makes only those).
fn copy_layer(layer: &AnyLayer<'_>) -> Outcome<AnyLayer<'static>> {
    layer
        .try_clone()
        .ok_or_else(|| Failure::argument(format!("layer {} cannot be copied", layer.name())))
}

/// A per-sample shape from C dimensions: rank 1 to 3 (the batch makes the fourth), every
/// dimension at least 1.
pub(crate) fn sample_shape(dims: &[usize], what: &str) -> Outcome<Shape> {
    if dims.is_empty() || dims.len() > 3 {
        return Err(Failure::argument(format!(
            "{what} needs 1 to 3 dimensions, not {}",
            dims.len()
        )));
    }
    if dims.contains(&0) {
        return Err(Failure::argument(format!(
            "{what} has a dimension of 0: {dims:?}"
        )));
    }
    let shape = Shape::try_new(dims)?;
    shape
        .checked_numel()
        .ok_or_else(|| Failure::argument(format!("{what}: the element count overflows")))?;
    Ok(shape)
}

impl NanonnNetBuilder {
    pub(crate) fn input(&self) -> Shape {
        self.input
    }

    /// Copies of the layers, for a model to own (in a fixed-capacity list: making a model in
    /// caller memory allocates nothing).
    pub(crate) fn layers(&self) -> Outcome<heapless::Vec<AnyLayer<'static>, MAX_LAYERS>> {
        let mut list = heapless::Vec::new();
        for layer in &self.layers {
            // `push` keeps the count at most MAX_LAYERS.
            if list.push(copy_layer(layer)?).is_err() {
                return Err(Failure::argument("too many layers"));
            }
        }
        Ok(list)
    }

    /// Appends `layer` if it accepts the current output shape.
    fn push(&mut self, layer: AnyLayer<'static>) -> Outcome {
        let index = self.layers.len();
        if index >= MAX_LAYERS {
            return Err(nn::Error::new(ErrorKind::CapacityExceeded {
                what: "layers",
                capacity: MAX_LAYERS,
            })
            .into());
        }
        let output = layer
            .output_shape(self.output)
            .and_then(|s| s.batched(1).map(|_| s))
            .map_err(|e| e.in_layer(index, layer.name()))?;
        self.output = output;
        self.layers.push(layer);
        Ok(())
    }

    pub(crate) fn from_file(file: &ModelFile<'_>) -> Outcome<NanonnNetBuilder> {
        let mut builder = NanonnNetBuilder {
            input: file.input_shape(),
            output: file.input_shape(),
            layers: Vec::new(),
        };
        for layer in file.layers()? {
            builder.push(copy_layer(&layer)?)?;
        }
        Ok(builder)
    }
}

/// Starts a network whose samples have the shape `input_dims[0..input_rank]`: 1 to 3
/// dimensions, e.g. `{784}` for flat MNIST images or `{28, 28, 1}` (NHWC) for a CNN, or
/// `{T, F}` sequences for recurrent layers. Writes the new builder to `*out` (free it with
/// `nanonn_net_builder_free`).
///
/// # Safety
/// `input_dims` points to `input_rank` readable `size_t`; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_new(
    input_dims: *const usize,
    input_rank: usize,
    out: *mut *mut NanonnNetBuilder,
) -> NanonnStatus {
    guard(|| {
        out_ptr(out, "out")?;
        // SAFETY: the caller's contract for the pair.
        let dims = unsafe { slice(input_dims, input_rank, "input_dims") }?;
        let input = sample_shape(dims, "the input shape")?;
        let b = Box::new(NanonnNetBuilder {
            input,
            output: input,
            layers: Vec::new(),
        });
        // SAFETY: checked non-NULL and aligned above.
        unsafe { write_out(out, Box::into_raw(b)) };
        Ok(())
    })
}

/// Frees a builder (NULL is ignored). Models made from it are not affected.
///
/// # Safety
/// `builder` is NULL or a live builder, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_free(builder: *mut NanonnNetBuilder) {
    if builder.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in nanonn_net_builder_new/from_*, freed once.
    guard_void(|| drop(unsafe { Box::from_raw(builder) }));
}

/// The number of layers added so far, in `*out`.
///
/// # Safety
/// `builder` is NULL or a live builder; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_layer_count(
    builder: *const NanonnNetBuilder,
    out: *mut usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: forwarded contract.
        let b = unsafe { handle(builder, "builder") }?;
        out_ptr(out, "out")?;
        // SAFETY: checked above.
        unsafe { write_out(out, b.layers.len()) };
        Ok(())
    })
}

/// The per-sample output shape of the last layer (the input shape if there is none yet):
/// its rank in `*rank_out` and its dimensions in `dims_out[0..rank]` (`dims_len` >= 3 always
/// suffices).
///
/// # Safety
/// `builder` is NULL or a live builder; `dims_out` has `dims_len` writable `size_t`;
/// `rank_out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_output_shape(
    builder: *const NanonnNetBuilder,
    dims_out: *mut usize,
    dims_len: usize,
    rank_out: *mut usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: forwarded contract.
        let b = unsafe { handle(builder, "builder") }?;
        out_ptr(rank_out, "rank_out")?;
        // SAFETY: the caller's contract for the pair.
        let dims = unsafe { crate::status::slice_mut(dims_out, dims_len, "dims_out") }?;
        let shape = b.output.dims();
        if dims.len() < shape.len() {
            return Err(Failure::new(
                NanonnStatus::BufferTooSmall,
                format!(
                    "dims_out has {} elements, the shape has {}",
                    dims.len(),
                    shape.len()
                ),
            ));
        }
        dims[..shape.len()].copy_from_slice(&shape);
        // SAFETY: checked above.
        unsafe { write_out(rank_out, shape.len()) };
        Ok(())
    })
}

/// Adds a fully connected layer from `inputs` to `outputs` features (Xavier-uniform weights,
/// zero bias, as tinynn). The previous output must be `[inputs]`.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_dense(
    builder: *mut NanonnNetBuilder,
    inputs: usize,
    outputs: usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.push(Dense::new(inputs, outputs).into())
    })
}

/// Adds an elementwise activation, a `NanonnActivation`. `param` is LEAKY_RELU's slope
/// (tinynn: 0.2) or ELU's alpha (usually 1.0); the other activations ignore it.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_activation(
    builder: *mut NanonnNetBuilder,
    activation: u32,
    param: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        let act = NanonnActivation::from_u32(activation)?.to_core(param);
        b.push(act.into())
    })
}

fn conv_common(c: &NanonnConv2dConfig) -> Outcome<nn::layers::Padding> {
    flag(c.no_bias, "no_bias")?;
    padding(
        c.padding,
        [c.pad_top, c.pad_bottom, c.pad_left, c.pad_right],
    )
}

/// Adds a 2-D convolution on `[H, W, in_channels]` samples (see `NanonnConv2dConfig`).
///
/// # Safety
/// `builder` is NULL or a live builder; `config` is NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_conv2d(
    builder: *mut NanonnNetBuilder,
    config: *const NanonnConv2dConfig,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        // SAFETY: the caller's contract.
        let c = *unsafe { handle(config, "config") }?;
        let pad = conv_common(&c)?;
        if (c.output_padding_h, c.output_padding_w) != (0, 0) {
            return Err(Failure::argument(
                "output_padding is only for nanonn_net_builder_add_conv_transpose2d",
            ));
        }
        let layer = Conv2D::new(c.in_channels, c.out_channels, (c.kernel_h, c.kernel_w))
            .stride((or_one(c.stride_h), or_one(c.stride_w)))
            .dilation((or_one(c.dilation_h), or_one(c.dilation_w)))
            .padding(pad)
            .bias(c.no_bias == 0);
        b.push(layer.into())
    })
}

/// Adds a 2-D transposed convolution (see `NanonnConv2dConfig`; `output_padding_*` add rows
/// and columns at the bottom and right).
///
/// # Safety
/// `builder` is NULL or a live builder; `config` is NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_conv_transpose2d(
    builder: *mut NanonnNetBuilder,
    config: *const NanonnConv2dConfig,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        // SAFETY: the caller's contract.
        let c = *unsafe { handle(config, "config") }?;
        let pad = conv_common(&c)?;
        let layer = ConvTranspose2D::new(c.in_channels, c.out_channels, (c.kernel_h, c.kernel_w))
            .stride((or_one(c.stride_h), or_one(c.stride_w)))
            .dilation((or_one(c.dilation_h), or_one(c.dilation_w)))
            .output_padding((c.output_padding_h, c.output_padding_w))
            .padding(pad)
            .bias(c.no_bias == 0);
        b.push(layer.into())
    })
}

fn pool_geometry(c: &NanonnPool2dConfig) -> Outcome<((usize, usize), nn::layers::Padding)> {
    let stride_h = if c.stride_h == 0 {
        c.kernel_h
    } else {
        c.stride_h
    };
    let stride_w = if c.stride_w == 0 {
        c.kernel_w
    } else {
        c.stride_w
    };
    let pad = padding(
        c.padding,
        [c.pad_top, c.pad_bottom, c.pad_left, c.pad_right],
    )?;
    Ok(((stride_h, stride_w), pad))
}

/// Adds 2-D max pooling (see `NanonnPool2dConfig`).
///
/// # Safety
/// `builder` is NULL or a live builder; `config` is NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_max_pool2d(
    builder: *mut NanonnNetBuilder,
    config: *const NanonnPool2dConfig,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        // SAFETY: the caller's contract.
        let c = *unsafe { handle(config, "config") }?;
        let (stride, pad) = pool_geometry(&c)?;
        let layer = MaxPool2D::new((c.kernel_h, c.kernel_w))
            .stride(stride)
            .padding(pad);
        b.push(layer.into())
    })
}

/// Adds 2-D average pooling (see `NanonnPool2dConfig`).
///
/// # Safety
/// `builder` is NULL or a live builder; `config` is NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_avg_pool2d(
    builder: *mut NanonnNetBuilder,
    config: *const NanonnPool2dConfig,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        // SAFETY: the caller's contract.
        let c = *unsafe { handle(config, "config") }?;
        let (stride, pad) = pool_geometry(&c)?;
        let layer = AvgPool2D::new((c.kernel_h, c.kernel_w))
            .stride(stride)
            .padding(pad);
        b.push(layer.into())
    })
}

/// Adds global average pooling: `[H, W, C]` to `[C]`.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_global_avg_pool2d(
    builder: *mut NanonnNetBuilder,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.push(GlobalAvgPool2D.into())
    })
}

/// Adds a flattening of each sample to a vector (`[H, W, C]` to `[H*W*C]`).
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_flatten(
    builder: *mut NanonnNetBuilder,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.push(Flatten.into())
    })
}

/// Adds a reshape of each sample to `dims[0..rank]` (1 to 3 dimensions, as many elements).
///
/// # Safety
/// `builder` is NULL or a live builder; `dims` points to `rank` readable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_reshape(
    builder: *mut NanonnNetBuilder,
    dims: *const usize,
    rank: usize,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        // SAFETY: the caller's contract for the pair.
        let d = unsafe { slice(dims, rank, "dims") }?;
        let shape = sample_shape(d, "the reshape target")?;
        b.push(Reshape::new(shape).into())
    })
}

/// Adds batch normalisation over the last dimension (`channels` features or channels).
/// `momentum` is the weight of the old value in the running averages, in [0, 1] (tinynn:
/// 0.9); `eps` > 0 (usually 1e-5).
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_batch_norm(
    builder: *mut NanonnNetBuilder,
    channels: usize,
    momentum: f32,
    eps: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        let layer = BatchNorm::new(channels).momentum(momentum).eps(eps);
        b.push(layer.into())
    })
}

/// Adds inverted dropout keeping each element with probability `keep_prob` in (0, 1]
/// (tinynn's convention; PyTorch's `p` is `1 - keep_prob`). Active only while training.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_dropout(
    builder: *mut NanonnNetBuilder,
    keep_prob: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.push(Dropout::new(keep_prob).into())
    })
}

/// Adds an Elman (tanh) RNN over `[T, input_size]` sequences. `return_sequences` 0: output
/// the last hidden state `[hidden_size]`; 1: every one, `[T, hidden_size]`.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_rnn(
    builder: *mut NanonnNetBuilder,
    input_size: usize,
    hidden_size: usize,
    return_sequences: u32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        let all = flag(return_sequences, "return_sequences")?;
        b.push(
            Rnn::new(input_size, hidden_size)
                .return_sequences(all)
                .into(),
        )
    })
}

/// Adds an LSTM over `[T, input_size]` sequences (forget-gate bias 1.0);
/// `return_sequences` as for `nanonn_net_builder_add_rnn`.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_add_lstm(
    builder: *mut NanonnNetBuilder,
    input_size: usize,
    hidden_size: usize,
    return_sequences: u32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        let all = flag(return_sequences, "return_sequences")?;
        b.push(
            Lstm::new(input_size, hidden_size)
                .return_sequences(all)
                .into(),
        )
    })
}

/// A builder with the network described in the model file at `path` (its input shape and
/// layers; the weights are loaded with `nanonn_model_load`).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_from_file(
    path: *const c_char,
    out: *mut *mut NanonnNetBuilder,
) -> NanonnStatus {
    guard(|| {
        out_ptr(out, "out")?;
        // SAFETY: forwarded contract.
        let path = unsafe { path_bytes(path) }?;
        let bytes = read_path(&path)?;
        let b = ModelFile::parse(&bytes)
            .map_err(Failure::from)
            .and_then(|file| NanonnNetBuilder::from_file(&file))
            .map_err(|e| e.prefixed(&path.display().to_string()))?;
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(b))) };
        Ok(())
    })
}

/// A builder with the network described in the model file held in `bytes[0..len]`.
///
/// # Safety
/// `bytes` points to `len` readable bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_net_builder_from_buffer(
    bytes: *const u8,
    len: usize,
    out: *mut *mut NanonnNetBuilder,
) -> NanonnStatus {
    guard(|| {
        out_ptr(out, "out")?;
        // SAFETY: the caller's contract for the pair.
        let bytes = unsafe { optional_slice(bytes, len, "bytes") }?;
        let b = NanonnNetBuilder::from_file(&ModelFile::parse(bytes)?)?;
        // SAFETY: checked above.
        unsafe { write_out(out, Box::into_raw(Box::new(b))) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ptr;

    fn new(dims: &[usize]) -> *mut NanonnNetBuilder {
        let mut b = ptr::null_mut();
        // SAFETY: valid pointers.
        let s = unsafe { nanonn_net_builder_new(dims.as_ptr(), dims.len(), &mut b) };
        assert_eq!(s, NanonnStatus::Ok);
        b
    }

    #[test]
    fn layers_that_do_not_chain_are_refused_and_leave_the_builder_unchanged() {
        let b = new(&[784]);
        // SAFETY: `b` is live until freed at the end.
        unsafe {
            assert_eq!(nanonn_net_builder_add_dense(b, 784, 400), NanonnStatus::Ok);
            assert_eq!(
                nanonn_net_builder_add_dense(b, 300, 10),
                NanonnStatus::ShapeMismatch
            );
            let mut n = 0;
            assert_eq!(nanonn_net_builder_layer_count(b, &mut n), NanonnStatus::Ok);
            assert_eq!(n, 1);
            let (mut dims, mut rank) = ([0usize; 3], 0usize);
            let s = nanonn_net_builder_output_shape(b, dims.as_mut_ptr(), 3, &mut rank);
            assert_eq!((s, rank, dims[0]), (NanonnStatus::Ok, 1, 400));
            assert_eq!(
                nanonn_net_builder_add_activation(b, 42, 0.0),
                NanonnStatus::InvalidEnum
            );
            nanonn_net_builder_free(b);
        }
    }

    #[test]
    fn input_shapes_are_checked() {
        let mut b = ptr::null_mut();
        // SAFETY: valid pointers; NULL ones are refused.
        unsafe {
            let four = [1usize, 2, 3, 4];
            assert_eq!(
                nanonn_net_builder_new(four.as_ptr(), 4, &mut b),
                NanonnStatus::InvalidArgument
            );
            assert_eq!(
                nanonn_net_builder_new(four.as_ptr(), 0, &mut b),
                NanonnStatus::InvalidArgument
            );
            let zero = [28usize, 0];
            assert_eq!(
                nanonn_net_builder_new(zero.as_ptr(), 2, &mut b),
                NanonnStatus::InvalidArgument
            );
            assert_eq!(
                nanonn_net_builder_new(ptr::null(), 1, &mut b),
                NanonnStatus::NullPointer
            );
            assert!(b.is_null(), "no output on failure");
            assert_eq!(
                nanonn_net_builder_new(four.as_ptr(), 1, ptr::null_mut()),
                NanonnStatus::NullPointer
            );
        }
    }
}
