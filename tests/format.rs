//! Model files: save → load → predict is bit-identical for every layer kind, in place and
//! copied; the bytes follow the spec in docs/model-format.md; errors are clear.

use nanonn::format::{self, FileError, ModelFile};
use nanonn::init::Init;
use nanonn::layers::{BackwardCtx, ForwardCtx, Layer};
use nanonn::prelude::*;

/// A buffer whose start is 64-byte aligned, so slices of it sit where we want.
#[repr(C, align(64))]
struct Aligned([u8; 65536]);

/// Dense layers and every activation, with non-default initializers.
fn every_kind() -> Vec<AnyLayer<'static>> {
    vec![
        Dense::new(5, 6)
            .with_init(Init::HeNormal { gain: 1.5 }, Init::Constant(0.1))
            .into(),
        Activation::ReLU.into(),
        Dense::new(6, 6)
            .with_init(
                Init::Uniform {
                    low: -0.5,
                    high: 0.7,
                },
                Init::Normal {
                    mean: 0.1,
                    std: 0.2,
                },
            )
            .into(),
        Activation::LeakyReLU { slope: 0.1 }.into(),
        Dense::new(6, 6)
            .with_init(
                Init::TruncatedNormal {
                    mean: 0.0,
                    std: 0.3,
                },
                Init::Ones,
            )
            .into(),
        Activation::Sigmoid.into(),
        Dense::new(6, 6)
            .with_init(Init::XavierNormal { gain: 2.0 }, Init::Zeros)
            .into(),
        Activation::Tanh.into(),
        Dense::new(6, 6)
            .with_init(Init::HeUniform { gain: 1.0 }, Init::Zeros)
            .into(),
        Activation::Softplus.into(),
        Dense::new(6, 6).into(),
        Activation::ELU { alpha: 0.7 }.into(),
        Dense::new(6, 6).into(),
        Activation::GELU.into(),
        Dense::new(6, 3).into(),
    ]
}

/// The image layers, with non-default hyper-parameters: input `[36]`.
fn image_layers() -> Vec<AnyLayer<'static>> {
    vec![
        Reshape::new(Shape::new(&[6, 6, 1])).into(),
        Conv2D::new(1, 3, (3, 2))
            .padding(Padding::Explicit {
                top: 1,
                bottom: 0,
                left: 2,
                right: 1,
            })
            .dilation((1, 2))
            .im2col_rows(3)
            .with_init(Init::HeUniform { gain: 1.2 }, Init::Constant(0.05))
            .into(),
        BatchNorm::new(3).momentum(0.8).eps(1e-3).into(),
        Activation::ReLU.into(),
        MaxPool2D::new((2, 2)).stride((1, 1)).into(),
        ConvTranspose2D::new(3, 2, (3, 3))
            .stride((2, 2))
            .padding(Padding::symmetric(1, 1))
            .output_padding((1, 1))
            .into(),
        AvgPool2D::new((3, 3)).padding(Padding::Same).into(),
        Dropout::new(0.7).into(),
        Conv2D::new(2, 4, (2, 2))
            .padding(Padding::Same)
            .bias(false)
            .into(),
        Flatten.into(),
        Reshape::new(Shape::new(&[4, 3, 4])).into(),
        GlobalAvgPool2D.into(),
        BatchNorm::new(4).into(),
        Dense::new(4, 3).into(),
    ]
}

/// The recurrent layers: input `[6, 3]` (6 steps of 3 features).
fn sequence_layers() -> Vec<AnyLayer<'static>> {
    vec![
        Rnn::new(3, 5)
            .return_sequences(true)
            .max_len(9)
            .with_init(Init::XavierNormal { gain: 0.9 })
            .into(),
        Lstm::new(5, 4).with_forget_bias(0.25).into(),
        Activation::GELU.into(),
        Dense::new(4, 2).into(),
    ]
}

/// A network of the tests: its input shape and its layers.
type Network = (Shape, fn() -> Vec<AnyLayer<'static>>);

/// Every network of the tests.
fn networks() -> [Network; 3] {
    [
        (Shape::vector(5), every_kind),
        (Shape::vector(36), image_layers),
        (Shape::matrix(6, 3), sequence_layers),
    ]
}

fn input(batch: usize, shape: Shape) -> Vec<f32> {
    (0..batch * shape.numel())
        .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.13)
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn saved_net(seed: u64) -> (Net<'static, Vec<f32>>, Vec<u8>) {
    let net = Net::owned(every_kind(), Shape::vector(5), 4, Purpose::Inference, seed).unwrap();
    let bytes = format::to_vec(&net, None).unwrap();
    (net, bytes)
}

#[test]
fn save_load_predict_is_bit_identical_for_every_layer_kind() {
    for (shape, layers) in networks() {
        let mut net = Net::owned(layers(), shape, 4, Purpose::Inference, 3).unwrap();
        // Non-trivial batch-norm statistics, so that buffers must be saved too.
        let mut rng = Rng::new(9);
        for b in net.buffers_mut() {
            *b += 0.5 * rng.uniform();
        }
        let bytes = format::to_vec(&net, None).unwrap();
        println!(
            "{:?}: {} bytes for {} parameters",
            shape,
            bytes.len(),
            net.params().len()
        );
        let x = input(4, shape);
        let xt = Tensor::new(&x, shape.batched(4).unwrap()).unwrap();
        let expected = bits(net.forward(xt).unwrap().data());

        let mut buf = Box::new(Aligned([0; 65536]));
        for shift in [0usize, 1, 2, 4] {
            buf.0[shift..shift + bytes.len()].copy_from_slice(&bytes);
            let file = ModelFile::parse(&buf.0[shift..shift + bytes.len()]).unwrap();
            // In place exactly when the file sits at a 4-byte aligned address (little-endian).
            assert_eq!(
                file.params_in_place().is_some(),
                shift % 4 == 0 && cfg!(target_endian = "little"),
                "shift {shift}"
            );
            // The file alone rebuilds the same layers, hyper-parameters included.
            assert_eq!(
                format!("{:?}", file.layers().unwrap()),
                format!("{:?}", layers())
            );
            let mut memory = vec![0.0f32; file.inference_floats(4).unwrap()];
            let mut loaded = file.inference_net(4, &mut memory[..]).unwrap();
            assert_eq!(loaded.params_borrowed(), shift % 4 == 0);
            assert_eq!(bits(loaded.params()), bits(net.params()));
            assert_eq!(bits(loaded.buffers()), bits(net.buffers()));
            assert_eq!(
                bits(loaded.forward(xt).unwrap().data()),
                expected,
                "{shape:?} shift {shift}"
            );
        }
    }
    for (a, b) in ModelFile::parse(&saved_net(3).1)
        .unwrap()
        .layers()
        .unwrap()
        .iter()
        .zip(every_kind())
    {
        match (a, &b) {
            (AnyLayer::Dense(a), AnyLayer::Dense(b)) => assert_eq!(a, b),
            (AnyLayer::Activation(a), AnyLayer::Activation(b)) => assert_eq!(a, b),
            _ => panic!("layer kinds differ: {a:?} {b:?}"),
        }
    }
    let (mut net, bytes) = saved_net(3);
    let x = input(4, Shape::vector(5));
    let xt = Tensor::matrix(&x, 4, 5).unwrap();
    let expected = bits(net.forward(xt).unwrap().data());

    // Copied into a training network, e.g. to fine-tune.
    let file = ModelFile::parse(&bytes).unwrap();
    let purpose = Purpose::Training {
        optimizer_state_per_param: 2,
    };
    let mut copy = file.owned_net(4, purpose).unwrap();
    assert!(!copy.params_borrowed());
    copy.set_mode(Mode::Eval).unwrap();
    assert_eq!(bits(copy.forward(xt).unwrap().data()), expected);
}

#[test]
fn in_place_network_needs_no_memory_for_its_weights() {
    let (_, bytes) = saved_net(4);
    let mut buf = Box::new(Aligned([0; 65536]));
    buf.0[..bytes.len()].copy_from_slice(&bytes);
    let file = ModelFile::parse(&buf.0[..bytes.len()]).unwrap();
    let layers = file.layers().unwrap();
    let copied = Plan::inference(&layers, Shape::vector(5), 4)
        .unwrap()
        .floats();
    assert_eq!(
        file.inference_floats(4).unwrap(),
        copied - file.param_count()
    );
    // The borrowed parameters are the file's own bytes.
    let p = file.params_in_place().unwrap();
    let start = p.as_ptr() as usize - buf.0.as_ptr() as usize;
    assert_eq!(start % format::ALIGN, 0);
    assert_eq!(&buf.0[start..start + 4], &p[0].to_le_bytes());
    let mut net = file
        .inference_net(4, vec![0.0; file.inference_floats(4).unwrap()])
        .unwrap();
    assert!(net.params_mut().is_empty());
    assert!(net.set_mode(Mode::Train).is_err());
    // A network with borrowed parameters cannot be loaded into.
    assert!(matches!(
        file.load_into(&mut net),
        Err(FileError::Mismatch { .. })
    ));
}

/// Reads the file as the spec says, without the reader: header, table, tensors.
#[test]
fn bytes_follow_the_spec() {
    let (net, bytes) = saved_net(5);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[..8], b"\x89NNF\r\n\x1a\n");
    assert_eq!(u32_at(8), 1, "version");
    assert_eq!(u64_at(16), bytes.len(), "file length");
    assert_eq!(u32_at(28), 0, "flags");
    assert_eq!(u32_at(24), 3, "sections: net, params, buffers");
    let entry = |i: usize| {
        let e = 32 + 24 * i;
        (u32_at(e), u32_at(e + 4), u64_at(e + 8), u64_at(e + 16))
    };
    let (kind, flags, net_at, _) = entry(0);
    assert_eq!((kind, flags), (1, 0));
    assert_eq!(u32_at(net_at), 1, "input rank");
    assert_eq!(u32_at(net_at + 4), 5, "input width");
    assert_eq!(u32_at(net_at + 20), 15, "layers");
    assert_eq!(u64_at(net_at + 24), net.params().len());
    // First record: Dense(5, 6), output [6], 36 parameters, payload inputs, outputs, inits.
    let rec = net_at + 40;
    assert_eq!(
        (u32_at(rec), u32_at(rec + 4)),
        (1, 32),
        "Dense kind and payload length"
    );
    assert_eq!((u32_at(rec + 8), u32_at(rec + 12)), (1, 6), "output shape");
    assert_eq!(u64_at(rec + 32), 5 * 6 + 6);
    assert_eq!((u32_at(rec + 48), u32_at(rec + 52)), (5, 6));
    assert_eq!(u32_at(rec + 56), 9, "HeNormal init code");
    assert_eq!(
        f32::from_le_bytes(bytes[rec + 60..rec + 64].try_into().unwrap()),
        1.5
    );
    // Second record: activation ReLU (code 0).
    let rec2 = rec + 48 + 32;
    assert_eq!(
        (u32_at(rec2), u32_at(rec2 + 4), u32_at(rec2 + 48)),
        (2, 8, 0)
    );
    let (kind, _, params_at, params_len) = entry(1);
    assert_eq!(kind, 2);
    assert_eq!(params_at % 64, 0);
    assert_eq!(params_len, 4 * net.params().len());
    let stored: Vec<f32> = bytes[params_at..params_at + params_len]
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(bits(&stored), bits(net.params()));
    // The CRC is zlib's CRC-32 of everything after byte 16, computed here bit by bit.
    let mut c = !0u32;
    for &b in &bytes[16..] {
        c ^= b as u32;
        for _ in 0..8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
        }
    }
    assert_eq!(u32_at(12), !c);
}

/// Walks the layer records of a file as the spec says; returns (kind, payload length).
fn records(bytes: &[u8]) -> Vec<(u32, usize)> {
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let net_at = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let mut at = net_at + 40;
    (0..u32_at(net_at + 20))
        .map(|_| {
            let (kind, len) = (u32_at(at), u32_at(at + 4) as usize);
            at += 48 + len;
            (kind, len)
        })
        .collect()
}

#[test]
fn layer_kinds_and_payload_sizes_follow_the_spec() {
    // docs/model-format.md, "Layer kinds and payloads".
    let spec = [
        (1, 32),
        (2, 8),
        (3, 88),
        (4, 96),
        (5, 36),
        (6, 36),
        (7, 0),
        (8, 0),
        (9, 20),
        (10, 12),
        (11, 4),
        (12, 28),
        (13, 32),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (shape, layers) in networks() {
        let net = Net::owned(layers(), shape, 1, Purpose::Inference, 0).unwrap();
        for (kind, len) in records(&format::to_vec(&net, None).unwrap()) {
            assert!(
                spec.contains(&(kind, len)),
                "kind {kind} with a {len}-byte payload"
            );
            seen.insert(kind);
        }
    }
    assert_eq!(seen.len(), spec.len(), "every kind is exercised");
}

#[test]
fn write_needs_exactly_required_bytes_and_reader_ignores_what_follows() {
    let (net, bytes) = saved_net(6);
    let need = format::required_bytes(&net, None).unwrap();
    assert_eq!(need, bytes.len());
    let mut small = vec![0u8; need - 1];
    let e = format::write(&net, None, &mut small).unwrap_err();
    assert!(
        matches!(e, FileError::BufferTooSmall { needed, got } if needed == need && got == need - 1)
    );
    // A flash partition is larger than the file: the rest is ignored.
    let mut big = vec![0xFFu8; need + 100];
    assert_eq!(format::write(&net, None, &mut big).unwrap(), need);
    assert_eq!(&big[..need], &bytes[..]);
    let file = ModelFile::parse(&big).unwrap();
    assert_eq!(file.bytes().len(), need);
    assert_eq!(file.param_count(), net.params().len());
}

#[test]
fn a_future_version_is_refused_clearly() {
    let (_, mut bytes) = saved_net(7);
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = ModelFile::parse(&bytes).unwrap_err();
    assert!(matches!(
        e,
        FileError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    ));
    assert_eq!(
        e.to_string(),
        "unsupported model file version 2 (this nanonn reads versions up to 1)"
    );
    // Even when the rest of a future file is unreadable or short.
    assert!(matches!(
        ModelFile::parse(&bytes[..12]),
        Err(FileError::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn clear_errors_for_foreign_and_damaged_files() {
    let e = ModelFile::parse(b"PK\x03\x04 a zip file").unwrap_err();
    assert_eq!(e.to_string(), "not a nanonn model file (bad magic bytes)");
    let (_, bytes) = saved_net(8);
    let e = ModelFile::parse(&bytes[..100]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "truncated model file: 100 bytes, but it should have {}",
            bytes.len()
        )
    );
    let mut bad = bytes.clone();
    *bad.last_mut().unwrap() ^= 1;
    let e = ModelFile::parse(&bad).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("model file is corrupted: CRC-32 is 0x"),
        "{e}"
    );
    assert!(matches!(
        ModelFile::parse(&bytes)
            .unwrap()
            .copy_optimizer_state(&mut []),
        Err(FileError::NotACheckpoint)
    ));
}

struct Doubler;

impl Layer for Doubler {
    fn name(&self) -> &'static str {
        "Doubler"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape> {
        Ok(input)
    }
    fn forward(&mut self, x: Tensor<'_>, mut y: TensorMut<'_>, _: ForwardCtx<'_>) -> Result<()> {
        for (o, i) in y.data_mut().iter_mut().zip(x.data()) {
            *o = 2.0 * i;
        }
        Ok(())
    }
    fn backward(
        &mut self,
        _: Tensor<'_>,
        _: Tensor<'_>,
        _: Tensor<'_>,
        _: Option<TensorMut<'_>>,
        _: BackwardCtx<'_>,
    ) -> Result<()> {
        Ok(())
    }
}

#[test]
fn custom_layers_cannot_be_saved() {
    let mut d = Doubler;
    let layers: Vec<AnyLayer> = vec![Dense::new(2, 2).into(), (&mut d).into()];
    let net = Net::owned(layers, Shape::vector(2), 1, Purpose::Inference, 0).unwrap();
    let e = format::required_bytes(&net, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "layer 1 (Doubler) cannot be saved: custom layers have no file encoding"
    );
}

#[test]
fn loading_into_another_architecture_is_refused_and_changes_nothing() {
    let (_, bytes) = saved_net(9);
    let file = ModelFile::parse(&bytes).unwrap();
    let mut other: Vec<AnyLayer> = every_kind();
    other[3] = Activation::ReLU.into(); // LeakyReLU → ReLU
    let mut net = Net::owned(other, Shape::vector(5), 4, Purpose::Inference, 1).unwrap();
    let before = bits(net.params());
    let e = file.load_into(&mut net).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the model file does not match at layer 3: the layer kinds differ"
    );
    assert_eq!(bits(net.params()), before);
    let mut same = Net::owned(every_kind(), Shape::vector(5), 2, Purpose::Inference, 1).unwrap();
    file.load_into(&mut same).unwrap();
    let mut stored = vec![0.0; file.param_count()];
    file.copy_params(&mut stored).unwrap();
    assert_eq!(bits(same.params()), bits(&stored));
    assert_ne!(bits(same.params()), before);
}

#[test]
fn with_params_checks_its_slice() {
    let layers: [AnyLayer; 1] = [Dense::new(2, 1).into()];
    let e = Net::with_params(layers, Shape::vector(2), 1, &[1.0, 2.0], vec![0.0; 64])
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "parameters has 2 elements, expected 3");
    let layers: [AnyLayer; 1] = [Dense::new(2, 1).into()];
    let e = Net::with_params(
        layers,
        Shape::vector(2),
        1,
        &[1.0, f32::NAN, 0.0],
        vec![0.0; 64],
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("NaN"), "{e}");
    // y = 1·x0 + 2·x1 + 0.5, computed by hand.
    let layers: [AnyLayer; 1] = [Dense::new(2, 1).into()];
    let params = [1.0, 2.0, 0.5];
    let mut net = Net::with_params(layers, Shape::vector(2), 1, &params, vec![0.0; 64]).unwrap();
    let y = net
        .forward(Tensor::matrix(&[3.0, -1.0], 1, 2).unwrap())
        .unwrap();
    assert_eq!(y.data(), &[1.5]);
}
