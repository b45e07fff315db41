//! The Collective Context Field: it takes a round's signals through the protocol's receiver,
//! aggregates them and versions the collective parameters.
//!
//! A round is opened with an id and a sketch seed, collects signals for that id only, and is
//! closed with whoever sent: nothing waits for an instance that dropped out. Closing combines
//! the signals ([`super::aggregate`]): with the mean and a linear codec the sketches are summed
//! (by secure aggregation where enabled) and decoded once; robust rules decode each signal and
//! combine coordinate by coordinate. The update is added to the collective parameters and the
//! version goes up by one. Instances adopt the latest version when they next ask (a heartbeat
//! naming the version they have), so late and returning instances catch up in one message.
//!
//! Every frame is checked in full before anything is recorded: the protocol's checks
//! ([`Receiver::check`], which records nothing), then the round, the base-model hash, the
//! layout, the secure-aggregation flag, the sketch seed and the payload. Only a frame that
//! passes them all is committed (its sender's replay counter and its signal); a refused one is
//! a typed [`Rejected`] and changes no state.

use std::collections::BTreeMap;
use std::time::Duration;

use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{AdapterShape, CcfUpdate, Message};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};
use dfma_protocol::transport::in_process::InProcessCcf;
use dfma_protocol::transport::{ConnectionId, Transport};

use super::aggregate::Aggregation;
use super::codec::{Codec, CodecError};
use super::error::{FederatedError, Rejected, hex};
use super::instance::EXPIRY_MS;
use super::secure::SecureRound;

/// What the CCF serves: the parameter layout and how it aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct CcfConfig {
    /// The base model the parameters apply to ([`super::learner::Learner::base_model_hash`]).
    pub base_model_hash: [u8; 32],
    /// The parameter layout signals must describe.
    pub shapes: Vec<AdapterShape>,
    /// The common initialization; versions are sent as the change from it.
    pub initial: Vec<f32>,
    /// The compression every signal must use.
    pub codec: Codec,
    /// How signals are combined.
    pub aggregation: Aggregation,
    /// Whether signals are masked for secure aggregation (needs a linear codec and the mean).
    pub secure_aggregation: bool,
    /// Factor on the aggregated change before it is added (1: plain averaging).
    pub server_learning_rate: f32,
}

/// What a frame the CCF accepted was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// An instance joined.
    Joined,
    /// An instance asked for updates; `sent_version` is the version sent back, if it was behind.
    Heartbeat {
        /// The version sent, if any.
        sent_version: Option<u64>,
        /// Bytes of the update frame sent.
        bytes: usize,
    },
    /// A signal for the open round was taken.
    Signal,
}

/// What closing a round did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundOutcome {
    /// The round.
    pub round: u64,
    /// Signals combined.
    pub contributors: usize,
    /// The collective version after the round (unchanged when nobody sent).
    pub version: u64,
    /// L2 norm of the change applied to the collective parameters.
    pub update_norm: f64,
}

struct OpenRound {
    id: u64,
    sketch_seed: u64,
    /// Per sender key: the kept vector (sketch or decoded), or the masked words.
    signals: BTreeMap<[u8; 32], Kept>,
}

enum Kept {
    Plain(Vec<f32>),
    Masked(Vec<u32>),
}

/// The CCF (see the module docs).
pub struct Ccf {
    config: CcfConfig,
    sealer: Sealer,
    receiver: Receiver,
    link: InProcessCcf,
    params: Vec<f32>,
    version: u64,
    last_contributors: u32,
    open: Option<OpenRound>,
}

impl std::fmt::Debug for Ccf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ccf").field("version", &self.version).finish_non_exhaustive()
    }
}

impl Ccf {
    /// A CCF at version 0 (the initialization), signing updates with `identity`.
    pub fn new(config: CcfConfig, identity: Identity, link: InProcessCcf) -> Result<Self, FederatedError> {
        if config.secure_aggregation && !(config.codec.is_linear() && config.aggregation.is_linear()) {
            return Err(FederatedError::Config(format!(
                "secure aggregation needs a linear codec and the mean, not {} with {}",
                config.codec.name(),
                config.aggregation.name()
            )));
        }
        Ok(Self {
            params: config.initial.clone(),
            config,
            sealer: Sealer::new(identity),
            receiver: Receiver::new(ReceiverPolicy::for_ccf()),
            link,
            version: 0,
            last_contributors: 0,
            open: None,
        })
    }

    /// The CCF's public key (instances accept updates signed by it only).
    pub fn public_key(&self) -> [u8; 32] {
        self.sealer.public_key()
    }

    /// The collective parameters of the current version.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The current version (0: nothing aggregated yet).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The open round's id.
    pub fn open_round(&self) -> Option<u64> {
        self.open.as_ref().map(|r| r.id)
    }

    /// Signals taken in the open round.
    pub fn signals_in_round(&self) -> usize {
        self.open.as_ref().map_or(0, |r| r.signals.len())
    }

    /// Frames the protocol receiver accepted so far.
    pub fn frames_accepted(&self) -> u64 {
        self.receiver.accepted()
    }

    /// Opens round `id`; signals for any other round are refused from now on.
    pub fn open_round_with(&mut self, id: u64, sketch_seed: u64) {
        self.open = Some(OpenRound { id, sketch_seed, signals: BTreeMap::new() });
    }

    /// Handles everything waiting on the transport; returns per frame what it was, or why it
    /// was refused.
    pub fn poll(&mut self, now_unix_ms: u64) -> Result<Vec<Result<Handled, Rejected>>, FederatedError> {
        let mut out = Vec::new();
        while let Some(incoming) = self.link.recv_timeout(Duration::ZERO)? {
            out.push(self.handle(incoming.from, &incoming.frame, now_unix_ms)?);
        }
        Ok(out)
    }

    /// Checks one frame in full and commits it only if every check passed (module docs).
    /// The outer error is a failure of the CCF itself (sending a reply); the inner one is a
    /// refusal of the frame.
    pub fn handle(
        &mut self,
        from: ConnectionId,
        frame: &[u8],
        now: u64,
    ) -> Result<Result<Handled, Rejected>, FederatedError> {
        let accepted = match self.receiver.check(frame, now) {
            Ok(a) => a,
            Err(e) => {
                // Recorded only in the receiver's rejection counters.
                let _ = self.receiver.receive(frame, now);
                return Ok(Err(e.into()));
            }
        };
        let round = accepted.header.round_id;
        match accepted.message {
            Message::Join(_) => {
                self.commit(frame, now)?;
                Ok(Ok(Handled::Joined))
            }
            Message::Heartbeat(heartbeat) => {
                self.commit(frame, now)?;
                if heartbeat.applied_ccf_version >= self.version {
                    return Ok(Ok(Handled::Heartbeat { sent_version: None, bytes: 0 }));
                }
                let update = self.update_message();
                let reply = self.sealer.seal(round, now + EXPIRY_MS, &Message::CcfUpdate(update))?;
                let bytes = reply.len();
                self.link.send(from, reply)?;
                Ok(Ok(Handled::Heartbeat { sent_version: Some(self.version), bytes }))
            }
            Message::Signal(signal) => {
                let kept = match self.check_signal(round, &signal, &accepted.header.sender_key) {
                    Ok(kept) => kept,
                    Err(e) => return Ok(Err(e)),
                };
                self.commit(frame, now)?;
                if let Some(open) = &mut self.open {
                    open.signals.insert(accepted.header.sender_key, kept);
                }
                Ok(Ok(Handled::Signal))
            }
            Message::CcfUpdate(_) => Ok(Err(Rejected::Unexpected("CCF update"))),
            Message::Error(_) => Ok(Err(Rejected::Unexpected("error"))),
        }
    }

    fn commit(&mut self, frame: &[u8], now: u64) -> Result<(), FederatedError> {
        // Cannot fail: `check` just passed on the same frame at the same clock.
        self.receiver.receive(frame, now).map_err(|e| FederatedError::Rejected(e.into()))?;
        Ok(())
    }

    fn check_signal(
        &self,
        round: u64,
        signal: &dfma_protocol::messages::Signal,
        sender: &[u8; 32],
    ) -> Result<Kept, Rejected> {
        let open = match &self.open {
            Some(open) if open.id == round => open,
            other => return Err(Rejected::WrongRound { open: other.as_ref().map(|o| o.id), got: round }),
        };
        if signal.base_model_hash != self.config.base_model_hash {
            return Err(Rejected::WrongBaseModel {
                expected: hex(&self.config.base_model_hash),
                got: hex(&signal.base_model_hash),
            });
        }
        if signal.adapter_shapes != self.config.shapes {
            return Err(Rejected::WrongShapes);
        }
        if open.signals.contains_key(sender) {
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
        if codec.is_linear() && compression.seed != open.sketch_seed {
            return Err(Rejected::WrongSeed { expected: open.sketch_seed, got: compression.seed });
        }
        let n = self.config.initial.len();
        if secure {
            if compression != &codec.description(n, open.sketch_seed) {
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

    /// Closes the open round with the signals taken (module docs). `secure` is the round's
    /// secure aggregation when the CCF uses it.
    pub fn close_round(&mut self, secure: Option<&mut SecureRound>) -> Result<RoundOutcome, FederatedError> {
        let open = self.open.take().ok_or_else(|| FederatedError::Config("no round is open".into()))?;
        let n = self.config.initial.len();
        let codec = self.config.codec;
        let contributors = open.signals.len();
        if contributors == 0 {
            return Ok(RoundOutcome { round: open.id, contributors, version: self.version, update_norm: 0.0 });
        }
        let update: Vec<f32> = if self.config.secure_aggregation {
            let secure =
                secure.ok_or_else(|| FederatedError::Config("secure aggregation without its round state".into()))?;
            let masked: BTreeMap<[u8; 32], Vec<u32>> = open
                .signals
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Kept::Masked(w) => Some((k, w)),
                    Kept::Plain(_) => None,
                })
                .collect();
            let sum = secure.sum(&masked)?;
            let mean: Vec<f32> = sum.iter().map(|s| (s / contributors as f64) as f32).collect();
            codec.unsketch(&mean, open.sketch_seed, n)
        } else {
            let kept: Vec<Vec<f32>> = open
                .signals
                .into_values()
                .filter_map(|v| match v {
                    Kept::Plain(x) => Some(x),
                    Kept::Masked(_) => None,
                })
                .collect();
            if self.config.aggregation.is_linear() && codec.is_linear() {
                let mean = Aggregation::Mean.combine(&kept).unwrap_or_default();
                codec.unsketch(&mean, open.sketch_seed, n)
            } else {
                let decoded: Vec<Vec<f32>> = if codec.is_linear() {
                    kept.iter().map(|s| codec.unsketch(s, open.sketch_seed, n)).collect()
                } else {
                    kept
                };
                self.config.aggregation.combine(&decoded).unwrap_or_default()
            }
        };
        let lr = self.config.server_learning_rate;
        for (p, u) in self.params.iter_mut().zip(&update) {
            *p += lr * u;
        }
        self.version += 1;
        self.last_contributors = contributors as u32;
        let update_norm = dfma_protocol::dp::clip::l2_norm(&update) * f64::from(lr);
        Ok(RoundOutcome { round: open.id, contributors, version: self.version, update_norm })
    }

    /// The current version as an update message: the change from the initialization, with the
    /// number of signals its last round was built from.
    fn update_message(&self) -> CcfUpdate {
        let delta: Vec<f32> = self.params.iter().zip(&self.config.initial).map(|(p, i)| p - i).collect();
        CcfUpdate {
            ccf_version: self.version,
            base_model_hash: self.config.base_model_hash.to_vec(),
            adapter_shapes: self.config.shapes.clone(),
            delta: Some(TensorPayload::from_f32(&delta)),
            contributors: self.last_contributors,
        }
    }
}
