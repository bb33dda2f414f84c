//! Classification metrics: accuracy and a confusion matrix, with no allocation.
//!
//! Predictions are rows of `classes` scores per sample (logits or probabilities: only the
//! position of the largest matters), labels are class indices, as in
//! [`Targets::Classes`](crate::loss::Targets::Classes). Counts from several batches add up,
//! so a whole test set can be scored one batch at a time:
//!
//! ```
//! use nanonn::metrics::{accuracy, Accuracy};
//! let mut total = Accuracy::default();
//! // two batches of two samples with three classes each
//! total += accuracy(&[0.1, 0.7, 0.2, 0.9, 0.0, 0.1], 3, &[1, 2]).unwrap();
//! total += accuracy(&[0.0, 0.0, 5.0, 1.0, 2.0, 3.0], 3, &[2, 2]).unwrap();
//! assert_eq!((total.hit_num, total.total_num), (3, 4));
//! assert_eq!(total.to_string(), "{total_num: 4, hit_num: 3, accuracy: 0.7500}");
//! ```

use core::fmt;
use core::ops::{Add, AddAssign};

use crate::error::{Error, ErrorKind, Result};

/// The index of the largest element of `row`: the predicted class.
///
/// Ties go to the **first** maximum. A NaN counts as larger than every number, so the first
/// NaN wins — the rule of numpy's `argmax`, which tinynn uses, so both frameworks score a
/// diverged network the same way. An empty row gives 0.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        // `>` keeps the first of equal maxima; `i == 0` accepts a leading -inf.
        if i == 0 || v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

/// Checks that `predictions` holds `labels.len()` rows of `classes` scores and that every
/// label is below `classes`, so callers can count without further checks.
fn check_batch(predictions: &[f32], classes: usize, labels: &[u32]) -> Result<()> {
    if classes == 0 {
        return Err(Error::config("the number of classes must be at least 1"));
    }
    let expected = labels
        .len()
        .checked_mul(classes)
        .ok_or(Error::config("labels.len() * classes overflows usize"))?;
    if predictions.len() != expected {
        return Err(Error::length("predictions", expected, predictions.len()));
    }
    for (sample, &label) in labels.iter().enumerate() {
        if label as usize >= classes {
            return Err(Error::new(ErrorKind::LabelOutOfRange {
                sample,
                label: label as usize,
                classes,
            }));
        }
    }
    Ok(())
}

/// How many samples were classified correctly, out of how many. Add results of several
/// batches with `+=` to score a whole data set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accuracy {
    /// Samples whose predicted class (the [`argmax`] of their row) equals their label.
    pub hit_num: usize,
    /// Samples scored.
    pub total_num: usize,
}

impl Accuracy {
    /// `hit_num / total_num`, or 0 when nothing was scored (rather than NaN, so an empty
    /// evaluation cannot poison later arithmetic).
    pub fn accuracy(&self) -> f32 {
        if self.total_num == 0 {
            0.0
        } else {
            // f64 keeps the ratio exact to f32 precision even past 2^24 samples.
            (self.hit_num as f64 / self.total_num as f64) as f32
        }
    }
}

impl AddAssign for Accuracy {
    fn add_assign(&mut self, other: Accuracy) {
        self.hit_num += other.hit_num;
        self.total_num += other.total_num;
    }
}

impl Add for Accuracy {
    type Output = Accuracy;
    fn add(mut self, other: Accuracy) -> Accuracy {
        self += other;
        self
    }
}

/// tinynn's evaluation dictionary: `{total_num: 10000, hit_num: 9658, accuracy: 0.9658}`.
/// The accuracy has 4 decimals unless a precision is given (`{:.2}`).
impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precision = f.precision().unwrap_or(4);
        write!(
            f,
            "{{total_num: {}, hit_num: {}, accuracy: {:.*}}}",
            self.total_num,
            self.hit_num,
            precision,
            self.accuracy()
        )
    }
}

/// Scores a batch: `predictions` holds one row of `classes` scores per label.
///
/// # Errors
/// `InvalidConfig` if `classes` is 0, `LengthMismatch` if `predictions.len()` is not
/// `labels.len() * classes`, `LabelOutOfRange` for a label `>= classes`.
pub fn accuracy(predictions: &[f32], classes: usize, labels: &[u32]) -> Result<Accuracy> {
    check_batch(predictions, classes, labels)?;
    let hit_num = predictions
        .chunks_exact(classes)
        .zip(labels)
        .filter(|&(row, &label)| argmax(row) == label as usize)
        .count();
    Ok(Accuracy {
        hit_num,
        total_num: labels.len(),
    })
}

/// Counts of (label, prediction) pairs for `N` classes: `counts()[label][prediction]`
/// (rows are the true classes, columns the predicted ones, as in scikit-learn).
///
/// Counts saturate at `u32::MAX` instead of overflowing.
/// `N` must be at least 1; `ConfusionMatrix::<0>::new()` does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix<const N: usize> {
    counts: [[u32; N]; N],
}

impl<const N: usize> Default for ConfusionMatrix<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ConfusionMatrix<N> {
    /// An all-zero matrix.
    pub const fn new() -> Self {
        const { assert!(N > 0, "a confusion matrix needs at least one class") };
        ConfusionMatrix {
            counts: [[0; N]; N],
        }
    }

    /// The counts: `counts()[label][prediction]`.
    pub fn counts(&self) -> &[[u32; N]; N] {
        &self.counts
    }

    /// Counts one sample.
    ///
    /// # Errors
    /// `LabelOutOfRange` (with sample 0) if `label >= N`; `InvalidConfig` if
    /// `prediction >= N`. Nothing is counted on error.
    pub fn add(&mut self, prediction: usize, label: usize) -> Result<()> {
        if label >= N {
            return Err(Error::new(ErrorKind::LabelOutOfRange {
                sample: 0,
                label,
                classes: N,
            }));
        }
        if prediction >= N {
            return Err(Error::config(
                "confusion matrix: the prediction is not below the number of classes",
            ));
        }
        let cell = &mut self.counts[label][prediction];
        *cell = cell.saturating_add(1);
        Ok(())
    }

    /// Counts a batch: `logits` holds one row of `N` scores per label; the prediction is
    /// the row's [`argmax`].
    ///
    /// # Errors
    /// As [`accuracy`] with `classes = N`. The whole batch is checked first, so on error
    /// nothing is counted.
    pub fn add_batch(&mut self, logits: &[f32], labels: &[u32]) -> Result<()> {
        check_batch(logits, N, labels)?;
        for (row, &label) in logits.chunks_exact(N).zip(labels) {
            let cell = &mut self.counts[label as usize][argmax(row)];
            *cell = cell.saturating_add(1);
        }
        Ok(())
    }

    /// The number of samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().map(|&c| u64::from(c)).sum()
    }

    /// The number of samples whose prediction equals their label (the diagonal).
    pub fn hits(&self) -> u64 {
        (0..N).map(|i| u64::from(self.counts[i][i])).sum()
    }

    /// The fraction of samples classified correctly, or 0 when nothing was counted.
    pub fn accuracy(&self) -> f32 {
        ratio(self.hits(), self.total()).unwrap_or(0.0)
    }

    /// Of the samples predicted as `class`, the fraction that truly are. `None` if `class`
    /// is not below `N` or nothing was predicted as `class` (0/0 is undefined, and a made-up
    /// 0 or 1 would mislead).
    pub fn precision(&self, class: usize) -> Option<f32> {
        if class >= N {
            return None;
        }
        let predicted: u64 = self.counts.iter().map(|row| u64::from(row[class])).sum();
        ratio(u64::from(self.counts[class][class]), predicted)
    }

    /// Of the samples of `class`, the fraction predicted as `class`. `None` if `class` is not
    /// below `N` or no sample of `class` was counted.
    pub fn recall(&self, class: usize) -> Option<f32> {
        let row = self.counts.get(class)?;
        let actual: u64 = row.iter().map(|&c| u64::from(c)).sum();
        ratio(u64::from(row[class]), actual)
    }
}

fn ratio(num: u64, den: u64) -> Option<f32> {
    (den != 0).then(|| (num as f64 / den as f64) as f32)
}

/// Writes `value` (a ratio) in `width` columns with 4 decimals, or `-` when undefined.
fn write_ratio(f: &mut fmt::Formatter<'_>, value: Option<f32>, width: usize) -> fmt::Result {
    match value {
        Some(v) => write!(f, " {v:>width$.4}"),
        None => write!(f, " {:>width$}", "-"),
    }
}

/// A table with one row per true class, one column per predicted class, each row's
/// recall at its end and each column's precision below it:
///
/// ```text
/// label\pred      0      1 | recall
///          0      3      1 | 0.7500
///          1      0      2 | 1.0000
///  precision 1.0000 0.6667 | accuracy 0.8333
/// ```
impl<const N: usize> fmt::Display for ConfusionMatrix<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.counts.iter().flatten().copied().max().unwrap_or(0);
        let digits = |mut v: u64| {
            let mut d = 1;
            while v >= 10 {
                v /= 10;
                d += 1;
            }
            d
        };
        // Wide enough for the largest count, a class index, and "0.6667".
        let width = digits(u64::from(max)).max(digits(N as u64)).max(6);
        let head = "label\\pred".len();
        write!(f, "{:>head$}", "label\\pred")?;
        for class in 0..N {
            write!(f, " {class:>width$}")?;
        }
        writeln!(f, " | recall")?;
        for (label, row) in self.counts.iter().enumerate() {
            write!(f, "{label:>head$}")?;
            for count in row {
                write!(f, " {count:>width$}")?;
            }
            write!(f, " |")?;
            write_ratio(f, self.recall(label), 6)?;
            writeln!(f)?;
        }
        write!(f, "{:>head$}", "precision")?;
        for class in 0..N {
            write_ratio(f, self.precision(class), width)?;
        }
        write!(f, " | accuracy {:.4}", self.accuracy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_first_max_nan_and_infinities() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[-1.0, -0.5, -2.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -1e30]), 1);
        assert_eq!(argmax(&[0.0, f32::INFINITY, f32::INFINITY]), 1);
        assert_eq!(argmax(&[5.0, f32::NAN, 9.0, f32::NAN]), 1);
        assert_eq!(argmax(&[f32::NAN, 9.0]), 0);
        assert_eq!(argmax(&[7.0]), 0);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn accuracy_counts_hits() {
        // rows: argmax 2, 0, 1, 1 ; labels 2, 1, 1, 0 -> hits at samples 0 and 2
        let p = [
            0.1, 0.2, 0.7, //
            0.5, 0.4, 0.1, //
            -3.0, -1.0, -2.0, //
            0.0, 1.0, 1.0,
        ];
        let a = accuracy(&p, 3, &[2, 1, 1, 0]).unwrap();
        assert_eq!(
            a,
            Accuracy {
                hit_num: 2,
                total_num: 4
            }
        );
        assert_eq!(a.accuracy(), 0.5);
        let empty = accuracy(&[], 3, &[]).unwrap();
        assert_eq!(empty.total_num, 0);
        assert_eq!(empty.accuracy(), 0.0);
    }

    #[test]
    fn accuracy_errors() {
        let e = accuracy(&[0.0; 6], 0, &[0, 0]).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::InvalidConfig { .. }));
        let e = accuracy(&[0.0; 5], 3, &[0, 0]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::LengthMismatch {
                what: "predictions",
                expected: 6,
                got: 5
            }
        );
        let e = accuracy(&[0.0; 6], 3, &[0, 3]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::LabelOutOfRange {
                sample: 1,
                label: 3,
                classes: 3
            }
        );
        let e = accuracy(&[], usize::MAX, &[0, 0]).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::InvalidConfig { .. }));
    }

    #[test]
    fn accuracy_sums_and_displays() {
        let mut total = Accuracy::default();
        total += Accuracy {
            hit_num: 4829,
            total_num: 5000,
        };
        total += Accuracy {
            hit_num: 4829,
            total_num: 5000,
        };
        assert_eq!(
            total,
            Accuracy {
                hit_num: 9658,
                total_num: 10000
            }
        );
        assert_eq!(
            total
                + Accuracy {
                    hit_num: 1,
                    total_num: 2
                },
            Accuracy {
                hit_num: 9659,
                total_num: 10002
            }
        );
        assert_eq!(
            format!("{total}"),
            "{total_num: 10000, hit_num: 9658, accuracy: 0.9658}"
        );
        assert_eq!(
            format!("{total:.2}"),
            "{total_num: 10000, hit_num: 9658, accuracy: 0.97}"
        );
    }

    #[test]
    fn confusion_matrix_counts_precision_recall() {
        let mut m = ConfusionMatrix::<3>::new();
        // (prediction, label) pairs, hand-tabulated below.
        let pairs = [(0, 0), (0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (0, 2)];
        for (p, l) in pairs {
            m.add(p, l).unwrap();
        }
        assert_eq!(m.counts(), &[[2, 1, 0], [0, 1, 1], [1, 0, 1]]);
        assert_eq!(m.total(), 7);
        assert_eq!(m.hits(), 4);
        assert_eq!(m.accuracy(), 4.0 / 7.0);
        // precision of class 0: predicted 0 three times, two were 0.
        assert_eq!(m.precision(0), Some(2.0 / 3.0));
        assert_eq!(m.precision(1), Some(0.5));
        assert_eq!(m.recall(0), Some(2.0 / 3.0));
        assert_eq!(m.recall(1), Some(0.5));
        assert_eq!(m.recall(2), Some(0.5));
        assert_eq!(m.precision(3), None);
        assert_eq!(m.recall(3), None);
        assert_eq!(ConfusionMatrix::<2>::new().precision(0), None);
        assert_eq!(ConfusionMatrix::<2>::new().accuracy(), 0.0);
    }

    #[test]
    fn confusion_matrix_batch_agrees_with_accuracy() {
        let logits = [
            0.9, 0.1, //
            0.2, 0.8, //
            0.6, 0.4, //
            0.3, 0.7,
        ];
        let labels = [0, 0, 0, 1];
        let mut m = ConfusionMatrix::<2>::new();
        m.add_batch(&logits, &labels).unwrap();
        assert_eq!(m.counts(), &[[2, 1], [0, 1]]);
        let a = accuracy(&logits, 2, &labels).unwrap();
        assert_eq!(m.hits(), a.hit_num as u64);
        assert_eq!(m.accuracy(), a.accuracy());
    }

    #[test]
    fn confusion_matrix_errors_leave_counts_alone() {
        let mut m = ConfusionMatrix::<2>::new();
        let e = m.add(0, 2).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::LabelOutOfRange {
                sample: 0,
                label: 2,
                classes: 2
            }
        );
        assert!(matches!(
            m.add(2, 0).unwrap_err().kind,
            ErrorKind::InvalidConfig { .. }
        ));
        // the first sample is valid, the second is not: nothing may be counted.
        let e = m.add_batch(&[1.0, 0.0, 0.0, 1.0], &[0, 5]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::LabelOutOfRange {
                sample: 1,
                label: 5,
                classes: 2
            }
        );
        assert!(m.add_batch(&[1.0, 0.0, 0.0], &[0, 1]).is_err());
        assert_eq!(m.total(), 0);
    }

    #[test]
    fn confusion_matrix_display() {
        let mut m = ConfusionMatrix::<2>::new();
        for (p, l) in [(0, 0), (0, 0), (0, 0), (1, 0), (1, 1), (1, 1)] {
            m.add(p, l).unwrap();
        }
        let expected = "\
label\\pred      0      1 | recall
         0      3      1 | 0.7500
         1      0      2 | 1.0000
 precision 1.0000 0.6667 | accuracy 0.8333";
        assert_eq!(format!("{m}"), expected);
        let empty = format!("{}", ConfusionMatrix::<1>::new());
        assert!(empty.contains("      - | accuracy 0.0000"), "{empty}");
    }
}
