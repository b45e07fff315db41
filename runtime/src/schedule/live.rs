//! Live mode: run a schedule as processes, each job's command started when its slot comes.
//!
//! Wall time is the trace's time divided by a compression factor (3600 turns an hour-long slot
//! into a second; tests use far more). The clock starts at the earliest release. At the start of
//! every slot some job was placed in, the command is started once per such job through the
//! shell, with the job's name, slot and level in its environment; the runner then waits for those
//! processes before moving on, and sleeps only until the next occupied slot. A process still
//! running when its slot is over is reported as an overrun rather than killed: the schedule's
//! carbon assumes the work fitted its slot, so an overrun is a finding about the job's size.
//! Each slot is one run of the command: a job that needs three slots is started three times with
//! `DFMA_PART` = 1/3, 2/3, 3/3, and is expected to do a third of its work (or resume) each time.

use std::process::Command;
use std::time::{Duration, Instant};

use super::evaluate::JobOutcome;
use super::job::Job;
use super::time::format_iso_minutes_z;
use super::trace::CarbonTrace;

/// One run of the command.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun {
    /// The job's name.
    pub job: String,
    /// The trace slot it ran in.
    pub slot: usize,
    /// Which of the job's slots this is, 1-based.
    pub part: usize,
    /// Of how many.
    pub parts: usize,
    /// Wall seconds from the start of the run to the process start.
    pub started_s: f64,
    /// Wall seconds the process ran.
    pub ran_s: f64,
    /// Its exit code (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether it was still running when its (compressed) slot ended.
    pub overran: bool,
}

/// Why a live run could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The compression factor is not a finite number > 0.
    #[error("time compression {0} is not a finite number > 0")]
    BadCompression(f64),
    /// The command could not be started.
    #[error("cannot start {command:?} for job {job:?} in slot {slot}: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The job.
        job: String,
        /// The slot.
        slot: usize,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

fn shell(command: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    }
}

/// Runs `outcomes` (placements of `jobs`, same order) on `trace`'s clock divided by
/// `compression`, starting `command` for each job in each of its slots. The environment gives
/// `DFMA_JOB`, `DFMA_SLOT`, `DFMA_SLOT_START` (UTC, trace time), `DFMA_SLOT_WALL_S` (the
/// compressed slot length), `DFMA_PART` (`k/n`), `DFMA_POWER_FRACTION` and `DFMA_ENERGY_KWH`
/// (the chosen level's energy for this slot). `on_run` sees each run as it finishes.
pub fn run_live(
    jobs: &[Job],
    outcomes: &[JobOutcome],
    trace: &CarbonTrace,
    compression: f64,
    command: &str,
    mut on_run: impl FnMut(&LiveRun),
) -> Result<Vec<LiveRun>, LiveError> {
    if !(compression.is_finite() && compression > 0.0) {
        return Err(LiveError::BadCompression(compression));
    }
    let slot_wall_s = trace.slot_s as f64 / compression;
    // (slot, job index, part) in time order; jobs in input order within a slot.
    let mut starts: Vec<(usize, usize, usize)> = outcomes
        .iter()
        .enumerate()
        .flat_map(|(j, o)| o.placement.slots.iter().enumerate().map(move |(k, &s)| (s, j, k + 1)))
        .collect();
    starts.sort_unstable();
    let Some(origin) = jobs.iter().map(|j| j.release).min() else { return Ok(Vec::new()) };
    let clock = Instant::now();
    let mut runs = Vec::with_capacity(starts.len());
    let mut i = 0;
    while i < starts.len() {
        let slot = starts[i].0;
        let due = Duration::from_secs_f64((slot - origin) as f64 * slot_wall_s);
        if let Some(wait) = due.checked_sub(clock.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut children = Vec::new();
        while i < starts.len() && starts[i].0 == slot {
            let (_, j, part) = starts[i];
            let (job, outcome) = (&jobs[j], &outcomes[j]);
            let level = job.level(outcome.placement.level).unwrap_or_else(|| job.nominal());
            let parts = outcome.placement.slots.len();
            let started_s = clock.elapsed().as_secs_f64();
            let child = shell(command)
                .env("DFMA_JOB", &job.name)
                .env("DFMA_SLOT", slot.to_string())
                .env("DFMA_SLOT_START", format_iso_minutes_z(trace.start_s + slot as i64 * trace.slot_s))
                .env("DFMA_SLOT_WALL_S", slot_wall_s.to_string())
                .env("DFMA_PART", format!("{part}/{parts}"))
                .env("DFMA_POWER_FRACTION", level.power_fraction.to_string())
                .env("DFMA_ENERGY_KWH", (level.energy_kwh / level.slots as f64).to_string())
                .spawn()
                .map_err(|source| LiveError::Spawn {
                    command: command.to_string(),
                    job: job.name.clone(),
                    slot,
                    source,
                })?;
            children.push((child, job.name.clone(), part, parts, started_s));
            i += 1;
        }
        let slot_end_s = due.as_secs_f64() + slot_wall_s;
        // Each child is waited for on its own thread, so each run's end time is its own.
        let finished: Vec<_> = std::thread::scope(|scope| {
            let waits: Vec<_> = children
                .into_iter()
                .map(|(mut child, job, part, parts, started_s)| {
                    scope.spawn(move || (child.wait(), clock.elapsed().as_secs_f64(), job, part, parts, started_s))
                })
                .collect();
            waits.into_iter().map(|w| w.join().expect("a wait thread does not panic")).collect()
        });
        for (status, end_s, job, part, parts, started_s) in finished {
            let status = status.map_err(|source| LiveError::Spawn {
                command: command.to_string(),
                job: job.clone(),
                slot,
                source,
            })?;
            let run = LiveRun {
                job,
                slot,
                part,
                parts,
                started_s,
                ran_s: end_s - started_s,
                exit_code: status.code(),
                overran: end_s > slot_end_s,
            };
            on_run(&run);
            runs.push(run);
        }
    }
    Ok(runs)
}
