//! Every op dfma defines. Adding an op: a module here with a unit struct implementing [`Op`],
//! and one line in [`all`].

use crate::op::Op;

pub mod count_sketch;
pub mod count_unsketch;
pub mod dense_project;
pub mod dense_project_gaussian;
pub mod fma_peak;
pub mod int4_g128_gemv;
pub mod lora;
pub mod mma_peak;
pub mod philox4x32_10;
pub mod q4_0_gemv;
pub mod q4_1_gemv;
pub mod q8_0_gemm;
pub mod q8_0_gemv;
pub mod q8_1_gemm;
pub mod quant_gemv;
pub mod quant_gemv_t;
pub mod quantize_q8_1;
pub mod srht;
pub mod stochastic_quantize;
pub mod stream_copy;
pub mod stream_read;
pub mod topk;

/// Every registered op, in a stable order.
pub fn all() -> &'static [&'static dyn Op] {
    &[
        &q8_0_gemv::Q8_0Gemv,
        &q4_0_gemv::Q4_0Gemv,
        &q4_1_gemv::Q4_1Gemv,
        &quant_gemv_t::Q4_0_GEMV_T,
        &quant_gemv_t::Q4_1_GEMV_T,
        &quant_gemv_t::Q8_0_GEMV_T,
        &int4_g128_gemv::Int4G128Gemv,
        &q8_0_gemm::Q8_0_GEMM,
        &q8_0_gemm::Q4_0_GEMM,
        &q8_1_gemm::Q8_0_Q8_1_GEMM,
        &q8_1_gemm::Q4_0_Q8_1_GEMM,
        &quantize_q8_1::QuantizeQ8_1,
        &stream_read::StreamRead,
        &stream_copy::StreamCopy,
        &fma_peak::FmaPeak,
        &mma_peak::MmaPeak,
        &philox4x32_10::Philox4x32_10,
        &dense_project::DenseProject,
        &dense_project::DenseProjectT,
        &dense_project_gaussian::DenseProjectGaussian,
        &dense_project_gaussian::DenseProjectGaussianT,
        &count_sketch::CountSketch,
        &count_unsketch::CountUnsketch,
        &topk::TopK,
        &stochastic_quantize::StochasticQuantize,
        &stochastic_quantize::StochasticDequantize,
        &srht::Srht,
        &srht::SrhtT,
        &lora::shrink::LoraShrink,
        &lora::expand::LoraExpand,
        &lora::fused::LoraFused(lora::fused::BaseFormat::Q4_0),
        &lora::fused::LoraFused(lora::fused::BaseFormat::Q4_1),
        &lora::fused::LoraFused(lora::fused::BaseFormat::Q8_0),
        &lora::fused::LoraFused(lora::fused::BaseFormat::F16),
        &lora::bgmv::Bgmv,
        &lora::sgmv::Sgmv,
        &lora::backward::LoraBackward,
        &lora::backward::LoraBackwardDx,
    ]
}

/// The op called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Op> {
    all().iter().copied().find(|op| op.name() == name)
}
