//! Fast vs reference on every tail length; the argument checks and the other losses are
//! tested in `crate::loss`'s `kernel_tests`.
use super::*;
use crate::rng::Rng;

const SIZES: [usize; 11] = [0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 129];

/// Loss sums: 1e-5 relative (per-term error plus a different summation order).
fn loss_close(what: &str, a: f32, b: f32) {
    assert!(
        (a - b).abs() <= 1e-5 * b.abs() + 1e-30,
        "{what}: {a} vs {b}"
    );
}

/// Gradients: 2e-6 relative, plus `2e-7·scale` for `p − 1` near 0.
fn grads_close(what: &str, f: &[f32], r: &[f32], scale: f32) {
    for (i, (&a, &b)) in f.iter().zip(r).enumerate() {
        let tol = 2e-6 * b.abs() + 2e-7 * scale;
        assert!(
            (a - b).abs() <= tol,
            "{what}[{i}]: fast {a} vs reference {b}"
        );
    }
}

#[test]
fn fast_matches_reference_on_all_sizes() {
    let mut rng = Rng::new(7);
    for n in SIZES {
        for spread in [3.0f32, 30.0] {
            let rows = 3;
            let scale = 1.0 / rows as f32;
            let cols = n.max(1);
            let x: Vec<f32> = (0..rows * cols).map(|_| rng.normal() * spread).collect();
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let mut t: Vec<f32> = (0..rows * cols).map(|_| rng.uniform()).collect();
            for row in t.chunks_mut(cols) {
                let s: f32 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= s);
            }
            let what = format!("{rows}x{cols} spread {spread}");
            let (mut gf, mut gr) = (vec![0.0; rows * cols], vec![0.0; rows * cols]);
            let lf = softmax_cross_entropy_labels(&x, cols, &labels, Some(&mut gf), scale);
            let lr =
                softmax_cross_entropy_labels_reference(&x, cols, &labels, Some(&mut gr), scale);
            loss_close(&format!("labels {what}"), lf.unwrap(), lr.unwrap());
            grads_close(&format!("labels {what}"), &gf, &gr, scale);
            let lf = softmax_cross_entropy(&x, &t, cols, Some(&mut gf), scale);
            let lr = softmax_cross_entropy_reference(&x, &t, cols, Some(&mut gr), scale);
            loss_close(&format!("values {what}"), lf.unwrap(), lr.unwrap());
            grads_close(&format!("values {what}"), &gf, &gr, scale);
            // Sigmoid: n elements, targets 0/1 and soft.
            let (xs, ts) = (&x[..n], &t[..n]);
            let bits: Vec<f32> = (0..n).map(|_| rng.below(2) as f32).collect();
            for targets in [ts, &bits[..]] {
                let (mut gf, mut gr) = (vec![0.0; n], vec![0.0; n]);
                let lf = sigmoid_cross_entropy(xs, targets, Some(&mut gf), scale).unwrap();
                let lr = sigmoid_cross_entropy_reference(xs, targets, Some(&mut gr), scale);
                loss_close(&format!("sigmoid {what}"), lf, lr.unwrap());
                grads_close(&format!("sigmoid {what}"), &gf, &gr, scale);
                let l0 = sigmoid_cross_entropy(xs, targets, None, scale).unwrap();
                assert_eq!(l0, lf, "sigmoid loss changes without grad");
            }
        }
    }
}
