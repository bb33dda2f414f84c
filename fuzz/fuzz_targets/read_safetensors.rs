//! Fuzzes the safetensors reader (and its JSON header parser): `Ok` or `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nanonn::format::safetensors;

fuzz_target!(|data: &[u8]| {
    let _ = safetensors::read_tensors(data);
});
