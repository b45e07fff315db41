//! The federated stack's errors: a frame the CCF refuses ([`Rejected`], typed, never changing
//! state) and everything else that stops an instance or an experiment ([`FederatedError`]).

use dfma_protocol::dp::DpError;
use dfma_protocol::error::ProtocolError;
use dfma_protocol::secagg::SecAggError;
use dfma_protocol::transport::TransportError;

use super::codec::CodecError;
use super::learner::LearnerError;

/// Why the CCF (or an instance, for a CCF update) refused a frame. A refused frame changes no
/// state: not the collective parameters, not the round's signals, not the sender's replay
/// counter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejected {
    /// The envelope or body failed the protocol's checks (forged, replayed, expired, malformed).
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// The signal's parameters apply to another base model (or another parameter layout).
    #[error("signal for base model {got}, this CCF serves {expected}")]
    WrongBaseModel {
        /// The CCF's base-model hash, hex.
        expected: String,
        /// The signal's, hex.
        got: String,
    },
    /// The signal belongs to a round that is not open.
    #[error("signal for round {got}, the open round is {}", open.map_or("none".to_string(), |r| r.to_string()))]
    WrongRound {
        /// The open round, if any.
        open: Option<u64>,
        /// The envelope's round.
        got: u64,
    },
    /// The signal describes another parameter layout than the CCF's.
    #[error("signal adapter shapes differ from the CCF's")]
    WrongShapes,
    /// The signal is (or is not) masked for secure aggregation, unlike the round.
    #[error("signal secure_aggregation = {got}, the round expects {expected}")]
    SecureAggregationMismatch {
        /// What the round expects.
        expected: bool,
        /// What the signal says.
        got: bool,
    },
    /// A linear sketch under another seed than the round's cannot be added to the others.
    #[error("sketch seed {got:#x}, the round's is {expected:#x}")]
    WrongSeed {
        /// The round's seed.
        expected: u64,
        /// The signal's.
        got: u64,
    },
    /// The payload does not decode as the round's compression.
    #[error("{0}")]
    Payload(#[from] CodecError),
    /// The sender already sent a signal this round.
    #[error("a second signal from the same instance in round {round}")]
    Duplicate {
        /// The round.
        round: u64,
    },
    /// A message of a kind this endpoint does not take.
    #[error("unexpected {0} message")]
    Unexpected(&'static str),
}

/// What stops an instance's step or an experiment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FederatedError {
    /// A configuration that cannot run (named, with the reason).
    #[error("configuration: {0}")]
    Config(String),
    /// Sealing or opening a message failed.
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// Differential privacy refused (a non-finite change; the budget is handled, not raised).
    #[error("differential privacy: {0}")]
    Dp(#[from] DpError),
    /// The learner failed.
    #[error("{0}")]
    Learner(#[from] LearnerError),
    /// Secure aggregation failed.
    #[error("secure aggregation: {0}")]
    SecAgg(#[from] SecAggError),
    /// The CCF refused a frame it should have taken (a bug in a correct instance).
    #[error("signal refused: {0}")]
    Rejected(#[from] Rejected),
}

/// Hex of a hash, for messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
