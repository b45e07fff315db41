//! The reference end-to-end DFMA runtime: personal instances on a quantized model, energy
//! meters and the energy-adaptive scheduler.
//!
//! It sits above `dfma-kernels` (every matrix product goes through the op registry) and below
//! the `dfma` command. [`energy`] holds the energy meters `dfma bench` reports joules with; [`schedule`] is the
//! energy-adaptive scheduler; the model runtime lands here with its issue.

pub use dfma_kernels as kernels;

pub mod collective;
pub mod energy;
pub mod model;
pub mod reasoning;
pub mod schedule;
