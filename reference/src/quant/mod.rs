//! Quantized weight formats, byte-identical to GGML's reference quantizers.

pub mod q4_0;
pub mod q8_0;
