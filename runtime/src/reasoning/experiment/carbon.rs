//! The experiment's learning as jobs for the energy-adaptive scheduler: each instance's work of
//! a round is one job with that round's joules, released at the round's start and due at its
//! end (rounds of `round_hours` laid end to end from the trace's first slot). Placed with
//! perfect foresight of the trace (the scheduler's `Optimal`) against run-at-once, the carbon
//! of every method is reported both ways.

use serde::{Deserialize, Serialize};

use super::report::MethodRecord;
use crate::schedule::{CarbonTrace, Job, Policy, evaluate};

/// One method's learning carbon.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodCarbon {
    /// The method.
    pub method: String,
    /// Learning energy of every instance and round, kWh.
    pub energy_kwh: f64,
    /// Carbon when every round runs as soon as it is released, g CO2e.
    pub at_once_g: f64,
    /// Carbon with each round's work moved to the cleanest hour of its round, g CO2e.
    pub shifted_g: f64,
}

/// Carbon of every method's learning on `trace`, rounds of `round_hours`.
pub fn learning_carbon(
    methods: &[MethodRecord],
    trace: &CarbonTrace,
    round_hours: usize,
) -> Result<Vec<MethodCarbon>, String> {
    let slots_per_round = (round_hours as i64 * 3600 / trace.slot_s).max(1) as usize;
    methods
        .iter()
        .map(|m| {
            let mut jobs = Vec::new();
            for pair in m.rounds.windows(2) {
                let (before, r) = (&pair[0], &pair[1]);
                let release = (r.round - 1) * slots_per_round;
                for (i, (j1, j0)) in r.joules.iter().zip(&before.joules).enumerate() {
                    let joules = j1 - j0;
                    if joules <= 0.0 {
                        continue;
                    }
                    let name = format!("{} round {} instance {i}", m.method, r.round);
                    let job = Job::from_joules(name, joules, 1, release, release + slots_per_round, true)
                        .map_err(|e| e.to_string())?;
                    job.check_fits(trace.len()).map_err(|e| format!("--carbon-trace is too short: {e}"))?;
                    jobs.push(job);
                }
            }
            let e = evaluate(&jobs, Policy::Optimal, trace, trace).map_err(|e| e.to_string())?;
            Ok(MethodCarbon {
                method: m.method.clone(),
                energy_kwh: jobs.iter().map(|j| j.energy_kwh).sum(),
                at_once_g: e.baseline_g,
                shifted_g: e.carbon_g,
            })
        })
        .collect()
}
