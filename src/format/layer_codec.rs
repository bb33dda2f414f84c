//! The layer codec: each built-in [`AnyLayer`] variant as a kind code and a payload of its
//! configuration, so that a file alone rebuilds the network.
//!
//! # Adding a layer kind
//! 1. Pick the next free code in [`kind`] (never reuse or renumber a code: old files keep it).
//! 2. Add an arm to `encode` writing the layer's public configuration fields, and the
//!    matching arm to `decode` reading them back in the same order (sizes as `u32`, reals
//!    as finite `f32`, enums as `u32` codes).
//! 3. Document the payload in `docs/model-format.md` and extend the round-trip test
//!    (`tests/format.rs`) with the new layer.
//!
//! A layer the codec does not know (a custom layer, or a variant not added yet) cannot be
//! saved: `encode` returns [`FileError::UnsupportedLayer`].

use super::FileError;
use super::bytes::{Reader, Writer};
use crate::error::Error;
use crate::init::Init;
use crate::layers::{
    Activation, AnyLayer, AvgPool2D, BatchNorm, Conv2D, ConvTranspose2D, Dense, Dropout, Flatten,
    GlobalAvgPool2D, Layer, Lstm, MaxPool2D, Padding, Reshape, Rnn,
};
use crate::tensor::Shape;

/// Layer kind codes (stable across versions; 0 is never a valid kind).
pub mod kind {
    /// [`crate::layers::Dense`].
    pub const DENSE: u32 = 1;
    /// [`crate::layers::Activation`].
    pub const ACTIVATION: u32 = 2;
    /// [`crate::layers::Conv2D`].
    pub const CONV2D: u32 = 3;
    /// [`crate::layers::ConvTranspose2D`].
    pub const CONV_TRANSPOSE2D: u32 = 4;
    /// [`crate::layers::MaxPool2D`].
    pub const MAX_POOL2D: u32 = 5;
    /// [`crate::layers::AvgPool2D`].
    pub const AVG_POOL2D: u32 = 6;
    /// [`crate::layers::GlobalAvgPool2D`].
    pub const GLOBAL_AVG_POOL2D: u32 = 7;
    /// [`crate::layers::Flatten`].
    pub const FLATTEN: u32 = 8;
    /// [`crate::layers::Reshape`].
    pub const RESHAPE: u32 = 9;
    /// [`crate::layers::BatchNorm`].
    pub const BATCH_NORM: u32 = 10;
    /// [`crate::layers::Dropout`].
    pub const DROPOUT: u32 = 11;
    /// [`crate::layers::Rnn`].
    pub const RNN: u32 = 12;
    /// [`crate::layers::Lstm`].
    pub const LSTM: u32 = 13;
}

/// Largest payload of any layer kind, in bytes.
pub(crate) const MAX_PAYLOAD: usize = 256;

/// Writes sizes as `u32`, naming the layer if one does not fit.
struct Sizes<'w, 'o> {
    w: &'w mut Writer<'o>,
    index: usize,
    name: &'static str,
}

impl Sizes<'_, '_> {
    fn size(&mut self, v: usize) -> Result<(), FileError> {
        let v = u32::try_from(v).map_err(|_| {
            let e = Error::config("a layer size does not fit in 32 bits");
            FileError::Net(e.in_layer(self.index, self.name))
        })?;
        self.w.u32(v)
    }

    fn pair(&mut self, (a, b): (usize, usize)) -> Result<(), FileError> {
        self.size(a)?;
        self.size(b)
    }

    fn real(&mut self, v: f32) -> Result<(), FileError> {
        if !v.is_finite() {
            let e = Error::config("a layer hyper-parameter is not finite");
            return Err(FileError::Net(e.in_layer(self.index, self.name)));
        }
        self.w.f32(v)
    }

    fn init(&mut self, init: Init) -> Result<(), FileError> {
        let (code, a, b) = init_code(init);
        self.w.u32(code)?;
        self.real(a)?;
        self.real(b)
    }

    fn padding(&mut self, p: Padding) -> Result<(), FileError> {
        let (code, t, b, l, r) = match p {
            Padding::Valid => (0, 0, 0, 0, 0),
            Padding::Same => (1, 0, 0, 0, 0),
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => (2, top, bottom, left, right),
        };
        self.w.u32(code)?;
        self.pair((t, b))?;
        self.pair((l, r))
    }

    fn shape(&mut self, s: Shape) -> Result<(), FileError> {
        self.size(s.rank())?;
        for i in 0..4 {
            self.size(s.dim(i).unwrap_or(0))?;
        }
        Ok(())
    }

    /// The fields both convolutions share, in file order.
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        channels: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        padding: Padding,
        bias: bool,
        im2col_rows: Option<usize>,
    ) -> Result<(), FileError> {
        self.pair(channels)?;
        self.pair(kernel)?;
        self.pair(stride)?;
        self.pair(dilation)?;
        self.padding(padding)?;
        self.w.u32(bias as u32)?;
        // More rows than a layer's output has act like all of them, which fit 32 bits.
        self.option(im2col_rows.map(|r| r.min(u32::MAX as usize)))
    }

    /// An optional size: a flag (0 or 1), then the value (0 when absent).
    fn option(&mut self, v: Option<usize>) -> Result<(), FileError> {
        self.w.u32(v.is_some() as u32)?;
        self.size(v.unwrap_or(0))
    }

    fn recurrent(
        &mut self,
        sizes: (usize, usize),
        return_sequences: bool,
        max_len: Option<usize>,
        init: Init,
    ) -> Result<(), FileError> {
        self.pair(sizes)?;
        self.w
            .u32(return_sequences as u32 | (max_len.is_some() as u32) << 1)?;
        self.size(max_len.unwrap_or(0))?;
        self.init(init)
    }
}

/// Writes `layer`'s payload into `w` and returns its kind code.
pub(crate) fn encode(
    layer: &AnyLayer<'_>,
    index: usize,
    w: &mut Writer<'_>,
) -> Result<u32, FileError> {
    let name = layer.name();
    let mut s = Sizes { w, index, name };
    let kind = match layer {
        AnyLayer::Dense(d) => {
            s.pair((d.inputs, d.outputs))?;
            s.init(d.weight_init)?;
            s.init(d.bias_init)?;
            kind::DENSE
        }
        AnyLayer::Activation(a) => {
            let (code, param) = activation_code(*a);
            s.w.u32(code)?;
            s.real(param)?;
            kind::ACTIVATION
        }
        AnyLayer::Conv2D(c) => {
            let channels = (c.in_channels, c.out_channels);
            s.conv(
                channels,
                c.kernel,
                c.stride,
                c.dilation,
                c.padding,
                c.bias,
                c.im2col_rows,
            )?;
            s.init(c.weight_init)?;
            s.init(c.bias_init)?;
            kind::CONV2D
        }
        AnyLayer::ConvTranspose2D(c) => {
            let channels = (c.in_channels, c.out_channels);
            s.conv(
                channels,
                c.kernel,
                c.stride,
                c.dilation,
                c.padding,
                c.bias,
                c.im2col_rows,
            )?;
            s.pair(c.output_padding)?;
            s.init(c.weight_init)?;
            s.init(c.bias_init)?;
            kind::CONV_TRANSPOSE2D
        }
        AnyLayer::MaxPool2D(p) => {
            s.pair(p.kernel)?;
            s.pair(p.stride)?;
            s.padding(p.padding)?;
            kind::MAX_POOL2D
        }
        AnyLayer::AvgPool2D(p) => {
            s.pair(p.kernel)?;
            s.pair(p.stride)?;
            s.padding(p.padding)?;
            kind::AVG_POOL2D
        }
        AnyLayer::GlobalAvgPool2D(_) => kind::GLOBAL_AVG_POOL2D,
        AnyLayer::Flatten(_) => kind::FLATTEN,
        AnyLayer::Reshape(r) => {
            s.shape(r.shape)?;
            kind::RESHAPE
        }
        AnyLayer::BatchNorm(b) => {
            s.size(b.channels)?;
            s.real(b.momentum)?;
            s.real(b.eps)?;
            kind::BATCH_NORM
        }
        AnyLayer::Dropout(d) => {
            s.real(d.keep_prob)?;
            kind::DROPOUT
        }
        AnyLayer::Rnn(l) => {
            let sizes = (l.input_size, l.hidden_size);
            s.recurrent(sizes, l.return_sequences, l.max_len, l.weight_init)?;
            kind::RNN
        }
        AnyLayer::Lstm(l) => {
            let sizes = (l.input_size, l.hidden_size);
            s.recurrent(sizes, l.return_sequences, l.max_len, l.weight_init)?;
            s.real(l.forget_bias)?;
            kind::LSTM
        }
        // Custom and boxed layers, and any variant not added to the codec yet.
        #[allow(unreachable_patterns)]
        _ => return Err(FileError::UnsupportedLayer { index, name }),
    };
    Ok(kind)
}

/// Reads what [`Sizes`] wrote.
impl Reader<'_> {
    fn size(&mut self, what: &'static str) -> Result<usize, FileError> {
        Ok(self.u32(what)? as usize)
    }

    fn pair(&mut self, what: &'static str) -> Result<(usize, usize), FileError> {
        Ok((self.size(what)?, self.size(what)?))
    }

    fn option(&mut self, what: &'static str) -> Result<Option<usize>, FileError> {
        let at = self.offset();
        match (self.flag(what)?, self.size(what)?) {
            (true, v) => Ok(Some(v)),
            (false, 0) => Ok(None),
            _ => Err(FileError::Malformed { what, offset: at }),
        }
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, FileError> {
        match self.u32(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.malformed(what)),
        }
    }

    fn padding(&mut self) -> Result<Padding, FileError> {
        let at = self.offset();
        let code = self.u32("padding")?;
        let (top, bottom) = self.pair("padding")?;
        let (left, right) = self.pair("padding")?;
        match (code, top | bottom | left | right) {
            (0, 0) => Ok(Padding::Valid),
            (1, 0) => Ok(Padding::Same),
            (2, _) => Ok(Padding::Explicit {
                top,
                bottom,
                left,
                right,
            }),
            _ => Err(FileError::Malformed {
                what: "invalid padding",
                offset: at,
            }),
        }
    }

    fn init(&mut self) -> Result<Init, FileError> {
        let at = self.offset();
        let code = self.u32("initializer")?;
        let a = self.finite_f32("initializer parameter")?;
        let b = self.finite_f32("initializer parameter")?;
        init_from_code(code, a, b).ok_or(FileError::Malformed {
            what: "unknown initializer code",
            offset: at,
        })
    }

    /// The flags and `max_len` of a recurrent layer: `(return_sequences, max_len)`.
    fn recurrent(&mut self) -> Result<(bool, Option<usize>), FileError> {
        let at = self.offset();
        let flags = self.u32("recurrent flags")?;
        let max_len = self.size("recurrent max_len")?;
        if flags > 3 || (flags & 2 == 0 && max_len != 0) {
            return Err(FileError::Malformed {
                what: "invalid recurrent flags",
                offset: at,
            });
        }
        Ok((flags & 1 != 0, (flags & 2 != 0).then_some(max_len)))
    }
}

/// Rebuilds layer `index` of kind `kind` from its `payload`, which starts at byte `offset` of
/// the file. The whole payload must be used.
pub(crate) fn decode<'x>(
    kind: u32,
    payload: &[u8],
    offset: usize,
    index: usize,
) -> Result<AnyLayer<'x>, FileError> {
    let mut r = Reader::new(payload, offset);
    let layer = match kind {
        kind::DENSE => {
            let (inputs, outputs) = r.pair("Dense size")?;
            let (weight, bias) = (r.init()?, r.init()?);
            AnyLayer::Dense(Dense::new(inputs, outputs).with_init(weight, bias))
        }
        kind::ACTIVATION => {
            let code = r.u32("activation function")?;
            let param = r.finite_f32("activation parameter")?;
            let a = activation_from_code(code, param).ok_or(FileError::Malformed {
                what: "unknown activation function code",
                offset,
            })?;
            AnyLayer::Activation(a)
        }
        kind::CONV2D => {
            let (i, o) = r.pair("Conv2D channels")?;
            let mut c = Conv2D::new(i, o, r.pair("Conv2D kernel")?);
            c.stride = r.pair("Conv2D stride")?;
            c.dilation = r.pair("Conv2D dilation")?;
            c.padding = r.padding()?;
            c.bias = r.flag("Conv2D bias flag")?;
            c.im2col_rows = r.option("Conv2D im2col rows")?;
            (c.weight_init, c.bias_init) = (r.init()?, r.init()?);
            AnyLayer::Conv2D(c)
        }
        kind::CONV_TRANSPOSE2D => {
            let (i, o) = r.pair("ConvTranspose2D channels")?;
            let mut c = ConvTranspose2D::new(i, o, r.pair("ConvTranspose2D kernel")?);
            c.stride = r.pair("ConvTranspose2D stride")?;
            c.dilation = r.pair("ConvTranspose2D dilation")?;
            c.padding = r.padding()?;
            c.bias = r.flag("ConvTranspose2D bias flag")?;
            c.im2col_rows = r.option("ConvTranspose2D im2col rows")?;
            c.output_padding = r.pair("ConvTranspose2D output padding")?;
            (c.weight_init, c.bias_init) = (r.init()?, r.init()?);
            AnyLayer::ConvTranspose2D(c)
        }
        kind::MAX_POOL2D => {
            let mut p = MaxPool2D::new(r.pair("pool kernel")?);
            p.stride = r.pair("pool stride")?;
            p.padding = r.padding()?;
            AnyLayer::MaxPool2D(p)
        }
        kind::AVG_POOL2D => {
            let mut p = AvgPool2D::new(r.pair("pool kernel")?);
            p.stride = r.pair("pool stride")?;
            p.padding = r.padding()?;
            AnyLayer::AvgPool2D(p)
        }
        kind::GLOBAL_AVG_POOL2D => AnyLayer::GlobalAvgPool2D(GlobalAvgPool2D),
        kind::FLATTEN => AnyLayer::Flatten(Flatten),
        kind::RESHAPE => {
            let at = r.offset();
            let rank = r.size("Reshape rank")?;
            let mut dims = [0usize; 4];
            for d in &mut dims {
                *d = r.size("Reshape shape")?;
            }
            let shape = dims
                .get(..rank)
                .filter(|_| dims[rank.min(4)..].iter().all(|&d| d == 0))
                .and_then(|d| Shape::try_new(d).ok())
                .ok_or(FileError::Malformed {
                    what: "invalid Reshape shape",
                    offset: at,
                })?;
            AnyLayer::Reshape(Reshape::new(shape))
        }
        kind::BATCH_NORM => {
            let mut b = BatchNorm::new(r.size("BatchNorm channels")?);
            b.momentum = r.finite_f32("BatchNorm momentum")?;
            b.eps = r.finite_f32("BatchNorm eps")?;
            AnyLayer::BatchNorm(b)
        }
        kind::DROPOUT => AnyLayer::Dropout(Dropout::new(r.finite_f32("Dropout keep_prob")?)),
        kind::RNN => {
            let (i, h) = r.pair("Rnn size")?;
            let (seq, max_len) = r.recurrent()?;
            let mut l = Rnn::new(i, h).return_sequences(seq).with_init(r.init()?);
            l.max_len = max_len;
            AnyLayer::Rnn(l)
        }
        kind::LSTM => {
            let (i, h) = r.pair("Lstm size")?;
            let (seq, max_len) = r.recurrent()?;
            let mut l = Lstm::new(i, h).return_sequences(seq).with_init(r.init()?);
            l.max_len = max_len;
            l.forget_bias = r.finite_f32("Lstm forget bias")?;
            AnyLayer::Lstm(l)
        }
        _ => return Err(FileError::UnknownLayerKind { index, kind }),
    };
    if r.remaining() != 0 {
        return Err(r.malformed("layer payload longer than its kind needs"));
    }
    Ok(layer)
}

/// Activation codes: the function and its one parameter (0 when it has none).
fn activation_code(a: Activation) -> (u32, f32) {
    match a {
        Activation::ReLU => (0, 0.0),
        Activation::LeakyReLU { slope } => (1, slope),
        Activation::Sigmoid => (2, 0.0),
        Activation::Tanh => (3, 0.0),
        Activation::Softplus => (4, 0.0),
        Activation::ELU { alpha } => (5, alpha),
        Activation::GELU => (6, 0.0),
    }
}

fn activation_from_code(code: u32, p: f32) -> Option<Activation> {
    Some(match code {
        0 => Activation::ReLU,
        1 => Activation::LeakyReLU { slope: p },
        2 => Activation::Sigmoid,
        3 => Activation::Tanh,
        4 => Activation::Softplus,
        5 => Activation::ELU { alpha: p },
        6 => Activation::GELU,
        _ => return None,
    })
}

/// An initializer as a code and two parameters (12 bytes). Stored so that the rebuilt layer
/// equals the saved one, although a loaded network does not re-initialise its weights.
fn init_code(init: Init) -> (u32, f32, f32) {
    match init {
        Init::Zeros => (0, 0.0, 0.0),
        Init::Ones => (1, 0.0, 0.0),
        Init::Constant(v) => (2, v, 0.0),
        Init::Uniform { low, high } => (3, low, high),
        Init::Normal { mean, std } => (4, mean, std),
        Init::TruncatedNormal { mean, std } => (5, mean, std),
        Init::XavierUniform { gain } => (6, gain, 0.0),
        Init::XavierNormal { gain } => (7, gain, 0.0),
        Init::HeUniform { gain } => (8, gain, 0.0),
        Init::HeNormal { gain } => (9, gain, 0.0),
    }
}

fn init_from_code(code: u32, a: f32, b: f32) -> Option<Init> {
    Some(match code {
        0 => Init::Zeros,
        1 => Init::Ones,
        2 => Init::Constant(a),
        3 => Init::Uniform { low: a, high: b },
        4 => Init::Normal { mean: a, std: b },
        5 => Init::TruncatedNormal { mean: a, std: b },
        6 => Init::XavierUniform { gain: a },
        7 => Init::XavierNormal { gain: a },
        8 => Init::HeUniform { gain: a },
        9 => Init::HeNormal { gain: a },
        _ => return None,
    })
}
