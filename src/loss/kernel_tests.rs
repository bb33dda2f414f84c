//! Tests of the loss kernels in `crate::kernels`: fast versions against their scalar
//! `*_reference` twins on odd sizes, plus argument checks. (They live here because the kernel
//! file must stay a single file.)

use crate::error::ErrorKind;
use crate::kernels::*;
use crate::rng::Rng;

const ROWS: [usize; 3] = [1, 3, 7];
const COLS: [usize; 6] = [1, 3, 7, 17, 33, 129];

fn data(rng: &mut Rng, n: usize, spread: f32) -> Vec<f32> {
    (0..n).map(|_| rng.normal() * spread).collect()
}

/// Soft labels: positive, each row summing to 1.
fn distributions(rng: &mut Rng, rows: usize, cols: usize) -> Vec<f32> {
    let mut t: Vec<f32> = (0..rows * cols).map(|_| rng.uniform() + 0.01).collect();
    for row in t.chunks_mut(cols) {
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    t
}

fn close(a: f32, b: f32, rel: f32, abs: f32) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

fn assert_slices_close(what: &str, fast: &[f32], reference: &[f32]) {
    assert_eq!(fast.len(), reference.len());
    for (i, (&a, &b)) in fast.iter().zip(reference).enumerate() {
        assert!(
            close(a, b, 1e-5, 1e-7),
            "{what}[{i}]: fast {a} vs reference {b}"
        );
    }
}

/// Runs fast and reference with and without a gradient; checks values and gradients agree,
/// and that the loss does not depend on whether a gradient is asked for.
fn compare(
    what: &str,
    n: usize,
    fast: impl Fn(Option<&mut [f32]>) -> f32,
    reference: impl Fn(Option<&mut [f32]>) -> f32,
) {
    let mut gf = vec![f32::NAN; n];
    let mut gr = vec![f32::NAN; n];
    let lf = fast(Some(&mut gf));
    let lr = reference(Some(&mut gr));
    assert!(lf.is_finite(), "{what}: loss {lf}");
    assert!(
        close(lf, lr, 1e-4, 1e-5),
        "{what}: fast {lf} vs reference {lr}"
    );
    assert_eq!(lf, fast(None), "{what}: fast loss changes without grad");
    assert_eq!(
        lr,
        reference(None),
        "{what}: reference loss changes without grad"
    );
    assert_slices_close(what, &gf, &gr);
}

#[test]
fn softmax_kernels_match_reference() {
    let mut rng = Rng::new(1);
    for rows in ROWS {
        for cols in COLS {
            let n = rows * cols;
            let scale = 1.0 / rows as f32;
            // A wide spread makes some rows dominated by one logit.
            let x = data(&mut rng, n, 4.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let t = distributions(&mut rng, rows, cols);
            let what = format!("labels {rows}x{cols}");
            compare(
                &what,
                n,
                |g| softmax_cross_entropy_labels(&x, cols, &labels, g, scale).unwrap(),
                |g| softmax_cross_entropy_labels_reference(&x, cols, &labels, g, scale).unwrap(),
            );
            let what = format!("soft {rows}x{cols}");
            compare(
                &what,
                n,
                |g| softmax_cross_entropy(&x, &t, cols, g, scale).unwrap(),
                |g| softmax_cross_entropy_reference(&x, &t, cols, g, scale).unwrap(),
            );
            let mut of = vec![0.0; n];
            let mut or = vec![0.0; n];
            log_softmax_rows(&x, cols, &mut of).unwrap();
            log_softmax_rows_reference(&x, cols, &mut or).unwrap();
            for (a, b) in of.iter().zip(&or) {
                assert!(
                    close(*a, *b, 1e-5, 1e-5),
                    "log-softmax {rows}x{cols}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn elementwise_kernels_match_reference() {
    let mut rng = Rng::new(2);
    for rows in ROWS {
        for cols in COLS {
            let n = rows * cols;
            let scale = 1.0 / rows as f32;
            let p = data(&mut rng, n, 3.0);
            let mut t = data(&mut rng, n, 3.0);
            // Exact fits exercise sign(0) = 0.
            t[0] = p[0];
            let bits: Vec<f32> = (0..n).map(|_| rng.below(2) as f32).collect();
            let tag = format!("{rows}x{cols}");
            compare(
                &format!("sigmoid {tag}"),
                n,
                |g| sigmoid_cross_entropy(&p, &bits, g, scale).unwrap(),
                |g| sigmoid_cross_entropy_reference(&p, &bits, g, scale).unwrap(),
            );
            compare(
                &format!("squared {tag}"),
                n,
                |g| squared_error(&p, &t, g, scale).unwrap(),
                |g| squared_error_reference(&p, &t, g, scale).unwrap(),
            );
            compare(
                &format!("absolute {tag}"),
                n,
                |g| absolute_error(&p, &t, g, scale).unwrap(),
                |g| absolute_error_reference(&p, &t, g, scale).unwrap(),
            );
            for delta in [0.5, 1.0, 3.0] {
                compare(
                    &format!("huber({delta}) {tag}"),
                    n,
                    |g| huber(&p, &t, delta, g, scale).unwrap(),
                    |g| huber_reference(&p, &t, delta, g, scale).unwrap(),
                );
            }
        }
    }
}

#[test]
fn one_hot_values_equal_labels() {
    let mut rng = Rng::new(3);
    let (rows, cols) = (7, 17);
    let x = data(&mut rng, rows * cols, 2.0);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
    let mut onehot = vec![0.0; rows * cols];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * cols + l as usize] = 1.0;
    }
    let mut g1 = vec![0.0; rows * cols];
    let mut g2 = vec![0.0; rows * cols];
    let a = softmax_cross_entropy_labels(&x, cols, &labels, Some(&mut g1), 0.5).unwrap();
    let b = softmax_cross_entropy(&x, &onehot, cols, Some(&mut g2), 0.5).unwrap();
    assert!(close(a, b, 1e-5, 1e-6), "{a} vs {b}");
    assert_slices_close("one-hot grad", &g1, &g2);
}

#[test]
fn huge_logits_stay_finite() {
    // Row 0: two equal huge logits → ln 2. Row 1: label on the losing side → 2000.
    let x = [1000.0, 1000.0, -1000.0, 1000.0];
    let mut g = [0.0; 4];
    let l = softmax_cross_entropy_labels(&x, 2, &[0, 0], Some(&mut g), 1.0).unwrap();
    assert!(close(l, core::f32::consts::LN_2 + 2000.0, 1e-6, 0.0), "{l}");
    assert_eq!(g, [-0.5, 0.5, -1.0, 1.0]);
    let mut o = [0.0; 4];
    log_softmax_rows(&x, 2, &mut o).unwrap();
    let ln2 = core::f32::consts::LN_2;
    assert!(
        close(o[0], -ln2, 1e-6, 0.0) && close(o[1], -ln2, 1e-6, 0.0),
        "{o:?}"
    );
    assert_eq!(o[2], -2000.0);
    assert_eq!(o[3], 0.0);
    let mut g = [0.0; 2];
    let l = sigmoid_cross_entropy(&[1000.0, -1000.0], &[0.0, 0.0], Some(&mut g), 1.0).unwrap();
    assert_eq!(l, 1000.0);
    assert_eq!(g, [1.0, 0.0]);
}

#[test]
fn kernel_argument_errors() {
    let x = [0.0f32; 6];
    let mut g5 = [0.0f32; 5];
    let length = |e: crate::Error| matches!(e.kind, ErrorKind::LengthMismatch { .. });
    let config = |e: crate::Error| matches!(e.kind, ErrorKind::InvalidConfig { .. });
    assert!(config(
        softmax_cross_entropy_labels(&x, 0, &[], None, 1.0).unwrap_err()
    ));
    assert!(config(
        softmax_cross_entropy_labels(&x, 4, &[0], None, 1.0).unwrap_err()
    ));
    assert!(length(
        softmax_cross_entropy_labels(&x, 3, &[0], None, 1.0).unwrap_err()
    ));
    let e = softmax_cross_entropy_labels(&x, 3, &[0, 0], Some(&mut g5), 1.0).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::LengthMismatch {
            what: "grad",
            expected: 6,
            got: 5
        }
    );
    let e = softmax_cross_entropy_labels(&x, 3, &[2, 3], None, 1.0).unwrap_err();
    let want = ErrorKind::LabelOutOfRange {
        sample: 1,
        label: 3,
        classes: 3,
    };
    assert_eq!(e.kind, want);
    assert!(length(
        softmax_cross_entropy(&x, &x[..5], 3, None, 1.0).unwrap_err()
    ));
    assert!(length(
        sigmoid_cross_entropy(&x, &x[..5], None, 1.0).unwrap_err()
    ));
    assert!(length(
        squared_error(&x, &x, Some(&mut g5), 1.0).unwrap_err()
    ));
    assert!(length(absolute_error(&x[..5], &x, None, 1.0).unwrap_err()));
    assert!(length(huber(&x, &x, 1.0, Some(&mut g5), 1.0).unwrap_err()));
    for delta in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(config(huber(&x, &x, delta, None, 1.0).unwrap_err()));
        assert!(config(
            huber_reference(&x, &x, delta, None, 1.0).unwrap_err()
        ));
    }
    let mut o = [0.0; 5];
    assert!(length(log_softmax_rows(&x, 3, &mut o).unwrap_err()));
}

#[test]
fn label_error_leaves_grad_untouched() {
    let x = [1.0f32; 6];
    let mut g = [7.0f32; 6];
    assert!(softmax_cross_entropy_labels(&x, 3, &[0, 5], Some(&mut g), 1.0).is_err());
    assert_eq!(g, [7.0; 6]);
}
