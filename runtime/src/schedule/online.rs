//! The online policy: at the start of every slot, plan the rest of the job on the forecast issued
//! then, and commit only that slot.
//!
//! Before the job starts, each plan ranges over every power level that still fits; the job
//! starts when a plan starts now, and its level is then fixed. An interruptible job re-plans its
//! remaining slots every slot; a non-interruptible one, once started, runs to the end. The
//! deadline is never at risk: a plan that waits keeps a feasible placement for the next slot
//! (the same one, one slot shorter), and when the remaining slots equal the remaining window the
//! only plan is to run now.

use super::forecast::Forecasts;
use super::job::Job;
use super::policy::{Placement, cheapest_placement, cheapest_slots};

/// Places `job` by re-planning at every slot on `forecasts` (see the module docs). A job that
/// somehow found no plan is returned as placed so far; evaluation then counts it as a miss.
pub fn place_online(job: &Job, forecasts: &dyn Forecasts) -> Placement {
    let (release, deadline) = (job.release, job.deadline);
    let mut slots = Vec::new();
    let mut level: Option<usize> = None;
    for t in release..deadline {
        let values = || (t..deadline).map(|s| forecasts.at(t, s)).collect::<Vec<f64>>();
        match level {
            None => {
                if let Some((_, plan)) = cheapest_placement(job, &values(), t)
                    && plan.slots.first() == Some(&t)
                {
                    level = Some(plan.level);
                    slots.push(t);
                }
            }
            Some(l) => {
                let need = job.level(l).map_or(0, |p| p.slots) - slots.len();
                if need == 0 {
                    break;
                }
                if !job.interruptible {
                    slots.push(t);
                    continue;
                }
                if let Some((_, plan)) = cheapest_slots(&values(), t, need, true)
                    && plan.first() == Some(&t)
                {
                    slots.push(t);
                }
            }
        }
    }
    Placement { slots, level: level.unwrap_or(0) }
}
