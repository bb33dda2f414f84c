//! End to end on the real MNIST files shipped in `data/mnist/`: one epoch of tinynn's MLP
//! reaches at least 0.96 test accuracy. (Slow in debug builds; the README runs the suite with
//! `--release`.)

use nanonn::data::{Batches, Mnist, gather, gather_labels};
use nanonn::metrics::{Accuracy, accuracy};
use nanonn::prelude::*;

#[test]
fn one_epoch_of_the_seed_mlp_reaches_096() {
    let mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist")).unwrap();
    let layers: [AnyLayer; 5] = [
        Dense::new(784, 400).into(),
        Activation::ReLU.into(),
        Dense::new(400, 100).into(),
        Activation::ReLU.into(),
        Dense::new(100, 10).into(),
    ];
    let (batch, d) = (128, Mnist::IMAGE_LEN);
    let mut model = Model::owned(
        layers,
        Shape::vector(d),
        batch,
        SoftmaxCrossEntropy,
        Adam::new(1e-3),
        31,
    )
    .unwrap();
    let mut rng = Rng::new(1);
    let mut xb = vec![0.0; batch * d];
    let mut yb = vec![0; batch];
    for idx in &Batches::new(mnist.train_len(), batch, Some(&mut rng)).unwrap() {
        let b = idx.len();
        gather(idx, &mnist.train_images, d, &mut xb[..b * d]).unwrap();
        gather_labels(idx, &mnist.train_labels, &mut yb[..b]).unwrap();
        let x = Tensor::matrix(&xb[..b * d], b, d).unwrap();
        model.train_step(x, Targets::Classes(&yb[..b])).unwrap();
    }
    let mut acc = Accuracy::default();
    for (xs, ys) in mnist
        .test_images
        .chunks(batch * d)
        .zip(mnist.test_labels.chunks(batch))
    {
        let logits = model
            .predict(Tensor::matrix(xs, ys.len(), d).unwrap())
            .unwrap();
        acc += accuracy(logits.data(), 10, ys).unwrap();
    }
    assert_eq!(acc.total_num, 10_000);
    assert!(acc.accuracy() >= 0.96, "{acc}");
}
