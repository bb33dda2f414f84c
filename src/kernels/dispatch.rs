//! Which implementation of the kernels runs: one choice for the whole crate, made once.
//!
//! The fast kernels come in families ([`KernelPath`]): the scalar twins, the portable `wide`
//! kernels, and on x86-64 hand-written `core::arch` AVX2+FMA and AVX-512F kernels. Which
//! families a machine can run is only known at run time (a binary built for generic x86-64
//! must still use AVX-512 where it exists, and must not where it does not), so:
//!
//! - with `std`, [`selected`] asks the CPU (`is_x86_feature_detected!`) once and caches the
//!   answer in an atomic;
//! - without `std` there is no detection: the build's `target_feature`s decide (build with
//!   `-C target-feature=+avx2,+fma` or `+avx512f` to get those kernels on bare metal);
//! - with `std`, the environment variable [`KERNEL_ENV`] (`NANONN_KERNEL=scalar|portable|avx2|avx512`)
//!   forces a family, to compare them or to rule one out while debugging. A value that names
//!   a family the CPU lacks, or no family at all, is **not** an error: a warning goes to
//!   stderr once and the best supported family is used instead. Why: the variable is a
//!   tuning knob read behind the caller's back; failing every later kernel call (or
//!   crashing on an illegal instruction) because one machine in a fleet lacks AVX-512 would
//!   be worse than running a little slower.

/// Name of the environment variable that forces a [`KernelPath`] (read once, `std` only).
pub const KERNEL_ENV: &str = "NANONN_KERNEL";

/// A family of kernel implementations.
///
/// Every family computes the same functions; they differ in speed and in rounding (the
/// summation order inside a kernel may differ between families, never between runs or
/// thread counts of one family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// The plain scalar twins (`*_reference`): slow, simple, the yardstick for the others.
    Scalar,
    /// `wide` vectors, lowered to whatever the build targets (SSE2 on generic x86-64, NEON,
    /// wasm simd128, plain scalars on Cortex-M): the fallback everywhere.
    Portable,
    /// x86-64 AVX2 + FMA (256-bit) kernels written with `core::arch`.
    Avx2,
    /// x86-64 AVX-512F (512-bit) kernels written with `core::arch`.
    Avx512,
}

impl KernelPath {
    /// Every family, slowest first.
    pub const ALL: [KernelPath; 4] = [
        KernelPath::Scalar,
        KernelPath::Portable,
        KernelPath::Avx2,
        KernelPath::Avx512,
    ];

    /// The lower-case name used by [`KERNEL_ENV`].
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
            KernelPath::Portable => "portable",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
        }
    }

    /// Parses a name as [`KernelPath::name`] writes it (ASCII case and surrounding spaces
    /// ignored); `None` for anything else.
    pub fn from_name(name: &str) -> Option<KernelPath> {
        let name = name.trim();
        KernelPath::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether this machine (with `std`) or this build (without `std`) can run the family.
    /// `Scalar` and `Portable` always can.
    pub fn is_supported(self) -> bool {
        match self {
            KernelPath::Scalar | KernelPath::Portable => true,
            KernelPath::Avx2 => has_avx2_fma(),
            KernelPath::Avx512 => has_avx512f(),
        }
    }

    /// The fastest supported family, ignoring [`KERNEL_ENV`].
    pub fn best() -> KernelPath {
        KernelPath::ALL
            .into_iter()
            .rev()
            .find(|p| p.is_supported())
            .unwrap_or(KernelPath::Portable)
    }
}

impl core::fmt::Display for KernelPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The family every kernel call uses: [`KernelPath::best`], unless [`KERNEL_ENV`] forces a
/// supported one (see the module documentation). Decided on the first call, then cached.
#[cfg(feature = "std")]
pub fn selected() -> KernelPath {
    use core::sync::atomic::{AtomicU8, Ordering};
    /// 0: not decided yet; otherwise 1 + the index in `KernelPath::ALL`.
    static SELECTED: AtomicU8 = AtomicU8::new(0);
    match SELECTED.load(Ordering::Relaxed) {
        0 => {
            let path = from_env(std::env::var(KERNEL_ENV).ok().as_deref());
            let index = KernelPath::ALL.iter().position(|&p| p == path).unwrap_or(1);
            // Several threads may race here; they all compute the same answer.
            SELECTED.store(index as u8 + 1, Ordering::Relaxed);
            path
        }
        i => KernelPath::ALL[usize::from(i - 1) % KernelPath::ALL.len()],
    }
}

/// The family every kernel call uses: without `std` there is no detection and no
/// environment, so this is [`KernelPath::best`] as the build's target features decide it.
#[cfg(not(feature = "std"))]
pub fn selected() -> KernelPath {
    KernelPath::best()
}

/// Resolves the value of [`KERNEL_ENV`] (`None`: unset) to a supported family, warning on
/// stderr when the value cannot be honoured.
#[cfg(feature = "std")]
fn from_env(value: Option<&str>) -> KernelPath {
    let best = KernelPath::best();
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return best;
    };
    match KernelPath::from_name(value) {
        Some(path) if path.is_supported() => path,
        Some(path) => {
            std::eprintln!("nanonn: {KERNEL_ENV}={value}: this CPU lacks {path}; using {best}");
            best
        }
        None => {
            std::eprintln!(
                "nanonn: {KERNEL_ENV}={value} is not one of scalar, portable, avx2, avx512; using {best}"
            );
            best
        }
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn has_avx512f() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

#[cfg(all(not(feature = "std"), target_arch = "x86_64"))]
fn has_avx2_fma() -> bool {
    cfg!(all(target_feature = "avx2", target_feature = "fma"))
}

#[cfg(all(not(feature = "std"), target_arch = "x86_64"))]
fn has_avx512f() -> bool {
    cfg!(target_feature = "avx512f")
}

// The `core::arch` kernels exist for x86-64 only (32-bit x86 has too few vector registers
// for their tiles).
#[cfg(not(target_arch = "x86_64"))]
fn has_avx2_fma() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512f() -> bool {
    false
}

/// The families this host can run, announcing the ones it skips: what the kernels' tests
/// iterate over (a path the host lacks would silently run the portable code).
#[cfg(all(test, feature = "std"))]
pub(crate) fn supported_paths() -> std::vec::Vec<KernelPath> {
    KernelPath::ALL
        .into_iter()
        .filter(|p| {
            let ok = p.is_supported();
            if !ok {
                std::println!("skipping {p}: host lacks it");
            }
            ok
        })
        .collect()
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for p in KernelPath::ALL {
            assert_eq!(KernelPath::from_name(p.name()), Some(p));
        }
        assert_eq!(KernelPath::from_name(" AVX512 "), Some(KernelPath::Avx512));
        assert_eq!(KernelPath::from_name("sse"), None);
        assert_eq!(KernelPath::from_name(""), None);
    }

    #[test]
    fn env_value_resolves_to_a_supported_path() {
        let best = KernelPath::best();
        assert!(best.is_supported());
        assert_eq!(from_env(None), best);
        assert_eq!(from_env(Some("  ")), best);
        assert_eq!(from_env(Some("nonsense")), best);
        assert_eq!(from_env(Some("scalar")), KernelPath::Scalar);
        assert_eq!(from_env(Some("Portable")), KernelPath::Portable);
        for p in [KernelPath::Avx2, KernelPath::Avx512] {
            let want = if p.is_supported() { p } else { best };
            assert_eq!(from_env(Some(p.name())), want);
        }
        assert!(selected().is_supported());
    }

    #[test]
    fn detection_agrees_with_std() {
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(
                KernelPath::Avx512.is_supported(),
                std::is_x86_feature_detected!("avx512f")
            );
            assert_eq!(
                KernelPath::Avx2.is_supported(),
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(KernelPath::best(), KernelPath::Portable);
    }
}
