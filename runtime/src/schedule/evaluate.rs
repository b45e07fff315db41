//! Evaluation: carbon per job, saving versus run-at-once, the gap to the perfect-foresight bound
//! and deadline misses, for a policy that plans on one trace and is charged on another.
//!
//! A job's energy is spread evenly over its slots, so its carbon is
//! `energy_kwh / duration_slots × Σ g/kWh of its slots` (g CO2e). Deadline misses are counted
//! from the placements themselves, not assumed zero.

use super::job::{Job, JobError};
use super::policy::{Placement, Policy, place};
use super::trace::CarbonTrace;

/// One job's result.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// The job's name.
    pub name: String,
    /// Where it ran.
    pub placement: Placement,
    /// Its energy, kWh.
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

/// Carbon of running `job` in `slots` of `trace`, g CO2e.
pub fn carbon_g(job: &Job, slots: &[usize], trace: &CarbonTrace) -> f64 {
    let per_slot_kwh = job.energy_kwh / job.duration_slots as f64;
    slots.iter().map(|&s| trace.g_per_kwh[s]).sum::<f64>() * per_slot_kwh
}

/// Whether `slots` is a valid placement of `job`.
pub fn meets_deadline(job: &Job, slots: &[usize]) -> bool {
    slots.len() == job.duration_slots
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
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let placement = place(policy, job, plan)?;
        let at_once = place(Policy::RunAtOnce, job, actual)?;
        let bound = place(Policy::Optimal, job, actual)?;
        outcomes.push(JobOutcome {
            name: job.name.clone(),
            energy_kwh: job.energy_kwh,
            planned_g: carbon_g(job, &placement.slots, plan),
            baseline_planned_g: carbon_g(job, &at_once.slots, plan),
            carbon_g: carbon_g(job, &placement.slots, actual),
            baseline_g: carbon_g(job, &at_once.slots, actual),
            bound_g: carbon_g(job, &bound.slots, actual),
            deadline_missed: !meets_deadline(job, &placement.slots),
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
