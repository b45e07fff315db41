//! Fast CPU kernels: rayon across rows, SIMD within a row (AVX2+FMA where the CPU has it,
//! portable code that the compiler vectorizes elsewhere).

pub mod calibration;
pub mod count_sketch;
pub mod count_unsketch;
pub mod dense_project;
pub mod dense_project_gaussian;
pub mod fwht;
pub mod heavy_hitters;
pub mod huge_scratch;
pub mod int4_g128_gemv;
pub mod lora;
pub mod philox;
pub mod q4_0_gemv;
pub mod q4_1_gemv;
pub mod q8_0_gemm;
pub mod q8_0_gemv;
pub mod q8_1_gemm;
pub mod q8_activations;
pub mod quant_gemv_t;
pub mod quantize_q8_1;
pub mod row_gemv;
pub mod srht;
pub mod stochastic_quantize;
pub mod topk;
#[cfg(target_arch = "x86_64")]
mod x86;
