//! PyTorch interchange through [safetensors](https://github.com/huggingface/safetensors)
//! files (std only; the small JSON header is read and written by hand, no dependency).
//!
//! # Names and layouts
//! A nanonn network maps to the PyTorch `nn.Sequential` that has one module per nanonn layer,
//! in the same order, so nanonn layer `i` is the module named `"i"`; its tensors are named as
//! in that module's `state_dict()`:
//!
//! | nanonn layer | PyTorch module | tensors (PyTorch shape ← nanonn layout) |
//! |---|---|---|
//! | `Dense` | `nn.Linear(in, out)` | `i.weight` `[out, in]` ← `[in, out]` transposed; `i.bias` `[out]` |
//! | `Conv2D` | `nn.Conv2d(c_in, c_out, (kh, kw), …)` | `i.weight` `[c_out, c_in, kh, kw]` ← `[kh, kw, c_in, c_out]`; `i.bias` `[c_out]` if it has one |
//! | `ConvTranspose2D` | `nn.ConvTranspose2d(c_in, c_out, …)` | `i.weight` `[c_in, c_out, kh, kw]` ← `[kh, kw, c_out, c_in]`; `i.bias` |
//! | `BatchNorm` | `nn.BatchNorm1d` / `nn.BatchNorm2d` | `i.weight` (γ), `i.bias` (β), `i.running_mean`, `i.running_var` |
//! | `Rnn` / `Lstm` | `nn.RNN` / `nn.LSTM` (`batch_first=True`) | `i.weight_ih_l0` `[G·H, F]`, `i.weight_hh_l0` `[G·H, H]` ← nanonn's stacked `[F + H, G·H]`; `i.bias_ih_l0` + `i.bias_hh_l0` = nanonn's one bias (exported as `b` and zeros) |
//! | `Activation`, `Dropout`, pooling, `Flatten`, `Reshape` | `nn.ReLU()`, `nn.Dropout()`, `nn.MaxPool2d`, `nn.Flatten()`, … | none — the module only takes up index `i` |
//!
//! So `[Dense(4, 8), Tanh, Dense(8, 3)]` is `nn.Sequential(nn.Linear(4, 8), nn.Tanh(),
//! nn.Linear(8, 3))` with tensors `0.weight`, `0.bias`, `2.weight`, `2.bias`.
//!
//! Images are NHWC in nanonn and NCHW in PyTorch, so the features after a `Flatten` of an
//! `[H, W, C]` image come in another order: the `Dense` (and any `BatchNorm`) after it has
//! its input features permuted on export and import, and the two networks agree. (A
//! `Reshape` is taken as is.) LSTM gates are `i, f, g, o` in both. nanonn's batch-norm keeps
//! the biased running variance and weighs the old value by `momentum` (tinynn's convention;
//! PyTorch's `momentum = 1 − nanonn's`); in evaluation both compute the same function.
//!
//! Tensors are written as `F32`; `F32`, `F64`, `F16`, `BF16` and integer tensors are read
//! (converted to `f32`). [`import`] is strict like `load_state_dict(strict=True)`: every
//! expected name must be present with its shape, and no other name may be, except
//! batch-norm's `num_batches_tracked` counters, which nanonn does not keep (PyTorch fills
//! them in when they are missing).

use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use super::json::{self, Json};
use super::torch_map::{Region, entries};
use super::{FileError, save_bytes};
use crate::net::Net;

/// A named tensor, converted to `f32`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The tensor's name (a `state_dict` key).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}

fn err(what: impl Into<String>) -> FileError {
    FileError::SafeTensors(what.into())
}

/// Largest header accepted (the reference implementation's limit).
const MAX_HEADER: usize = 100_000_000;

/// Reads every tensor of a safetensors file, converted to `f32`, in file order.
pub fn read_tensors(bytes: &[u8]) -> Result<Vec<NamedTensor>, FileError> {
    let size = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .ok_or_else(|| err("file shorter than its 8-byte header size"))?;
    let header_end = usize::try_from(size)
        .ok()
        .filter(|&n| n <= MAX_HEADER)
        .and_then(|n| n.checked_add(8))
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| err(format!("header size {size} exceeds the file")))?;
    let data = &bytes[header_end..];
    let Json::Object(members) = json::parse(&bytes[8..header_end]).map_err(err)? else {
        return Err(err("the header is not a JSON object"));
    };
    let mut out = Vec::new();
    for (name, info) in members {
        if name == "__metadata__" {
            continue;
        }
        out.push(read_tensor(name, &info, data)?);
    }
    Ok(out)
}

fn field<'j>(info: &'j Json, key: &str) -> Option<&'j Json> {
    match info {
        Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn numbers(v: Option<&Json>) -> Option<Vec<usize>> {
    match v? {
        Json::Array(items) => items
            .iter()
            .map(|i| match i {
                Json::Number(t) => t.parse().ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn read_tensor(name: String, info: &Json, data: &[u8]) -> Result<NamedTensor, FileError> {
    let bad = |what: &str| err(format!("tensor {name:?}: {what}"));
    let Some(Json::Str(dtype)) = field(info, "dtype") else {
        return Err(bad("no dtype"));
    };
    let shape = numbers(field(info, "shape")).ok_or_else(|| bad("bad shape"))?;
    let offsets = numbers(field(info, "data_offsets")).ok_or_else(|| bad("bad data_offsets"))?;
    let [begin, end] = offsets[..] else {
        return Err(bad("data_offsets must have two entries"));
    };
    let raw = data
        .get(begin..end)
        .filter(|_| begin <= end)
        .ok_or_else(|| bad("data_offsets lie outside the file"))?;
    let width = match dtype.as_str() {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" => 1,
        other => return Err(bad(&format!("unsupported dtype {other}"))),
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n.checked_mul(width) == Some(raw.len()))
        .ok_or_else(|| bad("shape does not match data_offsets"))?;
    let mut values = Vec::with_capacity(count);
    for c in raw.chunks_exact(width) {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(c);
        let v = match dtype.as_str() {
            "F64" => f64::from_le_bytes(b) as f32,
            "F32" => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            "BF16" => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            "F16" => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            "I64" => i64::from_le_bytes(b) as f32,
            "U64" => u64::from_le_bytes(b) as f32,
            "I32" => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            "U32" => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            "I16" => i16::from_le_bytes([b[0], b[1]]) as f32,
            "U16" => u16::from_le_bytes([b[0], b[1]]) as f32,
            "I8" => b[0] as i8 as f32,
            _ => b[0] as f32,
        };
        values.push(v);
    }
    Ok(NamedTensor {
        name,
        shape,
        data: values,
    })
}

/// IEEE half precision to single, exactly (subnormals, infinities and NaN included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1F) as u32;
    let frac = (h & 0x3FF) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f · 2^-24.
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1F, f) => sign | 0x7F80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Encodes tensors (`F32`) and string metadata as a safetensors file. Tensors are stored in
/// the order given, back to back; the header is padded with spaces to a multiple of 8 bytes.
pub fn write_tensors(
    tensors: &[NamedTensor],
    metadata: &[(&str, &str)],
) -> Result<Vec<u8>, FileError> {
    let mut header = String::from("{");
    if !metadata.is_empty() {
        header.push_str("\"__metadata__\":{");
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(&format!("{}:{}", json::quote(k), json::quote(v)));
        }
        header.push('}');
    }
    let mut offset = 0usize;
    for (i, t) in tensors.iter().enumerate() {
        let count: usize = t.shape.iter().product();
        if count != t.data.len() || t.name == "__metadata__" {
            return Err(err(format!(
                "tensor {:?}: shape does not match its data",
                t.name
            )));
        }
        if i > 0 || !metadata.is_empty() {
            header.push(',');
        }
        let shape: Vec<String> = t.shape.iter().map(ToString::to_string).collect();
        let end = offset + 4 * count;
        header.push_str(&format!(
            "{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            json::quote(&t.name),
            shape.join(",")
        ));
        offset = end;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in tensors {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// The network's parameters and buffers as PyTorch `state_dict` tensors (names and layouts
/// above), in `state_dict` order.
pub fn state_dict<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
) -> Result<Vec<NamedTensor>, FileError> {
    let mut out = Vec::new();
    for e in entries(net)? {
        let n: usize = e.shape.iter().product();
        let region = match e.region {
            Region::Params => net.params(),
            Region::Buffers => net.buffers(),
        };
        let src = &region[e.offset..];
        let data = match (&e.map, e.add) {
            (_, true) => std::vec![0.0; n],
            (Some(map), _) => map.iter().map(|&j| src[j]).collect(),
            (None, _) => src[..n].to_vec(),
        };
        out.push(NamedTensor {
            name: e.name,
            shape: e.shape,
            data,
        });
    }
    Ok(out)
}

/// The network's parameters as a safetensors file for PyTorch (metadata `format: pt`).
pub fn export<M: AsRef<[f32]> + AsMut<[f32]>>(net: &Net<'_, M>) -> Result<Vec<u8>, FileError> {
    write_tensors(&state_dict(net)?, &[("format", "pt")])
}

/// Exports the network's parameters to a safetensors file at `path`, atomically.
pub fn save<M: AsRef<[f32]> + AsMut<[f32]>>(
    path: impl AsRef<Path>,
    net: &Net<'_, M>,
) -> Result<(), FileError> {
    save_bytes(path, &export(net)?)
}

/// Loads PyTorch weights from safetensors `bytes` into `net`, which must have the matching
/// architecture (the file holds only tensors). Nothing is changed unless every tensor fits.
pub fn import<M: AsRef<[f32]> + AsMut<[f32]>>(
    bytes: &[u8],
    net: &mut Net<'_, M>,
) -> Result<(), FileError> {
    if net.params_borrowed() {
        return Err(err("the network's parameters are borrowed read-only"));
    }
    let tensors = read_tensors(bytes)?;
    let expected = entries(net)?;
    let mut found: Vec<Option<&NamedTensor>> = std::vec![None; expected.len()];
    for t in &tensors {
        match expected.iter().position(|e| e.name == t.name) {
            Some(k) if found[k].is_some() => {
                return Err(err(format!("tensor {:?} appears twice", t.name)));
            }
            Some(k) if expected[k].shape != t.shape => {
                return Err(err(format!(
                    "tensor {:?} has shape {:?}, the network needs {:?}",
                    t.name, t.shape, expected[k].shape
                )));
            }
            Some(k) => found[k] = Some(t),
            None if t.name.ends_with(".num_batches_tracked") => {}
            None => {
                return Err(err(format!(
                    "unexpected tensor {:?} (no such parameter in the network)",
                    t.name
                )));
            }
        }
    }
    if let Some(k) = found.iter().position(Option::is_none) {
        return Err(err(format!("missing tensor {:?}", expected[k].name)));
    }
    if let Some(t) = tensors
        .iter()
        .find(|t| t.data.iter().any(|v| !v.is_finite()))
    {
        return Err(err(format!(
            "tensor {:?} contains a NaN or infinity",
            t.name
        )));
    }
    // Set every tensor, then add the second recurrent biases onto the first.
    for add in [false, true] {
        for (e, t) in expected.iter().zip(&found).filter(|(e, _)| e.add == add) {
            let src = &t.ok_or_else(|| err("missing tensor"))?.data;
            let region = match e.region {
                Region::Params => net.params_mut(),
                Region::Buffers => net.buffers_mut(),
            };
            let dst = &mut region[e.offset..];
            for (k, v) in src.iter().enumerate() {
                let j = e.map.as_ref().map_or(k, |m| m[k]);
                dst[j] = if add { dst[j] + v } else { *v };
            }
        }
    }
    Ok(())
}

/// Reads a safetensors file into `net` (see [`import`]).
pub fn load<M: AsRef<[f32]> + AsMut<[f32]>>(
    path: impl AsRef<Path>,
    net: &mut Net<'_, M>,
) -> Result<(), FileError> {
    import(&super::read(path)?, net)
}
