//! Learning-rate schedules: the learning rate as a pure function of the step count.
//!
//! [`LrSchedule::lr`] takes `step`, the number of optimizer updates already taken
//! ([`crate::optim::Optimizer::steps`]), so the first update uses `lr(0)`. Because a schedule
//! keeps no state of its own, a checkpoint only stores the optimizer's step counter and the
//! schedule resumes exactly where it was. Before each update:
//!
//! ```
//! use nanonn::optim::{Adam, Optimizer};
//! use nanonn::schedule::{CosineLr, LrSchedule, Warmup};
//!
//! let schedule = Warmup::new(100, CosineLr::new(1e-3, 1e-5, 10_000)?);
//! let mut opt = Adam::default();
//! let (mut params, grads, mut state) = ([0.0f32; 4], [0.1f32; 4], [0.0f32; 8]);
//! for _ in 0..3 {
//!     opt.set_lr(schedule.lr(opt.steps()));
//!     opt.step(&mut params, &grads, &mut state)?;
//! }
//! // The third update used 2/100 of the warm-up target.
//! assert!((opt.lr() - 1e-3 * 2.0 / 100.0).abs() < 1e-10);
//! # Ok::<(), nanonn::Error>(())
//! ```
//!
//! The schedules carry tinynn's names; unlike tinynn's (which multiply the optimizer's current
//! rate step by step) each is a closed formula, evaluated in `f64` with `libm` so that the
//! values are the same on every platform, with or without `std`. Constructors validate their
//! arguments, so the fields are private.

use crate::error::{Error, ErrorKind, Result};

/// A learning rate for every step.
pub trait LrSchedule {
    /// The learning rate of the update taken after `step` updates (the first update: 0).
    fn lr(&self, step: u64) -> f32;
}

impl<S: LrSchedule + ?Sized> LrSchedule for &S {
    fn lr(&self, step: u64) -> f32 {
        (**self).lr(step)
    }
}

fn check_lr(lr: f32, message: &'static str) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(Error::config(message))
    }
}

fn check_steps(steps: u64, message: &'static str) -> Result<()> {
    if steps > 0 {
        Ok(())
    } else {
        Err(Error::config(message))
    }
}

/// `base * factor^exponent`, in f64 (exact for the integer exponents of [`StepLr`] and
/// [`MultiStepLr`] up to rounding of the final product).
fn decayed(base: f32, factor: f32, exponent: f64) -> f32 {
    (base as f64 * libm::pow(factor as f64, exponent)) as f32
}

/// The same learning rate at every step: `lr(step) = lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant {
    lr: f32,
}

impl Constant {
    /// Errors if `lr` is negative or not finite.
    pub fn new(lr: f32) -> Result<Constant> {
        check_lr(lr, "Constant lr must be finite and >= 0")?;
        Ok(Constant { lr })
    }
}

impl LrSchedule for Constant {
    fn lr(&self, _step: u64) -> f32 {
        self.lr
    }
}

/// Decay by `gamma` every `step_size` steps:
/// `lr(step) = base_lr * gamma^floor(step / step_size)`. The first decayed step is
/// `step_size`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    base_lr: f32,
    step_size: u64,
    gamma: f32,
}

impl StepLr {
    /// Errors if `step_size` is 0 or `base_lr` / `gamma` is negative or not finite.
    pub fn new(base_lr: f32, step_size: u64, gamma: f32) -> Result<StepLr> {
        check_lr(base_lr, "StepLr base_lr must be finite and >= 0")?;
        check_steps(step_size, "StepLr step_size must be > 0")?;
        check_lr(gamma, "StepLr gamma must be finite and >= 0")?;
        Ok(StepLr {
            base_lr,
            step_size,
            gamma,
        })
    }
}

impl LrSchedule for StepLr {
    fn lr(&self, step: u64) -> f32 {
        // `max(1)`: the constructor rules out 0; this keeps `lr` total regardless.
        let decays = step / self.step_size.max(1);
        decayed(self.base_lr, self.gamma, decays as f64)
    }
}

/// Most milestones a [`MultiStepLr`] holds (it lives without a heap).
pub const MAX_MILESTONES: usize = 16;

/// Decay by `gamma` at each milestone:
/// `lr(step) = base_lr * gamma^(number of milestones <= step)`. At exactly a milestone the
/// rate is already decayed.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    base_lr: f32,
    milestones: heapless::Vec<u64, MAX_MILESTONES>,
    gamma: f32,
}

impl MultiStepLr {
    /// Errors if there are more than [`MAX_MILESTONES`] milestones
    /// ([`ErrorKind::CapacityExceeded`]), if they are not strictly increasing, or if
    /// `base_lr` / `gamma` is negative or not finite.
    pub fn new(base_lr: f32, milestones: &[u64], gamma: f32) -> Result<MultiStepLr> {
        check_lr(base_lr, "MultiStepLr base_lr must be finite and >= 0")?;
        check_lr(gamma, "MultiStepLr gamma must be finite and >= 0")?;
        if milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::config(
                "MultiStepLr milestones must be strictly increasing",
            ));
        }
        let milestones = heapless::Vec::from_slice(milestones).map_err(|_| {
            Error::new(ErrorKind::CapacityExceeded {
                what: "MultiStepLr milestones",
                capacity: MAX_MILESTONES,
            })
        })?;
        Ok(MultiStepLr {
            base_lr,
            milestones,
            gamma,
        })
    }
}

impl LrSchedule for MultiStepLr {
    fn lr(&self, step: u64) -> f32 {
        let passed = self.milestones.iter().filter(|&&m| m <= step).count();
        decayed(self.base_lr, self.gamma, passed as f64)
    }
}

/// Continuous exponential decay (TensorFlow's `exponential_decay`):
/// `lr(step) = base_lr * decay_rate^(step / decay_steps)`, with real division, so the rate
/// is multiplied by `decay_rate` every `decay_steps` steps and keeps decaying afterwards
/// (tinynn stops decaying at `decay_steps`; use [`LinearLr`] or [`CosineLr`] for a floor).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialLr {
    base_lr: f32,
    decay_steps: u64,
    decay_rate: f32,
}

impl ExponentialLr {
    /// Errors if `decay_steps` is 0 or `base_lr` / `decay_rate` is negative or not finite.
    pub fn new(base_lr: f32, decay_steps: u64, decay_rate: f32) -> Result<ExponentialLr> {
        check_lr(base_lr, "ExponentialLr base_lr must be finite and >= 0")?;
        check_steps(decay_steps, "ExponentialLr decay_steps must be > 0")?;
        check_lr(
            decay_rate,
            "ExponentialLr decay_rate must be finite and >= 0",
        )?;
        Ok(ExponentialLr {
            base_lr,
            decay_steps,
            decay_rate,
        })
    }
}

impl LrSchedule for ExponentialLr {
    fn lr(&self, step: u64) -> f32 {
        let exponent = step as f64 / self.decay_steps.max(1) as f64;
        decayed(self.base_lr, self.decay_rate, exponent)
    }
}

/// Linear interpolation from `base_lr` to `final_lr` over `decay_steps` steps, starting after
/// `start_step`:
///
/// ```text
/// lr(step) = base_lr                                              step <= start_step
///          = base_lr + (final_lr - base_lr) * (step - start_step) / decay_steps
///          = final_lr                                             step >= start_step + decay_steps
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearLr {
    base_lr: f32,
    final_lr: f32,
    decay_steps: u64,
    start_step: u64,
}

impl LinearLr {
    /// Errors if `decay_steps` is 0 or a rate is negative or not finite. `final_lr` may be
    /// larger than `base_lr` (a linear ramp up).
    pub fn new(base_lr: f32, final_lr: f32, decay_steps: u64, start_step: u64) -> Result<LinearLr> {
        check_lr(base_lr, "LinearLr base_lr must be finite and >= 0")?;
        check_lr(final_lr, "LinearLr final_lr must be finite and >= 0")?;
        check_steps(decay_steps, "LinearLr decay_steps must be > 0")?;
        Ok(LinearLr {
            base_lr,
            final_lr,
            decay_steps,
            start_step,
        })
    }
}

impl LrSchedule for LinearLr {
    fn lr(&self, step: u64) -> f32 {
        let done = step.saturating_sub(self.start_step);
        if done >= self.decay_steps {
            return self.final_lr;
        }
        let fraction = done as f64 / self.decay_steps as f64;
        let (base, last) = (self.base_lr as f64, self.final_lr as f64);
        (base + (last - base) * fraction) as f32
    }
}

/// Triangular cyclical learning rate (Smith 2017): from `min_lr` at the start of each cycle
/// up to `max_lr` at mid-cycle and back down, with period `cycle_steps`:
///
/// ```text
/// x = 2 * (step mod cycle_steps) / cycle_steps          (in [0, 2))
/// lr(step) = min_lr + (max_lr - min_lr) * (x if x <= 1 else 2 - x)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CyclicalLr {
    min_lr: f32,
    max_lr: f32,
    cycle_steps: u64,
}

impl CyclicalLr {
    /// Errors if `cycle_steps < 2`, `min_lr > max_lr`, or a rate is negative or not finite.
    pub fn new(min_lr: f32, max_lr: f32, cycle_steps: u64) -> Result<CyclicalLr> {
        check_lr(min_lr, "CyclicalLr min_lr must be finite and >= 0")?;
        check_lr(max_lr, "CyclicalLr max_lr must be finite and >= 0")?;
        if min_lr > max_lr {
            return Err(Error::config("CyclicalLr min_lr must be <= max_lr"));
        }
        if cycle_steps < 2 {
            return Err(Error::config("CyclicalLr cycle_steps must be >= 2"));
        }
        Ok(CyclicalLr {
            min_lr,
            max_lr,
            cycle_steps,
        })
    }
}

impl LrSchedule for CyclicalLr {
    fn lr(&self, step: u64) -> f32 {
        let cycle = self.cycle_steps.max(1);
        let x = 2.0 * (step % cycle) as f64 / cycle as f64;
        let triangle = if x <= 1.0 { x } else { 2.0 - x };
        let (low, high) = (self.min_lr as f64, self.max_lr as f64);
        (low + (high - low) * triangle) as f32
    }
}

/// Cosine annealing (Loshchilov & Hutter 2016, without restarts) from `base_lr` to `min_lr`
/// over `total_steps`, then `min_lr`:
///
/// ```text
/// lr(step) = min_lr + (base_lr - min_lr) * (1 + cos(pi * min(step, total_steps) / total_steps)) / 2
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineLr {
    base_lr: f32,
    min_lr: f32,
    total_steps: u64,
}

impl CosineLr {
    /// Errors if `total_steps` is 0, `min_lr > base_lr`, or a rate is negative or not finite.
    pub fn new(base_lr: f32, min_lr: f32, total_steps: u64) -> Result<CosineLr> {
        check_lr(base_lr, "CosineLr base_lr must be finite and >= 0")?;
        check_lr(min_lr, "CosineLr min_lr must be finite and >= 0")?;
        if min_lr > base_lr {
            return Err(Error::config("CosineLr min_lr must be <= base_lr"));
        }
        check_steps(total_steps, "CosineLr total_steps must be > 0")?;
        Ok(CosineLr {
            base_lr,
            min_lr,
            total_steps,
        })
    }
}

impl LrSchedule for CosineLr {
    fn lr(&self, step: u64) -> f32 {
        let total = self.total_steps.max(1);
        let progress = step.min(total) as f64 / total as f64;
        let cosine = (1.0 + libm::cos(core::f64::consts::PI * progress)) / 2.0;
        let (low, high) = (self.min_lr as f64, self.base_lr as f64);
        (low + (high - low) * cosine) as f32
    }
}

/// Linear warm-up in front of another schedule. With `W = warmup_steps`,
/// `target = inner.lr(0)` and `f = start_factor` (default 0):
///
/// ```text
/// lr(step) = target * (f + (1 - f) * step / W)      step < W
///          = inner.lr(step - W)                     step >= W
/// ```
///
/// The inner schedule is shifted: it starts when the warm-up ends, so the rate is continuous
/// at `W`. With `f = 0` the very first update has rate 0 (as in Hugging Face's linear
/// warm-up); set a start factor such as `1 / W` to make it count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup<S> {
    warmup_steps: u64,
    start_factor: f32,
    inner: S,
}

impl<S: LrSchedule> Warmup<S> {
    /// Warms up over `warmup_steps` steps from 0 to `inner.lr(0)`, then follows `inner`.
    /// `warmup_steps = 0` is `inner` unchanged.
    pub const fn new(warmup_steps: u64, inner: S) -> Warmup<S> {
        Warmup {
            warmup_steps,
            start_factor: 0.0,
            inner,
        }
    }

    /// Starts the warm-up at `start_factor * inner.lr(0)` instead of 0. Errors unless
    /// `start_factor` is in `[0, 1]`.
    pub fn with_start_factor(mut self, start_factor: f32) -> Result<Warmup<S>> {
        if !(0.0..=1.0).contains(&start_factor) {
            return Err(Error::config("Warmup start_factor must be in [0, 1]"));
        }
        self.start_factor = start_factor;
        Ok(self)
    }

    /// The number of warm-up steps `W`: the wrapped schedule's step 0 is step `W`.
    pub const fn warmup_steps(&self) -> u64 {
        self.warmup_steps
    }

    /// The fraction of `inner.lr(0)` the warm-up starts from, in `[0, 1]` (0 unless set with
    /// [`with_start_factor`](Warmup::with_start_factor)).
    pub const fn start_factor(&self) -> f32 {
        self.start_factor
    }

    /// The wrapped schedule.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: LrSchedule> LrSchedule for Warmup<S> {
    fn lr(&self, step: u64) -> f32 {
        if step >= self.warmup_steps {
            return self.inner.lr(step - self.warmup_steps);
        }
        let f = self.start_factor as f64;
        let factor = f + (1.0 - f) * step as f64 / self.warmup_steps as f64;
        (self.inner.lr(0) as f64 * factor) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `schedule.lr(step)` for each `(step, expected)`, expected computed by hand.
    fn check(schedule: &dyn LrSchedule, cases: &[(u64, f64)]) {
        for &(step, expected) in cases {
            let got = schedule.lr(step) as f64;
            let tol = 1e-6 * expected.abs().max(1e-3);
            assert!(
                (got - expected).abs() <= tol,
                "step {step}: got {got}, expected {expected}"
            );
        }
    }

    fn is_config(r: Result<impl core::fmt::Debug>) -> bool {
        matches!(
            r,
            Err(Error {
                kind: ErrorKind::InvalidConfig { .. },
                ..
            })
        )
    }

    #[test]
    fn constant() {
        check(
            &Constant::new(0.3).unwrap(),
            &[(0, 0.3), (1, 0.3), (u64::MAX, 0.3)],
        );
        assert!(is_config(Constant::new(-0.1)));
        assert!(is_config(Constant::new(f32::NAN)));
        assert!(is_config(Constant::new(f32::INFINITY)));
    }

    #[test]
    fn step_lr() {
        let s = StepLr::new(1.0, 10, 0.5).unwrap();
        let cases = [
            (0, 1.0),
            (9, 1.0),
            (10, 0.5),
            (19, 0.5),
            (20, 0.25),
            (35, 0.125),
        ];
        check(&s, &cases);
        check(&s, &[(10_000, 0.0)]); // 0.5^1000 underflows to 0
        assert!(is_config(StepLr::new(1.0, 0, 0.5)));
        assert!(is_config(StepLr::new(-1.0, 10, 0.5)));
        assert!(is_config(StepLr::new(1.0, 10, f32::NAN)));
    }

    #[test]
    fn multi_step_lr() {
        let s = MultiStepLr::new(0.1, &[5, 10, 20], 0.1).unwrap();
        let cases = [
            (0, 0.1),
            (4, 0.1),
            (5, 0.01),
            (9, 0.01),
            (10, 1e-3),
            (19, 1e-3),
        ];
        check(&s, &cases);
        check(&s, &[(20, 1e-4), (1_000_000, 1e-4)]);
        check(
            &MultiStepLr::new(0.2, &[], 0.1).unwrap(),
            &[(0, 0.2), (100, 0.2)],
        );
        check(&MultiStepLr::new(0.2, &[0], 0.5).unwrap(), &[(0, 0.1)]);
        assert!(is_config(MultiStepLr::new(0.1, &[5, 5], 0.1)));
        assert!(is_config(MultiStepLr::new(0.1, &[10, 5], 0.1)));
        assert!(is_config(MultiStepLr::new(0.1, &[5], -0.1)));
        let sixteen: [u64; 16] = core::array::from_fn(|i| i as u64 * 10);
        assert!(MultiStepLr::new(0.1, &sixteen, 0.5).is_ok());
        let seventeen: [u64; 17] = core::array::from_fn(|i| i as u64 * 10);
        let too_many = MultiStepLr::new(0.1, &seventeen, 0.5);
        let capacity = ErrorKind::CapacityExceeded {
            what: "MultiStepLr milestones",
            capacity: 16,
        };
        assert_eq!(too_many.unwrap_err().kind, capacity);
    }

    #[test]
    fn exponential_lr() {
        let s = ExponentialLr::new(2.0, 10, 0.5).unwrap();
        let cases = [
            (0, 2.0),
            (5, 2.0 * core::f64::consts::FRAC_1_SQRT_2), // 2 * 0.5^0.5
            (10, 1.0),
            (15, 0.5 * core::f64::consts::SQRT_2), // 2 * 0.5^1.5
            (20, 0.5),
            (100, 2.0 / 1024.0),
        ];
        check(&s, &cases);
        assert!(is_config(ExponentialLr::new(1.0, 0, 0.5)));
        assert!(is_config(ExponentialLr::new(1.0, 10, -0.5)));
        assert!(is_config(ExponentialLr::new(f32::NAN, 10, 0.5)));
    }

    #[test]
    fn linear_lr() {
        let s = LinearLr::new(1.0, 0.0, 10, 5).unwrap();
        let cases = [
            (0, 1.0),
            (5, 1.0),
            (6, 0.9),
            (10, 0.5),
            (14, 0.1),
            (15, 0.0),
            (99, 0.0),
        ];
        check(&s, &cases);
        let up = LinearLr::new(0.1, 0.5, 4, 0).unwrap();
        check(
            &up,
            &[(0, 0.1), (1, 0.2), (3, 0.4), (4, 0.5), (u64::MAX, 0.5)],
        );
        assert!(is_config(LinearLr::new(1.0, 0.0, 0, 5)));
        assert!(is_config(LinearLr::new(1.0, -1e-6, 10, 5)));
    }

    #[test]
    fn cyclical_lr() {
        let s = CyclicalLr::new(0.1, 0.5, 8).unwrap();
        let cases = [
            (0, 0.1),
            (1, 0.2),
            (2, 0.3),
            (4, 0.5),
            (6, 0.3),
            (7, 0.2),
            (8, 0.1),
        ];
        check(&s, &cases);
        check(&s, &[(10, 0.3), (12, 0.5), (8 * 1000 + 4, 0.5)]);
        // Odd period: the peak falls between steps.
        let odd = CyclicalLr::new(0.0, 1.0, 3).unwrap();
        check(&odd, &[(0, 0.0), (1, 2.0 / 3.0), (2, 2.0 / 3.0), (3, 0.0)]);
        assert!(is_config(CyclicalLr::new(0.5, 0.1, 8)));
        assert!(is_config(CyclicalLr::new(0.1, 0.5, 1)));
        assert!(is_config(CyclicalLr::new(0.1, 0.5, 0)));
        assert!(is_config(CyclicalLr::new(-0.1, 0.5, 8)));
    }

    #[test]
    fn cosine_lr() {
        let s = CosineLr::new(1.0, 0.0, 100).unwrap();
        // (1 + cos(pi/4)) / 2 = 0.5 + sqrt(2)/4
        let quarter = 0.5 + core::f64::consts::SQRT_2 / 4.0;
        let cases = [
            (0, 1.0),
            (25, quarter),
            (50, 0.5),
            (75, 1.0 - quarter),
            (100, 0.0),
        ];
        check(&s, &cases);
        check(&s, &[(101, 0.0), (u64::MAX, 0.0)]);
        let floor = CosineLr::new(1.0, 0.1, 100).unwrap();
        check(&floor, &[(0, 1.0), (50, 0.55), (100, 0.1), (1000, 0.1)]);
        assert!(is_config(CosineLr::new(1.0, 0.0, 0)));
        assert!(is_config(CosineLr::new(0.1, 1.0, 100)));
        assert!(is_config(CosineLr::new(1.0, f32::NAN, 100)));
    }

    #[test]
    fn warmup() {
        let w = Warmup::new(4, Constant::new(0.8).unwrap());
        check(
            &w,
            &[
                (0, 0.0),
                (1, 0.2),
                (2, 0.4),
                (3, 0.6),
                (4, 0.8),
                (1000, 0.8),
            ],
        );
        // The inner schedule is shifted by the warm-up: its step 0 is step 10.
        let w = Warmup::new(10, StepLr::new(1.0, 5, 0.5).unwrap());
        check(
            &w,
            &[
                (0, 0.0),
                (9, 0.9),
                (10, 1.0),
                (14, 1.0),
                (15, 0.5),
                (20, 0.25),
            ],
        );
        let w = Warmup::new(4, Constant::new(1.0).unwrap())
            .with_start_factor(0.5)
            .unwrap();
        check(&w, &[(0, 0.5), (2, 0.75), (4, 1.0)]);
        assert_eq!(w.inner(), &Constant::new(1.0).unwrap());
        assert_eq!((w.warmup_steps(), w.start_factor()), (4, 0.5));
        let plain = Warmup::new(7, Constant::new(1.0).unwrap());
        assert_eq!((plain.warmup_steps(), plain.start_factor()), (7, 0.0));
        // The getters give back what rebuilds an equal warm-up (as the C API does).
        let rebuilt = Warmup::new(w.warmup_steps(), *w.inner())
            .with_start_factor(w.start_factor())
            .unwrap();
        assert_eq!(rebuilt, w);
        // No warm-up: the inner schedule unchanged.
        let none = Warmup::new(0, CosineLr::new(1.0, 0.0, 100).unwrap());
        check(&none, &[(0, 1.0), (50, 0.5), (100, 0.0)]);
        let c = Constant::new(1.0).unwrap();
        assert!(is_config(Warmup::new(4, c).with_start_factor(1.5)));
        assert!(is_config(Warmup::new(4, c).with_start_factor(f32::NAN)));
    }

    #[test]
    fn schedules_work_through_references_and_trait_objects() {
        let s = StepLr::new(1.0, 1, 0.5).unwrap();
        let by_ref: &dyn LrSchedule = &&s;
        check(by_ref, &[(2, 0.25)]);
    }
}
