//! The CCF: it takes a round's signals (protocol checks, then base model, round and payload
//! checks — a refused signal changes no state), aggregates them, and versions the collective
//! adapter's B vector. An update to any earlier version is the difference to the current one,
//! so a late or returning instance catches up in one message.

use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{CcfUpdate, Message};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};

use super::codec::decode;
use super::error::CollectiveError;
use super::sender::hex;
pub use crate::federated::aggregate::Aggregation;

/// The Collective Context Field of one base model and adapter layout.
pub struct Ccf {
    sealer: Sealer,
    receiver: Receiver,
    base_hash: [u8; 32],
    len: usize,
    aggregation: Aggregation,
    /// B of the collective adapter at each version (index = version).
    versions: Vec<Vec<f32>>,
    round: u64,
    pending: Vec<Vec<f32>>,
}

impl Ccf {
    /// A CCF at version 0 (a zero collective B of `len` values), round 1 open.
    pub fn new(identity: Identity, base_hash: [u8; 32], len: usize, aggregation: Aggregation) -> Ccf {
        Ccf {
            sealer: Sealer::new(identity),
            receiver: Receiver::new(ReceiverPolicy::for_ccf()),
            base_hash,
            len,
            aggregation,
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

    /// Takes one frame: a join, or a signal for the open round. Every check runs before any
    /// state changes; a refused frame leaves the CCF as it was.
    pub fn receive(&mut self, frame: &[u8], now_ms: u64) -> Result<(), CollectiveError> {
        let accepted = self.receiver.check(frame, now_ms)?;
        let decoded = match &accepted.message {
            Message::Join(_) => None,
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
                Some(decode(c, p, self.len)?)
            }
            _ => return Err(CollectiveError::Unexpected("non-signal")),
        };
        self.receiver.receive(frame, now_ms)?;
        if let Some(d) = decoded {
            self.pending.push(d);
        }
        Ok(())
    }

    /// Closes the open round: the m signals received (however many instances sent) are
    /// aggregated and m times the aggregate is added to the collective B as a new version (with
    /// the mean, their sum: the collective accumulates every instance's change, as one adapter
    /// trained on everyone's data would to first order, while each instance keeps only what it
    /// has not shared); the next round opens. Returns m (0: the version stays).
    pub fn close_round(&mut self) -> usize {
        let used = self.pending.len();
        if used > 0 {
            let update = self.aggregation.combine(&self.pending).expect("at least one signal");
            let m = used as f32;
            let next: Vec<f32> = self.collective().iter().zip(&update).map(|(c, u)| c + m * u).collect();
            self.versions.push(next);
        }
        self.pending.clear();
        self.round += 1;
        used
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
