//! The Collective Context Field's side of learning and the instance's signal: an adapter change
//! clipped, compressed (the federated stack's codec, with error feedback), privatized and sealed
//! as a protocol signal; the CCF
//! checking, decoding and aggregating a round's signals (mean, coordinate median or trimmed
//! mean) into a versioned collective adapter; and the CCF's round schedule as a service for
//! instances in other processes.

pub mod ccf;
pub mod error;
pub mod sender;
pub mod service;
