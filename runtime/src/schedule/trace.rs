//! A carbon-intensity trace: a UTC start, a fixed slot length and one g CO2e/kWh value a slot.
//!
//! Schedulers index slots, so a trace must be regular: every timestamp exactly one slot after the
//! previous. [`CarbonTrace::from_points`] checks that and rejects — never fills — gaps,
//! duplicates, out-of-order timestamps, irregular steps and missing or negative values.

use std::fmt;
use std::path::PathBuf;

/// What is wrong with a trace input.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceProblem {
    /// The header is not one of the exact forms this reader knows.
    UnknownHeader {
        /// The header as found.
        found: String,
    },
    /// A required column is missing from a row, or the row is malformed.
    MissingField {
        /// Which field.
        field: String,
    },
    /// A timestamp does not parse.
    BadTimestamp {
        /// The text found.
        text: String,
    },
    /// A value is absent, not a number, not finite or negative.
    BadValue {
        /// The text found.
        text: String,
    },
    /// A timestamp repeats the previous one.
    Duplicate {
        /// Seconds since the epoch.
        at_s: i64,
    },
    /// A timestamp is earlier than the previous one.
    NonMonotonic {
        /// The previous timestamp (seconds since the epoch).
        previous_s: i64,
        /// This timestamp.
        at_s: i64,
    },
    /// Slots are missing between the previous timestamp and this one.
    Gap {
        /// Number of missing slots.
        missing_slots: i64,
        /// The first missing instant (seconds since the epoch).
        from_s: i64,
    },
    /// The step to this timestamp is not a whole number of slots.
    IrregularStep {
        /// The step found, in seconds.
        step_s: i64,
        /// The trace's slot length, in seconds.
        slot_s: i64,
    },
    /// A slot's `to` is not `from` plus the slot length.
    BadSlotEnd {
        /// The slot length `to − from`, in seconds.
        length_s: i64,
    },
    /// Fewer than two points: no slot length can be established.
    TooShort {
        /// The number of points.
        points: usize,
    },
    /// The values are in units this reader does not convert (or no units are stated).
    Units {
        /// The units found (`""` when none are stated).
        found: String,
        /// What the reader accepts.
        accepted: &'static str,
    },
    /// The document is not valid (e.g. malformed JSON).
    Malformed {
        /// The reader's message.
        message: String,
    },
}

impl fmt::Display for TraceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownHeader { found } => write!(f, "unknown header {found:?}"),
            Self::MissingField { field } => write!(f, "missing field {field:?}"),
            Self::BadTimestamp { text } => write!(f, "unparsable timestamp {text:?}"),
            Self::BadValue { text } => {
                write!(f, "missing or unparsable intensity {text:?} (need a finite number >= 0)")
            }
            Self::Duplicate { at_s } => write!(f, "duplicate timestamp {at_s} s"),
            Self::NonMonotonic { previous_s, at_s } => {
                write!(f, "timestamp {at_s} s is earlier than the previous {previous_s} s")
            }
            Self::Gap { missing_slots, from_s } => write!(f, "gap: {missing_slots} slot(s) missing from {from_s} s"),
            Self::IrregularStep { step_s, slot_s } => {
                write!(f, "step of {step_s} s is not the trace's slot length {slot_s} s")
            }
            Self::BadSlotEnd { length_s } => write!(f, "slot length to-from = {length_s} s is not the trace's"),
            Self::TooShort { points } => write!(f, "{points} point(s): need at least 2 to fix a slot length"),
            Self::Units { found, accepted } => write!(f, "units {found:?} not supported (accepted: {accepted})"),
            Self::Malformed { message } => write!(f, "malformed: {message}"),
        }
    }
}

/// A bad trace input: the file, the 1-based line (0 when unknown) and the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: {problem}", file.display())]
pub struct TraceError {
    /// The file (or a name for in-memory input).
    pub file: PathBuf,
    /// 1-based line of the problem; 0 when the format has no line (a JSON element index is in
    /// the problem instead).
    pub line: usize,
    /// What is wrong.
    pub problem: TraceProblem,
}

/// One parsed trace point before validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// 1-based source line.
    pub line: usize,
    /// Slot start, seconds since the epoch (UTC).
    pub at_s: i64,
    /// Carbon intensity, g CO2e/kWh.
    pub g_per_kwh: f64,
}

/// A regular carbon-intensity trace.
#[derive(Debug, Clone, PartialEq)]
pub struct CarbonTrace {
    /// Start of slot 0, seconds since the epoch (UTC).
    pub start_s: i64,
    /// Slot length in seconds.
    pub slot_s: i64,
    /// Intensity of each slot, g CO2e/kWh.
    pub g_per_kwh: Vec<f64>,
}

impl CarbonTrace {
    /// Validates points in file order into a trace; `slot_s` fixes the slot length (else the
    /// first step does). Rejects duplicates, out-of-order and irregular timestamps, gaps and bad
    /// values with the offending line.
    pub fn from_points(file: impl Into<PathBuf>, points: &[Point], slot_s: Option<i64>) -> Result<Self, TraceError> {
        let file = file.into();
        let err = |line, problem| TraceError { file: file.clone(), line, problem };
        for p in points {
            if !p.g_per_kwh.is_finite() || p.g_per_kwh < 0.0 {
                return Err(err(p.line, TraceProblem::BadValue { text: p.g_per_kwh.to_string() }));
            }
        }
        let slot_s = match (slot_s, points) {
            (Some(s), _) => s,
            (None, [a, b, ..]) => b.at_s - a.at_s,
            (None, _) => {
                let line = points.last().map_or(0, |p| p.line);
                return Err(err(line, TraceProblem::TooShort { points: points.len() }));
            }
        };
        let Some(first) = points.first() else {
            return Err(err(0, TraceProblem::TooShort { points: 0 }));
        };
        for w in points.windows(2) {
            let (prev, p) = (w[0], w[1]);
            let step = p.at_s - prev.at_s;
            let problem = if step == 0 {
                TraceProblem::Duplicate { at_s: p.at_s }
            } else if step < 0 {
                TraceProblem::NonMonotonic { previous_s: prev.at_s, at_s: p.at_s }
            } else if slot_s <= 0 || step % slot_s != 0 {
                TraceProblem::IrregularStep { step_s: step, slot_s }
            } else if step != slot_s {
                TraceProblem::Gap { missing_slots: step / slot_s - 1, from_s: prev.at_s + slot_s }
            } else {
                continue;
            };
            return Err(err(p.line, problem));
        }
        Ok(Self { start_s: first.at_s, slot_s, g_per_kwh: points.iter().map(|p| p.g_per_kwh).collect() })
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.g_per_kwh.len()
    }

    /// Whether the trace has no slots.
    pub fn is_empty(&self) -> bool {
        self.g_per_kwh.is_empty()
    }

    /// The slots `start..end` as a trace of their own (`None` if out of range).
    pub fn slice(&self, start: usize, end: usize) -> Option<Self> {
        let g = self.g_per_kwh.get(start..end)?.to_vec();
        Some(Self { start_s: self.start_s + start as i64 * self.slot_s, slot_s: self.slot_s, g_per_kwh: g })
    }

    /// Whether `other` covers the same instants slot for slot (a forecast and its actual).
    pub fn aligned_with(&self, other: &Self) -> bool {
        self.start_s == other.start_s && self.slot_s == other.slot_s && self.len() == other.len()
    }
}
