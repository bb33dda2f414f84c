//! The data the firmware runs on, embedded in flash with `include_bytes!` (written by
//! `examples/embedded_assets.rs`; see its table of files).

/// A value aligned to 64 bytes. A model file's tensors sit at multiples of 64 from its start,
/// so a file placed on such an address can be used in place: nanonn reads the weights
/// straight from flash instead of copying them to RAM.
#[repr(C, align(64))]
struct Aligned64<B: ?Sized>(B);

static MODEL_ALIGNED: &Aligned64<[u8]> =
    &Aligned64(*include_bytes!("../../assets/mlp-784-64-10.nnf"));

/// The model file of the host-trained 784 → 64 → 10 MLP, 64-byte aligned.
pub static MODEL: &[u8] = &MODEL_ALIGNED.0;

/// The first 300 MNIST test images, 28×28 bytes each.
pub static TEST_IMAGES: &[u8] = include_bytes!("../../assets/test-images.u8");

/// Their labels.
pub static TEST_LABELS: &[u8] = include_bytes!("../../assets/test-labels.u8");

/// The same test images averaged down to 14×14: the training run's held-out set.
pub static TEST14_IMAGES: &[u8] = include_bytes!("../../assets/test14-images.u8");

/// The first 1000 MNIST training images, 14×14 bytes each.
pub static TRAIN14_IMAGES: &[u8] = include_bytes!("../../assets/train14-images.u8");

/// Their labels.
pub static TRAIN14_LABELS: &[u8] = include_bytes!("../../assets/train14-labels.u8");

/// The lines the host computed with the same code and the same kernels (`key=value`); the
/// firmware checks its own output against them.
pub static EXPECTED: &str = include_str!("../../assets/expected.txt");

/// The expected value of `key` (the text after `key=` on its line), if there is one.
pub fn expected(key: &str) -> Option<&'static str> {
    EXPECTED.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
    })
}
