//! Quantized weight formats, byte-identical to GGML's reference quantizers.

pub mod format;
pub mod int4_g128;
pub mod q4_0;
pub mod q4_1;
pub mod q8_0;
pub mod q8_1;
