//! What an experiment runs: instances and their private task mixes, rounds, the adapter, the
//! self-training, the signal (compression, clipping, noise), the CCF's aggregation, faults, and
//! which methods run side by side on the same seeds.

use serde::Serialize;

use crate::federated::aggregate::Aggregation;
use crate::federated::codec::Codec;
use crate::federated::step::ServerStep;
use crate::model::adapter::Projection;
use crate::reasoning::self_train::SelfTrainConfig;
use crate::reasoning::tasks::TaskKind;

/// A way of learning, run on the same instances, questions and seeds as the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Local learning only: the personal adapter, nothing shared.
    Isolated,
    /// DFMA: compressed, clipped (and optionally noised) signals, aggregated by the CCF into the
    /// collective adapter every instance applies.
    Collective,
    /// The same, sending uncompressed f32 changes and averaging them (FedAvg).
    FedAvg,
    /// Every instance's accepted answers pooled into one adapter (all data in one place: the
    /// upper bound).
    Pooled,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 4] = [Method::Isolated, Method::Collective, Method::FedAvg, Method::Pooled];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Isolated => "isolated",
            Method::Collective => "collective",
            Method::FedAvg => "fedavg",
            Method::Pooled => "pooled",
        }
    }

    /// The method called `s`.
    pub fn parse(s: &str) -> Result<Method, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown method {s:?} (have isolated, collective, fedavg, pooled)"))
    }
}

/// A planted bad instance's signal. The bad instance skips the clipping honest instances apply
/// (its signal is tampered with after the clip, before compression).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BadSignal {
    /// Its clipped change times 100.
    Scaled,
    /// Uniform noise of about 100 clip norms.
    Random,
    /// Nothing: it learns but never sends (as if it dropped out every round) — the control
    /// the attacks are measured against.
    Silent,
}

/// Everything an experiment needs besides the model.
#[derive(Clone, Debug)]
pub struct ExperimentConfig {
    /// Personal instances.
    pub instances: usize,
    /// Learning rounds.
    pub rounds: usize,
    /// Task kinds and their difficulty.
    pub kinds: Vec<(TaskKind, u32)>,
    /// Kinds each instance's user asks about (instance i: kinds i, i+1, … modulo the list).
    pub kinds_per_instance: usize,
    /// Questions an instance answers per round.
    pub questions: usize,
    /// Held-out questions per kind per instance (every kind, seen or not).
    pub held_out_per_kind: usize,
    /// Self-training.
    pub self_train: SelfTrainConfig,
    /// Blocks with adapters.
    pub layers: Vec<usize>,
    /// Projections with adapters.
    pub projections: Vec<Projection>,
    /// Adapter rank.
    pub rank: usize,
    /// LoRA alpha.
    pub alpha: f32,
    /// AdamW learning rate.
    pub lr: f32,
    /// The collective's signal compression.
    pub codec: Codec,
    /// The CCF's aggregation for the collective.
    pub aggregation: Aggregation,
    /// How far a round's aggregate moves the collective adapter (both federated methods).
    pub server_step: ServerStep,
    /// L2 bound every signal is clipped to.
    pub clip_norm: f64,
    /// Gaussian noise σ (× clip) added to each signal; 0 = none.
    pub noise_multiplier: f64,
    /// ε budget per instance when noise is on (δ = 1e-5).
    pub epsilon_budget: f64,
    /// Fraction of instances that drop out mid-round each round (their signal never arrives;
    /// they return the next round).
    pub dropout: f64,
    /// (instance, round): the instance joins only at that round.
    pub late_join: Option<(usize, usize)>,
    /// (instance, signal): a planted bad instance.
    pub bad: Option<(usize, BadSignal)>,
    /// Methods to run.
    pub methods: Vec<Method>,
    /// Seed of everything.
    pub seed: u64,
}

impl ExperimentConfig {
    /// The kinds instance `i` is asked about.
    pub fn kinds_of(&self, i: usize) -> Vec<(TaskKind, u32)> {
        (0..self.kinds_per_instance.min(self.kinds.len())).map(|j| self.kinds[(i + j) % self.kinds.len()]).collect()
    }

    /// Checks the numbers make an experiment.
    pub fn validate(&self) -> Result<(), String> {
        let problem = if self.instances == 0 || self.rounds == 0 || self.questions == 0 || self.held_out_per_kind == 0 {
            "instances, rounds, questions and held-out questions must be at least 1"
        } else if self.kinds.is_empty() || self.kinds_per_instance == 0 {
            "at least one task kind per instance"
        } else if !(0.0..1.0).contains(&self.dropout) {
            "dropout must be in [0, 1)"
        } else if !(self.clip_norm > 0.0 && self.clip_norm.is_finite() && self.noise_multiplier >= 0.0) {
            "the clip norm must be positive and the noise multiplier non-negative"
        } else if self.late_join.is_some_and(|(i, r)| i >= self.instances || r == 0 || r > self.rounds)
            || self.bad.is_some_and(|(i, _)| i >= self.instances)
        {
            "late-join and bad instances must name an instance and a round of the experiment"
        } else {
            return Ok(());
        };
        Err(problem.into())
    }
}
