//! Kernel source files, embedded at build time: `kernels/ptx/*.ptx` (with their `// @include`
//! lines expanded by `kernels/build.rs`) and `kernels/wgsl/*.wgsl`.

/// One embedded source file.
#[derive(Clone, Copy, Debug)]
pub struct SourceFile {
    /// File name relative to its directory, e.g. `q8_0_gemv.ptx`.
    pub file: &'static str,
    /// The file's text.
    pub text: &'static str,
}

macro_rules! embed {
    ("ptx", $file:literal) => {
        // PTX as kernels/build.rs expanded it (its `// @include` lines replaced by the files).
        SourceFile { file: $file, text: include_str!(concat!(env!("OUT_DIR"), "/ptx/", $file)) }
    };
    ($dir:literal, $file:literal) => {
        SourceFile { file: $file, text: include_str!(concat!("../", $dir, "/", $file)) }
    };
}

/// A WGSL kernel of Gaussian entries: its file, the shared Philox and the shared f32
/// Box–Muller of `kernels/wgsl/lib/box_muller_f32.wgsl`.
macro_rules! embed_with_philox_and_box_muller {
    ($file:literal) => {
        SourceFile {
            file: $file,
            text: concat!(
                include_str!(concat!("../wgsl/", $file)),
                "\n",
                include_str!("../wgsl/lib/philox.wgsl"),
                "\n",
                include_str!("../wgsl/lib/box_muller_f32.wgsl")
            ),
        }
    };
}

/// A WGSL kernel that draws random values: its file followed by the shared Philox4x32-10 of
/// `kernels/wgsl/lib/philox.wgsl` (WGSL has no includes; module-scope declarations may come in
/// any order, and appending keeps the kernel's own line numbers in compiler messages).
macro_rules! embed_with_philox {
    ($file:literal) => {
        SourceFile {
            file: $file,
            text: concat!(include_str!(concat!("../wgsl/", $file)), "\n", include_str!("../wgsl/lib/philox.wgsl")),
        }
    };
}

/// A WGSL kernel on a shared frame of `kernels/wgsl/lib/` (`$frame`): the kernel's file, which
/// defines what differs between the ops (a weight format's decoding), followed by the frame,
/// which declares the bindings and the entry point.
macro_rules! embed_on_frame {
    ($file:literal, $frame:literal) => {
        SourceFile {
            file: $file,
            text: concat!(
                include_str!(concat!("../wgsl/", $file)),
                "\n",
                include_str!(concat!("../wgsl/lib/", $frame))
            ),
        }
    };
}

/// `kernels/ptx/q8_0_gemv.ptx`.
pub const Q8_0_GEMV_PTX: SourceFile = embed!("ptx", "q8_0_gemv.ptx");
/// `kernels/ptx/q8_0_gemv_rows4.ptx`.
pub const Q8_0_GEMV_ROWS4_PTX: SourceFile = embed!("ptx", "q8_0_gemv_rows4.ptx");
/// `kernels/ptx/q8_0_gemm.ptx`.
pub const Q8_0_GEMM_PTX: SourceFile = embed!("ptx", "q8_0_gemm.ptx");
/// `kernels/ptx/q4_0_gemm.ptx`.
pub const Q4_0_GEMM_PTX: SourceFile = embed!("ptx", "q4_0_gemm.ptx");
/// `kernels/wgsl/q8_0_gemm.wgsl` on the frame `lib/quant_gemm_tile16.wgsl`.
pub const Q8_0_GEMM_WGSL: SourceFile = embed_on_frame!("q8_0_gemm.wgsl", "quant_gemm_tile16.wgsl");
/// `kernels/wgsl/q4_0_gemm.wgsl` on the frame `lib/quant_gemm_tile16.wgsl`.
pub const Q4_0_GEMM_WGSL: SourceFile = embed_on_frame!("q4_0_gemm.wgsl", "quant_gemm_tile16.wgsl");
/// `kernels/ptx/q8_0_q8_1_gemm.ptx`.
pub const Q8_0_Q8_1_GEMM_PTX: SourceFile = embed!("ptx", "q8_0_q8_1_gemm.ptx");
/// `kernels/wgsl/q8_0_q8_1_gemm.wgsl` on the frame `lib/q8_1_gemm_tile8.wgsl`.
pub const Q8_0_Q8_1_GEMM_WGSL: SourceFile = embed_on_frame!("q8_0_q8_1_gemm.wgsl", "q8_1_gemm_tile8.wgsl");
/// `kernels/ptx/mma_peak.ptx` (calibration: the matrix units' peak).
pub const MMA_PEAK_PTX: SourceFile = embed!("ptx", "mma_peak.ptx");
/// `kernels/ptx/quantize_q8_1.ptx`.
pub const QUANTIZE_Q8_1_PTX: SourceFile = embed!("ptx", "quantize_q8_1.ptx");
/// `kernels/wgsl/quantize_q8_1.wgsl`.
pub const QUANTIZE_Q8_1_WGSL: SourceFile = embed!("wgsl", "quantize_q8_1.wgsl");
/// `kernels/ptx/q4_0_q8_1_gemm.ptx`.
pub const Q4_0_Q8_1_GEMM_PTX: SourceFile = embed!("ptx", "q4_0_q8_1_gemm.ptx");
/// `kernels/wgsl/q4_0_q8_1_gemm.wgsl` on the frame `lib/q8_1_gemm_tile8.wgsl`.
pub const Q4_0_Q8_1_GEMM_WGSL: SourceFile = embed_on_frame!("q4_0_q8_1_gemm.wgsl", "q8_1_gemm_tile8.wgsl");
/// `kernels/wgsl/q8_0_q8_1_gemm_dot4.wgsl` (WGSL's packed 4x8 integer dot product) on the
/// frame `lib/q8_1_gemm_tile8.wgsl`.
pub const Q8_0_Q8_1_GEMM_DOT4_WGSL: SourceFile = embed_on_frame!("q8_0_q8_1_gemm_dot4.wgsl", "q8_1_gemm_tile8.wgsl");
/// `kernels/wgsl/q4_0_q8_1_gemm_dot4.wgsl` (WGSL's packed 4x8 integer dot product) on the
/// frame `lib/q8_1_gemm_tile8.wgsl`.
pub const Q4_0_Q8_1_GEMM_DOT4_WGSL: SourceFile = embed_on_frame!("q4_0_q8_1_gemm_dot4.wgsl", "q8_1_gemm_tile8.wgsl");
/// `kernels/wgsl/q8_0_gemv.wgsl`.
pub const Q8_0_GEMV_WGSL: SourceFile = embed!("wgsl", "q8_0_gemv.wgsl");

/// `kernels/ptx/q4_0_gemv.ptx`.
pub const Q4_0_GEMV_PTX: SourceFile = embed!("ptx", "q4_0_gemv.ptx");
/// `kernels/ptx/q4_0_gemv_rows4.ptx`.
pub const Q4_0_GEMV_ROWS4_PTX: SourceFile = embed!("ptx", "q4_0_gemv_rows4.ptx");
/// `kernels/wgsl/q4_0_gemv.wgsl`.
pub const Q4_0_GEMV_WGSL: SourceFile = embed!("wgsl", "q4_0_gemv.wgsl");

/// `kernels/ptx/q4_1_gemv.ptx`.
pub const Q4_1_GEMV_PTX: SourceFile = embed!("ptx", "q4_1_gemv.ptx");
/// `kernels/wgsl/q4_1_gemv.wgsl`.
pub const Q4_1_GEMV_WGSL: SourceFile = embed!("wgsl", "q4_1_gemv.wgsl");
/// `kernels/ptx/quant_gemv_t.ptx` (entries `q4_0_gemv_t`, `q4_1_gemv_t`, `q8_0_gemv_t`).
pub const QUANT_GEMV_T_PTX: SourceFile = embed!("ptx", "quant_gemv_t.ptx");
/// `kernels/wgsl/q4_0_gemv_t.wgsl` on the frame `lib/gemv_t_columns.wgsl`.
pub const Q4_0_GEMV_T_WGSL: SourceFile = embed_on_frame!("q4_0_gemv_t.wgsl", "gemv_t_columns.wgsl");
/// `kernels/wgsl/q4_1_gemv_t.wgsl` on the frame `lib/gemv_t_columns.wgsl`.
pub const Q4_1_GEMV_T_WGSL: SourceFile = embed_on_frame!("q4_1_gemv_t.wgsl", "gemv_t_columns.wgsl");
/// `kernels/wgsl/q8_0_gemv_t.wgsl` on the frame `lib/gemv_t_columns.wgsl`.
pub const Q8_0_GEMV_T_WGSL: SourceFile = embed_on_frame!("q8_0_gemv_t.wgsl", "gemv_t_columns.wgsl");

/// `kernels/ptx/int4_g128_gemv.ptx`.
pub const INT4_G128_GEMV_PTX: SourceFile = embed!("ptx", "int4_g128_gemv.ptx");
/// `kernels/wgsl/int4_g128_gemv.wgsl`.
pub const INT4_G128_GEMV_WGSL: SourceFile = embed!("wgsl", "int4_g128_gemv.wgsl");

/// `kernels/ptx/stream_read.ptx`.
pub const STREAM_READ_PTX: SourceFile = embed!("ptx", "stream_read.ptx");
/// `kernels/ptx/stream_read_v4.ptx`.
pub const STREAM_READ_V4_PTX: SourceFile = embed!("ptx", "stream_read_v4.ptx");
/// Not an op: the cuda backend's cache flush before a cold sample (see the file's header).
pub const CACHE_FLUSH_PTX: SourceFile = embed!("ptx", "cache_flush.ptx");
/// `kernels/wgsl/stream_read.wgsl`.
pub const STREAM_READ_WGSL: SourceFile = embed_on_frame!("stream_read.wgsl", "workgroup_sum_store.wgsl");
/// `kernels/wgsl/stream_read_v4.wgsl`, with the shared workgroup sum.
pub const STREAM_READ_V4_WGSL: SourceFile = embed_on_frame!("stream_read_v4.wgsl", "workgroup_sum_store.wgsl");
/// Not an op: the wgpu backend's cache flush before a cold sample (see the file's header).
pub const CACHE_FLUSH_WGSL: SourceFile = embed!("wgsl", "cache_flush.wgsl");
/// `kernels/ptx/stream_copy.ptx`.
pub const STREAM_COPY_PTX: SourceFile = embed!("ptx", "stream_copy.ptx");
/// `kernels/ptx/stream_copy_x4.ptx`.
pub const STREAM_COPY_X4_PTX: SourceFile = embed!("ptx", "stream_copy_x4.ptx");
/// `kernels/wgsl/stream_copy.wgsl`.
pub const STREAM_COPY_WGSL: SourceFile = embed!("wgsl", "stream_copy.wgsl");
/// `kernels/ptx/fma_peak.ptx`.
pub const FMA_PEAK_PTX: SourceFile = embed!("ptx", "fma_peak.ptx");
/// `kernels/wgsl/fma_peak.wgsl`.
pub const FMA_PEAK_WGSL: SourceFile = embed!("wgsl", "fma_peak.wgsl");

/// `kernels/ptx/philox4x32_10.ptx`.
pub const PHILOX_PTX: SourceFile = embed!("ptx", "philox4x32_10.ptx");
/// `kernels/wgsl/philox4x32_10.wgsl`.
pub const PHILOX_WGSL: SourceFile = embed_with_philox!("philox4x32_10.wgsl");

/// `kernels/ptx/dense_project.ptx` (two entries: partials, then reduce).
pub const DENSE_PROJECT_PTX: SourceFile = embed!("ptx", "dense_project.ptx");
/// `kernels/wgsl/dense_project.wgsl` (two entries: partials, then reduce).
pub const DENSE_PROJECT_WGSL: SourceFile = embed_with_philox!("dense_project.wgsl");
/// `kernels/ptx/dense_project_t.ptx`.
pub const DENSE_PROJECT_T_PTX: SourceFile = embed!("ptx", "dense_project_t.ptx");
/// `kernels/wgsl/dense_project_t.wgsl`.
pub const DENSE_PROJECT_T_WGSL: SourceFile = embed_with_philox!("dense_project_t.wgsl");
/// `kernels/ptx/dense_project_gaussian.ptx` (two entries: partials, then reduce).
pub const DENSE_PROJECT_GAUSSIAN_PTX: SourceFile = embed!("ptx", "dense_project_gaussian.ptx");
/// `kernels/wgsl/dense_project_gaussian.wgsl` (two entries: partials, then reduce).
pub const DENSE_PROJECT_GAUSSIAN_WGSL: SourceFile = embed_with_philox_and_box_muller!("dense_project_gaussian.wgsl");
/// `kernels/ptx/dense_project_gaussian_t.ptx`.
pub const DENSE_PROJECT_GAUSSIAN_T_PTX: SourceFile = embed!("ptx", "dense_project_gaussian_t.ptx");
/// `kernels/wgsl/dense_project_gaussian_t.wgsl`.
pub const DENSE_PROJECT_GAUSSIAN_T_WGSL: SourceFile =
    embed_with_philox_and_box_muller!("dense_project_gaussian_t.wgsl");
/// `kernels/ptx/stochastic_quantize.ptx`.
pub const STOCHASTIC_QUANTIZE_PTX: SourceFile = embed!("ptx", "stochastic_quantize.ptx");
/// `kernels/wgsl/stochastic_quantize.wgsl`.
pub const STOCHASTIC_QUANTIZE_WGSL: SourceFile = embed_with_philox!("stochastic_quantize.wgsl");
/// `kernels/ptx/stochastic_dequantize.ptx`.
pub const STOCHASTIC_DEQUANTIZE_PTX: SourceFile = embed!("ptx", "stochastic_dequantize.ptx");
/// `kernels/wgsl/stochastic_dequantize.wgsl`.
pub const STOCHASTIC_DEQUANTIZE_WGSL: SourceFile = embed!("wgsl", "stochastic_dequantize.wgsl");
/// `kernels/ptx/srht.ptx` (two entries: chunk transforms, then sample and gather).
pub const SRHT_PTX: SourceFile = embed!("ptx", "srht.ptx");
/// `kernels/wgsl/srht.wgsl` (two entries: chunk transforms, then sample and gather).
pub const SRHT_WGSL: SourceFile = embed_with_philox!("srht.wgsl");
/// `kernels/ptx/srht_t.ptx` (two entries: sample and scatter, then chunk transforms).
pub const SRHT_T_PTX: SourceFile = embed!("ptx", "srht_t.ptx");
/// `kernels/wgsl/srht_t.wgsl` (two entries: sample and scatter, then chunk transforms).
pub const SRHT_T_WGSL: SourceFile = embed_with_philox!("srht_t.wgsl");
/// `kernels/ptx/count_sketch.ptx` (two entries: zero, then hash and add).
pub const COUNT_SKETCH_PTX: SourceFile = embed!("ptx", "count_sketch.ptx");
/// `kernels/wgsl/count_sketch.wgsl` (two entries: zero, then hash and add).
pub const COUNT_SKETCH_WGSL: SourceFile = embed_with_philox!("count_sketch.wgsl");
/// `kernels/ptx/count_unsketch.ptx`.
pub const COUNT_UNSKETCH_PTX: SourceFile = embed!("ptx", "count_unsketch.ptx");
/// `kernels/wgsl/count_unsketch.wgsl`.
pub const COUNT_UNSKETCH_WGSL: SourceFile = embed_with_philox!("count_unsketch.wgsl");
/// `kernels/ptx/topk.ptx` (eight entries, twelve launches: radix select, compaction, sort).
pub const TOPK_PTX: SourceFile = embed!("ptx", "topk.ptx");
/// `kernels/wgsl/topk.wgsl` (eight entries, twelve launches: radix select, compaction, sort).
pub const TOPK_WGSL: SourceFile = embed!("wgsl", "topk.wgsl");

/// `kernels/wgsl/lora_shrink.wgsl`.
pub const LORA_SHRINK_WGSL: SourceFile = embed!("wgsl", "lora_shrink.wgsl");
/// `kernels/wgsl/lora_expand.wgsl`.
pub const LORA_EXPAND_WGSL: SourceFile = embed!("wgsl", "lora_expand.wgsl");
/// `kernels/wgsl/bgmv.wgsl` (two entries: shrink, then expand).
pub const BGMV_WGSL: SourceFile = embed!("wgsl", "bgmv.wgsl");
/// `kernels/wgsl/sgmv.wgsl` (two entries: shrink, then expand).
pub const SGMV_WGSL: SourceFile = embed!("wgsl", "sgmv.wgsl");
/// `kernels/wgsl/lora_fused_q4_0.wgsl` (two entries: shrink, then the GEMV).
pub const LORA_FUSED_Q4_0_WGSL: SourceFile = embed!("wgsl", "lora_fused_q4_0.wgsl");
/// `kernels/wgsl/lora_fused_q4_1.wgsl` (two entries: shrink, then the GEMV).
pub const LORA_FUSED_Q4_1_WGSL: SourceFile = embed!("wgsl", "lora_fused_q4_1.wgsl");
/// `kernels/wgsl/lora_fused_q8_0.wgsl` (two entries: shrink, then the GEMV).
pub const LORA_FUSED_Q8_0_WGSL: SourceFile = embed!("wgsl", "lora_fused_q8_0.wgsl");
/// `kernels/wgsl/lora_fused_f16.wgsl` (two entries: shrink, then the GEMV).
pub const LORA_FUSED_F16_WGSL: SourceFile = embed!("wgsl", "lora_fused_f16.wgsl");
/// `kernels/wgsl/lora_backward.wgsl` (two entries: H and U, then dA and dB).
pub const LORA_BACKWARD_WGSL: SourceFile = embed!("wgsl", "lora_backward.wgsl");
/// `kernels/wgsl/lora_backward_dx.wgsl` (two entries: U, then dX).
pub const LORA_BACKWARD_DX_WGSL: SourceFile = embed!("wgsl", "lora_backward_dx.wgsl");

/// `kernels/ptx/lora_shrink.ptx`.
pub const LORA_SHRINK_PTX: SourceFile = embed!("ptx", "lora_shrink.ptx");
/// `kernels/ptx/lora_expand.ptx`.
pub const LORA_EXPAND_PTX: SourceFile = embed!("ptx", "lora_expand.ptx");
/// `kernels/ptx/bgmv.ptx` (two entries: shrink, then expand).
pub const BGMV_PTX: SourceFile = embed!("ptx", "bgmv.ptx");
/// `kernels/ptx/sgmv.ptx` (two entries: shrink, then expand).
pub const SGMV_PTX: SourceFile = embed!("ptx", "sgmv.ptx");
/// `kernels/ptx/lora_fused_q4_0.ptx` (two entries: shrink, then rows).
pub const LORA_FUSED_Q4_0_PTX: SourceFile = embed!("ptx", "lora_fused_q4_0.ptx");
/// `kernels/ptx/lora_fused_q4_0_overlapped.ptx` (one entry: shrink blocks and row blocks in one
/// launch).
pub const LORA_FUSED_Q4_0_OVERLAPPED_PTX: SourceFile = embed!("ptx", "lora_fused_q4_0_overlapped.ptx");
/// `kernels/ptx/lora_fused_q4_0_claimed.ptx` (one entry: roles by block index, t words tagged with
/// the launch, waiting row blocks help).
pub const LORA_FUSED_Q4_0_CLAIMED_PTX: SourceFile = embed!("ptx", "lora_fused_q4_0_claimed.ptx");
/// `kernels/ptx/lora_fused_q4_1.ptx` (two entries: shrink, then rows).
pub const LORA_FUSED_Q4_1_PTX: SourceFile = embed!("ptx", "lora_fused_q4_1.ptx");
/// `kernels/ptx/lora_fused_q8_0.ptx` (two entries: shrink, then rows).
pub const LORA_FUSED_Q8_0_PTX: SourceFile = embed!("ptx", "lora_fused_q8_0.ptx");
/// `kernels/ptx/lora_fused_f16.ptx` (two entries: shrink, then rows).
pub const LORA_FUSED_F16_PTX: SourceFile = embed!("ptx", "lora_fused_f16.ptx");
/// `kernels/ptx/lora_backward.ptx` (four entries: two passes for each backward op).
pub const LORA_BACKWARD_PTX: SourceFile = embed!("ptx", "lora_backward.ptx");

/// Every PTX file, for `dfma ptx check`.
pub const PTX_FILES: &[SourceFile] = &[
    QUANT_GEMV_T_PTX,
    Q8_0_GEMV_PTX,
    Q8_0_GEMV_ROWS4_PTX,
    Q8_0_GEMM_PTX,
    Q4_0_GEMM_PTX,
    Q8_0_Q8_1_GEMM_PTX,
    Q4_0_Q8_1_GEMM_PTX,
    QUANTIZE_Q8_1_PTX,
    MMA_PEAK_PTX,
    Q4_0_GEMV_PTX,
    Q4_0_GEMV_ROWS4_PTX,
    Q4_1_GEMV_PTX,
    INT4_G128_GEMV_PTX,
    STREAM_READ_PTX,
    STREAM_READ_V4_PTX,
    STREAM_COPY_PTX,
    STREAM_COPY_X4_PTX,
    CACHE_FLUSH_PTX,
    FMA_PEAK_PTX,
    PHILOX_PTX,
    DENSE_PROJECT_PTX,
    DENSE_PROJECT_T_PTX,
    DENSE_PROJECT_GAUSSIAN_PTX,
    DENSE_PROJECT_GAUSSIAN_T_PTX,
    STOCHASTIC_QUANTIZE_PTX,
    STOCHASTIC_DEQUANTIZE_PTX,
    SRHT_PTX,
    SRHT_T_PTX,
    COUNT_SKETCH_PTX,
    COUNT_UNSKETCH_PTX,
    TOPK_PTX,
    LORA_SHRINK_PTX,
    LORA_EXPAND_PTX,
    BGMV_PTX,
    SGMV_PTX,
    LORA_FUSED_Q4_0_PTX,
    LORA_FUSED_Q4_0_OVERLAPPED_PTX,
    LORA_FUSED_Q4_0_CLAIMED_PTX,
    LORA_FUSED_Q4_1_PTX,
    LORA_FUSED_Q8_0_PTX,
    LORA_FUSED_F16_PTX,
    LORA_BACKWARD_PTX,
];
/// Every WGSL file.
pub const WGSL_FILES: &[SourceFile] = &[
    Q4_0_GEMV_T_WGSL,
    Q4_1_GEMV_T_WGSL,
    Q8_0_GEMV_T_WGSL,
    Q8_0_GEMV_WGSL,
    Q8_0_GEMM_WGSL,
    Q4_0_GEMM_WGSL,
    Q8_0_Q8_1_GEMM_WGSL,
    Q4_0_Q8_1_GEMM_WGSL,
    Q8_0_Q8_1_GEMM_DOT4_WGSL,
    Q4_0_Q8_1_GEMM_DOT4_WGSL,
    QUANTIZE_Q8_1_WGSL,
    Q4_0_GEMV_WGSL,
    Q4_1_GEMV_WGSL,
    INT4_G128_GEMV_WGSL,
    STREAM_READ_WGSL,
    STREAM_READ_V4_WGSL,
    CACHE_FLUSH_WGSL,
    STREAM_COPY_WGSL,
    FMA_PEAK_WGSL,
    PHILOX_WGSL,
    DENSE_PROJECT_WGSL,
    DENSE_PROJECT_T_WGSL,
    DENSE_PROJECT_GAUSSIAN_WGSL,
    DENSE_PROJECT_GAUSSIAN_T_WGSL,
    STOCHASTIC_QUANTIZE_WGSL,
    STOCHASTIC_DEQUANTIZE_WGSL,
    SRHT_WGSL,
    SRHT_T_WGSL,
    COUNT_SKETCH_WGSL,
    COUNT_UNSKETCH_WGSL,
    TOPK_WGSL,
    LORA_SHRINK_WGSL,
    LORA_EXPAND_WGSL,
    BGMV_WGSL,
    SGMV_WGSL,
    LORA_FUSED_Q4_0_WGSL,
    LORA_FUSED_Q4_1_WGSL,
    LORA_FUSED_Q8_0_WGSL,
    LORA_FUSED_F16_WGSL,
    LORA_BACKWARD_WGSL,
    LORA_BACKWARD_DX_WGSL,
];
