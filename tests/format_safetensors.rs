//! safetensors interchange with PyTorch: names, layouts and predictions against numpy
//! (`tests/python/safetensors_interop.py`), plus strict import errors and robustness.

use std::path::{Path, PathBuf};
use std::process::Command;

use nanonn::format::safetensors::{self, NamedTensor};
use nanonn::prelude::*;

/// The networks of the Python script, layer for layer: (name, input shape, layers).
fn models() -> Vec<(&'static str, Shape, Vec<AnyLayer<'static>>)> {
    let mlp = vec![
        Dense::new(5, 8).into(),
        Activation::Tanh.into(),
        Dense::new(8, 7).into(),
        Activation::ReLU.into(),
        Dense::new(7, 6).into(),
        Activation::LeakyReLU { slope: 0.1 }.into(),
        Dense::new(6, 6).into(),
        Activation::Sigmoid.into(),
        Dense::new(6, 6).into(),
        Activation::Softplus.into(),
        Dense::new(6, 6).into(),
        Activation::ELU { alpha: 0.7 }.into(),
        Dense::new(6, 6).into(),
        Activation::GELU.into(),
        Dense::new(6, 3).into(),
    ];
    let cnn = vec![
        Conv2D::new(2, 3, (3, 3))
            .padding(Padding::symmetric(1, 1))
            .into(),
        BatchNorm::new(3).into(),
        Activation::ReLU.into(),
        MaxPool2D::new((2, 2)).into(),
        ConvTranspose2D::new(3, 2, (2, 2)).stride((2, 2)).into(),
        Conv2D::new(2, 4, (2, 2)).stride((2, 2)).bias(false).into(),
        Flatten.into(),
        Dense::new(36, 5).into(),
        Activation::Tanh.into(),
        Dense::new(5, 3).into(),
    ];
    let rnn = vec![
        Rnn::new(3, 4).return_sequences(true).into(),
        Lstm::new(4, 3).into(),
        Dense::new(3, 2).into(),
    ];
    vec![
        ("mlp", Shape::vector(5), mlp),
        ("cnn", Shape::new(&[6, 6, 2]), cnn),
        ("rnn", Shape::matrix(5, 3), rnn),
    ]
}

fn layers() -> Vec<AnyLayer<'static>> {
    models().swap_remove(0).2
}

fn net(seed: u64) -> Net<'static, Vec<f32>> {
    Net::owned(layers(), Shape::vector(5), 8, Purpose::Inference, seed).unwrap()
}

/// Model `which` as an inference network, with random batch-norm statistics.
fn model(which: usize, seed: u64) -> Net<'static, Vec<f32>> {
    let (_, input, layers) = models().swap_remove(which);
    let mut n = Net::owned(layers, input, 8, Purpose::Inference, seed).unwrap();
    let mut rng = Rng::new(seed);
    for b in n.buffers_mut() {
        *b += 0.5 * rng.uniform();
    }
    n
}

fn tensor<'t>(ts: &'t [NamedTensor], name: &str) -> &'t NamedTensor {
    ts.iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

fn predict(net: &mut Net<'static, Vec<f32>>, x: &NamedTensor) -> Vec<f32> {
    let shape = Shape::try_new(&x.shape).unwrap();
    net.forward(Tensor::new(&x.data, shape).unwrap())
        .unwrap()
        .data()
        .to_vec()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: nanonn {g}, numpy {w}"
        );
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// python3 with numpy and safetensors, or `None` (the test is then skipped with a notice).
fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "SKIPPED: python3 with numpy and safetensors not found (pip install numpy safetensors)"
        );
    }
    ok.then_some("python3")
}

fn script(python: &str, mode: &str, dir: &Path) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/safetensors_interop.py"
    );
    let out = Command::new(python)
        .args([script, mode, dir.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{mode} failed:\n{text}");
    println!("python {mode}: {}", text.trim());
}

fn read(path: PathBuf) -> Vec<NamedTensor> {
    safetensors::read_tensors(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn pytorch_weights_made_by_python_predict_like_numpy_and_back() {
    let Some(py) = python() else { return };
    let dir = scratch_dir("safetensors-interop");
    script(py, "make", &dir);
    for (which, (name, _, _)) in models().into_iter().enumerate() {
        let data = read(dir.join(format!("torch_{name}_expected.safetensors")));
        let x = tensor(&data, "x");
        let mut n = model(which, 1);
        safetensors::load(dir.join(format!("torch_{name}.safetensors")), &mut n).unwrap();
        assert_close(&predict(&mut n, x), &tensor(&data, "y").data, 1e-5);
        // float16 weights are converted exactly.
        let mut h = model(which, 2);
        safetensors::load(dir.join(format!("torch_{name}_f16.safetensors")), &mut h).unwrap();
        assert_close(&predict(&mut h, x), &tensor(&data, "y_f16").data, 1e-5);

        // nanonn → PyTorch: numpy checks names, shapes and our predictions.
        let mut ours = model(which, 3);
        safetensors::save(dir.join(format!("nanonn_{name}.safetensors")), &ours).unwrap();
        let y = predict(&mut ours, x);
        let expected = [
            NamedTensor {
                name: "x".into(),
                shape: x.shape.clone(),
                data: x.data.clone(),
            },
            NamedTensor {
                name: "y".into(),
                shape: vec![x.shape[0], y.len() / x.shape[0]],
                data: y,
            },
        ];
        let bytes = safetensors::write_tensors(&expected, &[]).unwrap();
        std::fs::write(
            dir.join(format!("nanonn_{name}_expected.safetensors")),
            bytes,
        )
        .unwrap();
    }
    script(py, "check", &dir);

    // The Dense layout by hand: nanonn's W[i][o] is PyTorch's weight[o][i].
    let mut n = net(1);
    safetensors::load(dir.join("torch_mlp.safetensors"), &mut n).unwrap();
    let torch = read(dir.join("torch_mlp.safetensors"));
    let (w, b) = (tensor(&torch, "2.weight"), tensor(&torch, "2.bias"));
    assert_eq!(w.shape, [7, 8]);
    let (_, p, _) = n.layer_params(2).unwrap();
    for i in 0..8 {
        for o in 0..7 {
            assert_eq!(p[i * 7 + o].to_bits(), w.data[o * 8 + i].to_bits());
        }
    }
    assert_eq!(&p[56..], &b.data[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_mapped_layer_exports_and_imports_bit_identically() {
    for (which, (name, _, _)) in models().into_iter().enumerate() {
        let a = model(which, 10);
        let bytes = safetensors::export(&a).unwrap();
        let mut b = model(which, 11);
        assert_ne!(a.params(), b.params());
        safetensors::import(&bytes, &mut b).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a.params()), bits(b.params()), "{name}");
        assert_eq!(bits(a.buffers()), bits(b.buffers()), "{name}");
    }
}

#[test]
fn export_then_import_is_bit_identical() {
    let a = net(4);
    let bytes = safetensors::export(&a).unwrap();
    let names: Vec<String> = safetensors::read_tensors(&bytes)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    let want = [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias",
    ];
    assert_eq!(names[..8], want);
    assert_eq!(names.len(), 16);
    // The header is 8-byte aligned, as the reference implementation writes it.
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(header % 8, 0);
    let mut b = net(5);
    assert_ne!(a.params(), b.params());
    safetensors::import(&bytes, &mut b).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(a.params()), bits(b.params()));
}

#[test]
fn strict_import_names_what_is_wrong_and_changes_nothing() {
    let a = net(6);
    let mut tensors = safetensors::state_dict(&a).unwrap();
    let mut b = net(7);
    let before = b.params().to_vec();
    let err = |ts: &[NamedTensor], b: &mut Net<'static, Vec<f32>>| {
        let bytes = safetensors::write_tensors(ts, &[]).unwrap();
        safetensors::import(&bytes, b).unwrap_err().to_string()
    };
    let missing = tensors.pop().unwrap();
    assert_eq!(
        err(&tensors, &mut b),
        "safetensors: missing tensor \"14.bias\""
    );
    tensors.push(NamedTensor {
        name: "15.weight".into(),
        shape: vec![1],
        data: vec![0.0],
    });
    assert_eq!(
        err(&tensors, &mut b),
        "safetensors: unexpected tensor \"15.weight\" (no such parameter in the network)"
    );
    tensors.pop();
    tensors.push(NamedTensor {
        name: missing.name.clone(),
        shape: vec![1, 3],
        data: missing.data.clone(),
    });
    assert_eq!(
        err(&tensors, &mut b),
        "safetensors: tensor \"14.bias\" has shape [1, 3], the network needs [3]"
    );
    tensors.pop();
    tensors.push(NamedTensor {
        name: missing.name,
        shape: vec![3],
        data: vec![0.0, f32::NAN, 0.0],
    });
    assert!(err(&tensors, &mut b).contains("NaN"));
    assert_eq!(b.params(), &before[..]);
}

#[test]
fn damaged_safetensors_files_are_errors_not_panics() {
    let bytes = safetensors::export(&net(8)).unwrap();
    for len in 0..bytes.len() {
        let mut b = net(9);
        assert!(
            safetensors::import(&bytes[..len], &mut b).is_err(),
            "length {len}"
        );
    }
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for pos in 0..header {
        for change in [0xFFu8, 0x01, 0x20] {
            let mut bad = bytes.clone();
            bad[pos] ^= change;
            let mut b = net(9);
            let _ = safetensors::import(&bad, &mut b); // may be valid; must not panic
        }
    }
}
