//! Model files: weights and training checkpoints in one small, documented binary format
//! (specified in `docs/model-format.md`), plus PyTorch interchange through safetensors.
//!
//! A file holds the network's description (every layer's kind and configuration, the input
//! shape), its parameters and persistent buffers as little-endian `f32` aligned to 64 bytes,
//! optionally a training checkpoint (optimizer state, step counter, learning rate, random
//! generators), and a CRC-32 over everything after the first 16 bytes. So a file alone
//! rebuilds the network, and on a little-endian target the weights can be used where they lie
//! — in flash, or in a buffer read from disk — without a copy.
//!
//! | task | no_std | std |
//! |------|--------|-----|
//! | save | [`required_bytes`], then [`write()`] into a `&mut [u8]` | [`save`] (atomic), [`to_vec`] |
//! | load | [`ModelFile::parse`] a `&[u8]`, then [`ModelFile::inference_net`] (zero-copy) or [`ModelFile::net`] | [`read`] a file into a `Vec<u8>`, then the same |
//! | resume | [`ModelFile::restore`] a [`crate::model::Model`] from a file written with a [`Checkpoint`] | |
//! | PyTorch | | [`safetensors`] |
//!
//! ```
//! use nanonn::format::{self, ModelFile};
//! use nanonn::prelude::*;
//!
//! let layers: [AnyLayer; 3] = [Dense::new(4, 8).into(), Activation::Tanh.into(), Dense::new(8, 2).into()];
//! let mut net = Net::owned(layers, Shape::vector(4), 1, Purpose::Inference, 7)?;
//! let mut bytes = vec![0u8; format::required_bytes(&net, None)?];
//! format::write(&net, None, &mut bytes)?;
//!
//! // Later, perhaps on another machine: the file alone rebuilds the network.
//! let file = ModelFile::parse(&bytes)?;
//! let mut memory = vec![0.0f32; file.inference_floats(1)?];
//! let mut copy = file.inference_net(1, &mut memory[..])?;
//! let x = Tensor::matrix(&[0.1, 0.2, 0.3, 0.4], 1, 4)?;
//! assert_eq!(copy.forward(x)?.data(), net.forward(x)?.data());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bytes;
mod crc;
mod error;
pub mod layer_codec;
mod read;
mod restore;
mod write;

#[cfg(feature = "std")]
mod file;
#[cfg(feature = "std")]
mod json;
#[cfg(feature = "std")]
pub mod safetensors;
#[cfg(feature = "std")]
mod torch_map;

pub use crc::{Crc32, crc32};
pub use error::FileError;
pub use read::{ModelFile, TrainingState};
pub use write::{Checkpoint, required_bytes, write};

#[cfg(feature = "std")]
pub use file::{read, save, save_bytes, to_vec};

/// The first 8 bytes of every model file. Like PNG's, the non-ASCII first byte and the
/// `\r\n`, `\x1a`, `\n` tail catch files mangled by text-mode transfers.
pub const MAGIC: [u8; 8] = [0x89, b'N', b'N', b'F', b'\r', b'\n', 0x1A, b'\n'];

/// The format version this nanonn writes, and the newest it reads.
pub const VERSION: u32 = 1;

/// Alignment, in bytes, of every tensor section from the start of the file. 64 covers SIMD
/// loads and cache lines; a file placed at a 4-byte aligned address can be used in place.
pub const ALIGN: usize = 64;

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 32;

/// Bytes of one section-table entry.
pub const SECTION_ENTRY_LEN: usize = 24;

/// Most sections a file may list.
pub const MAX_SECTIONS: usize = 16;

/// Offset of the CRC-32 in the header; the checksum covers bytes `16..file_len`.
pub const CRC_OFFSET: usize = 12;

/// First byte covered by the CRC-32 (magic, version and the CRC itself are not).
pub const CRC_START: usize = 16;

/// Section kind codes.
pub mod section {
    /// The network description: input shape and the layer table (required).
    pub const NET: u32 = 1;
    /// All parameters, `f32` (required).
    pub const PARAMS: u32 = 2;
    /// All persistent buffers, `f32` (required).
    pub const BUFFERS: u32 = 3;
    /// Checkpoint scalars: optimizer, step, learning rate, random generators.
    pub const TRAINING: u32 = 4;
    /// The optimizer's per-parameter state, `f32` (present with `TRAINING`).
    pub const OPTIMIZER_STATE: u32 = 5;
    /// Section flag: a reader that does not know the kind may skip the section.
    pub const FLAG_OPTIONAL: u32 = 1;
}

/// Bytes of the network section before the layer records.
pub(crate) const NET_HEADER_LEN: usize = 40;
/// Bytes of the training section.
pub(crate) const TRAINING_LEN: usize = 136;
/// Bytes of the optimizer name in the training section.
pub(crate) const OPTIMIZER_NAME_LEN: usize = 16;
