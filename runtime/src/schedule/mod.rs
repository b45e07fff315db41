//! The energy-adaptive scheduler: shift flexible work (adapter training rounds, sketching, large
//! prefills) into low-carbon hours of a grid carbon-intensity trace, never missing a deadline.
//!
//! One concept a file: [`time`] (UTC timestamps by hand, no calendar crate), [`trace`] (a
//! validated, fixed-slot trace), [`signal`] (carbon intensity or renewable share), the readers
//! [`parse`] (Electricity Maps CSV, GB Carbon Intensity API JSON and forecast CSV), [`watttime`]
//! (WattTime v3 JSON) and [`carbon_aware`] (Carbon Aware SDK forecast JSON), [`job`] (a validated
//! job with optional power levels), [`jobs_file`] and [`report_energy`] (the jobs CSV, energy
//! from a bench report), [`forecast`] (forecasts that change as they are re-issued, and an error
//! model fitted on a forecast/actual pair), [`policy`] and [`online`] (where a job's slots go),
//! [`evaluate`](mod@evaluate) (carbon, savings, gap to the perfect-foresight bound, deadline
//! misses), [`sweep`](mod@sweep) (the reference experiment of the carbon fixtures) and [`live`]
//! (running a schedule as processes).
//!
//! Bad input is always rejected with a typed error naming the file, line and problem; a trace is
//! never silently filled, resampled or reordered, because a schedule computed on a repaired trace
//! looks right and is wrong.

pub mod carbon_aware;
pub mod evaluate;
pub mod forecast;
pub mod job;
pub mod jobs_file;
pub mod live;
pub mod online;
pub mod parse;
pub mod policy;
pub mod report_energy;
pub mod signal;
pub mod sweep;
pub mod time;
pub mod trace;
pub mod watttime;

pub use carbon_aware::parse_carbon_aware_forecast_json;
pub use evaluate::{Evaluation, JobOutcome, evaluate, evaluate_with};
pub use forecast::{ForecastErrorModel, Forecasts, NoisyForecast};
pub use job::{Job, JobError, Level};
pub use jobs_file::{JobsFile, JobsFileError, parse_jobs_csv};
pub use live::{LiveRun, run_live};
pub use parse::{
    GbForecastActual, parse_electricity_maps_csv, parse_electricity_maps_signal_csv, parse_gb_api_json,
    parse_gb_forecast_csv,
};
pub use policy::{Placement, Policy, place, place_with};
pub use report_energy::ReportEnergy;
pub use signal::Signal;
pub use sweep::{SweepRow, sweep};
pub use trace::{CarbonTrace, TraceError, TraceProblem};
pub use watttime::parse_watttime_json;
