//! The energy-adaptive scheduler: shift flexible work (adapter training rounds, sketching, large
//! prefills) into low-carbon hours of a grid carbon-intensity trace, never missing a deadline.
//!
//! One concept a file: [`time`] (UTC timestamps by hand, no calendar crate), [`trace`] (a
//! validated, fixed-slot trace), [`parse`] (Electricity Maps CSV, GB Carbon Intensity API JSON
//! and forecast CSV), [`job`] (a validated job), [`policy`] (where a job's slots go) and
//! [`evaluate`] (carbon, savings, gap to the perfect-foresight bound, deadline misses).
//!
//! Bad input is always rejected with a typed error naming the file, line and problem; a trace is
//! never silently filled, resampled or reordered, because a schedule computed on a repaired trace
//! looks right and is wrong.

pub mod evaluate;
pub mod job;
pub mod parse;
pub mod policy;
pub mod time;
pub mod trace;

pub use evaluate::{Evaluation, JobOutcome, evaluate};
pub use job::{Job, JobError};
pub use parse::{GbForecastActual, parse_electricity_maps_csv, parse_gb_api_json, parse_gb_forecast_csv};
pub use policy::{Placement, Policy, place};
pub use trace::{CarbonTrace, TraceError, TraceProblem};
