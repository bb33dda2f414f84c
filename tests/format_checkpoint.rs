//! Checkpoints: train N steps, checkpoint, train M more — versus — restore the checkpoint
//! into a fresh model and train M: the parameters, optimizer state, step counter and
//! generators are bit-identical, for every optimizer, with a learning-rate schedule and a
//! shuffled data order resumed mid-epoch.

use nanonn::data::{Batches, gather, gather_labels};
use nanonn::format::{self, Checkpoint, FileError, ModelFile};
use nanonn::prelude::*;
use nanonn::schedule::{CosineLr, Warmup};

const SAMPLES: usize = 52;
const BATCH: usize = 8;
const FEATURES: usize = 6;
const CLASSES: usize = 3;

fn data() -> (Vec<f32>, Vec<u32>) {
    let x = (0..SAMPLES * FEATURES)
        .map(|i| ((i * 29 % 17) as f32 - 8.0) * 0.1)
        .collect();
    let y = (0..SAMPLES).map(|i| (i * 7 % CLASSES) as u32).collect();
    (x, y)
}

/// Dropout draws from the network's generator and batch-norm keeps running statistics in
/// the buffers: both must be restored for a bit-identical resume.
fn layers() -> Vec<AnyLayer<'static>> {
    vec![
        Dense::new(FEATURES, 16).into(),
        BatchNorm::new(16).into(),
        Activation::ReLU.into(),
        Dropout::new(0.8).into(),
        Dense::new(16, 12).into(),
        Activation::Tanh.into(),
        Dense::new(12, CLASSES).into(),
    ]
}

type M<O> = Model<'static, SoftmaxCrossEntropy, O, Vec<f32>>;

fn model<O: Optimizer>(optimizer: O, seed: u64) -> M<O> {
    Model::owned(
        layers(),
        Shape::vector(FEATURES),
        BATCH,
        SoftmaxCrossEntropy,
        optimizer,
        seed,
    )
    .unwrap()
}

/// Where training is in the data: the shuffler as it was before it drew this epoch's order,
/// and the next batch of the epoch.
#[derive(Clone)]
struct Cursor {
    epoch_rng: Rng,
    epoch: u64,
    batch: usize,
}

fn train<O: Optimizer>(model: &mut M<O>, cur: &mut Cursor, steps: usize) {
    let schedule = Warmup::new(5, CosineLr::new(0.05, 0.001, 40).unwrap());
    let (x, y) = data();
    let (mut xb, mut yb) = (vec![0.0; BATCH * FEATURES], vec![0u32; BATCH]);
    let mut done = 0;
    while done < steps {
        let mut rng = cur.epoch_rng.clone();
        let batches = Batches::new(SAMPLES, BATCH, Some(&mut rng)).unwrap();
        for idx in batches.iter().skip(cur.batch) {
            if done == steps {
                return;
            }
            let n = idx.len();
            gather(idx, &x, FEATURES, &mut xb[..n * FEATURES]).unwrap();
            gather_labels(idx, &y, &mut yb[..n]).unwrap();
            model.set_lr(schedule.lr(model.steps()));
            let xt = Tensor::matrix(&xb[..n * FEATURES], n, FEATURES).unwrap();
            model.train_step(xt, Targets::Classes(&yb[..n])).unwrap();
            cur.batch += 1;
            done += 1;
        }
        cur.epoch_rng = rng;
        cur.epoch += 1;
        cur.batch = 0;
    }
}

fn checkpoint<O: Optimizer>(model: &M<O>, cur: &Cursor) -> Vec<u8> {
    let c = Checkpoint::new(model.optimizer())
        .with_user_rng(&cur.epoch_rng)
        .with_user_data([cur.epoch, cur.batch as u64, 0, 0]);
    format::to_vec(model.net(), Some(&c)).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Everything that determines the rest of training.
fn fingerprint<O: Optimizer>(model: &M<O>) -> (Vec<u32>, Vec<u32>, u64, u32, [u64; 4], Vec<u32>) {
    let net = model.net();
    (
        bits(net.params()),
        bits(net.optimizer_state()),
        model.steps(),
        model.optimizer().lr().to_bits(),
        net.rng().state(),
        bits(net.buffers()),
    )
}

/// N steps, checkpoint, M steps; and restore + M steps in a model built with another seed.
fn resume_is_bit_identical<O: Optimizer + Clone>(optimizer: O) {
    let (n, m) = (9, 11); // 52 samples / 8 = 7 batches an epoch: resumes mid-epoch 1
    let mut a = model(optimizer.clone(), 1);
    let mut cur = Cursor {
        epoch_rng: Rng::new(77),
        epoch: 0,
        batch: 0,
    };
    train(&mut a, &mut cur, n);
    let bytes = checkpoint(&a, &cur);
    train(&mut a, &mut cur, m);

    let mut b = model(optimizer.clone(), 999);
    let file = ModelFile::parse(&bytes).unwrap();
    let t = file.restore(&mut b).unwrap();
    assert_eq!(t.optimizer.as_str(), optimizer.name());
    assert_eq!(t.steps, n as u64);
    let mut cur_b = Cursor {
        epoch_rng: t.user_rng.clone().unwrap(),
        epoch: t.user_data[0],
        batch: t.user_data[1] as usize,
    };
    assert_eq!((cur_b.epoch, cur_b.batch), (1, 2));
    train(&mut b, &mut cur_b, m);
    assert!(
        fingerprint(&a) == fingerprint(&b),
        "{}: resumed training differs",
        optimizer.name()
    );
    assert_eq!(cur_b.epoch_rng, cur.epoch_rng);

    // Controls: the test can fail. Without the optimizer state (weights only) or without the
    // shuffler, the result differs.
    let mut c = model(optimizer.clone(), 999);
    file.load_into(c.net_mut()).unwrap();
    c.optimizer_mut().set_steps(n as u64);
    let mut cur_c = Cursor {
        epoch_rng: t.user_rng.clone().unwrap(),
        epoch: 1,
        batch: 2,
    };
    train(&mut c, &mut cur_c, m);
    if optimizer.state_per_param() > 0 {
        assert!(
            fingerprint(&a).0 != fingerprint(&c).0,
            "{}: state must matter",
            optimizer.name()
        );
    }
    let mut d = model(optimizer.clone(), 999);
    file.restore(&mut d).unwrap();
    let mut cur_d = Cursor {
        epoch_rng: Rng::new(78),
        epoch: 1,
        batch: 2,
    };
    train(&mut d, &mut cur_d, m);
    assert!(
        fingerprint(&a).0 != fingerprint(&d).0,
        "the data order must matter"
    );
    let mut e = model(optimizer.clone(), 999);
    file.restore(&mut e).unwrap();
    e.net_mut().set_rng(Rng::new(1));
    let mut cur_e = Cursor {
        epoch_rng: t.user_rng.clone().unwrap(),
        epoch: 1,
        batch: 2,
    };
    train(&mut e, &mut cur_e, m);
    assert!(
        fingerprint(&a).0 != fingerprint(&e).0,
        "the dropout generator must matter"
    );
    let mut f = model(optimizer.clone(), 999);
    file.restore(&mut f).unwrap();
    f.net_mut().buffers_mut().fill(0.5);
    let mut cur_f = Cursor {
        epoch_rng: t.user_rng.clone().unwrap(),
        epoch: 1,
        batch: 2,
    };
    train(&mut f, &mut cur_f, m);
    assert!(
        fingerprint(&a).0 != fingerprint(&f).0
            || bits(a.net().buffers()) != bits(f.net().buffers())
    );
}

#[test]
fn resume_adam() {
    resume_is_bit_identical(Adam::new(0.01));
}

#[test]
fn resume_radam() {
    resume_is_bit_identical(RAdam::new(0.01));
}

#[test]
fn resume_sgd_and_momentum() {
    resume_is_bit_identical(Sgd::new(0.1));
    resume_is_bit_identical(Momentum::new(0.1));
}

#[test]
fn resume_adaptive_optimizers() {
    resume_is_bit_identical(Adagrad::new(0.05));
    resume_is_bit_identical(RMSProp::new(0.01));
    resume_is_bit_identical(Adadelta::new(1.0));
}

#[test]
fn resume_from_a_file_on_disk() {
    let dir = std::env::temp_dir().join(format!("nanonn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.nnf");
    let mut a = model(Adam::new(0.01), 3);
    let mut cur = Cursor {
        epoch_rng: Rng::new(5),
        epoch: 0,
        batch: 0,
    };
    train(&mut a, &mut cur, 10);
    let shuffler = cur.epoch_rng.clone();
    let c = Checkpoint::new(a.optimizer())
        .with_user_rng(&shuffler)
        .with_user_data([cur.epoch, cur.batch as u64, 0, 0]);
    format::save(&path, a.net(), Some(&c)).unwrap();
    train(&mut a, &mut cur, 6);

    let bytes = format::read(&path).unwrap();
    let mut b = model(Adam::new(0.01), 4);
    let t = ModelFile::parse(&bytes)
        .unwrap()
        .restore(&mut b)
        .unwrap()
        .clone();
    let mut cur_b = Cursor {
        epoch_rng: t.user_rng.unwrap(),
        epoch: t.user_data[0],
        batch: t.user_data[1] as usize,
    };
    train(&mut b, &mut cur_b, 6);
    assert!(fingerprint(&a) == fingerprint(&b));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_refuses_what_does_not_match_and_changes_nothing() {
    let mut a = model(Adam::new(0.01), 1);
    let mut cur = Cursor {
        epoch_rng: Rng::new(1),
        epoch: 0,
        batch: 0,
    };
    train(&mut a, &mut cur, 3);
    let bytes = checkpoint(&a, &cur);
    let file = ModelFile::parse(&bytes).unwrap();

    let mut other = model(RAdam::new(0.01), 2);
    let before = fingerprint(&other);
    let e = file.restore(&mut other).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the model file does not match: the checkpoint was written with another optimizer"
    );
    assert!(fingerprint(&other) == before);

    let wider: Vec<AnyLayer> = vec![
        Dense::new(FEATURES, 17).into(),
        Activation::ReLU.into(),
        Dense::new(17, CLASSES).into(),
    ];
    let mut wide = Model::owned(
        wider,
        Shape::vector(FEATURES),
        BATCH,
        SoftmaxCrossEntropy,
        Adam::new(0.01),
        1,
    )
    .unwrap();
    assert!(matches!(
        file.restore(&mut wide),
        Err(FileError::Mismatch { .. })
    ));

    let weights = format::to_vec(a.net(), None).unwrap();
    let mut b = model(Adam::new(0.01), 2);
    let e = ModelFile::parse(&weights)
        .unwrap()
        .restore(&mut b)
        .unwrap_err();
    assert!(matches!(e, FileError::NotACheckpoint));
    assert_eq!(
        e.to_string(),
        "the model file holds weights only, not a training checkpoint"
    );

    // A checkpoint needs the optimizer the network was planned for.
    let e = format::required_bytes(a.net(), Some(&Checkpoint::new(&Sgd::new(0.1)))).unwrap_err();
    assert!(
        e.to_string().contains("optimizer state is not the size"),
        "{e}"
    );
}
