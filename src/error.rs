//! The one error type of the core: small, `Copy`, allocation-free, and readable.
//!
//! Every fallible call in nanonn returns [`Result<T>`]. An [`Error`] names *what* went wrong
//! ([`ErrorKind`]) and, when it happened inside a network, *where* (the layer index and name),
//! so `println!("{err}")` reads like
//! `layer 2 (Dense): input shape [300] does not match the expected [400]`.

use core::fmt;

use crate::tensor::Shape;

/// Result alias used throughout nanonn.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What went wrong. Every variant carries enough data to print a useful message without
/// allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A tensor's shape is not the one expected.
    ShapeMismatch {
        /// What was being checked (e.g. "input", "targets").
        what: &'static str,
        /// The shape that was expected.
        expected: Shape,
        /// The shape that was given.
        got: Shape,
    },
    /// A buffer or slice has the wrong number of elements.
    LengthMismatch {
        /// What was being checked.
        what: &'static str,
        /// The expected length, in elements.
        expected: usize,
        /// The given length, in elements.
        got: usize,
    },
    /// The caller-provided memory is too small for what was asked of it.
    OutOfMemory {
        /// What the memory was needed for.
        what: &'static str,
        /// Bytes needed.
        needed_bytes: usize,
        /// Bytes available.
        available_bytes: usize,
    },
    /// A class label is not below the number of classes.
    LabelOutOfRange {
        /// Position of the sample in the batch.
        sample: usize,
        /// The label found.
        label: usize,
        /// The number of classes.
        classes: usize,
    },
    /// A NaN or an infinity was found where finite numbers are required.
    NonFinite {
        /// Where it was found (e.g. "input", "loss").
        what: &'static str,
        /// Index of the first non-finite element.
        index: usize,
    },
    /// A configuration value is invalid (batch size 0, negative learning rate, ...).
    InvalidConfig {
        /// A sentence describing the problem.
        what: &'static str,
    },
    /// A fixed-capacity container is full.
    CapacityExceeded {
        /// What overflowed.
        what: &'static str,
        /// Its capacity.
        capacity: usize,
    },
    /// The batch given to a call is larger than the batch the memory was planned for.
    BatchTooLarge {
        /// The batch size given.
        got: usize,
        /// The largest batch size the memory was planned for.
        max: usize,
    },
    /// The call is not allowed in the network's current state (e.g. `backward` before
    /// `forward`, or training an inference-only network).
    InvalidState {
        /// A sentence describing the problem.
        what: &'static str,
    },
}

/// Where, inside a network, an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRef {
    /// Position of the layer in the network, from 0.
    pub index: usize,
    /// The layer's name, as given by [`crate::layers::Layer::name`].
    pub name: &'static str,
}

/// An error: its [`ErrorKind`] and, optionally, the layer it happened in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The layer it happened in, if any.
    pub layer: Option<LayerRef>,
}

impl Error {
    /// An error with no layer attached.
    pub const fn new(kind: ErrorKind) -> Self {
        Error { kind, layer: None }
    }

    /// Attaches the layer this error happened in (keeps an existing one).
    pub fn in_layer(mut self, index: usize, name: &'static str) -> Self {
        if self.layer.is_none() {
            self.layer = Some(LayerRef { index, name });
        }
        self
    }

    /// Shorthand for [`ErrorKind::InvalidConfig`].
    pub const fn config(what: &'static str) -> Self {
        Error::new(ErrorKind::InvalidConfig { what })
    }

    /// Shorthand for [`ErrorKind::InvalidState`].
    pub const fn state(what: &'static str) -> Self {
        Error::new(ErrorKind::InvalidState { what })
    }

    /// Shorthand for [`ErrorKind::LengthMismatch`].
    pub const fn length(what: &'static str, expected: usize, got: usize) -> Self {
        Error::new(ErrorKind::LengthMismatch {
            what,
            expected,
            got,
        })
    }

    /// Shorthand for [`ErrorKind::ShapeMismatch`].
    pub const fn shape(what: &'static str, expected: Shape, got: Shape) -> Self {
        Error::new(ErrorKind::ShapeMismatch {
            what,
            expected,
            got,
        })
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::ShapeMismatch {
                what,
                expected,
                got,
            } => write!(
                f,
                "{what} shape {got} does not match the expected {expected}"
            ),
            ErrorKind::LengthMismatch {
                what,
                expected,
                got,
            } => write!(f, "{what} has {got} elements, expected {expected}"),
            ErrorKind::OutOfMemory {
                what,
                needed_bytes,
                available_bytes,
            } => write!(
                f,
                "not enough memory for {what}: {needed_bytes} bytes needed, {available_bytes} available"
            ),
            ErrorKind::LabelOutOfRange {
                sample,
                label,
                classes,
            } => write!(
                f,
                "label {label} of sample {sample} is out of range for {classes} classes"
            ),
            ErrorKind::NonFinite { what, index } => {
                write!(f, "{what} contains a NaN or infinity at element {index}")
            }
            ErrorKind::InvalidConfig { what } => write!(f, "invalid configuration: {what}"),
            ErrorKind::CapacityExceeded { what, capacity } => {
                write!(f, "too many {what}: the capacity is {capacity}")
            }
            ErrorKind::BatchTooLarge { got, max } => write!(
                f,
                "batch of {got} samples is larger than the planned maximum of {max}"
            ),
            ErrorKind::InvalidState { what } => write!(f, "invalid state: {what}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(LayerRef { index, name }) = self.layer {
            write!(f, "layer {index} ({name}): ")?;
        }
        self.kind.fmt(f)
    }
}

impl core::error::Error for Error {}

/// Returns `Err(NonFinite)` naming the first NaN or infinity in `data`.
pub fn check_finite(what: &'static str, data: &[f32]) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::new(ErrorKind::NonFinite { what, index })),
    }
}
