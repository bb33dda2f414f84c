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
///
/// Every training step checks its input, so the common case (all finite) is a branch-free
/// scan over blocks that the compiler vectorises: a float is NaN or infinite exactly when
/// its exponent bits are all ones. Only a block that has one is searched for the index.
pub fn check_finite(what: &'static str, data: &[f32]) -> Result<()> {
    non_finite_at(what, first_non_finite(data))
}

/// `Ok` when no NaN or infinity was found (`first` is `None`), else the `NonFinite` error
/// naming `what` and the index found.
pub(crate) fn non_finite_at(what: &'static str, first: Option<usize>) -> Result<()> {
    match first {
        Some(index) => Err(Error::new(ErrorKind::NonFinite { what, index })),
        None => Ok(()),
    }
}

/// The index of the first NaN or infinity in `data`, as [`check_finite`] finds it.
pub(crate) fn first_non_finite(data: &[f32]) -> Option<usize> {
    const EXPONENT: u32 = 0x7f80_0000;
    let non_finite = |v: &f32| v.to_bits() & EXPONENT == EXPONENT;
    for (b, block) in data.chunks(64).enumerate() {
        let any = block.iter().fold(false, |acc, v| acc | non_finite(v));
        if any {
            return Some(b * 64 + block.iter().position(non_finite).unwrap_or(0));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first non-finite value is found wherever it lies (inside or at the edge of a
    /// block, in the tail), and huge or subnormal finite values are not mistaken for one.
    #[test]
    fn check_finite_names_the_first_nan_or_infinity() {
        let base = [1.0, -3.0e38, f32::MAX, f32::MIN_POSITIVE / 4.0, 0.0, -0.0];
        for len in [0, 1, 63, 64, 65, 200] {
            let finite: [f32; 200] = core::array::from_fn(|i| base[i % base.len()]);
            assert!(check_finite("x", &finite[..len]).is_ok(), "len {len}");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, 1, 62, 63, 64, 127, 128, 199]
                    .into_iter()
                    .filter(|&i| i < len)
                {
                    let mut v = finite;
                    v[at] = bad;
                    v[len - 1] = f32::NAN; // a later one must not be the one reported
                    let err = check_finite("x", &v[..len]).unwrap_err();
                    assert_eq!(
                        err.kind,
                        ErrorKind::NonFinite {
                            what: "x",
                            index: at
                        }
                    );
                }
            }
        }
    }
}
