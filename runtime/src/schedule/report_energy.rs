//! Job energy from a `dfma bench --json` report: joules per op of one measured case × the ops a
//! job performs.
//!
//! The report is read as JSON (schema version 1, `bench/schema/report-v1.schema.json`): each
//! `cases[]` entry's identity (`op backend kernel dims cache_mode`, the report's case key) and its
//! `energy.{joules_per_op, kind, meter}`. A case is named by any of its key's words (all must
//! match, in any order), and the name must pick exactly one case, so a report with several
//! backends or shapes never silently supplies the wrong one. A case without energy (no meter in
//! that run) is an error, not zero joules.

use std::path::{Path, PathBuf};

/// Report schema version this reader knows.
pub const REPORT_SCHEMA_VERSION: u64 = 1;

/// One case's energy as the report states it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEnergy {
    /// The case key: `op backend kernel dims cache_mode`.
    pub key: String,
    /// Joules per launch (op).
    pub joules_per_op: f64,
    /// `measured` or `estimated`, as the report says.
    pub kind: String,
    /// The meter that measured it.
    pub meter: String,
}

/// Why a report, or a case name in it, cannot supply energy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// The file is not a schema-1 bench report.
    #[error("{}: not a dfma bench report (schema {REPORT_SCHEMA_VERSION}): {why}", file.display())]
    NotAReport {
        /// The report file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// No case, or more than one, matches the name.
    #[error("{}: {matches} cases match {name:?} (need exactly one; case keys: {keys})", file.display())]
    Match {
        /// The report file.
        file: PathBuf,
        /// The name given.
        name: String,
        /// How many cases matched.
        matches: usize,
        /// Keys of the matching cases (or of all cases when none matched), abbreviated.
        keys: String,
    },
    /// The case ran without an energy meter.
    #[error("{}: case {key:?} has no energy (run dfma bench where an energy meter is available)", file.display())]
    NoEnergy {
        /// The report file.
        file: PathBuf,
        /// The case key.
        key: String,
    },
}

/// The energy of every case of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportEnergy {
    /// The report file.
    pub file: PathBuf,
    /// Each case key with its energy, `None` when the case has none.
    pub cases: Vec<(String, Option<CaseEnergy>)>,
}

impl ReportEnergy {
    /// Reads a bench report's case keys and energies.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ReportError> {
        let bad = |why: String| ReportError::NotAReport { file: file.to_path_buf(), why };
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        match doc.get("schema_version").and_then(|v| v.as_u64()) {
            Some(REPORT_SCHEMA_VERSION) => {}
            other => return Err(bad(format!("schema_version is {other:?}"))),
        }
        let cases = doc.get("cases").and_then(|c| c.as_array()).ok_or_else(|| bad("no `cases` array".into()))?;
        let mut out = Vec::with_capacity(cases.len());
        for (i, case) in cases.iter().enumerate() {
            let field = |name: &str| {
                case.get(name).and_then(|v| v.as_str()).ok_or_else(|| bad(format!("cases[{i}] has no string `{name}`")))
            };
            let key = ["op", "backend", "kernel", "dims", "cache_mode"]
                .iter()
                .map(|n| field(n))
                .collect::<Result<Vec<_>, _>>()?
                .join(" ");
            let energy = match case.get("energy") {
                None | Some(serde_json::Value::Null) => None,
                Some(e) => {
                    let j = e.get("joules_per_op").and_then(|v| v.as_f64());
                    let Some(joules_per_op) = j.filter(|j| j.is_finite() && *j >= 0.0) else {
                        return Err(bad(format!("cases[{i}].energy.joules_per_op is not a finite number >= 0")));
                    };
                    let text = |n: &str| e.get(n).and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
                    Some(CaseEnergy { key: key.clone(), joules_per_op, kind: text("kind"), meter: text("meter") })
                }
            };
            out.push((key, energy));
        }
        Ok(Self { file: file.to_path_buf(), cases: out })
    }

    /// The one case all of whose key words include every word of `name`, with its energy.
    pub fn case(&self, name: &str) -> Result<&CaseEnergy, ReportError> {
        let wanted: Vec<&str> = name.split_whitespace().collect();
        let matching: Vec<&(String, Option<CaseEnergy>)> = self
            .cases
            .iter()
            .filter(|(key, _)| !wanted.is_empty() && wanted.iter().all(|w| key.split(' ').any(|k| k == *w)))
            .collect();
        match matching.as_slice() {
            [(_, Some(energy))] => Ok(energy),
            [(key, None)] => Err(ReportError::NoEnergy { file: self.file.clone(), key: key.clone() }),
            _ => {
                let shown: Vec<&str> = if matching.is_empty() {
                    self.cases.iter().map(|(k, _)| k.as_str()).collect()
                } else {
                    matching.iter().map(|(k, _)| k.as_str()).collect()
                };
                let mut keys = shown.iter().take(4).map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
                if shown.len() > 4 {
                    keys.push_str(&format!(", … {} more", shown.len() - 4));
                }
                Err(ReportError::Match {
                    file: self.file.clone(),
                    name: name.to_string(),
                    matches: matching.len(),
                    keys,
                })
            }
        }
    }
}
