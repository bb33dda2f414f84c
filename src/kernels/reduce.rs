//! Row-broadcast and column reductions: the bias of a Dense layer, forward and backward.
//!
//! Both kernels vectorise *across columns* and walk rows in order, so every output element is
//! summed in the same order as in the scalar twin: results are bit-identical.

use wide::f32x8;

use crate::error::{Error, Result};
use crate::kernels::threads;

fn check_rows(what: &'static str, len: usize, cols: usize) -> Result<usize> {
    if cols == 0 {
        return if len == 0 {
            Ok(0)
        } else {
            Err(Error::length(what, 0, len))
        };
    }
    if !len.is_multiple_of(cols) {
        return Err(Error::length(what, len / cols * cols + cols, len));
    }
    Ok(len / cols)
}

fn load(s: &[f32]) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(s).unwrap_or_default())
}

/// Scalar twin of [`add_bias`].
pub fn add_bias_reference(y: &mut [f32], bias: &[f32]) -> Result<()> {
    check_rows("biased matrix", y.len(), bias.len())?;
    for row in y.chunks_exact_mut(bias.len().max(1)) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    Ok(())
}

/// Adds `bias` to every row of the row-major matrix `y` (`y.len()` a multiple of
/// `bias.len()`). With `rayon`, blocks of rows go to the threads of the current pool.
pub fn add_bias(y: &mut [f32], bias: &[f32]) -> Result<()> {
    let cols = bias.len();
    let rows = check_rows("biased matrix", y.len(), cols)?;
    if cols == 0 {
        return Ok(());
    }
    let ways = threads::ways(y.len(), PAR_MIN).min(rows).max(1);
    add_bias_parts(y, bias, ways);
    Ok(())
}

/// Smallest part of a bias add handed to one thread with `rayon`: 16 Ki floats, as for the
/// activations (the MLP's 128 × 400 hidden layer splits in two).
///
/// Why split so small a pass: on two threads the other core waits through a serial one,
/// and half of the rows were written by that core (the product before splits by rows too).
/// The three bias adds of an MNIST step took 16–19 µs on two threads, 13.5 split.
/// (`sum_rows` stays serial: split by columns, so that each column keeps its order of
/// summation, it took 19–22 µs against 16 µs.)
const PAR_MIN: usize = 1 << 14;

/// [`add_bias`] on `ways` blocks of whole rows in parallel (lengths checked).
fn add_bias_parts(y: &mut [f32], bias: &[f32], ways: usize) {
    let cols = bias.len();
    if ways <= 1 {
        return add_bias_rows(y, bias);
    }
    let mid = threads::cut(y.len() / cols, ways, 1) * cols;
    let (y0, y1) = y.split_at_mut(mid);
    let (w0, w1) = (ways / 2, ways - ways / 2);
    threads::join(
        || add_bias_parts(y0, bias, w0),
        || add_bias_parts(y1, bias, w1),
    );
}

fn add_bias_rows(y: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    let c8 = cols / 8 * 8;
    for row in y.chunks_exact_mut(cols) {
        for (r, b) in row[..c8].chunks_exact_mut(8).zip(bias.chunks_exact(8)) {
            r.copy_from_slice(&(load(r) + load(b)).to_array());
        }
        for (v, b) in row[c8..].iter_mut().zip(&bias[c8..]) {
            *v += b;
        }
    }
}

/// Scalar twin of [`sum_rows`].
pub fn sum_rows_reference(x: &[f32], out: &mut [f32]) -> Result<()> {
    check_rows("summed matrix", x.len(), out.len())?;
    out.fill(0.0);
    for row in x.chunks_exact(out.len().max(1)) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    Ok(())
}

/// Column sums of a row-major matrix: `out[j] = Σ_i x[i][j]` (`x.len()` a multiple of
/// `out.len()`). This is the bias gradient of a Dense layer.
pub fn sum_rows(x: &[f32], out: &mut [f32]) -> Result<()> {
    let cols = out.len();
    check_rows("summed matrix", x.len(), cols)?;
    out.fill(0.0);
    if cols == 0 {
        return Ok(());
    }
    let c8 = cols / 8 * 8;
    for row in x.chunks_exact(cols) {
        for (o, r) in out[..c8].chunks_exact_mut(8).zip(row.chunks_exact(8)) {
            o.copy_from_slice(&(load(o) + load(r)).to_array());
        }
        for (o, v) in out[c8..].iter_mut().zip(&row[c8..]) {
            *o += v;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn simd_matches_scalar_bitwise() {
        let mut rng = Rng::new(5);
        for rows in [0, 1, 3, 7] {
            for cols in [1, 3, 7, 8, 9, 17, 33, 129] {
                let x: Vec<f32> = (0..rows * cols).map(|_| rng.normal()).collect();
                let b: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
                let (mut y1, mut y2) = (x.clone(), x.clone());
                add_bias(&mut y1, &b).unwrap();
                add_bias_reference(&mut y2, &b).unwrap();
                assert_eq!(y1, y2);
                let (mut s1, mut s2) = (vec![1.0; cols], vec![2.0; cols]);
                sum_rows(&x, &mut s1).unwrap();
                sum_rows_reference(&x, &mut s2).unwrap();
                assert_eq!(s1, s2);
            }
        }
    }

    /// The bias add split over threads by rows: the bits of one thread on 2–4 (the sizes
    /// are large enough to split, with odd column counts); the sums alongside.
    #[cfg(feature = "rayon")]
    #[test]
    fn every_thread_count_gives_the_same_bits() {
        let mut rng = Rng::new(8);
        for (rows, cols) in [(128, 400), (77, 1001), (1000, 33)] {
            let x: Vec<f32> = (0..rows * cols).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
            let (mut want_y, mut want_s) = (x.clone(), vec![0.0; cols]);
            add_bias_reference(&mut want_y, &b).unwrap();
            sum_rows_reference(&x, &mut want_s).unwrap();
            for threads in [1, 2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (y, s) = pool.install(|| {
                    assert!(threads == 1 || threads::ways(x.len(), PAR_MIN) > 1);
                    let (mut y, mut s) = (x.clone(), vec![f32::NAN; cols]);
                    add_bias(&mut y, &b).unwrap();
                    sum_rows(&x, &mut s).unwrap();
                    (y, s)
                });
                assert_eq!(y, want_y, "{rows}x{cols}, {threads} threads");
                assert_eq!(s, want_s, "{rows}x{cols}, {threads} threads");
            }
        }
    }

    #[test]
    fn hand_values() {
        let mut y = [1.0, 2.0, 3.0, 4.0];
        add_bias(&mut y, &[10.0, 20.0]).unwrap();
        assert_eq!(y, [11.0, 22.0, 13.0, 24.0]);
        let mut s = [0.0; 2];
        sum_rows(&y, &mut s).unwrap();
        assert_eq!(s, [24.0, 46.0]);
    }

    #[test]
    fn ragged_input_is_an_error() {
        let mut y = [0.0; 5];
        assert!(add_bias(&mut y, &[1.0, 2.0]).is_err());
        let mut s = [0.0; 2];
        assert!(sum_rows(&[0.0; 5], &mut s).is_err());
        assert!(sum_rows(&[0.0; 5], &mut []).is_err());
    }
}
