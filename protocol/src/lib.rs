//! The DFMA sync protocol: how instances send compressed learning signals to the Collective
//! Context Field and receive its updates.
//!
//! This crate depends on neither the kernels nor the runtime, so that a CCF server or an
//! outside client can speak the protocol without linking GPU code. Messages, authentication,
//! differential privacy, secure aggregation and transports land here with the sync-protocol
//! work; today the crate only fixes its place in the dependency graph.

/// The protocol version this build speaks. Version 0 means "no wire format defined yet".
pub const PROTOCOL_VERSION: u32 = 0;
