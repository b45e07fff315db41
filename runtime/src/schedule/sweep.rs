//! The reference experiment of `../shared/data/carbon/README.md`, for every policy.
//!
//! One 1-slot job (1 kWh) is released at every slot `t`; it may run in any of the slots
//! `t, t+1, …, t+N` (N+1 choices); saving = 1 − Σ chosen / Σ value at release. A job whose
//! window would run past the last slot is not a valid job (its deadline is past the trace), so
//! the last N release slots are left out of both sums. That convention reproduces every figure
//! of the data README to its one decimal (CAISO 2022: 10.41, 19.69, 28.21, 36.69 %; Spain 2022:
//! 7.72, 13.47, 18.05, 24.95 %); clipping those windows at the trace end instead gives 36.63 %
//! for CAISO at N=24, which rounds differently.

use super::evaluate::{Evaluation, evaluate_with};
use super::forecast::Forecasts;
use super::job::{Job, JobError};
use super::policy::Policy;
use super::trace::CarbonTrace;

/// The jobs of the experiment for a window of `n` extra slots on a trace of `slots` slots.
pub fn release_every_slot(slots: usize, n: usize) -> Result<Vec<Job>, JobError> {
    (0..slots.saturating_sub(n)).map(|t| Job::new(format!("t{t}"), 1.0, 1, t, t + n + 1, false)).collect()
}

/// One window size: each policy's evaluation (same jobs, same forecasts, same actual trace).
#[derive(Debug, Clone)]
pub struct SweepRow {
    /// N: extra slots a job may wait.
    pub window_slots: usize,
    /// Jobs released (one per slot whose window fits the trace).
    pub jobs: usize,
    /// Each policy and its evaluation, in the order asked for.
    pub policies: Vec<(Policy, Evaluation)>,
}

impl SweepRow {
    /// The perfect-foresight saving on the actual trace (the same for every policy's evaluation).
    pub fn bound_saving(&self) -> f64 {
        self.policies.first().map_or(f64::NAN, |(_, e)| e.bound_saving())
    }
}

/// Runs the experiment for each N in `windows` and each policy, planning on `forecasts` and
/// charging on `actual`.
pub fn sweep(
    actual: &CarbonTrace,
    forecasts: &dyn Forecasts,
    windows: &[usize],
    policies: &[Policy],
) -> Result<Vec<SweepRow>, JobError> {
    windows
        .iter()
        .map(|&n| {
            let jobs = release_every_slot(actual.len(), n)?;
            let policies = policies
                .iter()
                .map(|&p| Ok((p, evaluate_with(&jobs, p, forecasts, actual)?)))
                .collect::<Result<Vec<_>, JobError>>()?;
            Ok(SweepRow { window_slots: n, jobs: jobs.len(), policies })
        })
        .collect()
}
