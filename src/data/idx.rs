//! The IDX file format of MNIST, raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic `00 00 TYPE NDIM`, then `NDIM` big-endian `u32`
//! dimensions, then the elements row-major. MNIST uses `TYPE = 0x08` (unsigned bytes), the
//! only type read here. Whether a file is gzip-compressed is decided by its first two bytes
//! (`1f 8b`), not by its name, so a renamed file still loads.
//!
//! Every check a damaged download can fail is made, and reported with the file's path,
//! what was found and what was expected:
//! `data/mnist/train-images-idx3-ubyte.gz: truncated: header says 60000x28x28 = 47040000
//! bytes of data, found 1234`.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// The IDX element type byte of unsigned bytes, the only one supported.
pub const IDX_U8: u8 = 0x08;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What was wrong with a data file. The [`DataError`] around it adds the path.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// The file does not exist.
    NotFound {
        /// Another name that was tried too (MNIST files may be raw or `.gz`).
        also_tried: Option<PathBuf>,
    },
    /// The file could not be opened or read.
    Io(io::Error),
    /// The file starts like gzip (`1f 8b`) but does not decompress.
    Gzip(io::Error),
    /// The first bytes are not an IDX magic `00 00 TYPE NDIM`.
    NotIdx {
        /// The first (up to 4) bytes found.
        magic: Vec<u8>,
    },
    /// The IDX element type is not unsigned bytes (0x08).
    UnsupportedType(u8),
    /// The IDX header declares no dimensions.
    NoDimensions,
    /// The file ends inside the header.
    TruncatedHeader {
        /// Header bytes the magic announces (4 + 4 per dimension).
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The file ends before all the elements the header announces.
    Truncated {
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// Data bytes found.
        found: usize,
    },
    /// The file has bytes after the elements the header announces.
    TrailingBytes {
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// Data bytes found.
        found: usize,
    },
    /// The product of the dimensions does not fit in `usize`.
    TooLarge {
        /// The dimensions from the header.
        dims: Vec<usize>,
    },
    /// The contents are well-formed but not what the caller expects (a shape, a count or
    /// a label value); the text says what was found and what was expected.
    Unexpected(String),
}

/// `60000x28x28`.
struct Dims<'a>(&'a [usize]);

impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("x")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The number of elements of `dims` (saturating: the kinds are public, so a caller may
/// build one whose dimensions overflow).
fn product(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |acc, &d| acc.saturating_mul(d))
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return None,
    })
}

impl fmt::Display for DataErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataErrorKind::NotFound { also_tried: None } => f.write_str("file not found"),
            DataErrorKind::NotFound {
                also_tried: Some(other),
            } => write!(f, "file not found (nor {})", other.display()),
            DataErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            DataErrorKind::Gzip(e) => write!(f, "not a valid gzip stream: {e}"),
            DataErrorKind::NotIdx { magic } => {
                f.write_str("not an IDX file: magic bytes")?;
                for b in magic {
                    write!(f, " {b:02x}")?;
                }
                if magic.len() < 4 {
                    write!(f, " (only {} bytes)", magic.len())?;
                }
                f.write_str(", expected 00 00 08 0N")
            }
            DataErrorKind::UnsupportedType(code) => match type_name(*code) {
                Some(name) => write!(
                    f,
                    "unsupported IDX element type 0x{code:02x} ({name}), expected 0x08 (u8)"
                ),
                None => write!(
                    f,
                    "unknown IDX element type 0x{code:02x}, expected 0x08 (u8)"
                ),
            },
            DataErrorKind::NoDimensions => {
                f.write_str("IDX header declares 0 dimensions, expected at least 1")
            }
            DataErrorKind::TruncatedHeader { expected, found } => write!(
                f,
                "truncated: the IDX header needs {expected} bytes, found {found}"
            ),
            DataErrorKind::Truncated { dims, found } => write!(
                f,
                "truncated: header says {} = {} bytes of data, found {found}",
                Dims(dims),
                product(dims)
            ),
            DataErrorKind::TrailingBytes { dims, found } => {
                let expected = product(dims);
                write!(
                    f,
                    "trailing bytes: header says {} = {expected} bytes of data, found {found} ({} too many)",
                    Dims(dims),
                    found.saturating_sub(expected)
                )
            }
            DataErrorKind::TooLarge { dims } => write!(
                f,
                "header says {} elements, which overflows usize",
                Dims(dims)
            ),
            DataErrorKind::Unexpected(what) => f.write_str(what),
        }
    }
}

/// An error reading a data file: the file's path (when there is one) and what was wrong.
/// Displays as `path: problem`.
#[derive(Debug)]
pub struct DataError {
    /// The file, or `None` for data parsed from memory.
    pub path: Option<PathBuf>,
    /// What was wrong.
    pub kind: DataErrorKind,
}

impl DataError {
    /// An error about the file at `path`.
    pub fn new(path: impl Into<PathBuf>, kind: DataErrorKind) -> DataError {
        DataError {
            path: Some(path.into()),
            kind,
        }
    }

    /// An [`DataErrorKind::Unexpected`] error about the file at `path`.
    pub fn unexpected(path: impl Into<PathBuf>, what: impl Into<String>) -> DataError {
        DataError::new(path, DataErrorKind::Unexpected(what.into()))
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        self.kind.fmt(f)
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            DataErrorKind::Io(e) | DataErrorKind::Gzip(e) => Some(e),
            _ => None,
        }
    }
}

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions, outermost first (`[60000, 28, 28]` for MNIST training images).
    pub dims: Vec<usize>,
    /// The elements, row-major; exactly the product of `dims` of them.
    pub data: Vec<u8>,
}

/// Parses an IDX array from bytes in memory, raw or gzip-compressed. Errors carry no path.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx, DataError> {
    decode(bytes).map_err(|kind| DataError { path: None, kind })
}

/// Reads an IDX array from the file at `path`, raw or gzip-compressed.
pub fn read_idx(path: impl AsRef<Path>) -> Result<Idx, DataError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| {
        let kind = if e.kind() == io::ErrorKind::NotFound {
            DataErrorKind::NotFound { also_tried: None }
        } else {
            DataErrorKind::Io(e)
        };
        DataError::new(path, kind)
    })?;
    decode(BufReader::new(file)).map_err(|kind| DataError::new(path, kind))
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Detects gzip by its magic and parses the (decompressed) stream.
fn decode(mut r: impl Read) -> Result<Idx, DataErrorKind> {
    let mut head = [0u8; 2];
    let n = read_full(&mut r, &mut head).map_err(DataErrorKind::Io)?;
    let r = (&head[..n]).chain(r);
    if head[..n] == GZIP_MAGIC {
        parse_stream(GzDecoder::new(r), DataErrorKind::Gzip)
    } else {
        parse_stream(r, DataErrorKind::Io)
    }
}

/// Parses an IDX stream. `io_error` wraps read errors (which, for a gzip stream, mean the
/// compressed data is damaged). The data is read through `take`, so a header announcing
/// more than the stream holds cannot make it allocate more than the stream's size.
fn parse_stream<R: Read>(
    mut r: R,
    io_error: fn(io::Error) -> DataErrorKind,
) -> Result<Idx, DataErrorKind> {
    let mut magic = [0u8; 4];
    let n = read_full(&mut r, &mut magic).map_err(io_error)?;
    // Report a foreign file as such even when it is shorter than a magic.
    if magic[..n.min(2)].iter().any(|&b| b != 0) {
        return Err(DataErrorKind::NotIdx {
            magic: magic[..n].to_vec(),
        });
    }
    if n < 4 {
        return Err(DataErrorKind::TruncatedHeader {
            expected: 4,
            found: n,
        });
    }
    if magic[2] != IDX_U8 {
        return Err(DataErrorKind::UnsupportedType(magic[2]));
    }
    let ndim = usize::from(magic[3]);
    if ndim == 0 {
        return Err(DataErrorKind::NoDimensions);
    }
    let mut raw_dims = vec![0u8; 4 * ndim];
    let n = read_full(&mut r, &mut raw_dims).map_err(io_error)?;
    if n < raw_dims.len() {
        return Err(DataErrorKind::TruncatedHeader {
            expected: 4 + 4 * ndim,
            found: 4 + n,
        });
    }
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let Some(len) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(DataErrorKind::TooLarge { dims });
    };

    // Cap the up-front reservation: the header may lie about the size.
    let mut data = Vec::with_capacity(len.min(1 << 26));
    (&mut r)
        .take(len as u64)
        .read_to_end(&mut data)
        .map_err(io_error)?;
    if data.len() < len {
        let found = data.len();
        return Err(DataErrorKind::Truncated { dims, found });
    }
    // Read to the end: counts trailing bytes and, for gzip, verifies the CRC trailer.
    let extra = io::copy(&mut r, &mut io::sink()).map_err(io_error)?;
    if extra > 0 {
        let found = len.saturating_add(usize::try_from(extra).unwrap_or(usize::MAX));
        return Err(DataErrorKind::TrailingBytes { dims, found });
    }
    Ok(Idx { dims, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, IDX_U8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_dims_big_endian_and_data() {
        let bytes = idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&bytes).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        // 0x0102 = 258 rows of 1 byte: checks the byte order by hand.
        let mut big = vec![0, 0, 8, 1, 0, 0, 1, 2];
        big.extend(std::iter::repeat_n(7u8, 258));
        assert_eq!(parse_idx(&big).unwrap().dims, vec![258]);
    }

    #[test]
    fn messages_name_the_problem() {
        let e = parse_idx(&idx(&[2, 3], &[1, 2, 3])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "truncated: header says 2x3 = 6 bytes of data, found 3"
        );
        let e = parse_idx(&idx(&[2], &[1, 2, 3])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "trailing bytes: header says 2 = 2 bytes of data, found 3 (1 too many)"
        );
        let e = parse_idx(&[0x50, 0x4b, 0x03, 0x04, 0, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not an IDX file: magic bytes 50 4b 03 04, expected 00 00 08 0N"
        );
        let e = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("0x0d (f32)"), "{e}");
        let e = parse_idx(&[0, 0, 8, 0]).unwrap_err();
        assert!(matches!(e.kind, DataErrorKind::NoDimensions));
        let e = parse_idx(&[0, 0, 8, 2, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "truncated: the IDX header needs 12 bytes, found 9"
        );
        let e = parse_idx(&[]).unwrap_err();
        assert!(matches!(
            e.kind,
            DataErrorKind::TruncatedHeader {
                expected: 4,
                found: 0
            }
        ));
    }

    #[test]
    fn overflowing_dims_are_rejected_without_allocating() {
        let e = parse_idx(&idx(&[u32::MAX; 4], &[])).unwrap_err();
        assert!(matches!(e.kind, DataErrorKind::TooLarge { .. }), "{e}");
        // A header announcing 4 GiB over 3 bytes of data: an error, not a huge reservation.
        let e = parse_idx(&idx(&[u32::MAX], &[1, 2, 3])).unwrap_err();
        assert!(
            matches!(e.kind, DataErrorKind::Truncated { found: 3, .. }),
            "{e}"
        );
    }
}
