//! How frames move between instances and the CCF, behind one trait.
//!
//! A transport moves opaque frames (encoded [`crate::envelope::Envelope`]s) and nothing else:
//! it neither authenticates nor orders across senders nor deduplicates. Authentication, replay
//! and expiry are the [`crate::receiver::Receiver`]'s job, so a transport that drops or
//! duplicates frames (as a retrying network does) cannot make a receiver accept anything twice:
//! a duplicate is refused as [`crate::error::ProtocolError::Replayed`]. What a transport
//! guarantees is that frames from one sender to one receiver arrive in the order sent, or not
//! at all, and that it never hands over a frame above [`MAX_FRAME_BYTES`].
//!
//! The trait is blocking with timeouts, not async: the in-process transport is a pair of std
//! channels, and a network transport can run its own runtime behind the same calls without
//! making every caller async.
//!
//! - [`in_process`]: the embedded default, std channels, for simulations and tests.
//! - [`listen`]: the CCF's listening socket with a deep accept queue (both network transports).
//! - [`tcp`]: length-prefixed frames over std TCP sockets, a reader thread per connection and
//!   one bounded queue into the CCF.
//! - [`grpc`]: one bidirectional gRPC stream per instance (tonic over plain HTTP/2), a small
//!   tokio runtime behind each end, the same back-pressure and limits as TCP.
//! - [`faults`]: a wrapper that drops and duplicates frames with seeded probabilities, to test
//!   what a lossy network does to a round.

pub mod faults;
pub mod grpc;
pub mod in_process;
pub mod listen;
pub mod tcp;

use std::time::Duration;

use crate::limits::MAX_FRAME_BYTES;

/// One end of a link that carries frames.
///
/// An instance's end has one peer, [`Ccf`]; the CCF's end has one peer per connected instance,
/// named by a [`ConnectionId`]. The peer is who the *transport* says sent the frame, which is not
/// authenticated: the envelope's signature says who wrote it.
pub trait Transport {
    /// Whom frames are sent to and received from.
    type Peer: Copy + Eq + std::hash::Hash + std::fmt::Debug;

    /// Sends one frame to `to`. Frames above [`MAX_FRAME_BYTES`] are refused before sending.
    fn send(&mut self, to: Self::Peer, frame: Vec<u8>) -> Result<(), TransportError>;

    /// The next frame, waiting at most `timeout`; `Ok(None)` when none came in time.
    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<Self::Peer>>, TransportError>;
}

/// A frame that arrived, and which peer the transport says it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<P> {
    /// The sending peer, as the transport knows it.
    pub from: P,
    /// The frame, exactly as sent.
    pub frame: Vec<u8>,
}

/// The only peer of an instance's end: the CCF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ccf;

/// One instance's connection to the CCF, numbered by the transport in connection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Why a frame could not be sent or received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Every peer that could send to this end is gone; nothing more will arrive.
    #[error("the transport is closed: no peer can send any more")]
    Closed,
    /// The peer is not connected (never was, or has gone away).
    #[error("peer {0} is not connected")]
    PeerGone(String),
    /// The peer's queue is full; the frame was not sent (the caller may retry or drop it).
    #[error("peer {0}'s queue is full")]
    Full(String),
    /// The frame is larger than any receiver accepts.
    #[error("frame of {bytes} bytes is above the limit of {limit}")]
    Oversized {
        /// The frame's length.
        bytes: usize,
        /// [`MAX_FRAME_BYTES`].
        limit: usize,
    },
}

/// Refuses a frame above [`MAX_FRAME_BYTES`]: a sender learns it at once rather than through a
/// receiver's rejection it may never see.
pub fn check_frame_size(frame: &[u8]) -> Result<(), TransportError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(TransportError::Oversized { bytes: frame.len(), limit: MAX_FRAME_BYTES });
    }
    Ok(())
}
