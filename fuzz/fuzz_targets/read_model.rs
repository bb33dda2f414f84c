//! Fuzzes the model-file reader: parsing must return `Ok` or `Err`, never panic, and a file
//! that parses must build a network that runs.
//!
//! Each input is tried twice: as given (exercising the header checks before the CRC) and with
//! its CRC-32 repaired (so the fuzzer also reaches the structure checks behind the CRC, which
//! random bytes would almost never pass). Start from the valid files in `fuzz/seeds/read_model`:
//! `cargo +nightly fuzz run read_model fuzz/corpus/read_model fuzz/seeds/read_model`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nanonn::format::{self, ModelFile};
use nanonn::prelude::*;

fn exercise(bytes: &[u8]) {
    let Ok(file) = ModelFile::parse(bytes) else {
        return;
    };
    let _ = file.layers();
    let input = file.input_shape();
    // Bound the work: a valid but huge network is not a bug.
    if file.param_count() > 1 << 20 || input.numel() > 1 << 16 {
        return;
    }
    if let Ok(n) = file.inference_floats(2)
        && n < 1 << 22
    {
        let mut memory = vec![0.0f32; n];
        if let Ok(mut net) = file.inference_net(2, &mut memory[..]) {
            let x = vec![0.25f32; 2 * input.numel()];
            if let Ok(shape) = input.batched(2)
                && let Ok(t) = Tensor::new(&x, shape)
            {
                let _ = net.forward(t);
            }
        }
    }
    let mut optimizer = Adam::new(0.1);
    if let Some(t) = file.training() {
        let purpose = Purpose::Training {
            optimizer_state_per_param: t.state_per_param.min(8),
        };
        if let Ok(layers) = file.layers()
            && let Ok(plan) = Plan::new(&layers, input, 1, purpose)
            && plan.floats() < 1 << 22
            && let Ok(mut net) = file.net(1, purpose, vec![0.0f32; plan.floats()])
        {
            let _ = file.restore_net(&mut net, &mut optimizer);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    if data.len() >= format::HEADER_LEN {
        let mut fixed = data.to_vec();
        let crc = format::crc32(&fixed[format::CRC_START..]);
        fixed[format::CRC_OFFSET..format::CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        exercise(&fixed);
    }
});
