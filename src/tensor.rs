//! Shapes and shape-checked tensor views.
//!
//! # Layout
//! A tensor is a borrowed slice of `f32` plus a [`Shape`] of rank 1 to 4, stored **row-major**
//! (the last dimension varies fastest) and **batch-first**: a batch of 128 MNIST images
//! flattened to 784 pixels is `[128, 784]`; element `(i, j)` is at `i * 784 + j`.
//! Layers describe their input and output *per sample* (`[784]`); the batch dimension is added
//! in front when data flows through a network.
//!
//! Views never own memory: the data lives in the caller's buffers or in a network's workspace.

use core::fmt;

use crate::error::{Error, Result};

/// Largest rank a [`Shape`] can hold (enough for `[batch, channels, height, width]`).
pub const MAX_RANK: usize = 4;

/// The dimensions of a tensor, rank 1..=4 (rank 0 is the empty shape of a scalar).
///
/// Each dimension is stored in 32 bits, which keeps [`crate::Error`] (that carries two
/// shapes) small; a single dimension can be at most `u32::MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: [u32; MAX_RANK],
    rank: u8,
}

impl Shape {
    /// A shape from a slice of dimensions.
    ///
    /// # Panics
    /// If `dims` has more than [`MAX_RANK`] entries or a dimension exceeds `u32::MAX` (at
    /// compile time in `const` contexts). Use [`Shape::try_new`] for untrusted input.
    pub const fn new(dims: &[usize]) -> Shape {
        assert!(dims.len() <= MAX_RANK, "a Shape has at most 4 dimensions");
        let mut out = [0; MAX_RANK];
        let mut i = 0;
        while i < dims.len() {
            assert!(
                dims[i] <= u32::MAX as usize,
                "a Shape dimension is at most u32::MAX"
            );
            out[i] = dims[i] as u32;
            i += 1;
        }
        Shape {
            dims: out,
            rank: dims.len() as u8,
        }
    }

    /// A shape from a slice of dimensions, or an error if there are more than [`MAX_RANK`]
    /// or one exceeds `u32::MAX`.
    pub fn try_new(dims: &[usize]) -> Result<Shape> {
        if dims.len() > MAX_RANK {
            return Err(Error::config("a shape has at most 4 dimensions"));
        }
        if dims.iter().any(|&d| d > u32::MAX as usize) {
            return Err(Error::config("a shape dimension is at most u32::MAX"));
        }
        Ok(Shape::new(dims))
    }

    /// A rank-1 shape `[n]` (a flat feature vector).
    pub const fn vector(n: usize) -> Shape {
        Shape::new(&[n])
    }

    /// A rank-2 shape `[rows, cols]`.
    pub const fn matrix(rows: usize, cols: usize) -> Shape {
        Shape::new(&[rows, cols])
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> heapless::Vec<usize, MAX_RANK> {
        self.dims[..self.rank as usize]
            .iter()
            .map(|&d| d as usize)
            .collect()
    }

    /// Dimension `i`, or `None` past the rank.
    pub fn dim(&self, i: usize) -> Option<usize> {
        self.dims[..self.rank as usize].get(i).map(|&d| d as usize)
    }

    /// The number of dimensions.
    pub const fn rank(&self) -> usize {
        self.rank as usize
    }

    /// The number of elements (the product of the dimensions; 1 for rank 0).
    pub fn numel(&self) -> usize {
        self.dims[..self.rank()]
            .iter()
            .map(|&d| d as usize)
            .product()
    }

    /// The number of elements, or `None` if the product overflows `usize`.
    pub fn checked_numel(&self) -> Option<usize> {
        self.dims[..self.rank()]
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
    }

    /// The first dimension (the batch size of a batch-first tensor); 1 for rank 0.
    pub fn outer(&self) -> usize {
        self.dim(0).unwrap_or(1)
    }

    /// The last dimension (the width of a row); 1 for rank 0.
    pub fn last(&self) -> usize {
        self.rank()
            .checked_sub(1)
            .and_then(|i| self.dim(i))
            .unwrap_or(1)
    }

    /// The shape without its first dimension: the per-sample shape of a batch.
    pub fn inner(&self) -> Shape {
        let r = self.rank();
        if r == 0 {
            return *self;
        }
        let mut dims = [0; MAX_RANK];
        dims[..r - 1].copy_from_slice(&self.dims[1..r]);
        Shape {
            dims,
            rank: r as u8 - 1,
        }
    }

    /// `[batch, ..self]`: this per-sample shape with a batch dimension in front.
    ///
    /// Returns an error if the result would exceed [`MAX_RANK`].
    pub fn batched(&self, batch: usize) -> Result<Shape> {
        let r = self.rank();
        if r >= MAX_RANK {
            return Err(Error::config(
                "a per-sample shape has at most 3 dimensions (the batch makes 4)",
            ));
        }
        if batch > u32::MAX as usize {
            return Err(Error::config("batch size is at most u32::MAX"));
        }
        let mut dims = [0; MAX_RANK];
        dims[0] = batch as u32;
        dims[1..=r].copy_from_slice(&self.dims[..r]);
        Ok(Shape {
            dims,
            rank: r as u8 + 1,
        })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A read-only, shape-checked view of `f32` data (row-major, batch-first).
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    data: &'a [f32],
    shape: Shape,
}

impl<'a> Tensor<'a> {
    /// A view of `data` with `shape`; fails unless `data.len()` equals the shape's element count.
    pub fn new(data: &'a [f32], shape: Shape) -> Result<Self> {
        check_len("tensor data", shape, data.len())?;
        Ok(Tensor { data, shape })
    }

    /// A `[rows, cols]` view of `data`.
    pub fn matrix(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        Tensor::new(data, Shape::matrix(rows, cols))
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// The batch size (first dimension).
    pub fn batch(&self) -> usize {
        self.shape.outer()
    }

    /// Elements per sample (the product of all dimensions but the first).
    pub fn sample_len(&self) -> usize {
        self.shape.inner().numel()
    }

    /// Sample `i` of the batch as a flat slice.
    pub fn sample(&self, i: usize) -> &'a [f32] {
        let n = self.sample_len();
        &self.data[i * n..(i + 1) * n]
    }
}

/// A mutable, shape-checked view of `f32` data (row-major, batch-first).
#[derive(Debug)]
pub struct TensorMut<'a> {
    data: &'a mut [f32],
    shape: Shape,
}

impl<'a> TensorMut<'a> {
    /// A mutable view of `data` with `shape`; fails unless the lengths agree.
    pub fn new(data: &'a mut [f32], shape: Shape) -> Result<Self> {
        check_len("tensor data", shape, data.len())?;
        Ok(TensorMut { data, shape })
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        self.data
    }

    /// The elements, row-major, mutably.
    pub fn data_mut(&mut self) -> &mut [f32] {
        self.data
    }

    /// Gives up the view, returning the underlying slice with the view's lifetime.
    pub fn into_data(self) -> &'a mut [f32] {
        self.data
    }

    /// A read-only view of the same data.
    pub fn as_tensor(&self) -> Tensor<'_> {
        Tensor {
            data: self.data,
            shape: self.shape,
        }
    }

    /// The batch size (first dimension).
    pub fn batch(&self) -> usize {
        self.shape.outer()
    }
}

fn check_len(what: &'static str, shape: Shape, len: usize) -> Result<()> {
    match shape.checked_numel() {
        Some(n) if n == len => Ok(()),
        Some(n) => Err(Error::length(what, n, len)),
        None => Err(Error::config("shape's element count overflows usize")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_basics() {
        let s = Shape::new(&[2, 3, 4]);
        assert_eq!(s.rank(), 3);
        assert_eq!(s.numel(), 24);
        assert_eq!(s.inner(), Shape::new(&[3, 4]));
        assert_eq!(s.inner().batched(2).unwrap(), s);
        assert!(Shape::new(&[1, 2, 3, 4]).batched(1).is_err());
        assert!(Shape::try_new(&[1, 2, 3, 4, 5]).is_err());
        assert_eq!(format!("{s}"), "[2, 3, 4]");
    }

    #[test]
    fn tensor_checks_length() {
        let d = [0.0; 6];
        assert!(Tensor::matrix(&d, 2, 3).is_ok());
        let e = Tensor::matrix(&d, 2, 4).unwrap_err();
        assert_eq!(format!("{e}"), "tensor data has 6 elements, expected 8");
        assert!(Tensor::new(&d, Shape::new(&[u32::MAX as usize; 3])).is_err());
        assert!(Shape::try_new(&[usize::MAX]).is_err());
    }
}
