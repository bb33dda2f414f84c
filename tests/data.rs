//! Loading data files: IDX (raw and gzipped), MNIST, and how damaged files are reported.
#![cfg(feature = "std")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use nanonn::data::{DataErrorKind, Mnist, parse_idx, read_idx};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "nanonn-test-data-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `bytes` to `name` in this directory and returns its path.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX file of unsigned bytes, built by hand from the format's definition.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0x00, 0x08, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Asserts that loading `path` fails with a message naming the file and containing `needle`.
fn assert_fails(path: &Path, needle: &str) -> String {
    let err = read_idx(path).expect_err("a damaged file must not load");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: ", path.display())),
        "message should start with the path: {msg}"
    );
    assert!(
        msg.contains(needle),
        "message should contain {needle:?}: {msg}"
    );
    msg
}

#[test]
fn valid_idx_loads_raw_and_gzipped() {
    let dir = TempDir::new("valid");
    let data: Vec<u8> = (0..24).collect();
    let bytes = idx(&[2, 3, 4], &data);
    for (name, contents) in [
        ("a-idx3-ubyte", bytes.clone()),
        ("a-idx3-ubyte.gz", gzip(&bytes)),
        // gzip is recognised by its magic bytes, not by the name, and vice versa.
        ("gzipped-without-suffix", gzip(&bytes)),
        ("raw-with-suffix.gz", bytes.clone()),
    ] {
        let path = dir.write(name, &contents);
        let a = read_idx(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.dims, vec![2, 3, 4], "{name}");
        assert_eq!(a.data, data, "{name}");
    }
    // the in-memory parser agrees with the file reader
    assert_eq!(parse_idx(&gzip(&bytes)).unwrap().data, data);
}

#[test]
fn truncated_files_are_reported_at_every_length() {
    let dir = TempDir::new("truncated");
    // header: 4 magic + 3 dims * 4 = 16 bytes, then 3*2*2 = 12 data bytes.
    let full = idx(&[3, 2, 2], &[9; 12]);
    assert_eq!(full.len(), 28);
    for cut in 0..full.len() {
        let part = &full[..cut];
        let raw = dir.write(&format!("cut-{cut}"), part);
        let gz = dir.write(&format!("cut-{cut}.gz"), &gzip(part));
        let msg = assert_fails(&raw, "truncated");
        assert_eq!(
            assert_fails(&gz, "truncated"),
            msg.replace(&format!("cut-{cut}:"), &format!("cut-{cut}.gz:"))
        );
    }
    // header cut inside the magic, inside the dims, and data cut: exact messages.
    let p = dir.write("m", &full[..3]);
    assert_fails(&p, "truncated: the IDX header needs 4 bytes, found 3");
    let p = dir.write("d", &full[..10]);
    assert_fails(&p, "truncated: the IDX header needs 16 bytes, found 10");
    let p = dir.write("x", &full[..21]);
    assert_fails(
        &p,
        "truncated: header says 3x2x2 = 12 bytes of data, found 5",
    );
}

#[test]
fn trailing_bytes_are_an_error() {
    let dir = TempDir::new("trailing");
    let mut bytes = idx(&[2, 2], &[1, 2, 3, 4]);
    bytes.extend_from_slice(&[0, 0]);
    assert_fails(&dir.write("t", &bytes), "found 6 (2 too many)");
    assert_fails(&dir.write("t.gz", &gzip(&bytes)), "trailing bytes");
}

#[test]
fn foreign_files_name_their_magic() {
    let dir = TempDir::new("foreign");
    let png = [
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
    ];
    assert_fails(
        &dir.write("image.png", &png),
        "not an IDX file: magic bytes 89 50 4e 47, expected 00 00 08 0N",
    );
    let zip = [b'P', b'K', 0x03, 0x04, 0x14, 0, 0, 0];
    assert_fails(&dir.write("archive.gz", &zip), "magic bytes 50 4b 03 04");
    // A foreign file shorter than a magic is still called foreign, not truncated.
    assert_fails(&dir.write("short", b"P"), "not an IDX file");
    // A gzipped foreign file: the magic is checked after decompressing.
    assert_fails(&dir.write("png.gz", &gzip(&png)), "magic bytes 89 50 4e 47");
    // IDX of another element type (0x0D = f32).
    let f32_idx = [0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f];
    assert_fails(
        &dir.write("floats", &f32_idx),
        "0x0d (f32), expected 0x08 (u8)",
    );
}

#[test]
fn corrupted_gzip_is_reported() {
    let dir = TempDir::new("gzip");
    let data: Vec<u8> = (0..=255).cycle().take(3000).collect();
    let good = gzip(&idx(&[3000], &data));
    // The gzip magic followed by garbage.
    let mut garbage = vec![0x1f, 0x8b];
    garbage.extend_from_slice(b"this is not deflate data at all");
    assert_fails(&dir.write("garbage", &garbage), "not a valid gzip stream");
    // A damaged byte in the compressed body: a deflate error or a CRC mismatch.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    assert!(read_idx(dir.write("flipped.gz", &flipped)).is_err());
    // A damaged CRC trailer (the 8 last bytes are CRC32 and size).
    let mut bad_crc = good.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 0x01;
    assert_fails(&dir.write("crc.gz", &bad_crc), "not a valid gzip stream");
    // The compressed file cut short.
    for cut in [good.len() / 2, good.len() - 4] {
        let p = dir.write(&format!("cut{cut}.gz"), &good[..cut]);
        let msg = read_idx(&p).unwrap_err().to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    }
}

#[test]
fn missing_file_is_named() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("no-such-file-idx1-ubyte");
    let err = read_idx(&path).unwrap_err();
    assert!(matches!(err.kind, DataErrorKind::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!("{}: file not found", path.display())
    );
    // A directory is not a file: an I/O error, still naming the path.
    assert_fails(&dir.0, "cannot read");
}

/// Writes an MNIST-like directory: `n_train` and `n_test` images whose pixels are all
/// `pixel`, labels `i % 10`.
fn write_mnist(dir: &TempDir, n_train: u32, n_test: u32, gz: bool, pixel: u8) {
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let images = idx(&[n, 28, 28], &vec![pixel; n as usize * 784]);
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let labels = idx(&[n], &labels);
        let (images, labels, ext) = if gz {
            (gzip(&images), gzip(&labels), ".gz")
        } else {
            (images, labels, "")
        };
        dir.write(&format!("{prefix}-images-idx3-ubyte{ext}"), &images);
        dir.write(&format!("{prefix}-labels-idx1-ubyte{ext}"), &labels);
    }
}

#[test]
fn mnist_loads_a_small_directory_and_prefers_raw_files() {
    let dir = TempDir::new("mnist-small");
    write_mnist(&dir, 12, 3, true, 51);
    let m = Mnist::load(&dir.0).unwrap();
    assert_eq!((m.train_len(), m.test_len()), (12, 3));
    assert_eq!(m.train_images.len(), 12 * Mnist::IMAGE_LEN);
    assert_eq!(m.test_images.len(), 3 * 784);
    assert!(m.train_images.iter().all(|&p| p == 0.2), "51 / 255 = 0.2");
    assert_eq!(m.train_labels, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    assert_eq!(m.test_labels, vec![0, 1, 2]);
    // Raw files beside the .gz ones win.
    write_mnist(&dir, 4, 2, false, 255);
    let m = Mnist::load(&dir.0).unwrap();
    assert_eq!((m.train_len(), m.test_len()), (4, 2));
    assert!(m.test_images.iter().all(|&p| p == 1.0));
}

#[test]
fn mnist_rejects_inconsistent_directories() {
    let load_err = |dir: &TempDir| Mnist::load(&dir.0).unwrap_err().to_string();

    // Counts disagree: the labels file is named.
    let dir = TempDir::new("mnist-count");
    write_mnist(&dir, 5, 2, false, 0);
    dir.write("train-labels-idx1-ubyte", &idx(&[4], &[0, 1, 2, 3]));
    let msg = load_err(&dir);
    assert!(
        msg.contains("train-labels-idx1-ubyte: 4 labels, expected 5"),
        "{msg}"
    );

    // A label of 10.
    dir.write("train-labels-idx1-ubyte", &idx(&[5], &[0, 1, 10, 3, 4]));
    let msg = load_err(&dir);
    assert!(
        msg.contains("train-labels-idx1-ubyte: label 10 at index 2"),
        "{msg}"
    );

    // Images not N×28×28.
    dir.write("train-labels-idx1-ubyte", &idx(&[5], &[0, 1, 2, 3, 4]));
    dir.write("t10k-images-idx3-ubyte", &idx(&[2, 784], &[0; 2 * 784]));
    let msg = load_err(&dir);
    assert!(
        msg.contains("t10k-images-idx3-ubyte: images have shape [2, 784]"),
        "{msg}"
    );

    // Labels not one-dimensional.
    write_mnist(&dir, 5, 2, false, 0);
    dir.write("t10k-labels-idx1-ubyte", &idx(&[2, 1], &[0, 1]));
    let msg = load_err(&dir);
    assert!(
        msg.contains("t10k-labels-idx1-ubyte: labels have shape [2, 1]"),
        "{msg}"
    );

    // A missing file names both names tried.
    std::fs::remove_file(dir.0.join("t10k-labels-idx1-ubyte")).unwrap();
    let msg = load_err(&dir);
    assert!(
        msg.contains("t10k-labels-idx1-ubyte: file not found (nor "),
        "{msg}"
    );
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz)"), "{msg}");
}

#[test]
fn real_mnist_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let m = Mnist::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.train_len(), 60_000);
    assert_eq!(m.test_len(), 10_000);
    assert_eq!(m.train_images.len(), 60_000 * 784);
    assert_eq!(m.test_images.len(), 10_000 * 784);
    // Well-known facts about MNIST: the first training digit is a 5, the first test digit
    // a 7, and the mean pixel intensity of the training set is 0.1307.
    assert_eq!(m.train_labels[0], 5);
    assert_eq!(m.test_labels[0], 7);
    let mean = m.train_images.iter().map(|&p| f64::from(p)).sum::<f64>() / (60_000.0 * 784.0);
    assert!((mean - 0.1307).abs() < 5e-4, "mean pixel {mean}");
    assert!(m.train_images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    // Every digit is frequent: between 9% and 11.5% of each split.
    for (labels, n) in [(&m.train_labels, 60_000.0), (&m.test_labels, 10_000.0)] {
        let mut hist = [0usize; Mnist::CLASSES];
        for &l in labels.iter() {
            hist[l as usize] += 1;
        }
        assert_eq!(hist.iter().sum::<usize>() as f64, n);
        for (digit, &count) in hist.iter().enumerate() {
            let share = count as f64 / n;
            assert!((0.088..0.115).contains(&share), "digit {digit}: {hist:?}");
        }
    }
}
