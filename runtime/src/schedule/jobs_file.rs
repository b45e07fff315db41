//! The jobs CSV read by `dfma schedule`.
//!
//! Header, exactly: `name,energy_kwh,duration_slots,release,deadline,interruptible`, optionally
//! followed by `,levels`. Slots index the trace; the window is `release..deadline` (deadline
//! exclusive); `interruptible` is `true` or `false`.
//!
//! - `energy_kwh` is a number of kWh, or `report:<case>*<ops>`: joules per op of the one case of
//!   the bench report given with `--energy-from` whose key words include every word of `<case>`
//!   (e.g. `report:q8_0_gemv cuda hot*2e9`), times `<ops>`, over 3.6e6 J/kWh.
//! - `levels` (optional; may be empty) lists other operating points as
//!   `power_fraction:slots:energy_kwh`, separated by `|`, e.g. `0.5:8:2.0|0.75:6:2.2`; the
//!   nominal point (the row's energy over its duration at full power) is always level 0.
//!
//! Every problem names the file, the line and the field.

use std::path::{Path, PathBuf};

use super::job::{J_PER_KWH, Job, JobError, Level};
use super::report_energy::{ReportEnergy, ReportError};

/// The header without power levels.
pub const JOBS_HEADER: &str = "name,energy_kwh,duration_slots,release,deadline,interruptible";

/// What is wrong with a jobs file line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobsProblem {
    /// The header is neither known form.
    #[error("header {found:?} is not {JOBS_HEADER:?} (optionally followed by \",levels\")")]
    Header {
        /// The header found.
        found: String,
    },
    /// The row has the wrong number of fields.
    #[error("{found} fields, expected {expected}")]
    FieldCount {
        /// Fields found.
        found: usize,
        /// Fields the header asks for.
        expected: usize,
    },
    /// A field does not parse.
    #[error("{field} {text:?} does not parse ({expected})")]
    Field {
        /// Column name.
        field: &'static str,
        /// The text found.
        text: String,
        /// What was expected.
        expected: &'static str,
    },
    /// `report:` energy without a report to read it from.
    #[error("energy {text:?} needs a bench report (--energy-from REPORT.json)")]
    NoReport {
        /// The field.
        text: String,
    },
    /// The report cannot supply the energy.
    #[error("{0}")]
    Report(ReportError),
    /// The job itself is impossible.
    #[error("{0}")]
    Job(JobError),
}

/// A bad jobs file: file, 1-based line, problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: {problem}", file.display())]
pub struct JobsFileError {
    /// The jobs file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub problem: JobsProblem,
}

/// A parsed jobs file.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsFile {
    /// The jobs, in file order.
    pub jobs: Vec<Job>,
    /// Per job, where its energy came from when it came from a report (how it was measured
    /// belongs next to the number).
    pub energy_sources: Vec<Option<String>>,
}

fn field<T: std::str::FromStr>(text: &str, field: &'static str, expected: &'static str) -> Result<T, JobsProblem> {
    text.parse().map_err(|_| JobsProblem::Field { field, text: text.to_string(), expected })
}

/// Parses `power:slots:kwh|…` (empty: no levels).
fn levels(text: &str) -> Result<Vec<Level>, JobsProblem> {
    let bad = || JobsProblem::Field { field: "levels", text: text.to_string(), expected: "power:slots:kWh|…" };
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split('|')
        .map(|l| {
            let mut it = l.trim().split(':');
            let (Some(p), Some(s), Some(e), None) = (it.next(), it.next(), it.next(), it.next()) else {
                return Err(bad());
            };
            Ok(Level {
                power_fraction: p.parse().map_err(|_| bad())?,
                slots: s.parse().map_err(|_| bad())?,
                energy_kwh: e.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// A job's energy in kWh, and its source when it comes from a report.
fn energy(text: &str, report: Option<&ReportEnergy>) -> Result<(f64, Option<String>), JobsProblem> {
    let Some(spec) = text.strip_prefix("report:") else {
        return Ok((field(text, "energy_kwh", "kWh, or report:<case>*<ops>")?, None));
    };
    let report = report.ok_or_else(|| JobsProblem::NoReport { text: text.to_string() })?;
    let bad = || JobsProblem::Field { field: "energy_kwh", text: text.to_string(), expected: "report:<case>*<ops>" };
    let (name, ops) = spec.rsplit_once('*').ok_or_else(bad)?;
    let ops: f64 = ops.trim().parse().map_err(|_| bad())?;
    if !ops.is_finite() || ops < 0.0 {
        return Err(bad());
    }
    let case = report.case(name).map_err(JobsProblem::Report)?;
    let source = format!(
        "{} J/op ({}, {}) x {ops} ops from {:?} in {}",
        case.joules_per_op,
        case.kind,
        case.meter,
        case.key,
        report.file.display()
    );
    Ok((case.joules_per_op * ops / J_PER_KWH, Some(source)))
}

/// Parses a jobs CSV (see the module docs); `report` resolves `report:` energies.
pub fn parse_jobs_csv(file: &Path, text: &str, report: Option<&ReportEnergy>) -> Result<JobsFile, JobsFileError> {
    let err = |line, problem| JobsFileError { file: file.to_path_buf(), line, problem };
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let columns = match lines.next() {
        Some((_, h)) if h == JOBS_HEADER => 6,
        Some((_, h)) if h.strip_prefix(JOBS_HEADER) == Some(",levels") => 7,
        other => {
            let (n, found) = other.unwrap_or((1, ""));
            return Err(err(n, JobsProblem::Header { found: found.to_string() }));
        }
    };
    let (mut jobs, mut energy_sources) = (Vec::new(), Vec::new());
    for (n, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        // A 7-column file may leave the levels column off a row.
        if !(f.len() == columns || (columns == 7 && f.len() == 6)) {
            return Err(err(n, JobsProblem::FieldCount { found: f.len(), expected: columns }));
        }
        let parse = || -> Result<(Job, Option<String>), JobsProblem> {
            let (energy_kwh, source) = energy(f[1], report)?;
            let duration = field(f[2], "duration_slots", "a whole number of slots")?;
            let release = field(f[3], "release", "a slot index")?;
            let deadline = field(f[4], "deadline", "a slot index")?;
            let interruptible = field(f[5], "interruptible", "true or false")?;
            let job =
                Job::new(f[0], energy_kwh, duration, release, deadline, interruptible).map_err(JobsProblem::Job)?;
            let job = job.with_levels(levels(f.get(6).copied().unwrap_or(""))?).map_err(JobsProblem::Job)?;
            Ok((job, source))
        };
        let (job, source) = parse().map_err(|p| err(n, p))?;
        jobs.push(job);
        energy_sources.push(source);
    }
    Ok(JobsFile { jobs, energy_sources })
}
