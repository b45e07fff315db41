//! The reference end-to-end DFMA runtime: personal instances on a quantized model, energy
//! meters and the energy-adaptive scheduler.
//!
//! It sits above `dfma-kernels` (every matrix product goes through the op registry) and below
//! the `dfma` command. The model runtime, meters and scheduler land here with their issues;
//! today the crate only fixes its place in the dependency graph.

pub use dfma_kernels as kernels;
