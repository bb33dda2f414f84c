//! Numeric kernels: pure functions on slices, no allocation, no std.
//!
//! Layers, losses and optimizers do their arithmetic here, so that faster kernels replace
//! these without touching the layers. Every kernel has a plain scalar twin
//! (`*_reference`) that the tests compare the fast version against.
//!
//! Matrices are row-major and contiguous. Length mismatches return an error instead of
//! panicking.

mod activation;
mod conv;
mod dispatch;
mod finite;
mod gemm;
mod loss;
pub mod math;
mod norm;
mod optim;
mod recurrent;
mod reduce;
mod sparse;
pub(crate) mod threads;

pub use activation::*;
pub use conv::*;
pub use dispatch::{KERNEL_ENV, KernelPath, selected};
pub use finite::{check_finite_split, copy_finite};
pub use gemm::*;
pub use loss::*;
pub use norm::*;
pub use optim::*;
pub use recurrent::*;
pub use reduce::*;
pub use sparse::*;
