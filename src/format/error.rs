//! What can go wrong reading or writing a model file.
//!
//! A file error carries numbers (the version found, the byte counts, the layer index), which
//! the core's `Copy`, allocation-free [`crate::Error`] cannot, so model files have their own
//! error type. Errors from building a network are wrapped ([`FileError::Net`]).

use core::fmt;

/// An error reading, writing, saving or loading a model file.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// The bytes do not start with the nanonn magic number: not a model file at all.
    BadMagic,
    /// The file was written in a format version this nanonn cannot read.
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The newest version this nanonn reads.
        supported: u32,
    },
    /// The file is shorter than its header (or its length field) says.
    Truncated {
        /// Bytes the file should have.
        needed: u64,
        /// Bytes there are.
        got: usize,
    },
    /// The stored CRC-32 does not match the contents: the file is corrupted.
    ChecksumMismatch {
        /// The CRC-32 stored in the header.
        stored: u32,
        /// The CRC-32 of the bytes.
        computed: u32,
    },
    /// The structure is invalid although the checksum matches (a crafted file or a writer
    /// bug); `what` names the field, `offset` is where it was read.
    Malformed {
        /// The field or rule that failed.
        what: &'static str,
        /// Byte offset in the file.
        offset: usize,
    },
    /// A required section of a kind this nanonn does not know.
    UnknownSection {
        /// The section kind code.
        kind: u32,
    },
    /// A layer kind this nanonn does not know (written by a newer version, or corrupted).
    UnknownLayerKind {
        /// Position of the layer.
        index: usize,
        /// The layer kind code.
        kind: u32,
    },
    /// The layer cannot be written to a file: custom layers have no encoding.
    UnsupportedLayer {
        /// Position of the layer.
        index: usize,
        /// The layer's name.
        name: &'static str,
    },
    /// A stored tensor holds a NaN or an infinity.
    NonFinite {
        /// Which tensor ("parameters", "buffers", "optimizer state").
        what: &'static str,
        /// Index of the first non-finite element.
        index: usize,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// Restoring training state from a file that holds only weights.
    NotACheckpoint,
    /// The file does not describe the network or optimizer it is loaded into.
    Mismatch {
        /// What differs.
        what: &'static str,
        /// The layer it differs at, if any.
        layer: Option<usize>,
    },
    /// The network could not be built or planned from the file's description.
    Net(crate::Error),
    /// A safetensors file is invalid or does not fit the network (the message says why).
    #[cfg(feature = "std")]
    SafeTensors(std::string::String),
    /// Reading or writing a file failed.
    #[cfg(feature = "std")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
}

impl From<crate::Error> for FileError {
    fn from(e: crate::Error) -> Self {
        FileError::Net(e)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::BadMagic => f.write_str("not a nanonn model file (bad magic bytes)"),
            FileError::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported model file version {found} (this nanonn reads versions up to {supported})"
            ),
            FileError::Truncated { needed, got } => write!(
                f,
                "truncated model file: {got} bytes, but it should have {needed}"
            ),
            FileError::ChecksumMismatch { stored, computed } => write!(
                f,
                "model file is corrupted: CRC-32 is {computed:#010x}, the header says {stored:#010x}"
            ),
            FileError::Malformed { what, offset } => {
                write!(f, "malformed model file at byte {offset}: {what}")
            }
            FileError::UnknownSection { kind } => write!(
                f,
                "model file has a required section of unknown kind {kind} (written by a newer nanonn?)"
            ),
            FileError::UnknownLayerKind { index, kind } => write!(
                f,
                "layer {index}: unknown layer kind {kind} (written by a newer nanonn?)"
            ),
            FileError::UnsupportedLayer { index, name } => write!(
                f,
                "layer {index} ({name}) cannot be saved: custom layers have no file encoding"
            ),
            FileError::NonFinite { what, index } => write!(
                f,
                "model file {what} contain a NaN or infinity at element {index}"
            ),
            FileError::BufferTooSmall { needed, got } => write!(
                f,
                "buffer too small for the model file: {needed} bytes needed, {got} given"
            ),
            FileError::NotACheckpoint => {
                f.write_str("the model file holds weights only, not a training checkpoint")
            }
            FileError::Mismatch {
                what,
                layer: Some(i),
            } => write!(f, "the model file does not match at layer {i}: {what}"),
            FileError::Mismatch { what, layer: None } => {
                write!(f, "the model file does not match: {what}")
            }
            FileError::Net(e) => write!(f, "model file network: {e}"),
            #[cfg(feature = "std")]
            FileError::SafeTensors(what) => write!(f, "safetensors: {what}"),
            #[cfg(feature = "std")]
            FileError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl core::error::Error for FileError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FileError::Net(e) => Some(e),
            #[cfg(feature = "std")]
            FileError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(feature = "std")]
impl FileError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<std::path::PathBuf>, error: std::io::Error) -> FileError {
        FileError::Io {
            path: path.into(),
            error,
        }
    }
}
