//! Data sets and batching (feature `std`): the IDX format of MNIST, raw or gzipped, the
//! MNIST loader, and seeded mini-batches.
//!
//! Loading errors are [`DataError`]s, which name the file, what was wrong and what was
//! expected; batching errors are the crate's [`Error`](crate::Error).

mod batch;
mod idx;
mod mnist;

pub use batch::{Batches, gather, gather_labels, gather_pixels};
pub use idx::{DataError, DataErrorKind, IDX_U8, Idx, parse_idx, read_idx};
pub use mnist::Mnist;
