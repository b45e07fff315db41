//! dfma's CPU reference and fast CPU kernels.
//!
//! Every op is defined here once: its problem descriptor ([`Dims`]), its input and output
//! tensors, its cost model and a plain reference implementation that accumulates in f64.
//! Every backend's kernel is checked against that reference by the test matrix.
//!
//! The `cpu` module holds the fast CPU kernels (rayon + SIMD) that the `cpu` backend runs.

pub mod compare;
pub mod cpu;
pub mod gguf;
pub mod op;
pub mod ops;
pub mod quant;
pub mod seed;
pub mod signals;
pub mod tensor;

pub use compare::{Comparison, Tolerance};
pub use op::{Cost, Dims, Op, OpError, TensorSpec};
pub use tensor::{DType, Tensor, TensorData};
