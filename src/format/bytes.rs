//! Little-endian cursors over bytes: a [`Reader`] that never reads out of bounds and a
//! [`Writer`] that can also just count, so the size of a file and the file itself come from
//! the same code.

use super::FileError;

/// Reads little-endian values from a slice; running past the end is a
/// [`FileError::Malformed`] naming the field and its offset, never a panic.
pub(crate) struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
    /// Offset of `bytes[0]` in the file, for error messages.
    base: usize,
}

impl<'b> Reader<'b> {
    /// A reader over `bytes`, which start at byte `base` of the file.
    pub(crate) fn new(bytes: &'b [u8], base: usize) -> Reader<'b> {
        Reader {
            bytes,
            pos: 0,
            base,
        }
    }

    /// Offset in the file of the next byte to read.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// An error about the field at the current position.
    pub(crate) fn malformed(&self, what: &'static str) -> FileError {
        FileError::Malformed {
            what,
            offset: self.offset(),
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'b [u8], FileError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.malformed(what))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FileError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    /// A `u32`.
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, FileError> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A `u64`.
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, FileError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A `u64` that must fit a `usize` (it may not on a 32-bit target).
    pub(crate) fn usize(&mut self, what: &'static str) -> Result<usize, FileError> {
        let at = self.offset();
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| FileError::Malformed { what, offset: at })
    }

    /// An `f32` that must be finite.
    pub(crate) fn finite_f32(&mut self, what: &'static str) -> Result<f32, FileError> {
        let at = self.offset();
        let v = f32::from_le_bytes(self.array(what)?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(FileError::Malformed { what, offset: at })
        }
    }

    /// A `u32` that must be zero (reserved fields).
    pub(crate) fn reserved(&mut self) -> Result<(), FileError> {
        let at = self.offset();
        match self.u32("reserved field")? {
            0 => Ok(()),
            _ => Err(FileError::Malformed {
                what: "reserved field is not zero",
                offset: at,
            }),
        }
    }
}

/// Writes little-endian values into a slice, or only counts them.
pub(crate) struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
    count_only: bool,
}

impl<'o> Writer<'o> {
    /// A writer that fills `out` from its start.
    pub(crate) fn new(out: &'o mut [u8]) -> Writer<'o> {
        Writer {
            out,
            pos: 0,
            count_only: false,
        }
    }

    /// A writer that only counts bytes.
    pub(crate) fn counter() -> Writer<'static> {
        Writer {
            out: &mut [],
            pos: 0,
            count_only: true,
        }
    }

    /// Bytes written (or counted) so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes written so far (empty when counting).
    pub(crate) fn written(&mut self) -> &mut [u8] {
        let n = if self.count_only { 0 } else { self.pos };
        &mut self.out[..n]
    }

    /// Appends `bytes`.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), FileError> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(FileError::Malformed {
                what: "file size overflows usize",
                offset: self.pos,
            })?;
        if !self.count_only {
            let got = self.out.len();
            self.out
                .get_mut(self.pos..end)
                .ok_or(FileError::BufferTooSmall { needed: end, got })?
                .copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }

    /// Appends a `u32`.
    pub(crate) fn u32(&mut self, v: u32) -> Result<(), FileError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends a `u64`.
    pub(crate) fn u64(&mut self, v: u64) -> Result<(), FileError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends an `f32`.
    pub(crate) fn f32(&mut self, v: f32) -> Result<(), FileError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends `f32`s, little-endian whatever the target.
    pub(crate) fn f32s(&mut self, values: &[f32]) -> Result<(), FileError> {
        let at = self.pos;
        let overflow = || FileError::Malformed {
            what: "file size overflows usize",
            offset: at,
        };
        let n = values.len().checked_mul(4).ok_or_else(overflow)?;
        if self.count_only {
            return self.zeros(n);
        }
        let end = self.pos.checked_add(n).ok_or_else(overflow)?;
        let got = self.out.len();
        let dst = self
            .out
            .get_mut(self.pos..end)
            .ok_or(FileError::BufferTooSmall { needed: end, got })?;
        for (d, v) in dst.chunks_exact_mut(4).zip(values) {
            d.copy_from_slice(&v.to_le_bytes());
        }
        self.pos = end;
        Ok(())
    }

    fn zeros(&mut self, n: usize) -> Result<(), FileError> {
        const Z: [u8; 64] = [0; 64];
        if self.count_only {
            self.pos = self.pos.checked_add(n).ok_or(FileError::Malformed {
                what: "file size overflows usize",
                offset: self.pos,
            })?;
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            let k = left.min(Z.len());
            self.bytes(&Z[..k])?;
            left -= k;
        }
        Ok(())
    }

    /// Appends zeros up to the next multiple of `align`.
    pub(crate) fn pad_to(&mut self, align: usize) -> Result<(), FileError> {
        self.zeros((align - self.pos % align) % align)
    }
}
