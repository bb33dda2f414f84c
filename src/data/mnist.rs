//! The MNIST handwritten digits: 60 000 training and 10 000 test images of 28×28 pixels.
//!
//! [`Mnist::load`] reads the four files of the original distribution from a directory,
//! each either raw or gzip-compressed (as downloaded):
//!
//! | file | contents |
//! |------|----------|
//! | `train-images-idx3-ubyte(.gz)` | 60000×28×28 pixels |
//! | `train-labels-idx1-ubyte(.gz)` | 60000 labels |
//! | `t10k-images-idx3-ubyte(.gz)`  | 10000×28×28 pixels |
//! | `t10k-labels-idx1-ubyte(.gz)`  | 10000 labels |
//!
//! Fashion-MNIST uses the same names and format, so it loads the same way.

use std::path::{Path, PathBuf};

use super::idx::{DataError, DataErrorKind, read_idx};

/// MNIST in memory: images flattened to [`Mnist::IMAGE_LEN`] floats per sample (row-major,
/// scaled from 0..=255 to `[0, 1]`), labels as class indices `0..10`. The images are also
/// kept as the file's bytes, which [`gather_pixels`](super::gather_pixels) turns into the
/// same floats while fetching a quarter of the memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// Training images, `train_len() * IMAGE_LEN` floats.
    pub train_images: Vec<f32>,
    /// Training labels, one per training image.
    pub train_labels: Vec<u32>,
    /// Test images, `test_len() * IMAGE_LEN` floats.
    pub test_images: Vec<f32>,
    /// Test labels, one per test image.
    pub test_labels: Vec<u32>,
    /// Training images as stored in the file: `train_len() * IMAGE_LEN` bytes, 0..=255.
    pub train_pixels: Vec<u8>,
    /// Test images as stored in the file: `test_len() * IMAGE_LEN` bytes, 0..=255.
    pub test_pixels: Vec<u8>,
}

/// Image height and width in pixels.
const SIDE: usize = 28;

impl Mnist {
    /// Floats per image: 28 × 28 = 784.
    pub const IMAGE_LEN: usize = SIDE * SIDE;
    /// Number of classes (the digits 0 to 9).
    pub const CLASSES: usize = 10;

    /// Loads the four MNIST files from `dir`, preferring `name` over `name.gz` when both
    /// exist.
    ///
    /// # Errors
    /// A [`DataError`] naming the file that is missing, unreadable, not IDX, truncated, of
    /// the wrong shape (images must be N×28×28, labels N), whose count disagrees with its
    /// partner's, or that holds a label above 9.
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, DataError> {
        let dir = dir.as_ref();
        let (train_pixels, train_labels) =
            load_split(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
        let (test_pixels, test_labels) =
            load_split(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
        Ok(Mnist {
            train_images: scaled(&train_pixels),
            train_labels,
            test_images: scaled(&test_pixels),
            test_labels,
            train_pixels,
            test_pixels,
        })
    }

    /// Number of training samples.
    pub fn train_len(&self) -> usize {
        self.train_labels.len()
    }

    /// Number of test samples.
    pub fn test_len(&self) -> usize {
        self.test_labels.len()
    }
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists, else a not-found error.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if raw.exists() {
        Ok(raw)
    } else if gz.exists() {
        Ok(gz)
    } else {
        Err(DataError::new(
            raw,
            DataErrorKind::NotFound {
                also_tried: Some(gz),
            },
        ))
    }
}

/// Loads one images file and its labels file, checked against each other.
fn load_split(
    dir: &Path,
    images_name: &str,
    labels_name: &str,
) -> Result<(Vec<u8>, Vec<u32>), DataError> {
    let images_path = find(dir, images_name)?;
    let images = read_idx(&images_path)?;
    if !matches!(images.dims[..], [_, SIDE, SIDE]) {
        return Err(DataError::unexpected(
            &images_path,
            format!("images have shape {:?}, expected [N, 28, 28]", images.dims),
        ));
    }
    let labels_path = find(dir, labels_name)?;
    let labels = read_idx(&labels_path)?;
    if labels.dims.len() != 1 {
        return Err(DataError::unexpected(
            &labels_path,
            format!("labels have shape {:?}, expected [N]", labels.dims),
        ));
    }
    if labels.dims[0] != images.dims[0] {
        return Err(DataError::unexpected(
            &labels_path,
            format!(
                "{} labels, expected {} (one per image in {})",
                labels.dims[0],
                images.dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some((i, &label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= Mnist::CLASSES)
    {
        return Err(DataError::unexpected(
            &labels_path,
            format!("label {label} at index {i}, expected 0..=9"),
        ));
    }
    let labels = labels.data.iter().map(|&l| u32::from(l)).collect();
    Ok((images.data, labels))
}

/// Pixels scaled from 0..=255 to `[0, 1]`, through the table
/// [`gather_pixels`](super::gather_pixels) uses, so the two agree by construction.
fn scaled(pixels: &[u8]) -> Vec<f32> {
    pixels
        .iter()
        .map(|&p| super::batch::PIXEL_VALUES[usize::from(p)])
        .collect()
}
