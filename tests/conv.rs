//! Convolution, pooling and reshape layers: finite-difference gradient checks over strides,
//! paddings, dilations, odd channel counts and batches > 1; hand-computed outputs; bad input;
//! exact scratch sizes; and a small CNN that learns.

mod common;

use std::cell::Cell;

use common::{away_from_zero, check};
use nanonn::layers::{ForwardCtx, IM2COL_FLOATS, Layer, LayerMemory};
use nanonn::prelude::*;

fn uniform(r: &mut Rng) -> f32 {
    r.uniform_range(-1.0, 1.0)
}

fn img(h: usize, w: usize, c: usize) -> Shape {
    Shape::new(&[h, w, c])
}

/// Runs `layer` forward on `x` (batch `n`) with `params`, in a fresh workspace of exactly
/// the memory it reports; returns the output.
fn run<L: Layer>(
    layer: &mut L,
    input: Shape,
    n: usize,
    x: &[f32],
    params: &[f32],
) -> Result<Vec<f32>> {
    let out = layer.output_shape(input)?;
    let mem = layer.memory(input, n, Mode::Eval);
    let mut y = vec![f32::NAN; n * out.numel()];
    let (mut buffers, mut cache) = (vec![0.0; mem.buffers], vec![0.0; mem.cache]);
    let mut scratch = vec![f32::NAN; mem.scratch];
    layer.forward(
        Tensor::new(x, input.batched(n)?)?,
        TensorMut::new(&mut y, out.batched(n)?)?,
        ForwardCtx {
            params,
            buffers: &mut buffers,
            cache: &mut cache,
            scratch: &mut scratch,
            rng: &mut Rng::new(0),
            mode: Mode::Eval,
        },
    )?;
    Ok(y)
}

const PADDINGS: [Padding; 4] = [
    Padding::Valid,
    Padding::Same,
    Padding::symmetric(1, 2),
    Padding::Explicit {
        top: 2,
        bottom: 0,
        left: 0,
        right: 1,
    },
];

#[test]
fn conv2d_gradients() {
    let mut cases = 0;
    for (i, &(cin, cout)) in [(1, 3), (3, 5), (5, 1), (3, 3)].iter().enumerate() {
        for kernel in [(3, 3), (2, 3), (1, 1)] {
            for stride in [(1, 1), (2, 1), (2, 2)] {
                for dilation in [(1, 1), (2, 1)] {
                    let padding = PADDINGS[(cases + i) % PADDINGS.len()];
                    let mut conv = Conv2D::new(cin, cout, kernel)
                        .stride(stride)
                        .padding(padding)
                        .dilation(dilation)
                        .bias(cases % 3 != 0);
                    // Default blocks (whole batch here), one pixel, and blocks that split images.
                    conv.im2col_rows = [None, Some(1), Some(7)][cases % 3];
                    let (h, w) = (5 + cases % 2, 6);
                    check(conv, img(h, w, cin), 2 + cases % 2, uniform);
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 72);
}

#[test]
fn conv_transpose2d_gradients() {
    let mut cases = 0;
    for &(cin, cout) in &[(1, 3), (3, 5), (5, 1)] {
        for kernel in [(3, 3), (2, 3), (1, 1)] {
            for (stride, extra) in [((1, 1), (0, 0)), ((2, 2), (1, 0)), ((2, 1), (0, 0))] {
                for padding in [Padding::Valid, Padding::Same, Padding::symmetric(1, 0)] {
                    let mut t = ConvTranspose2D::new(cin, cout, kernel)
                        .stride(stride)
                        .padding(padding)
                        .dilation(if cases % 4 == 1 { (2, 1) } else { (1, 1) })
                        .bias(cases % 3 != 2)
                        .im2col_rows(1 + 4 * (cases % 2));
                    if padding != Padding::Same {
                        t = t.output_padding(extra);
                    }
                    let input = img(3, 4, cin);
                    if t.output_shape(input).is_err() {
                        continue; // e.g. padding removes a 1-wide output
                    }
                    check(t, input, 2, uniform);
                    cases += 1;
                }
            }
        }
    }
    assert!(cases >= 70, "{cases}");
}

/// Inputs that are all distinct and at least 0.05 apart (twice the checker's step), so that no
/// probe moves a window's maximum to another element.
fn spread_out() -> impl Fn(&mut Rng) -> f32 {
    let i = Cell::new(0u32);
    move |_| {
        let k = i.get();
        i.set(k + 1);
        ((k * 7919) % 997) as f32 * 0.05 - 25.0
    }
}

#[test]
fn pooling_gradients() {
    for c in [1, 3, 5] {
        for kernel in [(2, 2), (3, 3), (3, 2)] {
            for stride in [kernel, (1, 1), (2, 1)] {
                for padding in [Padding::Valid, Padding::Same, Padding::symmetric(1, 1)] {
                    let input = img(5, 6, c);
                    let max = MaxPool2D::new(kernel).stride(stride).padding(padding);
                    check(max, input, 2, spread_out());
                    let avg = AvgPool2D::new(kernel).stride(stride).padding(padding);
                    check(avg, input, 3, uniform);
                }
            }
        }
        check(GlobalAvgPool2D, img(3, 5, c), 2, uniform);
    }
}

#[test]
fn reshape_gradients() {
    check(Flatten, img(3, 2, 5), 2, away_from_zero);
    check(Reshape::new(img(2, 3, 2)), Shape::vector(12), 3, uniform);
    check(Reshape::new(Shape::matrix(4, 3)), img(2, 3, 2), 2, uniform);
}

#[test]
fn conv2d_hand_computed() {
    // 3×3 image, 2 channels; one 2×2 filter that adds channel 0 at top-left and channel 1 at
    // bottom-right, bias 0.5.
    let x: Vec<f32> = (0..18).map(|v| v as f32).collect(); // x[y][x][c] = 2·(3y + x) + c
    let mut conv = Conv2D::new(2, 1, (2, 2));
    #[rustfmt::skip]
    let params = [
        1.0, 0.0,  0.0, 0.0, // ky 0: kx 0, kx 1 ([ci][co])
        0.0, 0.0,  0.0, 1.0, // ky 1
        0.5,
    ];
    let y = run(&mut conv, img(3, 3, 2), 1, &x, &params).unwrap();
    // y[i][j] = x[i][j][0] + x[i+1][j+1][1] + 0.5 = 2(3i+j) + 2(3i+3+j+1) + 1 + 0.5
    let want: Vec<f32> = (0..4)
        .map(|p| {
            let (i, j) = (p / 2, p % 2);
            (2 * (3 * i + j) + 2 * (3 * i + 3 + j + 1) + 1) as f32 + 0.5
        })
        .collect();
    assert_eq!(y, want);
    // "Same" padding with stride 2 on 5×5: output ceil(5/2) = 3; stride 2 with Valid: 2.
    let same = Conv2D::new(1, 4, (3, 3))
        .stride((2, 2))
        .padding(Padding::Same);
    assert_eq!(same.output_shape(img(5, 5, 1)).unwrap(), img(3, 3, 4));
    let valid = same.padding(Padding::Valid);
    assert_eq!(valid.output_shape(img(5, 5, 1)).unwrap(), img(2, 2, 4));
    let dilated = Conv2D::new(1, 4, (3, 3)).dilation((2, 2));
    assert_eq!(dilated.output_shape(img(7, 6, 1)).unwrap(), img(3, 2, 4));
    assert_eq!(Conv2D::new(3, 8, (5, 4)).param_len(), 5 * 4 * 3 * 8 + 8);
    assert_eq!(
        Conv2D::new(3, 8, (5, 4)).bias(false).param_len(),
        5 * 4 * 3 * 8
    );
}

#[test]
fn conv_transpose2d_hand_computed_and_adjoint() {
    // Input [[1, 2]] (1×2×1), 2×2 kernel [[1, 2], [3, 4]], stride 2: each input pixel stamps a
    // scaled copy of the kernel into its own 2×2 block.
    let mut t = ConvTranspose2D::new(1, 1, (2, 2))
        .stride((2, 2))
        .bias(false);
    assert_eq!(t.output_shape(img(1, 2, 1)).unwrap(), img(2, 4, 1));
    let y = run(&mut t, img(1, 2, 1), 1, &[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(y, [1.0, 2.0, 2.0, 4.0, 3.0, 4.0, 6.0, 8.0]);
    // Output sizes: PyTorch's formula, and H·stride for Same.
    let t = ConvTranspose2D::new(2, 3, (3, 3)).stride((2, 2));
    assert_eq!(t.output_shape(img(3, 4, 2)).unwrap(), img(7, 9, 3));
    let t = t.padding(Padding::symmetric(1, 1)).output_padding((1, 0));
    assert_eq!(t.output_shape(img(3, 4, 2)).unwrap(), img(6, 7, 3));
    let t = t.output_padding((0, 0)).padding(Padding::Same);
    assert_eq!(t.output_shape(img(3, 4, 2)).unwrap(), img(6, 8, 3));

    // Adjointness: with the same weights, <ConvT(x), z> = <x, Conv(z)> where Conv goes from
    // ConvT's output channels back to its input channels.
    let mut rng = Rng::new(5);
    let (cin, cout) = (3, 2);
    let mut t = ConvTranspose2D::new(cin, cout, (3, 2))
        .stride((2, 1))
        .padding(Padding::symmetric(1, 0))
        .dilation((1, 2))
        .bias(false);
    let mut conv = Conv2D::new(cout, cin, (3, 2))
        .stride((2, 1))
        .padding(Padding::symmetric(1, 0))
        .dilation((1, 2))
        .bias(false);
    let input = img(4, 3, cin);
    let out = t.output_shape(input).unwrap();
    assert_eq!(conv.output_shape(out).unwrap(), input);
    let w: Vec<f32> = (0..t.param_len()).map(|_| uniform(&mut rng)).collect();
    let x: Vec<f32> = (0..2 * input.numel()).map(|_| uniform(&mut rng)).collect();
    let z: Vec<f32> = (0..2 * out.numel()).map(|_| uniform(&mut rng)).collect();
    let tx = run(&mut t, input, 2, &x, &w).unwrap();
    let cz = run(&mut conv, out, 2, &z, &w).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p * q) as f64).sum::<f64>();
    let (lhs, rhs) = (dot(&tx, &z), dot(&x, &cz));
    assert!(
        (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
        "{lhs} vs {rhs}"
    );
}

#[test]
fn pooling_hand_computed() {
    // 2×2×2 image: channel 0 = [1 4; 3 2], channel 1 = [-1 -4; -3 -2].
    let x = [1.0, -1.0, 4.0, -4.0, 3.0, -3.0, 2.0, -2.0];
    let mut max = MaxPool2D::new((2, 2));
    assert_eq!(
        run(&mut max, img(2, 2, 2), 1, &x, &[]).unwrap(),
        [4.0, -1.0]
    );
    let mut avg = AvgPool2D::new((2, 2));
    assert_eq!(
        run(&mut avg, img(2, 2, 2), 1, &x, &[]).unwrap(),
        [2.5, -2.5]
    );
    let mut global = GlobalAvgPool2D;
    assert_eq!(
        run(&mut global, img(2, 2, 2), 1, &x, &[]).unwrap(),
        [2.5, -2.5]
    );
    // Overlapping 2×2 windows with stride 1 and Same padding keep the size (bottom/right pad).
    let same = MaxPool2D::new((2, 2)).stride((1, 1)).padding(Padding::Same);
    assert_eq!(same.output_shape(img(5, 4, 3)).unwrap(), img(5, 4, 3));
    let mut same = same;
    let y = run(&mut same, img(2, 2, 2), 1, &x, &[]).unwrap();
    assert_eq!(y, [4.0, -1.0, 4.0, -2.0, 3.0, -2.0, 2.0, -2.0]);
    let mut flat = Flatten;
    assert_eq!(run(&mut flat, img(2, 2, 2), 1, &x, &[]).unwrap(), x);
}

fn config_error(r: Result<Shape>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(s) => panic!("expected an error, got {s}"),
    }
}

#[test]
fn bad_configurations_are_errors() {
    let input = img(8, 8, 3);
    let conv = Conv2D::new(3, 4, (3, 3));
    assert!(conv.output_shape(input).is_ok());
    let cases: [(Conv2D, &str); 6] = [
        (conv.stride((0, 1)), "stride"),
        (Conv2D::new(3, 4, (0, 3)), "kernel"),
        (conv.dilation((1, 0)), "dilation"),
        (Conv2D::new(3, 4, (9, 3)), "larger than the padded input"),
        (conv.dilation((5, 1)), "larger than the padded input"),
        (conv.im2col_rows(0), "im2col_rows"),
    ];
    for (layer, words) in cases {
        let msg = config_error(layer.output_shape(input));
        assert!(msg.contains(words), "{msg:?} should mention {words:?}");
    }
    // Padding can make a large kernel fit.
    assert!(
        Conv2D::new(3, 4, (9, 3))
            .padding(Padding::symmetric(1, 0))
            .output_shape(input)
            .is_ok()
    );
    let msg = config_error(Conv2D::new(2, 4, (3, 3)).output_shape(input));
    assert!(
        msg.contains("[8, 8, 2]") && msg.contains("[8, 8, 3]"),
        "{msg}"
    );
    let msg = config_error(conv.output_shape(Shape::vector(192)));
    assert!(msg.contains("[height, width, channels]"), "{msg}");

    let t = ConvTranspose2D::new(3, 2, (3, 3)).stride((2, 2));
    assert!(
        config_error(t.output_padding((2, 0)).output_shape(input))
            .contains("smaller than the stride")
    );
    assert!(config_error(t.stride((0, 1)).output_shape(input)).contains("at least 1"));
    assert!(
        config_error(t.padding(Padding::symmetric(9, 0)).output_shape(input)).contains("removes")
    );
    assert!(
        ConvTranspose2D::new(4, 2, (3, 3))
            .output_shape(input)
            .is_err()
    );

    let pool = MaxPool2D::new((2, 2));
    assert!(pool.output_shape(input).is_ok());
    assert!(
        config_error(pool.padding(Padding::symmetric(2, 0)).output_shape(input))
            .contains("smaller than the kernel")
    );
    assert!(config_error(MaxPool2D::new((9, 2)).output_shape(input)).contains("larger"));
    assert!(
        config_error(AvgPool2D::new((2, 2)).stride((1, 0)).output_shape(input)).contains("stride")
    );
    assert!(
        config_error(AvgPool2D::new((2, 2)).output_shape(Shape::matrix(8, 8)))
            .contains("[height, width, channels]")
    );
    assert!(GlobalAvgPool2D.output_shape(Shape::vector(3)).is_err());
    assert!(
        Reshape::new(Shape::vector(191))
            .output_shape(input)
            .is_err()
    );

    // In a network the error names the layer.
    let layers: [AnyLayer; 2] = [
        Conv2D::new(1, 4, (3, 3)).into(),
        Conv2D::new(3, 4, (3, 3)).into(),
    ];
    let err = Plan::inference(&layers, img(8, 8, 1), 2).unwrap_err();
    assert!(err.to_string().starts_with("layer 1 (Conv2D)"), "{err}");
}

#[test]
fn wrong_tensors_are_errors_not_panics() {
    let mut conv = Conv2D::new(3, 2, (3, 3));
    let params = vec![0.1; conv.param_len()];
    // A 6×6×2 image has the right element count for nothing the layer expects.
    let x = vec![0.0; 72];
    assert!(run(&mut conv, img(6, 6, 2), 1, &x, &params).is_err());
    // Too few parameters.
    assert!(run(&mut conv, img(4, 6, 3), 1, &x, &params[1..]).is_err());
    // Too little scratch: the reported size is exact.
    let input = img(6, 6, 3);
    let mem = conv.memory(input, 2, Mode::Eval);
    assert!(mem.scratch > 0);
    let x = vec![0.5; 2 * input.numel()];
    let out = conv.output_shape(input).unwrap().batched(2).unwrap();
    let mut y = vec![0.0; out.numel()];
    for (len, ok) in [(mem.scratch, true), (mem.scratch - 1, false)] {
        let mut scratch = vec![0.0; len];
        let r = conv.forward(
            Tensor::new(&x, input.batched(2).unwrap()).unwrap(),
            TensorMut::new(&mut y, out).unwrap(),
            ForwardCtx {
                params: &params,
                buffers: &mut [],
                cache: &mut [],
                scratch: &mut scratch,
                rng: &mut Rng::new(0),
                mode: Mode::Eval,
            },
        );
        assert_eq!(r.is_ok(), ok, "scratch of {len}");
    }
}

#[test]
fn memory_is_reported_and_bounded_by_im2col_rows() {
    let input = img(28, 28, 1);
    let conv = Conv2D::new(1, 32, (5, 5));
    let (eval, train) = (
        conv.memory(input, 64, Mode::Eval),
        conv.memory(input, 64, Mode::Train),
    );
    assert_eq!(
        (eval.buffers, eval.cache, train.buffers, train.cache),
        (0, 0, 0, 0)
    );
    // The default im2col block (as many rows of 25 as fit in IM2COL_FLOATS) is part of the
    // scratch, with the GEMM's packing buffers.
    let block = IM2COL_FLOATS / 25 * 25;
    assert!(
        eval.scratch >= block && eval.scratch < block + IM2COL_FLOATS,
        "{eval:?}"
    );
    assert!(train.scratch >= eval.scratch);
    // A batch whose whole col is smaller than the block needs only that.
    let one = conv.memory(input, 1, Mode::Eval);
    assert!(
        one.scratch >= 24 * 24 * 25 && one.scratch < block,
        "{one:?}"
    );
    // One output row (24 pixels) at a time.
    let small = conv.im2col_rows(24).memory(input, 64, Mode::Train);
    assert!(small.scratch < train.scratch / 4, "{small:?} vs {train:?}");
    assert_eq!(
        MaxPool2D::new((2, 2)).memory(input, 64, Mode::Train),
        LayerMemory::default()
    );
}

/// 8×8 images with a 2×2 bright square in one of four quadrants; the class is the quadrant.
fn quadrant_batch(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<u32>) {
    let mut x = vec![0.0; n * 64];
    let mut y = vec![0; n];
    for i in 0..n {
        let q = rng.below(4);
        let (oy, ox) = (4 * (q / 2) + rng.below(3), 4 * (q % 2) + rng.below(3));
        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            x[i * 64 + (oy + dy) * 8 + ox + dx] = 1.0;
        }
        for v in &mut x[i * 64..(i + 1) * 64] {
            *v += rng.uniform_range(-0.1, 0.1);
        }
        y[i] = q as u32;
    }
    (x, y)
}

#[test]
fn a_small_cnn_learns() {
    let layers: [AnyLayer; 8] = [
        Reshape::new(img(8, 8, 1)).into(),
        Conv2D::new(1, 4, (3, 3)).padding(Padding::Same).into(),
        Activation::ReLU.into(),
        MaxPool2D::new((2, 2)).into(),
        Conv2D::new(4, 6, (3, 3)).padding(Padding::Same).into(),
        Activation::ReLU.into(),
        Flatten.into(),
        Dense::new(4 * 4 * 6, 4).into(),
    ];
    let batch = 32;
    let mut model = Model::owned(
        layers,
        Shape::vector(64),
        batch,
        SoftmaxCrossEntropy,
        Adam::new(0.01),
        7,
    )
    .unwrap();
    let mut rng = Rng::new(3);
    for _ in 0..150 {
        let (x, y) = quadrant_batch(&mut rng, batch);
        model
            .train_step(Tensor::matrix(&x, batch, 64).unwrap(), Targets::Classes(&y))
            .unwrap();
    }
    let (x, y) = quadrant_batch(&mut rng, batch);
    let logits = model
        .predict(Tensor::matrix(&x, batch, 64).unwrap())
        .unwrap();
    let hits = logits
        .data()
        .chunks(4)
        .zip(&y)
        .filter(|&(row, &label)| {
            let best = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best == label as usize
        })
        .count();
    assert!(hits >= 30, "{hits}/{batch}");
}
