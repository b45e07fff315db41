//! Why a signal or an update was refused; a refusal never changes the receiver's state.

use dfma_protocol::dp::DpError;
use dfma_protocol::error::ProtocolError;

use crate::federated::codec::CodecError;

/// A refused signal or update, or an instance that may not send.
#[derive(Debug, thiserror::Error)]
pub enum CollectiveError {
    /// The frame failed the protocol's checks (signature, replay, expiry, size, type).
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The payload does not decode as announced.
    #[error(transparent)]
    Decode(#[from] CodecError),
    /// A signal for another base model.
    #[error("signal for base model {got}, this CCF serves {want}")]
    BaseModel {
        /// The signal's base-model hash (hex).
        got: String,
        /// The CCF's (hex).
        want: String,
    },
    /// A signal for another round.
    #[error("signal for round {got}, the open round is {want}")]
    Round {
        /// The signal's round.
        got: u64,
        /// The open round.
        want: u64,
    },
    /// A message of a kind the receiver does not take here.
    #[error("unexpected {0} message")]
    Unexpected(&'static str),
    /// The instance's privacy budget does not cover another round.
    #[error("privacy: {0}")]
    Privacy(#[from] DpError),
}
