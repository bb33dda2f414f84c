//! CRC-32 (IEEE 802.3, the one zlib, PNG and `cksum -a crc32b` use), table-driven, no heap.
//!
//! Reflected polynomial `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`. The tables
//! are computed at compile time. Without `std` one 256-entry table (1 KiB of flash) is used,
//! a byte at a time; with `std`, "slicing by 8" (8 KiB of tables, 8 bytes a step) checks
//! large models several times faster.

const POLY: u32 = 0xEDB8_8320;

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// `SLICES[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
#[cfg(feature = "std")]
static SLICES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    t[0] = TABLE;
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ TABLE[(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

fn update_bytewise(mut c: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c
}

#[cfg(feature = "std")]
fn update_sliced(mut c: u32, bytes: &[u8]) -> u32 {
    let t = &SLICES;
    let mut chunks = bytes.chunks_exact(8);
    for ch in &mut chunks {
        let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xFF) as usize]
            ^ t[2][((hi >> 8) & 0xFF) as usize]
            ^ t[1][((hi >> 16) & 0xFF) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    update_bytewise(c, chunks.remainder())
}

/// An incremental CRC-32: feed bytes with [`Crc32::update`] in any number of pieces, read the
/// checksum with [`Crc32::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Crc32::new()
    }
}

impl Crc32 {
    /// A checksum of no bytes yet.
    pub const fn new() -> Crc32 {
        Crc32 { state: !0 }
    }

    /// Adds `bytes` to the checksum.
    pub fn update(&mut self, bytes: &[u8]) {
        #[cfg(feature = "std")]
        {
            self.state = update_sliced(self.state, bytes);
        }
        #[cfg(not(feature = "std"))]
        {
            self.state = update_bytewise(self.state, bytes);
        }
    }

    /// The CRC-32 of every byte added so far.
    pub const fn finish(&self) -> u32 {
        !self.state
    }
}

/// The CRC-32 of `bytes` (equal to zlib's `crc32(0, bytes)` and Python's `zlib.crc32`).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit CRC-32, straight from the definition, to check the table.
    fn bitwise(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                let mask = (c & 1).wrapping_neg();
                c = (c >> 1) ^ (POLY & mask);
            }
        }
        !c
    }

    #[test]
    fn known_values() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn table_matches_bitwise_and_pieces_match_whole() {
        let data: [u8; 300] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        assert_eq!(crc32(&data), bitwise(&data));
        for len in 0..data.len() {
            let d = &data[len / 3..len];
            assert_eq!(!update_bytewise(!0, d), bitwise(d));
            #[cfg(feature = "std")]
            assert_eq!(!update_sliced(!0, d), bitwise(d));
        }
        let mut c = Crc32::default();
        c.update(&data[..17]);
        c.update(&data[17..200]);
        c.update(&data[200..]);
        assert_eq!(c.finish(), bitwise(&data));
    }
}
