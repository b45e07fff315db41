//! The Collective Context Field: it takes a round's signals through the protocol's receiver,
//! aggregates them and versions the collective parameters. One CCF serves both experiments —
//! the model's collective adapter and Fed-Heart-Disease's logistic regression — in one process
//! ([`super::link`]) or as a network service ([`super::service`]).
//!
//! Round 1 is open from the start. A round collects signals for its id only and is closed with
//! whoever sent: nothing waits for an instance that dropped out. Closing combines the signals
//! ([`super::aggregate`]): with the mean and a linear codec the sketches are summed (by secure
//! aggregation where enabled) and decoded once; the robust rules decode each signal and combine
//! them. The aggregate, times the [`ServerStep`]'s factor, is added to the collective parameters
//! as a new version and the next round opens. Every version is kept: the update to the current
//! version from any earlier one is their difference, so a late or returning instance catches up
//! in one message.
//!
//! Every frame is checked in full before anything is recorded: the protocol's checks
//! ([`Receiver::check`], which records nothing), then the round, the base-model hash, the layout,
//! a second signal from the same sender, the secure-aggregation flag, the sketch seed and the
//! payload. Only a frame that passes them all is committed (its sender's replay counter and its
//! signal); a refused one is a typed [`Rejected`] and changes no state.
//!
//! The aggregate does not depend on the order signals arrive in: they are combined in the order
//! of their senders' public keys, so the same signals give the same collective parameters bit
//! for bit whether they came through one process's channels or over a network.

use std::collections::BTreeMap;

use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{AdapterShape, CcfUpdate, Message, Signal};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};

use super::aggregate::Aggregation;
use super::codec::{Codec, CodecError};
use super::error::{FederatedError, Rejected, hex};
use super::secure::SecureRound;
use super::step::ServerStep;

/// The sketch seed of round `round` for an experiment whose seeds start at `base`: every
/// instance sketches under it, so that linear sketches add up, and the CCF refuses any other.
pub fn sketch_seed(base: u64, round: u64) -> u64 {
    base ^ round << 8
}

/// What the CCF serves: the parameter layout and how it aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct CcfConfig {
    /// The base model the parameters apply to.
    pub base_model_hash: [u8; 32],
    /// The parameter layout signals must describe.
    pub shapes: Vec<AdapterShape>,
    /// Version 0 of the collective parameters (for an adapter: a zero B).
    pub initial: Vec<f32>,
    /// The compression every signal must use.
    pub codec: Codec,
    /// How signals are combined.
    pub aggregation: Aggregation,
    /// Whether signals are masked for secure aggregation (needs a linear codec and the mean).
    pub secure_aggregation: bool,
    /// How far a round's aggregate moves the collective parameters.
    pub step: ServerStep,
    /// Where the rounds' sketch seeds start ([`sketch_seed`]).
    pub sketch_seed_base: u64,
}

/// What [`Ccf::receive`] accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A join: the instance takes part from `from_round` (the join's round id) on.
    Join {
        /// The instance's public key.
        key: [u8; 32],
        /// The first round it takes part in.
        from_round: u64,
    },
    /// A signal for the open round, now pending.
    Signal {
        /// The sender's public key.
        key: [u8; 32],
    },
    /// A heartbeat: the instance is done with every round before `round` and holds
    /// `applied_version`; it waits for the update to the version `round` starts from.
    Heartbeat {
        /// The sender's public key.
        key: [u8; 32],
        /// The heartbeat's round id.
        round: u64,
        /// The CCF version the instance has applied.
        applied_version: u64,
    },
}

/// What closing a round did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundOutcome {
    /// The round.
    pub round: u64,
    /// Signals received in it.
    pub received: usize,
    /// Signals the aggregate stands for (all received; the norm filter counts those it kept).
    pub aggregated: usize,
    /// The collective version after the round (unchanged when nothing was aggregated).
    pub version: u64,
    /// L2 norm of the change applied to the collective parameters.
    pub update_norm: f64,
}

/// The CCF's scalars between rounds, saved with a checkpoint (its versions are saved as tensors
/// beside them).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CcfState {
    /// The open round.
    pub round: u64,
    /// The counter of its next sealed update.
    pub next_counter: u64,
    /// Every sender's last accepted counter.
    pub counters: Vec<([u8; 32], u64)>,
    /// Signals the last version was built from.
    #[serde(default)]
    pub contributors: u32,
}

/// A pending signal: the sketch (linear codecs) or the decoded vector, or the masked words.
enum Kept {
    Plain(Vec<f32>),
    Masked(Vec<u32>),
}

/// The CCF (see the module docs).
pub struct Ccf {
    config: CcfConfig,
    sealer: Sealer,
    receiver: Receiver,
    /// The collective parameters at each version (index = version).
    versions: Vec<Vec<f32>>,
    round: u64,
    /// The open round's signals by sender key.
    pending: BTreeMap<[u8; 32], Kept>,
    last_contributors: u32,
}

impl std::fmt::Debug for Ccf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ccf").field("round", &self.round).field("version", &self.version()).finish_non_exhaustive()
    }
}

impl Ccf {
    /// A CCF at version 0 (the configured initial parameters) with round 1 open, signing
    /// updates with `identity`. Secure aggregation with a non-linear codec or a robust rule is
    /// refused: the CCF would only ever see a sum it cannot decode or filter.
    pub fn new(config: CcfConfig, identity: Identity) -> Result<Ccf, FederatedError> {
        if config.secure_aggregation && !(config.codec.is_linear() && config.aggregation.is_linear()) {
            return Err(FederatedError::Config(format!(
                "secure aggregation needs a linear codec and the mean, not {} with {}",
                config.codec.name(),
                config.aggregation.name()
            )));
        }
        Ok(Ccf {
            versions: vec![config.initial.clone()],
            config,
            sealer: Sealer::new(identity),
            receiver: Receiver::new(ReceiverPolicy::for_ccf()),
            round: 1,
            pending: BTreeMap::new(),
            last_contributors: 0,
        })
    }

    /// The CCF's public key (instances accept updates signed by it only).
    pub fn public_key(&self) -> [u8; 32] {
        self.sealer.public_key()
    }

    /// What it serves.
    pub fn config(&self) -> &CcfConfig {
        &self.config
    }

    /// The open round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The open round's sketch seed.
    pub fn round_sketch_seed(&self) -> u64 {
        sketch_seed(self.config.sketch_seed_base, self.round)
    }

    /// The current version (0: nothing aggregated yet).
    pub fn version(&self) -> u64 {
        self.versions.len() as u64 - 1
    }

    /// The collective parameters of the current version.
    pub fn params(&self) -> &[f32] {
        self.versions.last().expect("version 0 exists")
    }

    /// Signals taken in the open round.
    pub fn signals_in_round(&self) -> usize {
        self.pending.len()
    }

    /// Frames the protocol receiver accepted so far.
    pub fn frames_accepted(&self) -> u64 {
        self.receiver.accepted()
    }

    /// Takes one frame: a join, a signal for the open round, or a heartbeat. Every check runs
    /// before any state changes; a refused frame leaves the CCF as it was (the receiver counts
    /// it among its rejections).
    pub fn receive(&mut self, frame: &[u8], now_ms: u64) -> Result<Received, Rejected> {
        let accepted = match self.receiver.check(frame, now_ms) {
            Ok(a) => a,
            Err(e) => {
                // Recorded only in the receiver's rejection counters.
                let _ = self.receiver.receive(frame, now_ms);
                return Err(e.into());
            }
        };
        let key = accepted.header.sender_key;
        let round = accepted.header.round_id;
        let (received, kept) = match &accepted.message {
            Message::Join(_) => (Received::Join { key, from_round: round }, None),
            Message::Signal(signal) => (Received::Signal { key }, Some(self.check_signal(round, signal, &key)?)),
            Message::Heartbeat(h) => {
                if h.applied_ccf_version > self.version() {
                    return Err(Rejected::Unexpected("heartbeat claiming a future version"));
                }
                (Received::Heartbeat { key, round, applied_version: h.applied_ccf_version }, None)
            }
            Message::CcfUpdate(_) => return Err(Rejected::Unexpected("CCF update")),
            Message::Error(_) => return Err(Rejected::Unexpected("error")),
        };
        // Cannot fail: `check` just passed on the same frame at the same clock.
        self.receiver.receive(frame, now_ms)?;
        if let Some(kept) = kept {
            self.pending.insert(key, kept);
        }
        Ok(received)
    }

    fn check_signal(&self, round: u64, signal: &Signal, sender: &[u8; 32]) -> Result<Kept, Rejected> {
        if round != self.round {
            return Err(Rejected::WrongRound { open: Some(self.round), got: round });
        }
        if signal.base_model_hash != self.config.base_model_hash {
            return Err(Rejected::WrongBaseModel {
                expected: hex(&self.config.base_model_hash),
                got: hex(&signal.base_model_hash),
            });
        }
        if signal.adapter_shapes != self.config.shapes {
            return Err(Rejected::WrongShapes);
        }
        if self.pending.contains_key(sender) {
            return Err(Rejected::Duplicate { round });
        }
        let secure = signal.privacy.as_ref().is_some_and(|p| p.secure_aggregation);
        if secure != self.config.secure_aggregation {
            return Err(Rejected::SecureAggregationMismatch { expected: self.config.secure_aggregation, got: secure });
        }
        // Present: `Message::validate` requires both.
        let (Some(compression), Some(payload)) = (&signal.compression, &signal.payload) else {
            return Err(Rejected::Unexpected("incomplete signal"));
        };
        let codec = self.config.codec;
        let seed = self.round_sketch_seed();
        if codec.is_linear() && compression.seed != seed {
            return Err(Rejected::WrongSeed { expected: seed, got: compression.seed });
        }
        let n = self.config.initial.len();
        if secure {
            if compression != &codec.description(n, seed) {
                return Err(CodecError(format!("masked signal not described as {}", codec.name())).into());
            }
            let words = payload.to_u32()?;
            if words.len() != codec.sketch_len(n) {
                return Err(
                    CodecError(format!("{} masked words, expected {}", words.len(), codec.sketch_len(n))).into()
                );
            }
            return Ok(Kept::Masked(words));
        }
        Ok(Kept::Plain(codec.receive(compression, payload, n)?))
    }

    /// Closes the open round with the signals taken (module docs) and opens the next. `secure`
    /// is the round's secure aggregation when the CCF uses it. On an error (secure aggregation
    /// could not unmask the sum) the round stays open with its signals.
    pub fn close_round(&mut self, secure: Option<&mut SecureRound>) -> Result<RoundOutcome, FederatedError> {
        let received = self.pending.len();
        let (update, aggregated) = if received == 0 { (Vec::new(), 0) } else { self.aggregate(secure)? };
        let round = self.round;
        let mut update_norm = 0.0;
        if aggregated > 0 {
            let w = self.config.step.factor(aggregated);
            let next: Vec<f32> = self.params().iter().zip(&update).map(|(c, u)| c + w * u).collect();
            self.versions.push(next);
            self.last_contributors = aggregated as u32;
            update_norm = dfma_protocol::dp::clip::l2_norm(&update) * f64::from(w);
        }
        self.pending.clear();
        self.round += 1;
        Ok(RoundOutcome { round, received, aggregated, version: self.version(), update_norm })
    }

    /// The round's aggregate and how many signals it stands for.
    fn aggregate(&mut self, secure: Option<&mut SecureRound>) -> Result<(Vec<f32>, usize), FederatedError> {
        let n = self.config.initial.len();
        let codec = self.config.codec;
        let seed = self.round_sketch_seed();
        let count = self.pending.len();
        if self.config.secure_aggregation {
            let secure =
                secure.ok_or_else(|| FederatedError::Config("secure aggregation without its round state".into()))?;
            // A secure CCF keeps masked words only (`check_signal`).
            let masked: BTreeMap<[u8; 32], Vec<u32>> = std::mem::take(&mut self.pending)
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Kept::Masked(w) => Some((k, w)),
                    Kept::Plain(_) => None,
                })
                .collect();
            let sum = match secure.sum(&masked) {
                Ok(sum) => sum,
                Err(e) => {
                    // The round stays open with its signals.
                    self.pending = masked.into_iter().map(|(k, w)| (k, Kept::Masked(w))).collect();
                    return Err(e.into());
                }
            };
            let mean: Vec<f32> = sum.iter().map(|s| (s / count as f64) as f32).collect();
            return Ok((codec.unsketch(&mean, seed, n), count));
        }
        let kept: Vec<&[f32]> = self
            .pending
            .values()
            .filter_map(|v| match v {
                Kept::Plain(x) => Some(x.as_slice()),
                Kept::Masked(_) => None,
            })
            .collect();
        if self.config.aggregation.is_linear() && codec.is_linear() {
            let mean = Aggregation::Mean.combine(&kept).unwrap_or_default();
            return Ok((codec.unsketch(&mean, seed, n), count));
        }
        if !codec.is_linear() {
            return Ok(self.config.aggregation.combine_counted(&kept).unwrap_or_default());
        }
        let decoded: Vec<Vec<f32>> = kept.iter().map(|s| codec.unsketch(s, seed, n)).collect();
        Ok(self.config.aggregation.combine_counted(&decoded).unwrap_or_default())
    }

    /// The sealed update bringing an instance at `from_version` to the current version: the
    /// difference of the two, with the number of signals the last version was built from.
    pub fn update_from(&mut self, from_version: u64, expires_ms: u64) -> Result<Vec<u8>, Rejected> {
        let from = self.versions.get(from_version as usize).ok_or(Rejected::Unexpected("future version"))?;
        let delta: Vec<f32> = self.params().iter().zip(from).map(|(c, f)| c - f).collect();
        let update = CcfUpdate {
            ccf_version: self.version(),
            base_model_hash: self.config.base_model_hash.to_vec(),
            adapter_shapes: self.config.shapes.clone(),
            delta: Some(TensorPayload::from_f32(&delta)),
            contributors: self.last_contributors,
        };
        Ok(self.sealer.seal(self.round, expires_ms, &Message::CcfUpdate(update))?)
    }

    /// Its state between rounds and every version's parameters (what [`Ccf::restore`] takes
    /// back); `None` while a round has pending signals, which a checkpoint does not hold.
    pub fn state(&self) -> Option<(CcfState, &[Vec<f32>])> {
        self.pending.is_empty().then(|| {
            let state = CcfState {
                round: self.round,
                next_counter: self.sealer.next_counter(),
                counters: self.receiver.counters(),
                contributors: self.last_contributors,
            };
            (state, &self.versions[..])
        })
    }

    /// Takes back a saved state: afterwards the CCF accepts, refuses, aggregates and seals
    /// exactly as the saved one would have. Versions of another length are refused and change
    /// nothing.
    pub fn restore(&mut self, state: &CcfState, versions: Vec<Vec<f32>>) -> Result<(), Rejected> {
        let n = self.config.initial.len();
        if versions.is_empty() || versions.iter().any(|v| v.len() != n) {
            return Err(Rejected::Unexpected("saved versions of another parameter layout"));
        }
        self.versions = versions;
        self.round = state.round;
        self.last_contributors = state.contributors;
        self.pending.clear();
        self.sealer.continue_from(state.next_counter);
        self.receiver = Receiver::resuming(ReceiverPolicy::for_ccf(), state.counters.iter().copied());
        Ok(())
    }
}
