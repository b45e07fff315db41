//! The experiment driver: the collective stack (instances, protocol, CCF) run for R rounds with
//! faults, and the baselines on the same seeds: isolated (local learning only), FedAvg of
//! uncompressed f32 changes, and pooled (all training data in one place: the upper bound).
//!
//! Everything random derives from one seed ([`derive_seed`]): identities, training order, the
//! DP noise, the dropouts, the sketch seeds. The clock is simulated (a round is one minute), so
//! a run is reproducible exactly on one machine. Instances run one after another in one thread;
//! the protocol still carries every message as a signed frame through the in-process transport.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};

use dfma_protocol::identity::Identity;
use dfma_protocol::transport::in_process::in_process;

use super::aggregate::Aggregation;
use super::ccf::{Ccf, CcfConfig, sketch_seed};
use super::codec::Codec;
use super::error::FederatedError;
use super::instance::{Behaviour, Instance, InstanceConfig, InstanceSetup, RoundContext};
use super::learner::Learner;
use super::link::{Handled, LinkedCcf};
use super::privacy::PrivacyConfig;
use super::secure::SecureRound;
use super::step::ServerStep;

/// Simulated start of round 0, Unix milliseconds (any fixed instant works).
const CLOCK_START_UNIX_MS: u64 = 1_700_000_000_000;
/// Simulated length of a round.
const ROUND_MS: u64 = 60_000;

/// A 64-bit seed for `label` and `index`, from the experiment seed (SHA-256, so that streams
/// for different purposes never overlap).
pub fn derive_seed(seed: u64, label: &str, index: u64) -> u64 {
    let digest = derive_bytes(seed, label, index);
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
}

fn derive_bytes(seed: u64, label: &str, index: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"dfma/federated/seed/v1\0")
        .chain_update(seed.to_le_bytes())
        .chain_update(label.as_bytes())
        .chain_update([0])
        .chain_update(index.to_le_bytes())
        .finalize()
        .into()
}

/// One instance's private data.
#[derive(Debug, Clone)]
pub struct InstanceData<D> {
    /// Name in reports (a hospital, a user).
    pub name: String,
    /// Training split.
    pub train: D,
    /// Held-out split.
    pub held_out: D,
}

/// Faults injected into the collective run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Fraction of the online instances (rounded to nearest) that drop out each round after
    /// training and before sending; they come back the next round.
    pub dropout_fraction: f64,
    /// `(instance, round)`: the instance joins at that round (0-based) instead of round 0.
    pub late_joins: Vec<(usize, usize)>,
    /// `(instance, behaviour)`: a planted bad instance.
    pub bad_instance: Option<(usize, Behaviour)>,
}

/// How the collective run learns and signals.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfig {
    /// Rounds.
    pub rounds: usize,
    /// Local epochs per round (the isolated and pooled baselines train `rounds × local_epochs`).
    pub local_epochs: usize,
    /// Signal compression.
    pub codec: Codec,
    /// How the CCF combines signals.
    pub aggregation: Aggregation,
    /// Mask signals for secure aggregation (linear codec and mean only).
    pub secure_aggregation: bool,
    /// Clipping and noise; `None` sends raw changes.
    pub privacy: Option<PrivacyConfig>,
    /// Factor on the aggregated change.
    pub server_learning_rate: f32,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Faults.
    pub faults: Faults,
    /// Evaluate the collective model on every held-out set after every round (else only at the
    /// end).
    pub evaluate_each_round: bool,
}

impl ExperimentConfig {
    /// The uncompressed-FedAvg baseline of this configuration: the same rounds, epochs, seed
    /// and faults, f32 changes averaged, no clipping or noise.
    pub fn fedavg(&self) -> Self {
        Self {
            codec: Codec::None,
            aggregation: Aggregation::Mean,
            secure_aggregation: false,
            privacy: None,
            server_learning_rate: 1.0,
            ..self.clone()
        }
    }
}

/// One round of the collective run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRecord {
    /// Round (0-based).
    pub round: usize,
    /// Instances online (joined).
    pub online: usize,
    /// Instances that dropped out after training.
    pub dropped: usize,
    /// Signals the CCF combined.
    pub contributors: usize,
    /// Frames the CCF refused.
    pub rejected: usize,
    /// Instances whose privacy budget was spent (sent nothing).
    pub budget_stopped: usize,
    /// The collective version after the round.
    pub version: u64,
    /// Bytes of signal frames sent to the CCF.
    pub signal_bytes: u64,
    /// Bytes of every frame sent to the CCF (joins, heartbeats, signals).
    pub bytes_up: u64,
    /// Bytes of CCF update frames sent to instances.
    pub bytes_down: u64,
    /// L2 norm of the change applied to the collective.
    pub update_norm: f64,
    /// The collective model's accuracy on each instance's held-out set (empty when not
    /// evaluated this round).
    pub accuracy: Vec<f64>,
}

/// What a collective run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectiveRun {
    /// Every round.
    pub rounds: Vec<RoundRecord>,
    /// The collective model's accuracy on each instance's held-out set at the end.
    pub accuracy: Vec<f64>,
    /// Each instance's own parameters (the last collective version plus its last local
    /// training) on its held-out set.
    pub personal_accuracy: Vec<f64>,
    /// The collective parameters at the end.
    pub params: Vec<f32>,
    /// The final collective version.
    pub version: u64,
    /// ε each instance spent (infinite without noise).
    pub epsilon_spent: Vec<f64>,
}

impl CollectiveRun {
    /// Signal bytes over the run.
    pub fn signal_bytes(&self) -> u64 {
        self.rounds.iter().map(|r| r.signal_bytes).sum()
    }
}

/// Runs the collective stack (module docs): `make` builds the common initialization (called
/// once per instance and once for evaluation; every call must return the same parameters).
pub fn run_collective<L: Learner>(
    make: &dyn Fn() -> L,
    data: &[InstanceData<L::Data>],
    config: &ExperimentConfig,
) -> Result<CollectiveRun, FederatedError>
where
    L::Data: Clone,
{
    validate(config, data.len())?;
    let seed = config.seed;
    let reference = make();
    let (ccf_link, connector) = in_process(data.len() * 4 + 16);
    let ccf_identity = Identity::from_secret_bytes(derive_bytes(seed, "ccf identity", 0));
    let sketch_seed_base = derive_seed(seed, "sketch", 0);
    let ccf = Ccf::new(
        CcfConfig {
            base_model_hash: reference.base_model_hash(),
            shapes: reference.shapes(),
            initial: reference.params(),
            codec: config.codec,
            aggregation: config.aggregation,
            secure_aggregation: config.secure_aggregation,
            step: ServerStep::Scaled(config.server_learning_rate),
            sketch_seed_base,
        },
        ccf_identity,
    )?;
    let mut ccf = LinkedCcf::new(ccf, ccf_link);
    let instance_config =
        InstanceConfig { local_epochs: config.local_epochs, codec: config.codec, privacy: config.privacy };
    let mut instances = Vec::with_capacity(data.len());
    for (i, d) in data.iter().enumerate() {
        let behaviour = match config.faults.bad_instance {
            Some((bad, b)) if bad == i => b,
            _ => Behaviour::Honest,
        };
        let setup = InstanceSetup {
            name: d.name.clone(),
            identity: Identity::from_secret_bytes(derive_bytes(seed, "instance identity", i as u64)),
            ccf_key: ccf.ccf().public_key(),
            link: connector.connect(),
            seed: derive_seed(seed, "instance", i as u64),
            behaviour,
        };
        instances.push(Instance::new(make(), d.train.clone(), d.held_out.clone(), instance_config, setup)?);
    }
    let join_round = |i: usize| config.faults.late_joins.iter().find(|(j, _)| *j == i).map_or(0, |(_, r)| *r);
    let mut fault_rng = StdRng::seed_from_u64(derive_seed(seed, "faults", 0));
    let mut evaluator = make();
    let mut rounds = Vec::with_capacity(config.rounds);
    for r in 0..config.rounds {
        let round_id = r as u64 + 1;
        let now = CLOCK_START_UNIX_MS + r as u64 * ROUND_MS;
        let round_seed = sketch_seed(sketch_seed_base, round_id);
        let online: Vec<usize> = (0..instances.len()).filter(|&i| join_round(i) <= r).collect();
        let (mut bytes_up, mut bytes_down, mut signal_bytes, mut rejected) = (0u64, 0u64, 0u64, 0usize);
        for &i in &online {
            if !instances[i].joined() {
                bytes_up += instances[i].join(round_id, now)? as u64;
            }
            bytes_up += instances[i].request_update(round_id, now)? as u64;
        }
        for handled in ccf.poll(now)? {
            match handled {
                Ok(Handled::Heartbeat { bytes, .. }) => bytes_down += bytes as u64,
                Ok(_) => {}
                Err(_) => rejected += 1,
            }
        }
        for &i in &online {
            let (_, refused) = instances[i].adopt_updates(now)?;
            rejected += refused.len();
        }
        let drop_count = (config.faults.dropout_fraction * online.len() as f64).round() as usize;
        let mut shuffled = online.clone();
        shuffled.shuffle(&mut fault_rng);
        let dropped: Vec<usize> = shuffled[..drop_count.min(online.len())].to_vec();
        let mut secure = if config.secure_aggregation {
            let keys: Vec<[u8; 32]> = online.iter().map(|&i| instances[i].public_key()).collect();
            let len = config.codec.sketch_len(reference.param_count());
            Some(SecureRound::setup(round_id, &keys, len, derive_bytes(seed, "secagg", round_id))?)
        } else {
            None
        };
        let ctx =
            RoundContext { round: round_id, now_unix_ms: now + 1, sketch_seed: round_seed, secure: secure.as_ref() };
        let mut budget_stopped = 0;
        for &i in &online {
            instances[i].train()?;
            let silent = config.faults.bad_instance == Some((i, Behaviour::Silent));
            if dropped.contains(&i) || silent {
                continue;
            }
            match instances[i].send_signal(&ctx)? {
                Some(sent) => {
                    signal_bytes += sent.frame_bytes as u64;
                    bytes_up += sent.frame_bytes as u64;
                }
                None => budget_stopped += 1,
            }
        }
        rejected += ccf.poll(now + 1)?.iter().filter(|h| h.is_err()).count();
        let outcome = ccf.ccf_mut().close_round(secure.as_mut()).map_err(|e| match e {
            FederatedError::SecAgg(e) => FederatedError::Config(format!(
                "round {r}: secure aggregation could not unmask the sum of {} signals from {} instances ({e}): \
                 each instance needs more than half its neighbours to send, so few instances tolerate few dropouts",
                online.len() - dropped.len(),
                online.len()
            )),
            e => e,
        })?;
        let last = r + 1 == config.rounds;
        let accuracy = if config.evaluate_each_round || last {
            evaluator.set_params(ccf.ccf().params())?;
            data.iter().map(|d| evaluator.evaluate(&d.held_out)).collect()
        } else {
            Vec::new()
        };
        rounds.push(RoundRecord {
            round: r,
            online: online.len(),
            dropped: dropped.len(),
            contributors: outcome.aggregated,
            rejected,
            budget_stopped,
            version: outcome.version,
            signal_bytes,
            bytes_up,
            bytes_down,
            update_norm: outcome.update_norm,
            accuracy,
        });
    }
    evaluator.set_params(ccf.ccf().params())?;
    Ok(CollectiveRun {
        accuracy: data.iter().map(|d| evaluator.evaluate(&d.held_out)).collect(),
        personal_accuracy: instances.iter().map(|inst| inst.learner().evaluate(inst.held_out())).collect(),
        params: ccf.ccf().params().to_vec(),
        version: ccf.ccf().version(),
        epsilon_spent: instances.iter().map(Instance::epsilon_spent).collect(),
        rounds,
    })
}

fn validate(config: &ExperimentConfig, instances: usize) -> Result<(), FederatedError> {
    let bad = |m: String| Err(FederatedError::Config(m));
    if instances == 0 {
        return bad("no instances".into());
    }
    if config.rounds == 0 || config.local_epochs == 0 {
        return bad(format!("rounds {} and local epochs {} must be at least 1", config.rounds, config.local_epochs));
    }
    if !(0.0..1.0).contains(&config.faults.dropout_fraction) {
        return bad(format!("dropout fraction {} must be in [0, 1)", config.faults.dropout_fraction));
    }
    if let Some((i, _)) = config.faults.bad_instance.filter(|(i, _)| *i >= instances) {
        return bad(format!("bad instance {i} of {instances}"));
    }
    if let Some((i, r)) = config.faults.late_joins.iter().find(|(i, r)| *i >= instances || *r >= config.rounds) {
        return bad(format!("late join of instance {i} at round {r}: {instances} instances, {} rounds", config.rounds));
    }
    if !(config.server_learning_rate.is_finite() && config.server_learning_rate > 0.0) {
        return bad(format!("server learning rate {} must be finite and above 0", config.server_learning_rate));
    }
    Ok(())
}

/// The isolated baseline: every instance trains `epochs` on its own data and never shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolatedRun {
    /// Instance i's model on its own held-out set.
    pub accuracy: Vec<f64>,
    /// `cross[i][j]`: instance i's model on instance j's held-out set.
    pub cross: Vec<Vec<f64>>,
}

/// Trains each instance alone for `epochs` epochs (the training stream is seeded per instance
/// from `seed`, as in the collective run).
pub fn run_isolated<L: Learner>(
    make: &dyn Fn() -> L,
    data: &[InstanceData<L::Data>],
    epochs: usize,
    seed: u64,
) -> Result<IsolatedRun, FederatedError> {
    let mut cross = Vec::with_capacity(data.len());
    for (i, d) in data.iter().enumerate() {
        let mut learner = make();
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, "isolated", i as u64));
        learner.train_local(&d.train, epochs, &mut rng)?;
        cross.push(data.iter().map(|e| learner.evaluate(&e.held_out)).collect::<Vec<f64>>());
    }
    Ok(IsolatedRun { accuracy: cross.iter().enumerate().map(|(i, row)| row[i]).collect(), cross })
}

/// The pooled baseline: one model trained `epochs` on `pooled` (every instance's training
/// data), evaluated on each instance's held-out set.
pub fn run_pooled<L: Learner>(
    make: &dyn Fn() -> L,
    pooled: &L::Data,
    data: &[InstanceData<L::Data>],
    epochs: usize,
    seed: u64,
) -> Result<Vec<f64>, FederatedError> {
    let mut learner = make();
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, "pooled", 0));
    learner.train_local(pooled, epochs, &mut rng)?;
    Ok(data.iter().map(|d| learner.evaluate(&d.held_out)).collect())
}

/// Unweighted mean (NaN for none).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// A fresh random seed for tests and commands that were not given one.
pub fn fresh_seed() -> u64 {
    rand::rng().random()
}
