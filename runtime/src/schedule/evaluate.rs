//! Evaluation: carbon per job, saving versus run-at-once, the gap to the perfect-foresight bound
//! and deadline misses, for a policy that plans on forecasts and is charged on the actual trace.
//!
//! A job's energy at its chosen level is spread evenly over that level's slots, so its carbon is
//! `energy_kwh / slots × Σ g/kWh of its slots` (g CO2e). "Planned" is what the policy expected
//! when the job was released: the placement it makes if the forecast issued at the release slot
//! were exact, costed on that forecast (for a policy that plans once, its actual placement; for
//! the online policy, its first plan). Run-at-once is the baseline, at the nominal level. The
//! bound is perfect foresight of the actual trace over every level. Deadline misses are counted
//! from the placements themselves, not assumed zero.

use super::forecast::{Forecasts, IssuedAt};
use super::job::{Job, JobError};
use super::policy::{Placement, Policy, place, place_with};
use super::trace::CarbonTrace;

/// One job's result.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// The job's name.
    pub name: String,
    /// Where it ran.
    pub placement: Placement,
    /// Its energy at the chosen level, kWh.
    pub energy_kwh: f64,
    /// Carbon the planner expected (planning trace), g CO2e.
    pub planned_g: f64,
    /// Run-at-once carbon on the planning trace, g CO2e.
    pub baseline_planned_g: f64,
    /// Carbon charged (actual trace), g CO2e.
    pub carbon_g: f64,
    /// Run-at-once carbon on the actual trace, g CO2e.
    pub baseline_g: f64,
    /// Perfect-foresight carbon on the actual trace, g CO2e: no policy can do better.
    pub bound_g: f64,
    /// Whether the placement leaves the window, has the wrong slot count, repeats a slot, or is
    /// split although the job is not interruptible.
    pub deadline_missed: bool,
}

/// Totals over a job set.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Per job, in input order.
    pub outcomes: Vec<JobOutcome>,
    /// Sum of planned carbon, g CO2e.
    pub planned_g: f64,
    /// Sum of run-at-once carbon on the planning trace, g CO2e.
    pub baseline_planned_g: f64,
    /// Sum of charged carbon, g CO2e.
    pub carbon_g: f64,
    /// Sum of run-at-once carbon on the actual trace, g CO2e.
    pub baseline_g: f64,
    /// Sum of perfect-foresight carbon on the actual trace, g CO2e.
    pub bound_g: f64,
    /// Jobs whose placement misses its window.
    pub deadline_misses: usize,
}

fn saving(carbon: f64, baseline: f64) -> f64 {
    if baseline > 0.0 { 1.0 - carbon / baseline } else { f64::NAN }
}

impl Evaluation {
    /// The saving the planner expected: 1 − planned / run-at-once, both on the planning trace
    /// (NaN when the baseline is zero).
    pub fn planned_saving(&self) -> f64 {
        saving(self.planned_g, self.baseline_planned_g)
    }

    /// The saving actually obtained: 1 − charged / run-at-once, both on the actual trace.
    pub fn realised_saving(&self) -> f64 {
        saving(self.carbon_g, self.baseline_g)
    }

    /// The perfect-foresight saving on the actual trace: the bound.
    pub fn bound_saving(&self) -> f64 {
        saving(self.bound_g, self.baseline_g)
    }

    /// Bound saving minus realised saving (fraction of the baseline; ≥ 0 up to rounding).
    pub fn gap_to_bound(&self) -> f64 {
        self.bound_saving() - self.realised_saving()
    }
}

/// Energy of `job` at `placement`'s level, kWh (NaN for a level the job does not have).
pub fn energy_kwh(job: &Job, placement: &Placement) -> f64 {
    job.level(placement.level).map_or(f64::NAN, |l| l.energy_kwh)
}

/// Carbon of running `job` at `placement` on `forecasts` (each slot's value as forecast at the
/// release: for a fixed trace, simply its values), g CO2e. NaN for a level the job lacks.
pub fn carbon_g(job: &Job, placement: &Placement, forecasts: &dyn Forecasts) -> f64 {
    let Some(level) = job.level(placement.level) else { return f64::NAN };
    let per_slot_kwh = level.energy_kwh / level.slots as f64;
    placement.slots.iter().map(|&s| forecasts.at(job.release.min(s), s)).sum::<f64>() * per_slot_kwh
}

/// Whether `placement` is valid for `job`: a level it has, exactly that level's slot count,
/// ascending, inside `release..deadline`, contiguous unless interruptible.
pub fn meets_deadline(job: &Job, placement: &Placement) -> bool {
    let slots = &placement.slots;
    job.level(placement.level).is_some_and(|l| slots.len() == l.slots)
        && slots.windows(2).all(|w| w[0] < w[1] && (job.interruptible || w[1] == w[0] + 1))
        && slots.first().is_some_and(|&s| s >= job.release)
        && slots.last().is_some_and(|&s| s < job.deadline)
}

/// Places every job with `policy` on `plan`, charges it on `actual` (pass the same trace twice
/// for perfect information) and compares with run-at-once and the perfect-foresight bound.
pub fn evaluate(
    jobs: &[Job],
    policy: Policy,
    plan: &CarbonTrace,
    actual: &CarbonTrace,
) -> Result<Evaluation, JobError> {
    if !plan.aligned_with(actual) {
        return Err(JobError::MisalignedTraces);
    }
    evaluate_with(jobs, policy, plan, actual)
}

/// Places every job with `policy` on `forecasts` (which may change as they are re-issued, see
/// [`super::forecast`]), charges it on `actual` and compares with run-at-once and the
/// perfect-foresight bound. `forecasts` must cover the actual trace's slots.
pub fn evaluate_with(
    jobs: &[Job],
    policy: Policy,
    forecasts: &dyn Forecasts,
    actual: &CarbonTrace,
) -> Result<Evaluation, JobError> {
    if forecasts.len() != actual.len() {
        return Err(JobError::MisalignedTraces);
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let placement = place_with(policy, job, forecasts)?;
        let at_release = IssuedAt { forecasts, issued: job.release };
        let planned = if matches!(policy, Policy::Online | Policy::Threshold { .. }) {
            place_with(policy, job, &at_release)?
        } else {
            placement.clone()
        };
        let at_once = place(Policy::RunAtOnce, job, actual)?;
        let bound = place(Policy::Optimal, job, actual)?;
        outcomes.push(JobOutcome {
            name: job.name.clone(),
            energy_kwh: energy_kwh(job, &placement),
            planned_g: carbon_g(job, &planned, &at_release),
            baseline_planned_g: carbon_g(job, &at_once, &at_release),
            carbon_g: carbon_g(job, &placement, actual),
            baseline_g: carbon_g(job, &at_once, actual),
            bound_g: carbon_g(job, &bound, actual),
            deadline_missed: !meets_deadline(job, &placement),
            placement,
        });
    }
    let total = |f: fn(&JobOutcome) -> f64| outcomes.iter().map(f).sum::<f64>();
    Ok(Evaluation {
        planned_g: total(|o| o.planned_g),
        baseline_planned_g: total(|o| o.baseline_planned_g),
        carbon_g: total(|o| o.carbon_g),
        baseline_g: total(|o| o.baseline_g),
        bound_g: total(|o| o.bound_g),
        deadline_misses: outcomes.iter().filter(|o| o.deadline_missed).count(),
        outcomes,
    })
}
