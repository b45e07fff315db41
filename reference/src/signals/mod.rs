//! The random values of the signal-compression ops, derived exactly as `kernels/SIGNALS.md`
//! specifies: Philox4x32-10 ([`philox`]) and the mappings from (seed, purpose, indices) to
//! counters, keys, signs, uniforms, Gaussians and buckets ([`derive`]).
//!
//! Every backend's kernels must reproduce these bits; the reference ops call only this module,
//! so the text of SIGNALS.md, this code and the kernels can be checked against one another.

pub mod box_muller_f32;
pub mod codecs;
pub mod derive;
pub mod philox;
