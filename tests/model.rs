//! Model-level behaviour: training works, runs are reproducible, bad input is an error.

use nanonn::plan::Purpose;
use nanonn::prelude::*;

fn mlp() -> [AnyLayer<'static>; 5] {
    [
        Dense::new(6, 7).into(),
        Activation::ReLU.into(),
        Dense::new(7, 5).into(),
        Activation::Tanh.into(),
        Dense::new(5, 3).into(),
    ]
}

/// A small, learnable 3-class problem: the class is the argmax of three fixed projections.
fn toy_data(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..n * 6).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let y = x
        .chunks(6)
        .map(|r| {
            let s = [r[0] + r[1], r[2] - r[3], r[4] + r[5] - r[0]];
            (0..3).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap() as u32
        })
        .collect();
    (x, y)
}

fn train_params(seed: u64, steps: usize) -> Vec<f32> {
    let (x, y) = toy_data(32, 1);
    let mut model = Model::owned(
        mlp(),
        Shape::vector(6),
        8,
        SoftmaxCrossEntropy,
        Adam::new(0.01),
        seed,
    )
    .unwrap();
    for s in 0..steps {
        let b = s % 4;
        let xb = Tensor::matrix(&x[b * 48..(b + 1) * 48], 8, 6).unwrap();
        model
            .train_step(xb, Targets::Classes(&y[b * 8..(b + 1) * 8]))
            .unwrap();
    }
    model.net().params().to_vec()
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let a = train_params(7, 20);
    let b = train_params(7, 20);
    let c = train_params(8, 20);
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_ne!(a, c);
    // Training changed the weights.
    assert_ne!(a, train_params(7, 0));
}

#[test]
fn training_learns_the_toy_problem() {
    let (x, y) = toy_data(256, 2);
    let mut model = Model::owned(
        mlp(),
        Shape::vector(6),
        32,
        SoftmaxCrossEntropy,
        Adam::new(0.01),
        3,
    )
    .unwrap();
    let mut first = None;
    let mut last = 0.0;
    for epoch in 0..60 {
        for b in 0..8 {
            let xb = Tensor::matrix(&x[b * 192..(b + 1) * 192], 32, 6).unwrap();
            last = model
                .train_step(xb, Targets::Classes(&y[b * 32..(b + 1) * 32]))
                .unwrap();
            first.get_or_insert(last);
        }
        let _ = epoch;
    }
    assert!(last < 0.5 * first.unwrap(), "loss {first:?} -> {last}");
    let mut hits = 0;
    for b in 0..8 {
        let xb = Tensor::matrix(&x[b * 192..(b + 1) * 192], 32, 6).unwrap();
        let out = model.predict(xb).unwrap();
        for (i, row) in out.data().chunks(3).enumerate() {
            let p = (0..3).max_by(|&a, &c| row[a].total_cmp(&row[c])).unwrap();
            hits += (p as u32 == y[b * 32 + i]) as usize;
        }
    }
    assert!(hits > 230, "train accuracy {hits}/256");
}

#[test]
fn forward_backward_apply_grad_match_train_step() {
    let (x, y) = toy_data(8, 4);
    let xt = Tensor::matrix(&x, 8, 6).unwrap();
    let mut a = Model::owned(
        mlp(),
        Shape::vector(6),
        8,
        SoftmaxCrossEntropy,
        Sgd::new(0.1),
        5,
    )
    .unwrap();
    let mut b = Model::owned(
        mlp(),
        Shape::vector(6),
        8,
        SoftmaxCrossEntropy,
        Sgd::new(0.1),
        5,
    )
    .unwrap();
    a.forward(xt).unwrap();
    let la = a.backward(Targets::Classes(&y)).unwrap();
    a.apply_grad().unwrap();
    let lb = b.train_step(xt, Targets::Classes(&y)).unwrap();
    assert_eq!(la, lb);
    assert_eq!(a.net().params(), b.net().params());
    // SGD moved the parameters by exactly -lr * grad.
    let before = Model::owned(
        mlp(),
        Shape::vector(6),
        8,
        SoftmaxCrossEntropy,
        Sgd::new(0.1),
        5,
    )
    .unwrap();
    for ((p0, p1), g) in before
        .net()
        .params()
        .iter()
        .zip(a.net().params())
        .zip(a.net().grads())
    {
        assert!((p0 - 0.1 * g - p1).abs() <= 1e-6 * (1.0 + p0.abs()));
    }
    // A second step from different inputs (the step reads its input where it is, never
    // a copy left by the first), then: the step leaves no forward pass for `backward`.
    let x2: Vec<f32> = x.iter().map(|v| 0.5 - v).collect();
    let x2t = Tensor::matrix(&x2, 8, 6).unwrap();
    a.forward(x2t).unwrap();
    let la = a.backward(Targets::Classes(&y)).unwrap();
    a.apply_grad().unwrap();
    assert_eq!(la, b.train_step(x2t, Targets::Classes(&y)).unwrap());
    assert_eq!(a.net().params(), b.net().params());
    expect_err(
        b.backward(Targets::Classes(&y)),
        "training-mode forward first",
    );
}

#[test]
fn partial_batches_and_inference_plans_agree() {
    let (x, _) = toy_data(5, 6);
    let train = Model::owned(
        mlp(),
        Shape::vector(6),
        8,
        SoftmaxCrossEntropy,
        Adam::new(0.01),
        9,
    )
    .unwrap();
    let mut infer = Net::owned(mlp(), Shape::vector(6), 8, Purpose::Inference, 0).unwrap();
    infer.params_mut().copy_from_slice(train.net().params());
    let mut train = train;
    let xt = Tensor::matrix(&x, 5, 6).unwrap();
    let a = train.predict(xt).unwrap().data().to_vec();
    let b = infer.forward(xt).unwrap().data().to_vec();
    assert_eq!(a, b);
    assert!(infer.plan().bytes() < train.plan().bytes());
}

fn expect_err<T>(r: Result<T>, needle: &str) {
    match r {
        Ok(_) => panic!("expected an error containing {needle:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
        }
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    // Layers that do not chain.
    let bad: [AnyLayer; 3] = [
        Dense::new(6, 7).into(),
        Activation::ReLU.into(),
        Dense::new(8, 3).into(),
    ];
    expect_err(
        Model::owned(bad, Shape::vector(6), 8, Mse, Sgd::new(0.1), 0),
        "layer 2 (Dense): input shape [7] does not match the expected [8]",
    );
    // Batch size 0.
    expect_err(
        Model::owned(mlp(), Shape::vector(6), 0, Mse, Sgd::new(0.1), 0),
        "batch size must be at least 1",
    );
    // Too little memory.
    let plan = Plan::training(&mlp(), Shape::vector(6), 8, &Adam::new(0.01)).unwrap();
    let mut small = vec![0.0f32; plan.floats() - 1];
    expect_err(
        Model::new(
            mlp(),
            Shape::vector(6),
            8,
            Mse,
            Adam::new(0.01),
            &mut small[..],
            0,
        ),
        &format!(
            "{} bytes needed, {} available",
            plan.bytes(),
            plan.bytes() - 4
        ),
    );

    let mut model = Model::owned(
        mlp(),
        Shape::vector(6),
        8,
        SoftmaxCrossEntropy,
        Adam::new(0.01),
        0,
    )
    .unwrap();
    let (x, y) = toy_data(8, 7);
    // Input of the wrong width.
    expect_err(
        model.forward(Tensor::matrix(&x[..40], 8, 5).unwrap()),
        "input shape [8, 5] does not match the expected [8, 6]",
    );
    // Batch larger than planned.
    let big = vec![0.0; 9 * 6];
    expect_err(
        model.forward(Tensor::matrix(&big, 9, 6).unwrap()),
        "larger than the planned maximum of 8",
    );
    // NaN in the input.
    let mut nan = x.clone();
    nan[13] = f32::NAN;
    expect_err(
        model.forward(Tensor::matrix(&nan, 8, 6).unwrap()),
        "input contains a NaN or infinity at element 13",
    );
    // backward before forward.
    expect_err(model.backward(Targets::Classes(&y)), "forward first");
    // Labels out of range.
    model.forward(Tensor::matrix(&x, 8, 6).unwrap()).unwrap();
    let mut labels = y.clone();
    labels[3] = 3;
    expect_err(
        model.backward(Targets::Classes(&labels)),
        "label 3 of sample 3 is out of range for 3 classes",
    );
    // A loss that is not finite: weights so large that the logits overflow.
    model.net_mut().params_mut().fill(3.0e38);
    let r = model.train_step(Tensor::matrix(&x, 8, 6).unwrap(), Targets::Classes(&y));
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("NaN or infinity"), "{msg}");
}

#[test]
fn inference_networks_refuse_to_train() {
    let mut net = Net::owned(mlp(), Shape::vector(6), 4, Purpose::Inference, 0).unwrap();
    let x = vec![0.5; 24];
    net.forward(Tensor::matrix(&x, 4, 6).unwrap()).unwrap();
    let g = vec![0.0; 12];
    expect_err(
        net.backward(Tensor::matrix(&g, 4, 3).unwrap()),
        "planned for training",
    );
    expect_err(net.set_mode(Mode::Train), "planned for inference");
}

#[test]
fn net_exposes_layer_params_and_grads() {
    let mut net = Net::owned(
        mlp(),
        Shape::vector(6),
        4,
        Purpose::Training {
            optimizer_state_per_param: 0,
        },
        0,
    )
    .unwrap();
    let x = vec![0.5; 24];
    net.forward(Tensor::matrix(&x, 4, 6).unwrap()).unwrap();
    let g = vec![1.0; 12];
    net.backward(Tensor::matrix(&g, 4, 3).unwrap()).unwrap();
    let (layer, p, gr) = net.layer_params(2).unwrap();
    assert_eq!(layer.name(), "Dense");
    assert_eq!(p.len(), 7 * 5 + 5);
    assert_eq!(gr.len(), p.len());
    let (_, p1, g1) = net.layer_params(1).unwrap();
    assert!(p1.is_empty() && g1.is_empty());
    assert!(net.layer_params(5).is_none());
    // The bias gradient of the last layer is the column sum of the output gradient.
    let (_, _, g4) = net.layer_params(4).unwrap();
    assert_eq!(&g4[5 * 3..], &[4.0, 4.0, 4.0]);
}
