//! A flexible job: how much energy, how many slots, and the window it must run in.
//!
//! Times are slot indices of the trace the job is scheduled on: the job may run in slots
//! `release..deadline` (the deadline slot itself is excluded: the job must have finished when
//! it starts). Validation happens at construction and again against a trace, so no policy ever
//! sees a job it cannot place.
//!
//! A job may have power levels: other operating points (a power cap, the slots the work then
//! takes, the energy it then uses) besides its nominal one. Slower at a lower cap usually costs
//! fewer joules per unit of work, and more slots give the placement more freedom, so which level
//! is cleanest depends on the trace; the optimal and online policies choose it. Level 0 is always
//! the nominal point (`energy_kwh` over `duration_slots` at full power), which run-at-once and
//! threshold use.

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
    /// A power level that is not a usable operating point.
    #[error("job {name:?}: power level {level} ({text}): {why}")]
    BadLevel {
        /// Job name.
        name: String,
        /// 1-based index among the extra levels (level 0 is the nominal point).
        level: usize,
        /// The level as given.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A forecast and the actual trace do not cover the same slots.
    #[error("planning and charging traces are not aligned (start, slot length or length differ)")]
    MisalignedTraces,
}

/// One operating point of a job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Power cap as a fraction of the nominal one (informational for the schedule; passed to a
    /// live job so it can set the cap).
    pub power_fraction: f64,
    /// Slots the whole job takes at this level.
    pub slots: usize,
    /// Energy of the whole job at this level, kWh (measured at that cap: not derived from the
    /// fraction, since energy per unit of work changes with the cap).
    pub energy_kwh: f64,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.power_fraction, self.slots, self.energy_kwh)
    }
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
    /// Operating points besides the nominal one (see [`Job::with_levels`]); usually empty.
    pub levels: Vec<Level>,
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
        Ok(Self { name, energy_kwh, duration_slots, release, deadline, interruptible, levels: Vec::new() })
    }

    /// Adds power levels. Each needs a power fraction in (0, 1], at least one slot, a finite
    /// energy >= 0 and must fit the window: a level that can never run is a mistake in the jobs
    /// file, not something to skip quietly.
    pub fn with_levels(mut self, levels: Vec<Level>) -> Result<Self, JobError> {
        for (i, l) in levels.iter().enumerate() {
            let why = if !(l.power_fraction > 0.0 && l.power_fraction <= 1.0) {
                Some("power fraction must be in (0, 1]")
            } else if l.slots == 0 {
                Some("zero slots")
            } else if !l.energy_kwh.is_finite() || l.energy_kwh < 0.0 {
                Some("energy must be a finite number >= 0 kWh")
            } else if l.slots > self.deadline - self.release {
                Some("needs more slots than the window has")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(JobError::BadLevel { name: self.name, level: i + 1, text: l.to_string(), why });
            }
        }
        self.levels = levels;
        Ok(self)
    }

    /// The nominal operating point: level 0.
    pub fn nominal(&self) -> Level {
        Level { power_fraction: 1.0, slots: self.duration_slots, energy_kwh: self.energy_kwh }
    }

    /// Every operating point, the nominal one first (its index is the placement's `level`).
    pub fn operating_points(&self) -> impl Iterator<Item = Level> + '_ {
        std::iter::once(self.nominal()).chain(self.levels.iter().copied())
    }

    /// Operating point `i` (0 = nominal), if it exists.
    pub fn level(&self, i: usize) -> Option<Level> {
        self.operating_points().nth(i)
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
