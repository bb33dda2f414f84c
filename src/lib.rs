//! # nanonn — a tiny, fast deep-learning framework that runs without a heap
//!
//! nanonn follows the architecture of [tinynn](https://github.com/borgwang/tinynn):
//! **tensor · layer · loss · optimizer · net · model**, each a small, readable piece, plus
//! initializers, learning-rate schedules, data batching and metrics. It adds what a static
//! language can give: SIMD kernels, `#![no_std]` operation with no allocator, memory that is
//! known before the first step, and a C ABI.
//!
//! ## Memory model
//! Every parameter, gradient, optimizer state, activation and scratch buffer of a network
//! lives in **one `&mut [f32]` the caller provides** (a `static` array on a microcontroller,
//! a `Vec` on a desktop). Before building, [`plan::Plan`] answers exactly how many bytes a
//! network needs for a batch size and optimizer — for training, and less for inference.
//! Building in too little memory returns [`ErrorKind::OutOfMemory`]; `forward`, `backward`
//! and `apply_grad` never allocate.
//!
//! ## Features
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `std`   | yes     | implies `alloc`; MNIST IDX loading (raw and `.gz`), file I/O |
//! | `alloc` | via std | owned models that size their own memory, boxed custom layers |
//! | `rayon` | no      | implies `std`; multi-core GEMM, results bit-identical for every thread count |
//!
//! Without default features the crate is `#![no_std]` and needs no `alloc`.
//!
//! ## MSRV
//! Rust 1.89 (edition 2024; the AVX-512 intrinsics are stable since 1.89).
#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod error;
pub mod format;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod net;
pub mod optim;
pub mod plan;
pub mod rng;
pub mod schedule;
pub mod tensor;

#[cfg(feature = "std")]
pub mod data;
#[cfg(feature = "rayon")]
pub mod pool;

pub use error::{Error, ErrorKind, Result};
pub use tensor::{Shape, Tensor, TensorMut};

/// The names most programs need, in one import: `use nanonn::prelude::*;`.
pub mod prelude {
    pub use crate::error::{Error, ErrorKind, Result};
    pub use crate::init::Init;
    pub use crate::layers::{Activation, AnyLayer, Dense, Layer, Mode};
    pub use crate::layers::{
        AvgPool2D, Conv2D, ConvTranspose2D, Flatten, GlobalAvgPool2D, MaxPool2D, Padding, Reshape,
    };
    pub use crate::layers::{BatchNorm, Dropout, Lstm, Rnn};
    pub use crate::loss::{
        Huber, Loss, Mae, Mse, SigmoidCrossEntropy, SoftmaxCrossEntropy, Targets,
    };
    pub use crate::model::Model;
    pub use crate::net::Net;
    pub use crate::optim::{
        Adadelta, Adagrad, Adam, Momentum, Optimizer, RAdam, RMSProp, Sgd, WeightDecay,
    };
    pub use crate::plan::{Plan, Purpose};
    pub use crate::rng::Rng;
    pub use crate::schedule::LrSchedule;
    pub use crate::tensor::{Shape, Tensor, TensorMut};
}

/// Compiles and runs the README's example as a doctest, so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
