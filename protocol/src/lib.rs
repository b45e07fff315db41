//! The DFMA sync protocol: how instances send compressed learning signals to the Collective
//! Context Field (CCF) and receive its updates.
//!
//! Signals, never weights. Every message travels inside a signed [`envelope::Envelope`] that
//! names its sender (an Ed25519 key), a per-sender counter, a round and an expiry;
//! [`receiver::Receiver`] refuses forged, replayed, expired, oversized, truncated and mis-typed
//! frames with a typed [`error::ProtocolError`] and changes no state when it does. Every length
//! a frame declares is checked against [`limits`] before anything is allocated for it
//! ([`wire`]). [`secagg`] sums fixed-point sketches so that the aggregator learns the sum only.
//! [`dp`] clips and noises a signal and accounts its privacy loss in Rényi DP, refusing a round
//! that would overspend an instance's budget; [`transport`] moves frames between instances and
//! the CCF behind one trait.
//!
//! This crate depends on neither the kernels nor the runtime, so that a CCF server or an
//! outside client can speak the protocol without linking GPU code.

pub mod dp;
pub mod envelope;
pub mod error;
pub mod framing;
pub mod fuzz;
pub mod identity;
pub mod limits;
pub mod messages;
pub mod payload;
pub mod receiver;
pub mod schema;
pub mod secagg;
pub mod transport;
pub mod wire;

/// The protocol version this build speaks, carried in every envelope.
///
/// A receiver refuses every other version with [`error::ProtocolError::UnsupportedVersion`]
/// and may answer with an [`messages::ErrorMessage`] whose `supported_version` says which one
/// it speaks; there is no negotiation within one version.
pub const PROTOCOL_VERSION: u32 = 1;
