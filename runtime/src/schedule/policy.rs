//! Policies: where in its window a job's slots go, and at which power level.
//!
//! Every policy returns a placement inside `release..deadline` with exactly the chosen level's
//! number of slots (contiguous unless the job is interruptible);
//! [`super::evaluate`](mod@super::evaluate) re-checks that rather than trusting it. Policies see
//! the future through [`Forecasts`]: a plain [`CarbonTrace`] is a forecast that never changes, so
//! [`place`] on the actual trace is perfect foresight and on a forecast trace is planning on that
//! forecast.

use super::forecast::{Forecasts, IssuedAt};
use super::job::{Job, JobError};
use super::online::place_online;
use super::trace::CarbonTrace;

/// How a job is placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// The baseline: start at the release slot at the nominal level and run to the end.
    RunAtOnce,
    /// Online rule on the value known when each slot starts: run in a slot whose value is below
    /// `g_per_kwh`, otherwise wait — unless waiting longer would miss the deadline, then run
    /// regardless. A non-interruptible job starts at the first clean slot from which it still
    /// fits, else at the latest start. Nominal level only.
    Threshold {
        /// The intensity (g CO2e/kWh, or the signal's unit) below which the job runs.
        g_per_kwh: f64,
    },
    /// Plan once, at release, on the forecast issued then: over every power level, the cleanest
    /// slots of the window if interruptible, else the contiguous run with the least summed value
    /// (ties go to the lower level, then the earliest slots). On the actual trace this is the
    /// perfect-foresight bound of every policy.
    Optimal,
    /// Re-plan at every slot on the forecast issued then and commit only that slot (see
    /// [`super::online`]). On a forecast that never changes it places like `Optimal`.
    Online,
}

/// The slots a job runs in, ascending, and the operating point it runs at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Slot indices of the trace, ascending.
    pub slots: Vec<usize>,
    /// Index into [`Job::operating_points`] (0 = nominal).
    pub level: usize,
}

/// The `n` cheapest slots of `values` (slot `from + i` has value `values[i]`), ascending, and
/// their summed value: contiguous unless `interruptible`. `None` if `n` exceeds the slots.
pub(super) fn cheapest_slots(values: &[f64], from: usize, n: usize, interruptible: bool) -> Option<(f64, Vec<usize>)> {
    if n == 0 || n > values.len() {
        return None;
    }
    if interruptible {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
        order.truncate(n);
        order.sort_unstable();
        let sum = order.iter().map(|&i| values[i]).sum();
        return Some((sum, order.into_iter().map(|i| from + i).collect()));
    }
    // Direct sums (no running prefix) so equal windows compare equal, bit for bit.
    let sum = |s: usize| values[s..s + n].iter().sum::<f64>();
    let best = (0..=values.len() - n).min_by(|&a, &b| sum(a).total_cmp(&sum(b)).then(a.cmp(&b)))?;
    Some((sum(best), (from + best..from + best + n).collect()))
}

/// The cheapest placement over every operating point that fits in `from..job.deadline`, costed
/// as energy per slot × summed value. `values[i]` is the value of slot `from + i`.
pub(super) fn cheapest_placement(job: &Job, values: &[f64], from: usize) -> Option<(f64, Placement)> {
    let mut best: Option<(f64, Placement)> = None;
    for (level, point) in job.operating_points().enumerate() {
        let Some((sum, slots)) = cheapest_slots(values, from, point.slots, job.interruptible) else { continue };
        let cost = point.energy_kwh / point.slots as f64 * sum;
        if best.as_ref().is_none_or(|(c, _)| cost.total_cmp(c).is_lt()) {
            best = Some((cost, Placement { slots, level }));
        }
    }
    best
}

/// Places `job` on `trace` under `policy` (a fixed trace: perfect foresight of it).
pub fn place(policy: Policy, job: &Job, trace: &CarbonTrace) -> Result<Placement, JobError> {
    place_with(policy, job, trace)
}

/// Places `job` under `policy` with what `forecasts` tell it when: `Optimal` plans on the
/// forecast issued at the release slot, `Threshold` reads each slot's value as that slot starts,
/// `Online` re-plans at every slot.
pub fn place_with(policy: Policy, job: &Job, forecasts: &dyn Forecasts) -> Result<Placement, JobError> {
    job.check_fits(forecasts.len())?;
    let (r, dl, d) = (job.release, job.deadline, job.duration_slots);
    let contiguous = |start: usize| (start..start + d).collect::<Vec<_>>();
    let slots = match policy {
        Policy::RunAtOnce => contiguous(r),
        Policy::Threshold { g_per_kwh } if job.interruptible => {
            let mut slots = Vec::with_capacity(d);
            for s in r..dl {
                let needed = d - slots.len();
                if needed == 0 {
                    break;
                }
                if forecasts.at(s, s) < g_per_kwh || needed == dl - s {
                    slots.push(s);
                }
            }
            slots
        }
        Policy::Threshold { g_per_kwh } => {
            let latest = dl - d;
            contiguous((r..=latest).find(|&s| forecasts.at(s, s) < g_per_kwh).unwrap_or(latest))
        }
        Policy::Optimal => {
            let plan = IssuedAt { forecasts, issued: r };
            let values: Vec<f64> = (r..dl).map(|s| plan.at(r, s)).collect();
            // Construction guarantees the nominal level fits the window.
            return Ok(cheapest_placement(job, &values, r)
                .map_or_else(|| Placement { slots: contiguous(r), level: 0 }, |p| p.1));
        }
        Policy::Online => return Ok(place_online(job, forecasts)),
    };
    Ok(Placement { slots, level: 0 })
}
