//! The reference end-to-end DFMA runtime: personal instances on a quantized model, the federated
//! stack they learn together with, energy meters and the energy-adaptive scheduler.
//!
//! It sits above `dfma-kernels` (every matrix product goes through the op registry) and below
//! the `dfma` command. [`energy`] holds the energy meters `dfma bench` reports joules with; [`schedule`] is the
//! energy-adaptive scheduler; [`federated`] is the instance/CCF stack (signals through the protocol, the
//! baselines, Fed-Heart-Disease); the model runtime lands here with its issue.

pub use dfma_kernels as kernels;

pub mod energy;
pub mod federated;
pub mod model;
pub mod reasoning;
pub mod schedule;
