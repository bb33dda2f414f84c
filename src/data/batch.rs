//! Mini-batches: a (shuffled) order of sample indices cut into batches, and copying a
//! batch's samples into contiguous buffers for a network.
//!
//! ```
//! use nanonn::data::{Batches, gather, gather_labels};
//! use nanonn::rng::Rng;
//!
//! // 5 samples of 2 features each.
//! let x = [0.0, 0.1, 1.0, 1.1, 2.0, 2.1, 3.0, 3.1, 4.0, 4.1];
//! let y = [0, 1, 2, 3, 4];
//! let mut rng = Rng::new(42);
//! let (mut xb, mut yb) = ([0.0; 2 * 2], [0u32; 2]);
//! for epoch in 0..3 {
//!     let batches = Batches::new(y.len(), 2, Some(&mut rng)).unwrap();
//!     for indices in &batches {
//!         let n = indices.len(); // 2, 2, then 1: the last partial batch is kept
//!         gather(indices, &x, 2, &mut xb[..n * 2]).unwrap();
//!         gather_labels(indices, &y, &mut yb[..n]).unwrap();
//!         assert_eq!(xb[0], yb[0] as f32);
//!     }
//! }
//! ```

use crate::error::{Error, Result};
use crate::kernels::threads;
use crate::rng::Rng;

/// The sample order of one epoch, cut into batches of `batch_size` indices (the last one
/// shorter when `batch_size` does not divide the number of samples — tinynn keeps it too, so
/// every sample is seen every epoch).
///
/// Iterate with `for indices in &batches` (or [`Batches::iter`]); each item is a slice of
/// sample indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
}

impl Batches {
    /// The batches of an epoch over `len` samples: in order `0..len` when `shuffle` is
    /// `None`, else in a permutation drawn from the generator (so the same seed gives the
    /// same order, and successive epochs drawn from one generator differ).
    ///
    /// # Errors
    /// `InvalidConfig` if `batch_size` is 0.
    pub fn new(len: usize, batch_size: usize, shuffle: Option<&mut Rng>) -> Result<Batches> {
        if batch_size == 0 {
            return Err(Error::config("the batch size must be at least 1"));
        }
        let mut batches = Batches {
            order: (0..len).collect(),
            batch_size,
        };
        if let Some(rng) = shuffle {
            rng.shuffle(&mut batches.order);
        }
        Ok(batches)
    }

    /// Draws a new order for the next epoch, reusing this one's memory. The result is the
    /// same as `Batches::new(len, batch_size, Some(rng))`: the permutation depends only on
    /// the generator, not on the previous order.
    pub fn reshuffle(&mut self, rng: &mut Rng) {
        for (i, slot) in self.order.iter_mut().enumerate() {
            *slot = i;
        }
        rng.shuffle(&mut self.order);
    }

    /// The whole epoch's order of sample indices.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The batch size (every batch's length, except maybe the last one's).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of batches: `ceil(len / batch_size)`.
    pub fn len(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Whether there are no batches (no samples).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The batches, in order, each a slice of sample indices.
    pub fn iter(&self) -> core::slice::Chunks<'_, usize> {
        self.order.chunks(self.batch_size)
    }
}

impl<'a> IntoIterator for &'a Batches {
    type Item = &'a [usize];
    type IntoIter = core::slice::Chunks<'a, usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Checks a gather: `src` holds whole samples of `sample_len` elements, `dst` has room for
/// exactly `indices.len()` of them, and every index names a sample of `src`.
fn check_gather(
    indices: &[usize],
    src_len: usize,
    sample_len: usize,
    dst_len: usize,
) -> Result<()> {
    if sample_len == 0 {
        return Err(Error::config(
            "gather: the sample length must be at least 1",
        ));
    }
    if !src_len.is_multiple_of(sample_len) {
        return Err(Error::config(
            "gather: the source length is not a multiple of the sample length",
        ));
    }
    let expected = indices.len().checked_mul(sample_len).ok_or(Error::config(
        "gather: indices.len() * sample_len overflows usize",
    ))?;
    if dst_len != expected {
        return Err(Error::length("gather destination", expected, dst_len));
    }
    let samples = src_len / sample_len;
    if indices.iter().any(|&i| i >= samples) {
        return Err(Error::config(
            "gather: a sample index is not below the number of samples in the source",
        ));
    }
    Ok(())
}

/// Reads one element per 64-byte cache line of each sample `indices` of `src`, so that the
/// copy after it finds them in cache.
///
/// Why: a shuffled batch takes short samples (784 bytes for MNIST) from all over a dataset
/// far larger than the caches, and a copy loop waits for each cache line in turn (the
/// hardware prefetcher does not start within so short a run). These loads do not depend on
/// each other, so the core has many in flight at once: on a shuffled MNIST batch of 128 this
/// halves [`gather_pixels`]' time (~110 µs to ~50 µs on a Sapphire Rapids VM).
fn touch<T: Copy>(indices: &[usize], src: &[T], sample_len: usize) {
    let step = (64 / core::mem::size_of::<T>()).max(1);
    for &i in indices {
        for v in src[i * sample_len..(i + 1) * sample_len]
            .iter()
            .step_by(step)
        {
            core::hint::black_box(*v);
        }
    }
}

/// Copies the samples `indices` of `src` (samples of `sample_len` elements, back to back)
/// into `dst`, back to back, in the order of `indices`.
///
/// # Errors
/// `InvalidConfig` if `sample_len` is 0, `src.len()` is not a multiple of it, or an index is
/// not below `src.len() / sample_len`; `LengthMismatch` if `dst.len()` is not
/// `indices.len() * sample_len`. Everything is checked before copying, so on error `dst` is
/// untouched.
pub fn gather(indices: &[usize], src: &[f32], sample_len: usize, dst: &mut [f32]) -> Result<()> {
    check_gather(indices, src.len(), sample_len, dst.len())?;
    for (&i, out) in indices.iter().zip(dst.chunks_exact_mut(sample_len)) {
        out.copy_from_slice(&src[i * sample_len..(i + 1) * sample_len]);
    }
    Ok(())
}

/// `f32::from(p) / 255.0` for every byte `p`, computed at compile time: a table lookup is
/// faster than the division, and unlike a multiplication by `1 / 255` it rounds the same.
pub(crate) const PIXEL_VALUES: [f32; 256] = {
    let mut table = [0.0f32; 256];
    let mut p = 0;
    while p < 256 {
        table[p] = p as f32 / 255.0;
        p += 1;
    }
    table
};

/// Like [`gather`] for samples stored as bytes (e.g. 8-bit pixels): each byte `p` becomes
/// `f32::from(p) / 255.0`, the same bits as the float images of `Mnist::load` (feature `std`).
///
/// Why it exists: a batch of MNIST samples is a quarter as many bytes to fetch from memory
/// as the float copy, and a training step fetches its batch from all over the dataset.
///
/// # Errors
/// As [`gather`]; on error `dst` is untouched.
pub fn gather_pixels(
    indices: &[usize],
    src: &[u8],
    sample_len: usize,
    dst: &mut [f32],
) -> Result<()> {
    check_gather(indices, src.len(), sample_len, dst.len())?;
    let ways = threads::ways(dst.len(), GATHER_PAR_MIN);
    gather_pixels_parts(indices, src, sample_len, dst, ways);
    Ok(())
}

/// Smallest part of a pixel gather handed to one thread with `rayon` (a batch of 128 MNIST
/// images, ~50 µs of table lookups, splits in two).
const GATHER_PAR_MIN: usize = 1 << 14;

/// [`gather_pixels`] (checked) on `ways` contiguous runs of samples in parallel; each thread
/// also fetches its own samples ahead ([`touch`]).
fn gather_pixels_parts(
    indices: &[usize],
    src: &[u8],
    sample_len: usize,
    dst: &mut [f32],
    ways: usize,
) {
    if ways > 1 && indices.len() > 1 {
        let mid = threads::cut(indices.len(), ways, 1).clamp(1, indices.len() - 1);
        let (i0, i1) = indices.split_at(mid);
        let (d0, d1) = dst.split_at_mut(mid * sample_len);
        let (w0, w1) = (ways / 2, ways - ways / 2);
        threads::join(
            || gather_pixels_parts(i0, src, sample_len, d0, w0),
            || gather_pixels_parts(i1, src, sample_len, d1, w1),
        );
        return;
    }
    touch(indices, src, sample_len);
    for (&i, out) in indices.iter().zip(dst.chunks_exact_mut(sample_len)) {
        let pixels = &src[i * sample_len..(i + 1) * sample_len];
        for (o, &p) in out.iter_mut().zip(pixels) {
            *o = PIXEL_VALUES[usize::from(p)];
        }
    }
}

/// Copies the labels `indices` of `src` into `dst`, in the order of `indices`.
///
/// # Errors
/// `LengthMismatch` if `dst.len() != indices.len()`; `InvalidConfig` if an index is not
/// below `src.len()`. On error `dst` is untouched.
pub fn gather_labels(indices: &[usize], src: &[u32], dst: &mut [u32]) -> Result<()> {
    check_gather(indices, src.len(), 1, dst.len())?;
    for (&i, out) in indices.iter().zip(dst.iter_mut()) {
        *out = src[i];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn unshuffled_batches_keep_the_partial_last_one() {
        let b = Batches::new(7, 3, None).unwrap();
        let got: Vec<&[usize]> = b.iter().collect();
        assert_eq!(got, vec![&[0, 1, 2][..], &[3, 4, 5], &[6]]);
        assert_eq!(b.len(), 3);
        assert_eq!(Batches::new(6, 3, None).unwrap().len(), 2);
        let empty = Batches::new(0, 3, None).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.iter().count(), 0);
    }

    #[test]
    fn batch_size_zero_is_an_error() {
        let e = Batches::new(10, 0, None).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::InvalidConfig { .. }));
    }

    #[test]
    fn shuffle_is_seeded_and_a_permutation() {
        let a = Batches::new(100, 8, Some(&mut Rng::new(5))).unwrap();
        let b = Batches::new(100, 8, Some(&mut Rng::new(5))).unwrap();
        let c = Batches::new(100, 8, Some(&mut Rng::new(6))).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.order(), c.order());
        assert_ne!(a.order(), Batches::new(100, 8, None).unwrap().order());
        let mut sorted = a.order().to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        // The order is exactly Rng::shuffle of 0..len.
        let mut expected: Vec<usize> = (0..100).collect();
        Rng::new(5).shuffle(&mut expected);
        assert_eq!(a.order(), &expected[..]);
    }

    #[test]
    fn reshuffle_equals_a_fresh_epoch() {
        let (mut r1, mut r2) = (Rng::new(9), Rng::new(9));
        let mut reused = Batches::new(50, 7, Some(&mut r1)).unwrap();
        let first = reused.clone();
        reused.reshuffle(&mut r1);
        let _ = Batches::new(50, 7, Some(&mut r2)).unwrap();
        let fresh = Batches::new(50, 7, Some(&mut r2)).unwrap();
        assert_eq!(reused, fresh);
        assert_ne!(reused, first, "two epochs should differ");
    }

    #[test]
    fn gather_copies_rows_in_index_order() {
        let src = [10.0, 11.0, 20.0, 21.0, 30.0, 31.0];
        let mut dst = [0.0; 6];
        gather(&[2, 0, 2], &src, 2, &mut dst).unwrap();
        assert_eq!(dst, [30.0, 31.0, 10.0, 11.0, 30.0, 31.0]);
        let mut labels = [0; 2];
        gather_labels(&[1, 2], &[7, 8, 9], &mut labels).unwrap();
        assert_eq!(labels, [8, 9]);
    }

    #[test]
    fn gather_pixels_scales_every_byte_as_a_division_would() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut dst = [0.0f32; 256];
        gather_pixels(&[0], &bytes, 256, &mut dst).unwrap();
        for (p, v) in bytes.iter().zip(dst) {
            assert_eq!(v.to_bits(), (f32::from(*p) / 255.0).to_bits(), "byte {p}");
        }
        let mut two = [0.0f32; 4];
        gather_pixels(&[2, 0], &[0, 51, 102, 153, 204, 255], 2, &mut two).unwrap();
        assert_eq!(two, [0.8, 1.0, 0.0, 0.2]);
    }

    #[test]
    fn gather_pixels_errors_leave_dst_untouched() {
        let mut dst = [-1.0f32; 4];
        assert!(gather_pixels(&[0, 3], &[1; 6], 2, &mut dst).is_err());
        assert!(gather_pixels(&[0, 1], &[1; 6], 2, &mut dst[..3]).is_err());
        assert!(gather_pixels(&[0, 1], &[1; 6], 0, &mut dst).is_err());
        assert!(gather_pixels(&[0, 1], &[1; 5], 2, &mut dst).is_err());
        assert_eq!(dst, [-1.0; 4]);
    }

    #[test]
    fn gather_errors_leave_dst_untouched() {
        let src = [1.0; 6];
        let mut dst = [-1.0; 4];
        assert!(gather(&[0, 3], &src, 2, &mut dst).is_err());
        assert_eq!(dst, [-1.0; 4]);
        let e = gather(&[0, 1], &src, 2, &mut dst[..3]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::LengthMismatch {
                what: "gather destination",
                expected: 4,
                got: 3
            }
        );
        assert!(gather(&[0, 1], &src, 0, &mut dst).is_err());
        assert!(gather(&[0, 1], &src[..5], 2, &mut dst).is_err());
        let mut labels = [0; 2];
        assert!(gather_labels(&[0, 3], &[1, 2, 3], &mut labels).is_err());
        assert!(gather_labels(&[0], &[1, 2, 3], &mut labels).is_err());
        assert_eq!(labels, [0, 0]);
    }

    /// With `rayon`, a gather long enough to split gives the same floats on every pool size
    /// (odd sample counts, so the parts differ in length).
    #[cfg(feature = "rayon")]
    #[test]
    fn split_pixel_gathers_match_one_thread() {
        let sample_len = 784;
        let mut rng = Rng::new(3);
        let src: Vec<u8> = (0..500 * sample_len)
            .map(|_| rng.below(256) as u8)
            .collect();
        let indices: Vec<usize> = (0..131).map(|_| rng.below(500)).collect();
        let mut want = vec![0.0; indices.len() * sample_len];
        gather_pixels(&indices, &src, sample_len, &mut want).unwrap();
        for (i, &s) in indices.iter().enumerate() {
            let p = src[s * sample_len + 5];
            assert_eq!(want[i * sample_len + 5], f32::from(p) / 255.0);
        }
        for threads in [2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| {
                assert!(threads::ways(want.len(), GATHER_PAR_MIN) > 1);
                let mut got = vec![f32::NAN; want.len()];
                gather_pixels(&indices, &src, sample_len, &mut got).unwrap();
                got
            });
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
