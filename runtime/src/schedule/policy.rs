//! Policies: where in its window a job's slots go, given the trace the policy plans on.
//!
//! Every policy returns a placement inside `release..deadline` with exactly `duration_slots`
//! slots (contiguous unless the job is interruptible); [`super::evaluate`] re-checks that rather
//! than trusting it. Planning on a forecast and being charged on the actual is not a policy of
//! its own: it is any policy evaluated with a forecast as the planning trace.

use super::job::{Job, JobError};
use super::trace::CarbonTrace;

/// How a job is placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// The baseline: start at the release slot and run to the end.
    RunAtOnce,
    /// Online: run in a slot whose intensity is below `g_per_kwh`, otherwise wait — unless
    /// waiting longer would miss the deadline, then run regardless. A non-interruptible job
    /// starts at the first clean slot from which it still fits, else at the latest start.
    Threshold {
        /// The intensity (g CO2e/kWh) below which the job runs.
        g_per_kwh: f64,
    },
    /// Perfect foresight of the planning trace: the cleanest `duration_slots` slots of the
    /// window if interruptible, else the contiguous run with the least summed intensity (ties go
    /// to the earliest slots). With the actual trace this is the lower bound of every policy.
    Optimal,
}

/// The slots a job runs in, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Slot indices of the trace, ascending.
    pub slots: Vec<usize>,
}

/// Places `job` on `trace` under `policy`.
pub fn place(policy: Policy, job: &Job, trace: &CarbonTrace) -> Result<Placement, JobError> {
    job.check_fits(trace.len())?;
    let g = &trace.g_per_kwh;
    let (r, dl, d) = (job.release, job.deadline, job.duration_slots);
    let contiguous = |start: usize| (start..start + d).collect::<Vec<_>>();
    let slots = match policy {
        Policy::RunAtOnce => contiguous(r),
        Policy::Threshold { g_per_kwh } if job.interruptible => {
            let mut slots = Vec::with_capacity(d);
            for (s, &g_s) in g.iter().enumerate().take(dl).skip(r) {
                let needed = d - slots.len();
                if needed == 0 {
                    break;
                }
                if g_s < g_per_kwh || needed == dl - s {
                    slots.push(s);
                }
            }
            slots
        }
        Policy::Threshold { g_per_kwh } => {
            let latest = dl - d;
            contiguous((r..=latest).find(|&s| g[s] < g_per_kwh).unwrap_or(latest))
        }
        Policy::Optimal if job.interruptible => {
            let mut window: Vec<usize> = (r..dl).collect();
            window.sort_by(|&a, &b| g[a].total_cmp(&g[b]).then(a.cmp(&b)));
            window.truncate(d);
            window.sort_unstable();
            window
        }
        Policy::Optimal => {
            // Direct sums (no running prefix) so equal windows compare equal, bit for bit.
            let sum = |s: usize| g[s..s + d].iter().sum::<f64>();
            let best = (r..=dl - d).min_by(|&a, &b| sum(a).total_cmp(&sum(b)).then(a.cmp(&b)));
            contiguous(best.unwrap_or(r))
        }
    };
    Ok(Placement { slots })
}
