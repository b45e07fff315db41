//! A flexible job: how much energy, how many slots, and the window it must run in.
//!
//! Times are slot indices of the trace the job is scheduled on: the job may run in slots
//! `release..deadline` (the deadline slot itself is excluded: the job must have finished when
//! it starts). Validation happens at construction and again against a trace, so no policy ever
//! sees a job it cannot place.

/// Joules in one kWh.
pub const J_PER_KWH: f64 = 3.6e6;

/// Why a job is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// The deadline is before the release slot.
    #[error("job {name:?}: deadline slot {deadline} is before release slot {release}")]
    DeadlineBeforeRelease {
        /// Job name.
        name: String,
        /// Release slot.
        release: usize,
        /// Deadline slot.
        deadline: usize,
    },
    /// The job needs more slots than its window has.
    #[error("job {name:?}: needs {duration_slots} slot(s) but its window {release}..{deadline} has {}", deadline - release)]
    LongerThanWindow {
        /// Job name.
        name: String,
        /// Slots needed.
        duration_slots: usize,
        /// Release slot.
        release: usize,
        /// Deadline slot.
        deadline: usize,
    },
    /// A zero-length job.
    #[error("job {name:?}: duration is zero slots")]
    ZeroDuration {
        /// Job name.
        name: String,
    },
    /// Energy that is negative, NaN or infinite.
    #[error("job {name:?}: energy {energy_kwh} kWh is not a finite number >= 0")]
    BadEnergy {
        /// Job name.
        name: String,
        /// The energy given.
        energy_kwh: f64,
    },
    /// The window runs past the end of the trace the job is scheduled on.
    #[error("job {name:?}: deadline slot {deadline} is past the trace's {trace_slots} slots")]
    PastTrace {
        /// Job name.
        name: String,
        /// Deadline slot.
        deadline: usize,
        /// Slots in the trace.
        trace_slots: usize,
    },
    /// A forecast and the actual trace do not cover the same slots.
    #[error("planning and charging traces are not aligned (start, slot length or length differ)")]
    MisalignedTraces,
}

/// A validated job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// A name for reports and errors.
    pub name: String,
    /// Energy of the whole job, kWh (spread evenly over its slots).
    pub energy_kwh: f64,
    /// Slots the job runs for.
    pub duration_slots: usize,
    /// First slot it may run in.
    pub release: usize,
    /// It must finish before this slot.
    pub deadline: usize,
    /// Whether it may be paused and resumed between slots.
    pub interruptible: bool,
}

impl Job {
    /// A job with its energy in kWh; rejects an impossible window or energy.
    pub fn new(
        name: impl Into<String>,
        energy_kwh: f64,
        duration_slots: usize,
        release: usize,
        deadline: usize,
        interruptible: bool,
    ) -> Result<Self, JobError> {
        let name = name.into();
        if !energy_kwh.is_finite() || energy_kwh < 0.0 {
            return Err(JobError::BadEnergy { name, energy_kwh });
        }
        if duration_slots == 0 {
            return Err(JobError::ZeroDuration { name });
        }
        if deadline < release {
            return Err(JobError::DeadlineBeforeRelease { name, release, deadline });
        }
        if duration_slots > deadline - release {
            return Err(JobError::LongerThanWindow { name, duration_slots, release, deadline });
        }
        Ok(Self { name, energy_kwh, duration_slots, release, deadline, interruptible })
    }

    /// A job with its energy in joules (as `dfma bench` measures it).
    pub fn from_joules(
        name: impl Into<String>,
        energy_j: f64,
        duration_slots: usize,
        release: usize,
        deadline: usize,
        interruptible: bool,
    ) -> Result<Self, JobError> {
        Self::new(name, energy_j / J_PER_KWH, duration_slots, release, deadline, interruptible)
    }

    /// Checks the window lies within a trace of `trace_slots` slots.
    pub fn check_fits(&self, trace_slots: usize) -> Result<(), JobError> {
        if self.deadline > trace_slots {
            return Err(JobError::PastTrace { name: self.name.clone(), deadline: self.deadline, trace_slots });
        }
        Ok(())
    }
}
