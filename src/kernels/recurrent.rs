//! Recurrent-cell kernels: the elementwise gate math of RNN and LSTM steps, forward and
//! backward, 8 lanes at a time.
//!
//! A step's matrix products run on [`crate::kernels::gemm`]; what is left is elementwise and
//! dominated by the sigmoids and tanhs, which these kernels take 8 lanes at a time from
//! [`crate::kernels::math`]. Tails (hidden sizes not a multiple of 8) and the scalar twins
//! (`*_reference`) evaluate the same vector functions one lane at a time, and those depend on
//! nothing but the lane's input, so fast kernels and twins agree bit for bit; the remaining
//! arithmetic uses separate multiplies and adds, never a fused multiply-add.
//!
//! Layouts, per row (sample) of a batch:
//! * RNN: gates `z` `[H]`;
//! * LSTM: gates `z` `[4H]` in the order `i, f, g, o`, cell state `c` `[H]`, hidden `h` `[H]`.

use wide::f32x8;

use super::math::{sigmoid as sigmoid8, tanh as tanh8};
use crate::error::{Error, Result};

fn splat(v: f32) -> f32x8 {
    f32x8::splat(v)
}

/// The sigmoid of one value, by the vector code (so equal to any lane of [`sigmoid8`]).
fn sigmoid1(x: f32) -> f32 {
    sigmoid8(splat(x)).to_array()[0]
}

/// The tanh of one value, by the vector code.
fn tanh1(x: f32) -> f32 {
    tanh8(splat(x)).to_array()[0]
}

fn load(s: &[f32]) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(s).unwrap_or_default())
}

fn store(d: &mut [f32], v: f32x8) {
    d.copy_from_slice(&v.to_array());
}

fn same(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::length(what, expected, got))
    }
}

/// Rows of an LSTM step's operands, checking every length.
fn lstm_rows(hidden: usize, z: usize, c: usize, h: usize) -> Result<usize> {
    if hidden == 0 || !z.is_multiple_of(4 * hidden) {
        return Err(Error::length(
            "LSTM gates",
            z / 4 / hidden.max(1) * 4 * hidden,
            z,
        ));
    }
    let rows = z / (4 * hidden);
    same("LSTM cell state", rows * hidden, c)?;
    same("LSTM hidden state", rows * hidden, h)?;
    Ok(rows)
}

/// Scalar twin of [`rnn_cell_forward`].
pub fn rnn_cell_forward_reference(z: &mut [f32], h: &mut [f32]) -> Result<()> {
    same("RNN hidden state", z.len(), h.len())?;
    for (zv, hv) in z.iter_mut().zip(h.iter_mut()) {
        *zv = tanh1(*zv);
        *hv = *zv;
    }
    Ok(())
}

/// RNN step: `z ← tanh(z)` in place (kept for `backward`) and `h ← z`.
pub fn rnn_cell_forward(z: &mut [f32], h: &mut [f32]) -> Result<()> {
    same("RNN hidden state", z.len(), h.len())?;
    let n8 = z.len() / 8 * 8;
    for (zs, hs) in z[..n8].chunks_exact_mut(8).zip(h.chunks_exact_mut(8)) {
        let t = tanh8(load(zs));
        store(zs, t);
        store(hs, t);
    }
    rnn_cell_forward_reference(&mut z[n8..], &mut h[n8..])
}

/// RNN step backwards: `∂z = ∂h ⊙ (1 − a²)`, `a` the activated gates.
pub fn rnn_cell_backward(acts: &[f32], dh: &[f32], dz: &mut [f32]) -> Result<()> {
    same("RNN hidden gradient", acts.len(), dh.len())?;
    same("RNN gate gradient", acts.len(), dz.len())?;
    for ((o, a), d) in dz.iter_mut().zip(acts).zip(dh) {
        *o = d * (1.0 - a * a);
    }
    Ok(())
}

/// One LSTM unit forward; returns the activated `(i, f, g, o)`, `c_t` and `h_t`.
#[allow(clippy::type_complexity)] // the four gates and two states of one unit
fn lstm_unit(zi: f32, zf: f32, zg: f32, zo: f32, c: f32) -> ([f32; 4], f32, f32) {
    let (i, f, g, o) = (sigmoid1(zi), sigmoid1(zf), tanh1(zg), sigmoid1(zo));
    let c = f * c + i * g;
    ([i, f, g, o], c, o * tanh1(c))
}

/// Scalar twin of [`lstm_cell_forward`].
pub fn lstm_cell_forward_reference(
    hidden: usize,
    z: &mut [f32],
    c: &mut [f32],
    h: &mut [f32],
) -> Result<()> {
    lstm_rows(hidden, z.len(), c.len(), h.len())?;
    let rows = z
        .chunks_exact_mut(4 * hidden)
        .zip(c.chunks_exact_mut(hidden));
    for ((zr, cr), hr) in rows.zip(h.chunks_exact_mut(hidden)) {
        lstm_row_scalar(hidden, 0, zr, cr, hr);
    }
    Ok(())
}

fn lstm_row_scalar(hid: usize, from: usize, zr: &mut [f32], cr: &mut [f32], hr: &mut [f32]) {
    for j in from..hid {
        let ([i, f, g, o], cj, hj) =
            lstm_unit(zr[j], zr[hid + j], zr[2 * hid + j], zr[3 * hid + j], cr[j]);
        (zr[j], zr[hid + j], zr[2 * hid + j], zr[3 * hid + j]) = (i, f, g, o);
        cr[j] = cj;
        hr[j] = hj;
    }
}

/// LSTM step for every row: activates the gate pre-activations `z` in place (`σ, σ, tanh, σ`
/// for `i, f, g, o`; kept for `backward`), replaces `c` (holding `c_{t−1}`) with
/// `c_t = f ⊙ c_{t−1} + i ⊙ g`, and writes `h_t = o ⊙ tanh(c_t)` into `h`.
pub fn lstm_cell_forward(hidden: usize, z: &mut [f32], c: &mut [f32], h: &mut [f32]) -> Result<()> {
    lstm_rows(hidden, z.len(), c.len(), h.len())?;
    let h8 = hidden / 8 * 8;
    let rows = z
        .chunks_exact_mut(4 * hidden)
        .zip(c.chunks_exact_mut(hidden));
    for ((zr, cr), hr) in rows.zip(h.chunks_exact_mut(hidden)) {
        for j in (0..h8).step_by(8) {
            let at = |gate: usize| gate * hidden + j..gate * hidden + j + 8;
            let i = sigmoid8(load(&zr[at(0)]));
            let f = sigmoid8(load(&zr[at(1)]));
            let g = tanh8(load(&zr[at(2)]));
            let o = sigmoid8(load(&zr[at(3)]));
            let cj = f * load(&cr[j..j + 8]) + i * g;
            store(&mut zr[at(0)], i);
            store(&mut zr[at(1)], f);
            store(&mut zr[at(2)], g);
            store(&mut zr[at(3)], o);
            store(&mut cr[j..j + 8], cj);
            store(&mut hr[j..j + 8], o * tanh8(cj));
        }
        lstm_row_scalar(hidden, h8, zr, cr, hr);
    }
    Ok(())
}

/// Checks the operands of an LSTM backward step and returns the number of rows.
fn lstm_back_rows(
    hidden: usize,
    acts: &[f32],
    c: &[f32],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    dc: &[f32],
    dz: &[f32],
) -> Result<usize> {
    let rows = lstm_rows(hidden, acts.len(), c.len(), dh.len())?;
    if let Some(p) = c_prev {
        same("LSTM previous cell state", c.len(), p.len())?;
    }
    same("LSTM cell gradient", c.len(), dc.len())?;
    same("LSTM gate gradient", acts.len(), dz.len())?;
    Ok(rows)
}

/// Scalar twin of [`lstm_cell_backward`].
pub fn lstm_cell_backward_reference(
    hidden: usize,
    acts: &[f32],
    c: &[f32],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) -> Result<()> {
    let rows = lstm_back_rows(hidden, acts, c, c_prev, dh, dc, dz)?;
    for r in 0..rows {
        lstm_back_row_scalar(hidden, r, 0, acts, c, c_prev, dh, dc, dz);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one row of lstm_cell_backward's operands
fn lstm_back_row_scalar(
    hid: usize,
    r: usize,
    from: usize,
    acts: &[f32],
    c: &[f32],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    let (ar, dzr) = (&acts[r * 4 * hid..], &mut dz[r * 4 * hid..]);
    for j in from..hid {
        let s = r * hid + j;
        let (i, f, g, o) = (ar[j], ar[hid + j], ar[2 * hid + j], ar[3 * hid + j]);
        let tc = tanh1(c[s]);
        let dct = dc[s] + dh[s] * o * (1.0 - tc * tc);
        let prev = c_prev.map_or(0.0, |p| p[s]);
        dzr[j] = dct * g * i * (1.0 - i);
        dzr[hid + j] = dct * prev * f * (1.0 - f);
        dzr[2 * hid + j] = dct * i * (1.0 - g * g);
        dzr[3 * hid + j] = dh[s] * tc * o * (1.0 - o);
        dc[s] = dct * f;
    }
}

/// LSTM step backwards for every row. Given the activated gates `acts`, `c_t`, `c_{t−1}`
/// (`None` for the zero initial state), `∂L/∂h_t` in `dh` and `∂L/∂c_t` from later steps in
/// `dc`, writes the gradients of the gate pre-activations into `dz` and replaces `dc` with
/// `∂L/∂c_{t−1}`.
pub fn lstm_cell_backward(
    hidden: usize,
    acts: &[f32],
    c: &[f32],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) -> Result<()> {
    let rows = lstm_back_rows(hidden, acts, c, c_prev, dh, dc, dz)?;
    let h8 = hidden / 8 * 8;
    let one = splat(1.0);
    for r in 0..rows {
        let (ar, dzr) = (&acts[r * 4 * hidden..], &mut dz[r * 4 * hidden..]);
        for j in (0..h8).step_by(8) {
            let s = r * hidden + j..r * hidden + j + 8;
            let at = |gate: usize| gate * hidden + j..gate * hidden + j + 8;
            let (i, f) = (load(&ar[at(0)]), load(&ar[at(1)]));
            let (g, o) = (load(&ar[at(2)]), load(&ar[at(3)]));
            let tc = tanh8(load(&c[s.clone()]));
            let d = load(&dh[s.clone()]);
            let dct = load(&dc[s.clone()]) + d * o * (one - tc * tc);
            let prev = c_prev.map_or(f32x8::ZERO, |p| load(&p[s.clone()]));
            store(&mut dzr[at(0)], dct * g * i * (one - i));
            store(&mut dzr[at(1)], dct * prev * f * (one - f));
            store(&mut dzr[at(2)], dct * i * (one - g * g));
            store(&mut dzr[at(3)], d * tc * o * (one - o));
            store(&mut dc[s], dct * f);
        }
        lstm_back_row_scalar(hidden, r, h8, acts, c, c_prev, dh, dc, dz);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn cells_match_their_scalar_twins() {
        let mut rng = Rng::new(4);
        for (rows, hid) in [(1, 1), (3, 7), (2, 8), (4, 19)] {
            let z: Vec<f32> = (0..rows * 4 * hid).map(|_| 3.0 * rng.normal()).collect();
            let c0: Vec<f32> = (0..rows * hid).map(|_| rng.normal()).collect();
            let (mut z1, mut z2, mut c1, mut c2) = (z.clone(), z.clone(), c0.clone(), c0.clone());
            let (mut h1, mut h2) = (vec![0.0; rows * hid], vec![1.0; rows * hid]);
            lstm_cell_forward(hid, &mut z1, &mut c1, &mut h1).unwrap();
            lstm_cell_forward_reference(hid, &mut z2, &mut c2, &mut h2).unwrap();
            assert_eq!((&z1, &c1, &h1), (&z2, &c2, &h2));
            let dh: Vec<f32> = (0..rows * hid).map(|_| rng.normal()).collect();
            let dc: Vec<f32> = (0..rows * hid).map(|_| rng.normal()).collect();
            for prev in [None, Some(&c0[..])] {
                let (mut dc1, mut dc2) = (dc.clone(), dc.clone());
                let (mut dz1, mut dz2) = (vec![0.0; z.len()], vec![1.0; z.len()]);
                lstm_cell_backward(hid, &z1, &c1, prev, &dh, &mut dc1, &mut dz1).unwrap();
                lstm_cell_backward_reference(hid, &z1, &c1, prev, &dh, &mut dc2, &mut dz2).unwrap();
                assert_eq!((&dz1, &dc1), (&dz2, &dc2));
            }
            let (mut r1, mut r2) = (z.clone(), z.clone());
            let (mut h1, mut h2) = (vec![0.0; z.len()], vec![1.0; z.len()]);
            rnn_cell_forward(&mut r1, &mut h1).unwrap();
            rnn_cell_forward_reference(&mut r2, &mut h2).unwrap();
            assert_eq!((&r1, &h1), (&r2, &h2));
        }
    }

    #[test]
    fn lstm_unit_by_hand() {
        // z = 0 everywhere: i = f = o = 1/2, g = 0, so c_t = c_{t−1}/2 and h_t = tanh(c_t)/2.
        let mut z = [0.0; 4];
        let (mut c, mut h) = ([0.8], [0.0]);
        lstm_cell_forward(1, &mut z, &mut c, &mut h).unwrap();
        assert_eq!(z, [0.5, 0.5, 0.0, 0.5]);
        assert_eq!(c, [0.4]);
        assert!((h[0] - 0.5 * 0.4f32.tanh()).abs() < 1e-7);
        // Backward with ∂h = 1, ∂c = 0, c_{t−1} = 0.8: ∂c_t = o·(1 − tanh²c), and
        // ∂z_f = ∂c_t·c_{t−1}·f(1−f), ∂z_i = 0 (g = 0), ∂z_g = ∂c_t·i, ∂z_o = tanh(c)·o(1−o).
        let (mut dc, mut dz) = ([0.0], [0.0; 4]);
        lstm_cell_backward(1, &z, &c, Some(&[0.8]), &[1.0], &mut dc, &mut dz).unwrap();
        let t = 0.4f32.tanh();
        let dct = 0.5 * (1.0 - t * t);
        let expected = [0.0, dct * 0.8 * 0.25, dct * 0.5, t * 0.25];
        for (a, e) in dz.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{dz:?} vs {expected:?}");
        }
        assert!((dc[0] - dct * 0.5).abs() < 1e-7);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let (mut z, mut c, mut h) = ([0.0; 8], [0.0; 2], [0.0; 2]);
        assert!(lstm_cell_forward(2, &mut z[..7], &mut c, &mut h).is_err());
        assert!(lstm_cell_forward(0, &mut z, &mut c, &mut h).is_err());
        assert!(lstm_cell_forward(2, &mut z, &mut c[..1], &mut h).is_err());
        let mut dz = [0.0; 8];
        let mut dc = [0.0; 2];
        assert!(lstm_cell_backward(2, &z, &c, Some(&[0.0]), &h, &mut dc, &mut dz).is_err());
        assert!(rnn_cell_forward(&mut z, &mut h).is_err());
        assert!(rnn_cell_backward(&z, &h, &mut dz).is_err());
    }
}
