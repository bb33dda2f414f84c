//! Convolution and pooling kernels against hand-computed values, their scalar twins, and the
//! adjoint identities that tie forward and backward together.

use super::*;
use crate::rng::Rng;

fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
    (0..len).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

fn assert_close(got: &[f32], want: &[f32], scale: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * scale * (1.0 + w.abs());
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

fn win(h: usize, w: usize, cin: usize, cout: usize, k: (usize, usize)) -> Window2d {
    Window2d::new((h, w, cin), cout, k)
}

/// Geometries over odd sizes and channels, strides, dilations and asymmetric padding.
fn geometries() -> Vec<Window2d> {
    let mut out = Vec::new();
    for (h, w) in [(5, 7), (6, 6), (1, 4)] {
        for (cin, cout) in [(1, 1), (3, 2), (5, 7), (2, 9)] {
            for k in [(1, 1), (3, 3), (2, 3), (1, 3)] {
                for s in [(1, 1), (2, 1), (2, 3)] {
                    for dil in [(1, 1), (2, 1), (1, 2)] {
                        for pads in [[0, 0, 0, 0], [1, 1, 1, 1], [2, 0, 1, 3]] {
                            let g = Window2d {
                                stride: s,
                                dilation: dil,
                                pad_top: pads[0],
                                pad_bottom: pads[1],
                                pad_left: pads[2],
                                pad_right: pads[3],
                                ..win(h, w, cin, cout, k)
                            };
                            if g.output_size().is_ok() {
                                out.push(g);
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(out.len() > 300);
    out
}

#[test]
fn hand_computed_convolutions() {
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    // 2×2 kernel [[1, 0], [0, 1]]: y[i][j] = x[i][j] + x[i+1][j+1].
    let g = win(3, 3, 1, 1, (2, 2));
    let mut y = [0.0; 4];
    let mut scratch = vec![0.0; conv2d_forward_scratch_len(&g, 1, 1)];
    conv2d_forward(
        &g,
        1,
        1,
        &x,
        &[1.0, 0.0, 0.0, 1.0],
        None,
        &mut y,
        &mut scratch,
    )
    .unwrap();
    assert_eq!(y, [6.0, 8.0, 12.0, 14.0]);
    conv2d_forward_reference(&g, 1, &x, &[1.0, 0.0, 0.0, 1.0], None, &mut y).unwrap();
    assert_eq!(y, [6.0, 8.0, 12.0, 14.0]);
    // 3×3 ones, padding 1, stride 2: the sums of the four 2×2 corners, plus a bias of 0.5.
    let g = Window2d {
        stride: (2, 2),
        pad_top: 1,
        pad_bottom: 1,
        pad_left: 1,
        pad_right: 1,
        ..win(3, 3, 1, 1, (3, 3))
    };
    assert_eq!(g.output_size().unwrap(), (2, 2));
    let mut scratch = vec![0.0; conv2d_forward_scratch_len(&g, 1, 1)];
    conv2d_forward(&g, 1, 1, &x, &[1.0; 9], Some(&[0.5]), &mut y, &mut scratch).unwrap();
    assert_eq!(y, [12.5, 16.5, 24.5, 28.5]);
    // Dilation 2 on a 3×3 kernel over 5×5: the single output sums the 9 even positions.
    let x: Vec<f32> = (0..25).map(|v| v as f32).collect();
    let g = Window2d {
        dilation: (2, 2),
        ..win(5, 5, 1, 1, (3, 3))
    };
    let mut y = [0.0; 1];
    let mut scratch = vec![0.0; conv2d_forward_scratch_len(&g, 1, 1)];
    conv2d_forward(&g, 1, 1, &x, &[1.0; 9], None, &mut y, &mut scratch).unwrap();
    assert_eq!(y, [(2 + 4 + 10 + 12 + 14 + 20 + 22 + 24) as f32]); // 0 + 2 + ... + 24
    // Two input channels, two filters on a 1×1 image: y = x·W.
    let g = win(1, 1, 2, 2, (1, 1));
    let mut y = [0.0; 2];
    let w = [1.0, 2.0, 3.0, 4.0]; // [ci][co]
    conv2d_forward(&g, 1, 1, &[10.0, 100.0], &w, None, &mut y, &mut []).unwrap();
    assert_eq!(y, [310.0, 420.0]);
}

#[test]
fn im2col_and_col2im_match_twins_and_are_adjoint() {
    let mut rng = Rng::new(1);
    for g in geometries().iter().step_by(3) {
        let (oh, ow) = g.output_size().unwrap();
        let n = 2;
        let x = random(n * g.height * g.width * g.in_channels, &mut rng);
        let cols = n * oh * ow * g.col_width();
        let (mut fast, mut slow) = (vec![f32::NAN; cols], vec![f32::NAN; cols]);
        im2col(g, n, &x, &mut fast).unwrap();
        im2col_reference(g, n, &x, &mut slow).unwrap();
        assert_eq!(fast, slow, "im2col {g:?}");
        let c = random(cols, &mut rng);
        let (mut fast, mut slow) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
        col2im(g, n, &c, &mut fast).unwrap();
        col2im_reference(g, n, &c, &mut slow).unwrap();
        assert_close(&fast, &slow, 1.0, "col2im");
        // <im2col(x), c> == <x, col2im(c)>
        let (lhs, rhs) = (dot(&slow_im2col(g, n, &x), &c), dot(&x, &fast));
        assert!(
            (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
            "{lhs} vs {rhs}"
        );
    }
}

fn slow_im2col(g: &Window2d, n: usize, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = g.output_size().unwrap();
    let mut c = vec![0.0; n * oh * ow * g.col_width()];
    im2col_reference(g, n, x, &mut c).unwrap();
    c
}

#[test]
fn conv_products_match_direct_loops() {
    let mut rng = Rng::new(2);
    for (i, g) in geometries().iter().enumerate() {
        let (oh, ow) = g.output_size().unwrap();
        let n = 1 + i % 3;
        // Blocks of 1 row, of a few rows (splitting images), and of the whole batch.
        let block = [1, 7, usize::MAX][i % 3];
        let (ilen, olen) = (g.height * g.width * g.in_channels, oh * ow * g.out_channels);
        let k = g.col_width();
        let x = random(n * ilen, &mut rng);
        let w = random(k * g.out_channels, &mut rng);
        let b = random(g.out_channels, &mut rng);
        let dy = random(n * olen, &mut rng);
        let need = conv2d_forward_scratch_len(g, n, block)
            .max(conv2d_weights_scratch_len(g, n, block))
            .max(conv2d_data_scratch_len(g, n, block));
        let mut scratch = vec![f32::NAN; need];
        let scale = k.max(n * oh * ow) as f32;

        let (mut fast, mut slow) = (vec![f32::NAN; n * olen], vec![f32::NAN; n * olen]);
        conv2d_forward(g, n, block, &x, &w, Some(&b), &mut fast, &mut scratch).unwrap();
        conv2d_forward_reference(g, n, &x, &w, Some(&b), &mut slow).unwrap();
        assert_close(&fast, &slow, scale, "forward");

        let (mut dw, mut dw_ref) = (vec![f32::NAN; w.len()], vec![f32::NAN; w.len()]);
        let (mut db, mut db_ref) = (vec![f32::NAN; b.len()], vec![f32::NAN; b.len()]);
        conv2d_backward_weights(g, n, block, &x, &dy, &mut dw, Some(&mut db), &mut scratch)
            .unwrap();
        conv2d_backward_weights_reference(g, n, &x, &dy, &mut dw_ref, Some(&mut db_ref)).unwrap();
        assert_close(&dw, &dw_ref, scale, "weights");
        assert_close(&db, &db_ref, scale, "bias");

        let (mut dx, mut dx_ref) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
        conv2d_backward_data(g, n, block, &dy, &w, &mut dx, &mut scratch).unwrap();
        conv2d_backward_data_reference(g, n, &dy, &w, &mut dx_ref).unwrap();
        assert_close(&dx, &dx_ref, scale, "data");

        // The references are adjoint to each other: for y = conv(x; w) (no bias),
        // <y, dy> = <x, ∂x(dy)> = <w, ∂w(x, dy)>.
        conv2d_forward_reference(g, n, &x, &w, None, &mut slow).unwrap();
        let lhs = dot(&slow, &dy);
        for rhs in [dot(&x, &dx_ref), dot(&w, &dw_ref)] {
            assert!(
                (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }
}

#[test]
fn scratch_sizes_are_exact_minimums() {
    let g = Window2d {
        stride: (2, 1),
        pad_top: 1,
        pad_left: 2,
        ..win(9, 8, 3, 17, (3, 3))
    };
    let (oh, ow) = g.output_size().unwrap();
    let n = 5;
    let x = vec![0.5; n * 9 * 8 * 3];
    let w = vec![0.25; 27 * 17];
    let mut y = vec![0.0; n * oh * ow * 17];
    let mut dx = x.clone();
    let mut dw = w.clone();
    let rows = n * oh * ow;
    for block in [1, 2, 5, 11, rows, rows + 9] {
        // A block larger than all the rows is clamped to them.
        let f = conv2d_forward_scratch_len(&g, n, block);
        let mut s = vec![0.0; f];
        conv2d_forward(&g, n, block, &x, &w, None, &mut y, &mut s).unwrap();
        assert!(conv2d_forward(&g, n, block, &x, &w, None, &mut y, &mut s[1..]).is_err());
        let f = conv2d_data_scratch_len(&g, n, block);
        let mut s = vec![0.0; f];
        conv2d_backward_data(&g, n, block, &y, &w, &mut dx, &mut s).unwrap();
        assert!(conv2d_backward_data(&g, n, block, &y, &w, &mut dx, &mut s[1..]).is_err());
        let f = conv2d_weights_scratch_len(&g, n, block);
        let mut s = vec![0.0; f];
        conv2d_backward_weights(&g, n, block, &x, &y, &mut dw, None, &mut s).unwrap();
        let r = conv2d_backward_weights(&g, n, block, &x, &y, &mut dw, None, &mut s[1..]);
        assert!(r.is_err());
    }
    assert_eq!(
        conv2d_forward_scratch_len(&g, n, rows),
        conv2d_forward_scratch_len(&g, n, rows + 9)
    );
    // Blocks bound the scratch: one row needs less than the whole batch.
    assert!(conv2d_forward_scratch_len(&g, n, 1) < conv2d_forward_scratch_len(&g, n, rows));
    // A pointwise convolution needs no col and is one product, whatever the block.
    let p = win(9, 8, 3, 17, (1, 1));
    assert_eq!(
        conv2d_forward_scratch_len(&p, n, 1),
        conv2d_forward_scratch_len(&p, n, 1000)
    );
}

#[test]
fn bad_geometry_and_lengths_are_errors() {
    let ok = win(5, 5, 2, 3, (3, 3));
    assert_eq!(ok.output_size().unwrap(), (3, 3));
    let bad = [
        Window2d {
            stride: (0, 1),
            ..ok
        },
        Window2d {
            kernel: (3, 0),
            ..ok
        },
        Window2d {
            dilation: (1, 0),
            ..ok
        },
        Window2d {
            in_channels: 0,
            ..ok
        },
        Window2d {
            kernel: (6, 3),
            ..ok
        },
        Window2d {
            dilation: (3, 1),
            ..ok
        }, // spans 7 rows of 5
        Window2d {
            pad_top: usize::MAX,
            ..ok
        },
    ];
    for g in bad {
        assert!(g.output_size().is_err(), "{g:?}");
        assert!(
            conv2d_forward(
                &g,
                1,
                1,
                &[0.0; 50],
                &[0.0; 54],
                None,
                &mut [0.0; 27],
                &mut [0.0; 1000]
            )
            .is_err()
        );
    }
    // Padding makes a large kernel legal.
    assert!(
        Window2d {
            kernel: (6, 3),
            pad_top: 1,
            ..ok
        }
        .output_size()
        .is_ok()
    );
    let mut s = vec![0.0; conv2d_forward_scratch_len(&ok, 1, 1)];
    let mut y = [0.0; 27];
    assert!(conv2d_forward(&ok, 1, 1, &[0.0; 49], &[0.0; 54], None, &mut y, &mut s).is_err());
    assert!(conv2d_forward(&ok, 1, 1, &[0.0; 50], &[0.0; 53], None, &mut y, &mut s).is_err());
    assert!(
        conv2d_forward(
            &ok,
            1,
            1,
            &[0.0; 50],
            &[0.0; 54],
            Some(&[0.0; 2]),
            &mut y,
            &mut s
        )
        .is_err()
    );
    assert!(conv2d_forward(&ok, 1, 0, &[0.0; 50], &[0.0; 54], None, &mut y, &mut s).is_err());
    assert!(conv2d_forward(&ok, 1, 1, &[0.0; 50], &[0.0; 54], None, &mut y, &mut s).is_ok());
}

fn pool_geometries() -> Vec<Window2d> {
    let mut out = Vec::new();
    for (h, w, c) in [(5, 7, 1), (6, 6, 3), (4, 5, 19), (1, 3, 2)] {
        for k in [(2, 2), (3, 3), (1, 2), (3, 2)] {
            for s in [(1, 1), (2, 2), (3, 1)] {
                for pads in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]] {
                    let g = Window2d {
                        stride: s,
                        pad_top: pads[0],
                        pad_bottom: pads[1],
                        pad_left: pads[2],
                        pad_right: pads[3],
                        ..win(h, w, c, c, k)
                    };
                    if g.output_size().is_ok() && pads.iter().all(|&p| p < k.0.min(k.1)) {
                        out.push(g);
                    }
                }
            }
        }
    }
    assert!(out.len() > 80);
    out
}

#[test]
fn pooling_matches_twins() {
    let mut rng = Rng::new(3);
    for g in pool_geometries() {
        let (oh, ow) = g.output_size().unwrap();
        let n = 3;
        let c = g.in_channels;
        // Quantised values make ties common, which exercises the first-maximum rule.
        let x: Vec<f32> = (0..n * g.height * g.width * c)
            .map(|_| (rng.uniform_range(-3.0, 3.0) as i32) as f32)
            .collect();
        let dy = random(n * oh * ow * c, &mut rng);
        let (mut a, mut b) = (vec![f32::NAN; dy.len()], vec![f32::NAN; dy.len()]);
        max_pool2d(&g, n, &x, &mut a).unwrap();
        max_pool2d_reference(&g, n, &x, &mut b).unwrap();
        assert_eq!(a, b, "max {g:?}");
        avg_pool2d(&g, n, &x, &mut a).unwrap();
        avg_pool2d_reference(&g, n, &x, &mut b).unwrap();
        assert_close(&a, &b, 1.0, "avg");
        let (mut a, mut b) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
        max_pool2d_backward(&g, n, &x, &dy, &mut a).unwrap();
        max_pool2d_backward_reference(&g, n, &x, &dy, &mut b).unwrap();
        assert_close(&a, &b, 1.0, "max backward");
        avg_pool2d_backward(&g, n, &dy, &mut a).unwrap();
        avg_pool2d_backward_reference(&g, n, &dy, &mut b).unwrap();
        assert_close(&a, &b, 1.0, "avg backward");
    }
    let x = random(2 * 12 * 5, &mut rng);
    let dy = random(2 * 5, &mut rng);
    let (mut a, mut b) = (vec![0.0; 10], vec![0.0; 10]);
    global_avg_pool2d(2, 12, 5, &x, &mut a).unwrap();
    global_avg_pool2d_reference(2, 12, 5, &x, &mut b).unwrap();
    assert_close(&a, &b, 1.0, "global");
    let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    global_avg_pool2d_backward(2, 12, 5, &dy, &mut a).unwrap();
    global_avg_pool2d_backward_reference(2, 12, 5, &dy, &mut b).unwrap();
    assert_close(&a, &b, 1.0, "global backward");
}

#[test]
fn hand_computed_pooling() {
    // 4×4 single channel, 2×2 windows, stride 2.
    #[rustfmt::skip]
    let x = [
        1.0, 5.0, 2.0, 2.0,
        3.0, 4.0, 2.0, 0.0,
        9.0, 0.0, -1.0, -2.0,
        0.0, 0.0, -3.0, -4.0,
    ];
    let g = Window2d {
        stride: (2, 2),
        ..win(4, 4, 1, 1, (2, 2))
    };
    let mut y = [0.0; 4];
    max_pool2d(&g, 1, &x, &mut y).unwrap();
    assert_eq!(y, [5.0, 2.0, 9.0, -1.0]);
    avg_pool2d(&g, 1, &x, &mut y).unwrap();
    assert_eq!(y, [3.25, 1.5, 2.25, -2.5]);
    // The tie (2.0, 2.0) in the top-right window sends its gradient to the first one.
    let mut dx = [0.0; 16];
    max_pool2d_backward(&g, 1, &x, &[1.0, 2.0, 3.0, 4.0], &mut dx).unwrap();
    #[rustfmt::skip]
    let want = [
        0.0, 1.0, 2.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
        3.0, 0.0, 4.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(dx, want);
    // Padding is not counted in an average: a 3×3 window with padding 1 at a corner of a
    // 2×2 image covers the four pixels.
    let g = Window2d {
        pad_top: 1,
        pad_bottom: 1,
        pad_left: 1,
        pad_right: 1,
        ..win(2, 2, 1, 1, (3, 3))
    };
    let mut y = [0.0; 4];
    avg_pool2d(&g, 1, &[1.0, 2.0, 3.0, 6.0], &mut y).unwrap();
    assert_eq!(y, [3.0; 4]);
    let mut y = [0.0; 2];
    global_avg_pool2d(1, 2, 2, &[1.0, 10.0, 3.0, 20.0], &mut y).unwrap();
    assert_eq!(y, [2.0, 15.0]);
}

#[test]
fn bad_pooling_is_an_error() {
    let ok = win(4, 4, 3, 3, (2, 2));
    let mut y = [0.0; 27];
    assert!(max_pool2d(&ok, 1, &[0.0; 48], &mut y).is_ok());
    let bad = [
        Window2d {
            out_channels: 2,
            ..ok
        },
        Window2d {
            dilation: (2, 2),
            ..ok
        },
        Window2d { pad_top: 2, ..ok },
        Window2d {
            stride: (0, 2),
            ..ok
        },
    ];
    for g in bad {
        assert!(max_pool2d(&g, 1, &[0.0; 48], &mut y).is_err(), "{g:?}");
        assert!(avg_pool2d(&g, 1, &[0.0; 48], &mut y).is_err(), "{g:?}");
    }
    assert!(max_pool2d(&ok, 1, &[0.0; 47], &mut y).is_err());
    assert!(global_avg_pool2d(1, 0, 3, &[], &mut [0.0; 3]).is_err());
    assert!(global_avg_pool2d(1, 4, 3, &[0.0; 11], &mut [0.0; 3]).is_err());
}
