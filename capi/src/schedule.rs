//! Learning-rate schedules for a model: `nanonn_model_set_*_lr` and `nanonn_model_set_warmup`.
//!
//! nanonn's schedules are pure functions of the optimizer's step counter, so a model only
//! keeps which schedule it follows: before every training step it sets the optimizer's rate
//! to `schedule(steps)`. A checkpoint stores the step counter, so a restored model resumes
//! its schedule exactly.

use nn::schedule::{
    Constant, CosineLr, CyclicalLr, ExponentialLr, LinearLr, LrSchedule, MultiStepLr, StepLr,
    Warmup,
};

use crate::model::NanonnModel;
use crate::status::{NanonnStatus, Outcome, guard, handle_mut, optional_slice};

/// One of the core's schedules.
#[derive(Clone, Debug)]
pub(crate) enum Base {
    Constant(Constant),
    Step(StepLr),
    MultiStep(MultiStepLr),
    Exponential(ExponentialLr),
    Linear(LinearLr),
    Cyclical(CyclicalLr),
    Cosine(CosineLr),
}

impl LrSchedule for Base {
    fn lr(&self, step: u64) -> f32 {
        match self {
            Base::Constant(s) => s.lr(step),
            Base::Step(s) => s.lr(step),
            Base::MultiStep(s) => s.lr(step),
            Base::Exponential(s) => s.lr(step),
            Base::Linear(s) => s.lr(step),
            Base::Cyclical(s) => s.lr(step),
            Base::Cosine(s) => s.lr(step),
        }
    }
}

/// What a model's learning rate follows: nothing (the optimizer's rate stays as it is), or a
/// schedule, optionally behind a linear warm-up.
#[derive(Clone, Debug, Default)]
pub(crate) enum Schedule {
    /// No schedule: the optimizer's rate.
    #[default]
    Fixed,
    /// A schedule from step 0.
    Plain(Base),
    /// A schedule behind a warm-up, which shifts it to start when the warm-up ends.
    Warm(Warmup<Base>),
}

impl Schedule {
    /// The rate of the step taken after `steps` steps, if a schedule decides it.
    pub(crate) fn lr(&self, steps: u64) -> Option<f32> {
        match self {
            Schedule::Fixed => None,
            Schedule::Plain(base) => Some(base.lr(steps)),
            Schedule::Warm(warm) => Some(warm.lr(steps)),
        }
    }
}

impl NanonnModel {
    /// Follows `base` from now on (behind the warm-up, if there is one).
    fn set_base(&mut self, base: Base) -> Outcome {
        let s = match self.schedule() {
            Schedule::Warm(w) => Schedule::Warm(
                Warmup::new(w.warmup_steps(), base).with_start_factor(w.start_factor())?,
            ),
            Schedule::Fixed | Schedule::Plain(_) => Schedule::Plain(base),
        };
        self.set_schedule(s);
        Ok(())
    }
}

/// Sets a fixed learning rate (finite, >= 0) and removes any schedule and warm-up.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_lr(model: *mut NanonnModel, lr: f32) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        m.set_schedule(Schedule::Plain(Base::Constant(Constant::new(lr)?)));
        Ok(())
    })
}

/// `lr(step) = base_lr * gamma^floor(step / step_size)`.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_step_lr(
    model: *mut NanonnModel,
    base_lr: f32,
    step_size: u64,
    gamma: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        m.set_base(Base::Step(StepLr::new(base_lr, step_size, gamma)?))
    })
}

/// `lr(step) = base_lr * gamma^(number of milestones <= step)`; `milestones[0..len]` strictly
/// increasing, at most 16 (NULL with `len` 0 for none).
///
/// # Safety
/// `model` is NULL or a live model; `milestones` points to `len` readable `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_multi_step_lr(
    model: *mut NanonnModel,
    base_lr: f32,
    milestones: *const u64,
    len: usize,
    gamma: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        // SAFETY: the caller's contract for the pair.
        let list = unsafe { optional_slice(milestones, len, "milestones") }?;
        m.set_base(Base::MultiStep(MultiStepLr::new(base_lr, list, gamma)?))
    })
}

/// `lr(step) = base_lr * decay_rate^(step / decay_steps)` (real division).
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_exponential_lr(
    model: *mut NanonnModel,
    base_lr: f32,
    decay_steps: u64,
    decay_rate: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        m.set_base(Base::Exponential(ExponentialLr::new(
            base_lr,
            decay_steps,
            decay_rate,
        )?))
    })
}

/// `base_lr` until `start_step`, then linearly to `final_lr` over `decay_steps` steps, then
/// `final_lr`.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_linear_lr(
    model: *mut NanonnModel,
    base_lr: f32,
    final_lr: f32,
    decay_steps: u64,
    start_step: u64,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        m.set_base(Base::Linear(LinearLr::new(
            base_lr,
            final_lr,
            decay_steps,
            start_step,
        )?))
    })
}

/// A triangle wave between `min_lr` and `max_lr` with a period of `cycle_steps` steps.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_cyclical_lr(
    model: *mut NanonnModel,
    min_lr: f32,
    max_lr: f32,
    cycle_steps: u64,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        m.set_base(Base::Cyclical(CyclicalLr::new(
            min_lr,
            max_lr,
            cycle_steps,
        )?))
    })
}

/// Cosine annealing from `base_lr` to `min_lr` over `total_steps` steps, then `min_lr`.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_cosine_lr(
    model: *mut NanonnModel,
    base_lr: f32,
    min_lr: f32,
    total_steps: u64,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        m.set_base(Base::Cosine(CosineLr::new(base_lr, min_lr, total_steps)?))
    })
}

/// Puts a linear warm-up of `warmup_steps` steps in front of the schedule (or of the current
/// fixed rate): from `start_factor` (in [0, 1]) times the schedule's first rate up to it.
/// The schedule is shifted to start when the warm-up ends. `warmup_steps` 0 removes the
/// warm-up.
///
/// # Safety
/// `model` is NULL or a live model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanonn_model_set_warmup(
    model: *mut NanonnModel,
    warmup_steps: u64,
    start_factor: f32,
) -> NanonnStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let m = unsafe { handle_mut(model, "model") }?;
        let base = match m.schedule() {
            Schedule::Fixed => Base::Constant(Constant::new(m.current_lr())?),
            Schedule::Plain(base) => base.clone(),
            Schedule::Warm(w) => w.inner().clone(),
        };
        // Built even for 0 steps, so that a bad start_factor is an error either way.
        let warm = Warmup::new(warmup_steps, base).with_start_factor(start_factor)?;
        m.set_schedule(if warmup_steps > 0 {
            Schedule::Warm(warm)
        } else {
            Schedule::Plain(warm.inner().clone())
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_shifts_the_schedule() {
        let s = Schedule::Warm(Warmup::new(
            4,
            Base::Step(StepLr::new(1.0, 10, 0.5).unwrap()),
        ));
        // Hand-computed: 0, 1/4, 2/4, 3/4 of lr(0) = 1, then StepLr from its step 0.
        let got: Vec<f32> = (0..6).chain([14, 15]).map(|t| s.lr(t).unwrap()).collect();
        assert_eq!(got, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5]);
        assert_eq!(Schedule::default().lr(3), None);
    }
}
