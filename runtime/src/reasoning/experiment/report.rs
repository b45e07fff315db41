//! The experiment's record: per method and round, each instance's held-out accuracy (overall,
//! per kind, on the kinds it sees and on those it never sees), the bytes it has sent and the
//! joules its learning took; and the summary the README quotes.

use serde::{Deserialize, Serialize};

/// One round of one method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundRecord {
    /// Round (0: before any learning).
    pub round: usize,
    /// Held-out accuracy per instance (`None` before it joined).
    pub accuracy: Vec<Option<f64>>,
    /// Accuracy on the kinds the instance is asked about.
    pub seen_accuracy: Vec<Option<f64>>,
    /// Accuracy on the kinds it never sees locally.
    pub unseen_accuracy: Vec<Option<f64>>,
    /// Accuracy per kind (the experiment's kind order) per instance.
    pub accuracy_by_kind: Vec<Option<Vec<f64>>>,
    /// Signal bytes each instance has sent so far (sealed frames).
    pub bytes_sent: Vec<u64>,
    /// Joules each instance's learning has taken so far.
    pub joules: Vec<f64>,
    /// Answers each instance accepted this round.
    pub accepted: Vec<usize>,
    /// L2 norm of each instance's change before clipping (federated methods).
    pub change_norm: Vec<Option<f64>>,
    /// Signals the CCF aggregated this round.
    pub signals_aggregated: usize,
    /// Wall seconds of the round (all instances, evaluation included).
    pub seconds: f64,
}

impl RoundRecord {
    /// Takes instance `i`'s entries from `other` (a record another process made for that
    /// instance); the round's wall time becomes the longer of the two.
    pub fn merge_instance(&mut self, i: usize, other: &RoundRecord) {
        self.accuracy[i] = other.accuracy[i];
        self.seen_accuracy[i] = other.seen_accuracy[i];
        self.unseen_accuracy[i] = other.unseen_accuracy[i];
        self.accuracy_by_kind[i].clone_from(&other.accuracy_by_kind[i]);
        self.bytes_sent[i] = other.bytes_sent[i];
        self.joules[i] = other.joules[i];
        self.accepted[i] = other.accepted[i];
        self.change_norm[i] = other.change_norm[i];
        self.seconds = self.seconds.max(other.seconds);
    }
}

/// Every round of one method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodRecord {
    /// The method's name.
    pub method: String,
    /// Rounds 0..=R.
    pub rounds: Vec<RoundRecord>,
}

impl MethodRecord {
    /// Mean of the last round's values of `pick` over the instances that have one.
    pub fn final_mean(&self, pick: impl Fn(&RoundRecord) -> &Vec<Option<f64>>) -> f64 {
        let Some(last) = self.rounds.last() else { return f64::NAN };
        let v: Vec<f64> = pick(last).iter().flatten().copied().collect();
        v.iter().sum::<f64>() / v.len() as f64
    }

    /// Mean signal bytes an instance sent over the run.
    pub fn mean_bytes(&self) -> f64 {
        let Some(last) = self.rounds.last() else { return 0.0 };
        last.bytes_sent.iter().sum::<u64>() as f64 / last.bytes_sent.len().max(1) as f64
    }
}

/// The whole record, written as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// Seed of the run.
    pub seed: u64,
    /// The base model file.
    pub model: String,
    /// Its SHA-256.
    pub base_sha256: String,
    /// Task kinds with difficulty, in report order.
    pub kinds: Vec<String>,
    /// Each instance's kinds.
    pub instance_kinds: Vec<Vec<String>>,
    /// The configuration, as flags would set it.
    pub config: serde_json::Value,
    /// The energy meter and whether its joules are measured or estimated.
    pub energy: String,
    /// Per method.
    pub methods: Vec<MethodRecord>,
    /// The learning's carbon with and without shifting into clean hours (`--carbon-trace`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carbon: Vec<super::carbon::MethodCarbon>,
}

impl ExperimentReport {
    /// The record of `method`, if it ran.
    pub fn method(&self, method: &str) -> Option<&MethodRecord> {
        self.methods.iter().find(|m| m.method == method)
    }

    /// Rounds every method has completed (what a resumed run continues from).
    pub fn completed_rounds(&self) -> usize {
        self.methods.iter().map(|m| m.rounds.len().saturating_sub(1)).min().unwrap_or(0)
    }
}
