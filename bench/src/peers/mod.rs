//! Peers: other implementations that `dfma bench` measures beside dfma's own kernels, in the same
//! run, on the same machine and with the same thread count, so that each dfma figure has a
//! reference point measured the same way rather than one quoted from elsewhere.
//!
//! A peer that is not installed is not an error of the bench: its functions answer
//! "not run: <reason>" and the bench reports that in place of the peer's figures.

pub mod candle;
pub mod llama_cpp;
