//! Checking a network's input for NaN and infinity (and copying it where the network keeps
//! it), split over the threads of the current rayon pool.
//!
//! Why split: every training step checks its input (the MNIST MLP's 128 × 784 floats) and
//! copies it into the network's memory, on one thread that took ~16 µs and ~19 µs of a
//! ~1.3 ms step; on two threads, with the other core idle meanwhile and half of the input
//! written by it (a batch gather is split the same way), ~29 µs and ~25 µs of ~0.95 ms.
//! Each part checks and copies its own range, a block at a time so that the copy reads
//! what the check has just brought into L1.

use crate::error::{Error, Result, first_non_finite, non_finite_at};
use crate::kernels::threads;

/// Smallest part handed to one thread: 16 Ki floats (~2 µs of check and copy).
const PAR_MIN: usize = 1 << 14;

/// Floats checked, then copied, at a time.
const BLOCK: usize = 1024;

/// Checks that every value of `data` is finite, as [`crate::error::check_finite`] does
/// (the error names `what` and the first NaN or infinity), with the work split over the
/// current rayon pool.
///
/// # Errors
/// `NonFinite` at the first NaN or infinity.
pub fn check_finite_split(what: &'static str, data: &[f32]) -> Result<()> {
    let ways = threads::ways(data.len(), PAR_MIN);
    non_finite_at(what, parts(data, None, 0, ways))
}

/// Copies `src` into `dst` after checking, as [`check_finite_split`], that every value is
/// finite. On an error `dst` may hold part of `src`.
///
/// # Errors
/// `dst` not as long as `src`; `NonFinite` at the first NaN or infinity of `src`.
pub fn copy_finite(what: &'static str, src: &[f32], dst: &mut [f32]) -> Result<()> {
    if dst.len() != src.len() {
        return Err(Error::length(what, src.len(), dst.len()));
    }
    let ways = threads::ways(src.len(), PAR_MIN);
    non_finite_at(what, parts(src, Some(dst), 0, ways))
}

/// The index (from `base`) of the first non-finite value of `src`, its parts checked (and
/// copied into `dst`) on `ways` threads; the left part's finding comes first.
fn parts(src: &[f32], dst: Option<&mut [f32]>, base: usize, ways: usize) -> Option<usize> {
    if ways <= 1 {
        return part(src, dst).map(|i| base + i);
    }
    let mid = threads::cut(src.len(), ways, 16);
    let (s0, s1) = src.split_at(mid);
    let (d0, d1) = match dst {
        Some(d) => {
            let (d0, d1) = d.split_at_mut(mid);
            (Some(d0), Some(d1))
        }
        None => (None, None),
    };
    let (w0, w1) = (ways / 2, ways - ways / 2);
    let (left, right) = threads::join(|| parts(s0, d0, base, w0), || parts(s1, d1, base + mid, w1));
    left.or(right)
}

/// One thread's part: block by block, check and then copy.
fn part(src: &[f32], mut dst: Option<&mut [f32]>) -> Option<usize> {
    for (b, block) in src.chunks(BLOCK).enumerate() {
        if let Some(i) = first_non_finite(block) {
            return Some(b * BLOCK + i);
        }
        if let Some(d) = dst.as_deref_mut() {
            d[b * BLOCK..][..block.len()].copy_from_slice(block);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// The index of the `NonFinite` error, if that is what `r` is.
    fn index(r: Result<()>) -> Option<usize> {
        match r.err()?.kind {
            ErrorKind::NonFinite { index, .. } => Some(index),
            _ => None,
        }
    }

    /// Finite inputs are copied whole; the first NaN or infinity is named wherever it lies
    /// (in a block, at a block or part edge, after a second bad value), on 1–4 threads.
    #[test]
    fn the_first_non_finite_value_is_named_and_finite_input_is_copied() {
        let len = 3 * PAR_MIN + 37;
        let src: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 1e30).collect();
        for threads in [1, 2, 3, 4] {
            in_pool(threads, || {
                let mut dst = vec![f32::NAN; len];
                copy_finite("x", &src, &mut dst).unwrap();
                assert_eq!(dst, src, "{threads} threads");
                assert!(check_finite_split("x", &src).is_ok());
                let mid = threads::cut(len, 2, 16);
                for at in [0, 1, BLOCK - 1, BLOCK, mid - 1, mid, len - 1] {
                    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                        let mut s = src.clone();
                        s[at] = bad;
                        if at + 5 < len {
                            s[len - 1] = f32::NAN;
                        }
                        let mut dst = vec![0.0; len];
                        assert_eq!(index(copy_finite("x", &s, &mut dst)), Some(at));
                        assert_eq!(index(check_finite_split("x", &s)), Some(at));
                    }
                }
            });
        }
    }

    /// Runs `f` on a rayon pool of `threads` threads (once, on this thread, without rayon).
    fn in_pool(threads: usize, f: impl FnOnce() + Send) {
        #[cfg(feature = "rayon")]
        {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
            pool.build().unwrap().install(f);
        }
        #[cfg(not(feature = "rayon"))]
        if threads == 1 {
            f();
        }
    }

    #[test]
    fn a_destination_of_another_length_is_an_error() {
        let mut dst = vec![0.0; 4];
        let err = copy_finite("input", &[1.0; 5], &mut dst).unwrap_err();
        assert!(err.to_string().contains("input"), "{err}");
        assert_eq!(dst, [0.0; 4]);
    }
}
