//! Exhaustive robustness of the model-file reader: every truncation and every single-byte
//! corruption of a small saved checkpoint gives a clear `Err`, never a panic. And with the
//! checksum repaired after the corruption (what a crafted file can do), parsing and using
//! the result still never panics.

use nanonn::format::{self, Checkpoint, FileError, ModelFile};
use nanonn::prelude::*;

fn small_checkpoint() -> Vec<u8> {
    let layers: [AnyLayer; 4] = [
        Dense::new(3, 4).into(),
        Activation::ELU { alpha: 0.5 }.into(),
        Dense::new(4, 2).into(),
        Activation::Sigmoid.into(),
    ];
    let mut model = Model::owned(layers, Shape::vector(3), 2, Mse, Adam::new(0.01), 1).unwrap();
    let x = Tensor::matrix(&[0.1, 0.2, 0.3, -0.4, 0.5, -0.6], 2, 3).unwrap();
    let y = Tensor::matrix(&[0.0, 1.0, 1.0, 0.0], 2, 2).unwrap();
    model.train_step(x, Targets::Values(y)).unwrap();
    let user = Rng::new(5);
    let c = Checkpoint::new(model.optimizer()).with_user_rng(&user);
    format::to_vec(model.net(), Some(&c)).unwrap()
}

/// A small file with every image layer kind, and one with the recurrent kinds.
fn layer_files() -> [Vec<u8>; 2] {
    let image: [AnyLayer; 10] = [
        Conv2D::new(1, 2, (2, 2)).padding(Padding::Same).into(),
        BatchNorm::new(2).into(),
        MaxPool2D::new((2, 2)).into(),
        ConvTranspose2D::new(2, 1, (2, 2)).stride((2, 2)).into(),
        AvgPool2D::new((2, 2)).into(),
        Dropout::new(0.5).into(),
        Reshape::new(Shape::new(&[2, 2, 1])).into(),
        GlobalAvgPool2D.into(),
        Flatten.into(),
        Dense::new(1, 1).into(),
    ];
    let sequence: [AnyLayer; 2] = [
        Rnn::new(2, 2).return_sequences(true).into(),
        Lstm::new(2, 1).max_len(4).into(),
    ];
    let a = Net::owned(image, Shape::new(&[4, 4, 1]), 1, Purpose::Inference, 1).unwrap();
    let b = Net::owned(sequence, Shape::matrix(3, 2), 1, Purpose::Inference, 1).unwrap();
    [
        format::to_vec(&a, None).unwrap(),
        format::to_vec(&b, None).unwrap(),
    ]
}

/// What a reader of `bytes` may do after a successful parse, none of which may panic.
fn use_file(file: &ModelFile<'_>) {
    let _ = file.layers();
    if let Ok(n) = file.inference_floats(2) {
        let mut mem = vec![0.0f32; n];
        if let Ok(mut net) = file.inference_net(2, &mut mem[..]) {
            let x = vec![0.5f32; 2 * file.input_shape().numel()];
            if let Ok(shape) = file.input_shape().batched(2)
                && let Ok(t) = Tensor::new(&x, shape)
            {
                let _ = net.forward(t);
            }
        }
    }
    let layers: [AnyLayer; 4] = [
        Dense::new(3, 4).into(),
        Activation::ELU { alpha: 0.5 }.into(),
        Dense::new(4, 2).into(),
        Activation::Sigmoid.into(),
    ];
    let mut model = Model::owned(layers, Shape::vector(3), 2, Mse, Adam::new(0.01), 1).unwrap();
    let _ = file.restore(&mut model);
}

fn set_crc(bytes: &mut [u8]) {
    let crc = format::crc32(&bytes[format::CRC_START..]);
    bytes[format::CRC_OFFSET..format::CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn the_intact_files_are_read() {
    let bytes = small_checkpoint();
    let file = ModelFile::parse(&bytes).unwrap();
    assert_eq!(file.training().unwrap().user_rng, Some(Rng::new(5)));
    use_file(&file);
    for bytes in layer_files() {
        use_file(&ModelFile::parse(&bytes).unwrap());
    }
}

#[test]
fn every_truncation_is_a_clear_error() {
    let bytes = small_checkpoint();
    for len in 0..bytes.len() {
        let e = ModelFile::parse(&bytes[..len]).unwrap_err();
        let needed = if len < format::HEADER_LEN {
            format::HEADER_LEN
        } else {
            bytes.len()
        };
        assert!(
            matches!(e, FileError::Truncated { needed: n, got } if n as usize == needed && got == len),
            "length {len}: {e}"
        );
        assert!(e.to_string().starts_with("truncated model file"));
    }
    println!("{} truncations refused", bytes.len());
}

#[test]
fn every_single_byte_corruption_is_a_clear_error() {
    let bytes = small_checkpoint();
    let mut count = 0;
    for pos in 0..bytes.len() {
        for change in [0xFFu8, 0x01, 0x80, 0x10] {
            let mut bad = bytes.clone();
            bad[pos] ^= change;
            let e = ModelFile::parse(&bad).unwrap_err();
            let ok = match pos {
                0..8 => matches!(e, FileError::BadMagic),
                8..12 => matches!(e, FileError::UnsupportedVersion { .. }),
                12..16 => matches!(e, FileError::ChecksumMismatch { .. }),
                // The file length: too long reads as truncated, too short fails the CRC.
                16..24 => matches!(
                    e,
                    FileError::Truncated { .. }
                        | FileError::ChecksumMismatch { .. }
                        | FileError::Malformed { .. }
                ),
                _ => matches!(e, FileError::ChecksumMismatch { .. }),
            };
            assert!(ok, "byte {pos} ^ {change:#x}: unexpected {e:?}");
            assert!(!e.to_string().is_empty());
            count += 1;
        }
        // Setting a byte to zero or to 0xFF (erased flash) is caught too, when it changes it.
        for value in [0x00u8, 0xFF] {
            if bytes[pos] != value {
                let mut bad = bytes.clone();
                bad[pos] = value;
                assert!(ModelFile::parse(&bad).is_err(), "byte {pos} = {value:#x}");
                count += 1;
            }
        }
    }
    println!("{count} corruptions of a {}-byte file refused", bytes.len());
}

/// With the CRC repaired, a corrupted file is what a fuzzer or an attacker can craft: the
/// structure checks must then refuse it, or it must be a valid file, never a panic.
#[test]
fn crafted_files_with_a_valid_checksum_never_panic() {
    let [image, sequence] = layer_files();
    for bytes in [small_checkpoint(), image, sequence] {
        let (mut accepted, mut refused) = (0, 0);
        for pos in format::CRC_START..bytes.len() {
            for change in [0xFFu8, 0x01, 0x80, 0x7F, 0x40, 0x04] {
                let mut bad = bytes.clone();
                bad[pos] ^= change;
                set_crc(&mut bad);
                match ModelFile::parse(&bad) {
                    Ok(file) => {
                        use_file(&file);
                        accepted += 1;
                    }
                    Err(e) => {
                        // (A changed file length moves the checksummed range.)
                        let crc = matches!(e, FileError::ChecksumMismatch { .. });
                        assert!(!crc || (16..24).contains(&pos), "byte {pos}");
                        assert!(!e.to_string().is_empty());
                        refused += 1;
                    }
                }
            }
        }
        println!(
            "crafted {}-byte files: {accepted} still valid (other weights and such), {refused} refused",
            bytes.len()
        );
        assert!(refused > 0 && accepted > 0);
    }
}
