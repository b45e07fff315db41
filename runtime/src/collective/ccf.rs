//! The CCF: it takes a round's signals (protocol checks, then base model, round and payload
//! checks — a refused signal changes no state), aggregates them, and versions the collective
//! adapter's B vector. An update to any earlier version is the difference to the current one,
//! so a late or returning instance catches up in one message.
//!
//! The aggregate does not depend on the order signals arrive in: a round's signals are combined
//! in the order of their senders' public keys, so the same signals give the same collective
//! adapter bit for bit whether they came through one process's channels or over a network.

use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{CcfUpdate, Message};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};

use super::error::CollectiveError;
use super::sender::hex;
pub use crate::federated::aggregate::Aggregation;

/// How far a round's aggregate moves the collective adapter.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStep {
    /// m × the aggregate, m being the number of signals it stands for (with the mean: their
    /// sum): every instance's change acts in full on everyone, as if one adapter had been
    /// trained on all their data — but the changes were computed side by side from the same
    /// start, so what they share (the answer format) is applied m times over.
    Sum,
    /// η × the aggregate (η = 1: FedAvg's mean).
    Scaled(f32),
}

impl ServerStep {
    /// Parses `sum` or a positive number η.
    pub fn parse(s: &str) -> Result<ServerStep, String> {
        if s == "sum" {
            return Ok(ServerStep::Sum);
        }
        match s.parse::<f32>() {
            Ok(eta) if eta > 0.0 && eta.is_finite() => Ok(ServerStep::Scaled(eta)),
            _ => Err(format!("server step {s:?}: expected sum or a positive number")),
        }
    }

    /// The factor on an aggregate of `m` signals.
    pub fn factor(self, m: usize) -> f32 {
        match self {
            ServerStep::Sum => m as f32,
            ServerStep::Scaled(eta) => eta,
        }
    }

    /// The name [`ServerStep::parse`] reads.
    pub fn name(self) -> String {
        match self {
            ServerStep::Sum => "sum".into(),
            ServerStep::Scaled(eta) => format!("{eta}"),
        }
    }
}
use crate::federated::codec::Codec;

/// The Collective Context Field of one base model and adapter layout.
pub struct Ccf {
    sealer: Sealer,
    receiver: Receiver,
    base_hash: [u8; 32],
    len: usize,
    codec: Codec,
    aggregation: Aggregation,
    step: ServerStep,
    /// B of the collective adapter at each version (index = version).
    versions: Vec<Vec<f32>>,
    round: u64,
    /// The open round's decoded signals, with their senders' keys.
    pending: Vec<([u8; 32], Vec<f32>)>,
}

/// The CCF's scalars between rounds, saved with a checkpoint (its versions are saved as
/// tensors beside them).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CcfState {
    /// The open round.
    pub round: u64,
    /// The counter of its next sealed update.
    pub next_counter: u64,
    /// Every sender's last accepted counter.
    pub counters: Vec<([u8; 32], u64)>,
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
    /// `applied_version`; it waits for the update that brings it to the version of `round`'s
    /// start.
    Heartbeat {
        /// The sender's public key.
        key: [u8; 32],
        /// The heartbeat's round id.
        round: u64,
        /// The CCF version the instance has applied.
        applied_version: u64,
    },
}

impl Ccf {
    /// A CCF at version 0 (a zero collective B of `len` values), round 1 open, taking signals
    /// compressed with `codec`, combining them with `aggregation` and moving by `step`.
    pub fn new(
        identity: Identity,
        base_hash: [u8; 32],
        len: usize,
        codec: Codec,
        aggregation: Aggregation,
        step: ServerStep,
    ) -> Ccf {
        Ccf {
            sealer: Sealer::new(identity),
            receiver: Receiver::new(ReceiverPolicy::for_ccf()),
            base_hash,
            len,
            codec,
            aggregation,
            step,
            versions: vec![vec![0.0; len]],
            round: 1,
            pending: Vec::new(),
        }
    }

    /// The CCF's public key, which instances trust updates from.
    pub fn public_key(&self) -> [u8; 32] {
        self.sealer.public_key()
    }

    /// The open round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.versions.len() as u64 - 1
    }

    /// The collective B now.
    pub fn collective(&self) -> &[f32] {
        self.versions.last().expect("version 0 exists")
    }

    /// Takes one frame: a join, a signal for the open round, or a heartbeat. Every check runs
    /// before any state changes; a refused frame leaves the CCF as it was.
    pub fn receive(&mut self, frame: &[u8], now_ms: u64) -> Result<Received, CollectiveError> {
        let accepted = self.receiver.check(frame, now_ms)?;
        let key = accepted.header.sender_key;
        let (received, decoded) = match &accepted.message {
            Message::Join(_) => (Received::Join { key, from_round: accepted.header.round_id }, None),
            Message::Signal(s) => {
                if s.base_model_hash != self.base_hash {
                    return Err(CollectiveError::BaseModel {
                        got: hex(&s.base_model_hash),
                        want: hex(&self.base_hash),
                    });
                }
                if accepted.header.round_id != self.round {
                    return Err(CollectiveError::Round { got: accepted.header.round_id, want: self.round });
                }
                let c = s.compression.as_ref().ok_or(CollectiveError::Unexpected("uncompressed"))?;
                let p = s.payload.as_ref().ok_or(CollectiveError::Unexpected("empty signal"))?;
                (Received::Signal { key }, Some(self.codec.decode(c, p, self.len)?))
            }
            Message::Heartbeat(h) => {
                if h.applied_ccf_version > self.version() {
                    return Err(CollectiveError::Unexpected("heartbeat claiming a future version"));
                }
                let round = accepted.header.round_id;
                (Received::Heartbeat { key, round, applied_version: h.applied_ccf_version }, None)
            }
            _ => return Err(CollectiveError::Unexpected("non-signal")),
        };
        self.receiver.receive(frame, now_ms)?;
        if let Some(d) = decoded {
            self.pending.push((key, d));
        }
        Ok(received)
    }

    /// Closes the open round: the signals received (however many instances sent) are
    /// aggregated and the aggregate, times the [`ServerStep`]'s factor, is added to the
    /// collective B as a new version; the next round opens. Returns m, the number of signals
    /// the aggregate stands for (all that arrived; the norm filter counts those it kept; 0: the
    /// version stays).
    pub fn close_round(&mut self) -> usize {
        let mut used = 0;
        if !self.pending.is_empty() {
            self.pending.sort_by_key(|(key, _)| *key);
            let signals: Vec<Vec<f32>> = self.pending.drain(..).map(|(_, d)| d).collect();
            let (update, m) = self.aggregation.combine_counted(&signals).expect("at least one signal");
            used = m;
            if m > 0 {
                let w = self.step.factor(m);
                let next: Vec<f32> = self.collective().iter().zip(&update).map(|(c, u)| c + w * u).collect();
                self.versions.push(next);
            }
        }
        self.pending.clear();
        self.round += 1;
        used
    }

    /// Its state between rounds and every version's B (what [`Ccf::restore`] takes back); `None`
    /// while a round has pending signals, which a checkpoint does not hold.
    pub fn state(&self) -> Option<(CcfState, &[Vec<f32>])> {
        self.pending.is_empty().then(|| {
            let state = CcfState {
                round: self.round,
                next_counter: self.sealer.next_counter(),
                counters: self.receiver.counters(),
            };
            (state, &self.versions[..])
        })
    }

    /// Takes back a saved state: afterwards the CCF accepts, refuses, aggregates and seals
    /// exactly as the saved one would have. Versions of another length are refused and change
    /// nothing.
    pub fn restore(&mut self, state: &CcfState, versions: Vec<Vec<f32>>) -> Result<(), CollectiveError> {
        if versions.is_empty() || versions.iter().any(|v| v.len() != self.len) {
            return Err(CollectiveError::Unexpected("saved versions of another adapter layout"));
        }
        self.versions = versions;
        self.round = state.round;
        self.pending.clear();
        self.sealer.continue_from(state.next_counter);
        self.receiver = Receiver::resuming(ReceiverPolicy::for_ccf(), state.counters.iter().copied());
        Ok(())
    }

    /// The sealed update bringing an instance at `from_version` to the current version.
    pub fn update_from(&mut self, from_version: u64, expires_ms: u64) -> Result<Vec<u8>, CollectiveError> {
        let from = self.versions.get(from_version as usize).ok_or(CollectiveError::Unexpected("future version"))?;
        let delta: Vec<f32> = self.collective().iter().zip(from).map(|(c, f)| c - f).collect();
        let update = CcfUpdate {
            ccf_version: self.version(),
            base_model_hash: self.base_hash.to_vec(),
            adapter_shapes: Vec::new(),
            delta: Some(TensorPayload::from_f32(&delta)),
            contributors: 0,
        };
        Ok(self.sealer.seal(self.round, expires_ms, &Message::CcfUpdate(update))?)
    }
}
