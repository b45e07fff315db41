//! ptxvm: executes the exact PTX text of dfma's CUDA kernels on the CPU, so a machine without a
//! GPU still proves every kernel against the reference.
//!
//! Pipeline: [`parser`] (text → [`ast`]) → [`decode`] (→ [`program::Program`]: registers as
//! indices, labels as instruction numbers, every opcode an enum; anything unsupported is
//! rejected here as "unsupported: <instruction> at <file>:<line>") → [`launch`] (grid of blocks
//! in parallel on rayon; each block's warps scheduled by [`warp`] with per-lane program counters).
//!
//! Semantics are bit-exact where the ISA defines the bits: integer ops ([`ops_int`]), f32/f64 and
//! f16/bf16 arithmetic with every rounding mode ([`ops_float`], [`round`]), conversions
//! ([`ops_cvt`]), comparisons ([`ops_cmp`]), shuffles, votes and mma fragment layouts
//! ([`collective`]). `.approx` functions and tensor-core accumulation order are the exceptions,
//! documented where they are implemented.
//!
//! Undefined behavior a GPU would silently allow — out-of-bounds or misaligned access, a barrier
//! some thread never reaches, inconsistent shuffle masks, reading shared memory nobody wrote — is
//! an [`ExecError`] naming the kernel, instruction (`file:line`), thread and block.
//!
//! Each launch returns [`Counters`]: instructions by class, global-memory coalescing, shared-memory
//! bank conflicts, divergent branches.

// Lane- and fragment-indexed loops mirror the ISA's pseudo-code; iterator chains would hide it.
#![allow(clippy::needless_range_loop)]

pub mod alu;
pub mod ast;
mod block;
pub mod collective;
pub mod counters;
pub mod decode;
pub mod error;
pub mod inst;
pub mod launch;
pub mod lexer;
pub mod literal;
pub mod memory;
pub mod ops_cmp;
pub mod ops_cvt;
pub mod ops_float;
pub mod ops_int;
pub mod parser;
pub mod program;
pub mod round;
pub mod ty;
mod warp;

pub use counters::{Counters, GlobalStats};
pub use error::{ExecError, ParseError, Site};
pub use inst::Class;
pub use launch::{Arg, BlockOrder, LaunchConfig, LaunchReport, Memory, Module, launch};
