//! The kernel registry: every implementation of every op, with the backends it runs on.
//!
//! Adding a kernel: put its source in `kernels/ptx` or `kernels/wgsl`, embed it in
//! [`crate::sources`], and add one [`KernelSpec`] to [`KERNELS`]. The test matrix, `dfma op`,
//! `dfma ptx check` and `dfma bench` pick it up from here. A PTX kernel names the SASS
//! instructions its design relies on ([`GpuKernel::sass_must_contain`], and each later pass of
//! a multi-pass kernel [`SecondPass::sass_must_contain`]); `dfma ptx check` asserts them all.

use dfma_reference::ops::count_sketch::CountSketch;
use dfma_reference::ops::count_unsketch::CountUnsketch;
use dfma_reference::ops::dense_project::{DenseProject, DenseProjectT};
use dfma_reference::ops::dense_project_gaussian::{DenseProjectGaussian, DenseProjectGaussianT};
use dfma_reference::ops::fma_peak::FmaPeak;
use dfma_reference::ops::int4_g128_gemv::Int4G128Gemv;
use dfma_reference::ops::lora::backward::{LoraBackward, LoraBackwardDx};
use dfma_reference::ops::lora::bgmv::Bgmv;
use dfma_reference::ops::lora::expand::LoraExpand;
use dfma_reference::ops::lora::fused::{BaseFormat, LoraFused};
use dfma_reference::ops::lora::sgmv::Sgmv;
use dfma_reference::ops::lora::shrink::LoraShrink;
use dfma_reference::ops::mma_peak::MmaPeak;
use dfma_reference::ops::philox4x32_10::{Philox4x32_10, key_and_base};
use dfma_reference::ops::q4_0_gemv::Q4_0Gemv;
use dfma_reference::ops::q4_1_gemv::Q4_1Gemv;
use dfma_reference::ops::q8_0_gemm::{Q4_0_GEMM, Q8_0_GEMM};
use dfma_reference::ops::q8_0_gemv::Q8_0Gemv;
use dfma_reference::ops::q8_1_gemm::{Q4_0_Q8_1_GEMM, Q8_0_Q8_1_GEMM};
use dfma_reference::ops::quant_gemv_t::{Q4_0_GEMV_T, Q4_1_GEMV_T, Q8_0_GEMV_T};
use dfma_reference::ops::quantize_q8_1::QuantizeQ8_1;
use dfma_reference::ops::srht::{Srht, SrhtT};
use dfma_reference::ops::stochastic_quantize::{StochasticDequantize, StochasticQuantize};
use dfma_reference::ops::stream_copy::StreamCopy;
use dfma_reference::ops::stream_read::{CHUNK, StreamRead};
use dfma_reference::ops::topk::TopK;
use dfma_reference::{Dims, Op, Tensor, cpu};

mod dense_gaussian;
mod lora;
mod lora_ptx;
mod lora_wgsl;
mod signals;
mod sketch;

use crate::backend::BackendKind;
use crate::layout;
use crate::sources::{self, SourceFile};

/// A host kernel: computes `outputs` (pre-allocated, poisoned) from `inputs`.
pub type HostFn = fn(&Dims, &[Tensor], &mut [Tensor]);

/// Launch geometry: blocks (CUDA) / workgroups (WGSL) and threads per block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Number of blocks or workgroups in x, y, z.
    pub blocks: [u32; 3],
    /// Threads per block in x, y, z (WGSL: must equal the shader's `@workgroup_size`).
    pub threads: [u32; 3],
}

/// A GPU kernel and how to launch it.
///
/// Calling convention (PTX and WGSL alike): the buffers from `buffers`, then one buffer per op
/// output, then the op's dims as u32 (PTX: `.param .u32` each; WGSL: a uniform struct of u32).
#[derive(Clone, Copy, Debug)]
pub struct GpuKernel {
    /// Source file.
    pub source: SourceFile,
    /// Entry point name.
    pub entry: &'static str,
    /// Host inputs → device buffers in the kernel's layout.
    pub buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    /// Launch geometry for a problem.
    pub grid: fn(&Dims) -> Grid,
    /// SASS substrings `dfma ptx check` requires of `entry` (e.g. `LDG.E.128`); empty for
    /// WGSL. A later pass lists its own in [`SecondPass::sass_must_contain`].
    pub sass_must_contain: &'static [&'static str],
    /// A second entry of the same source launched right after `entry`, in order, on the same
    /// arguments: for reductions across blocks that must not depend on block scheduling
    /// (partials to a scratch buffer, then a fixed-order reduce) instead of float atomics.
    /// A WGSL second entry must use every binding, since both passes share one bind group.
    pub then: Option<SecondPass>,
    /// Launches after `then`, in order, on the same arguments: for kernels that need more than
    /// two dependent passes (`topk`'s radix-select rounds, compaction and sort), each pass
    /// seeing every earlier pass's writes. Empty for most kernels; see [`GpuKernel::later_passes`].
    pub more_passes: &'static [SecondPass],
    /// Op inputs the layout copies into a device buffer unchanged, as `(op input, device buffer)`
    /// index pairs. A prepared kernel can overwrite such an input in place
    /// ([`crate::Prepared::write_input`]) without running `buffers` again — the model runtime
    /// uploads a GEMV's weights once and rewrites only the activations per token. Empty when
    /// every input is repacked; declared with [`KernelImpl::with_inputs_as_is`] and checked
    /// against `buffers` by the crate's tests.
    pub inputs_as_is: &'static [(usize, usize)],
}

impl GpuKernel {
    /// Every launch after the first, in order: [`GpuKernel::then`], then each of
    /// [`GpuKernel::more_passes`]. Launchers and `dfma ptx check` go through this list.
    pub fn later_passes(&self) -> impl Iterator<Item = &SecondPass> + '_ {
        self.then.iter().chain(self.more_passes)
    }
}

/// A launch after the first of a multi-pass [`GpuKernel`].
#[derive(Clone, Copy, Debug)]
pub struct SecondPass {
    /// Entry point name in the same source file.
    pub entry: &'static str,
    /// Its launch geometry.
    pub grid: fn(&Dims) -> Grid,
    /// SASS substrings `dfma ptx check` requires of this entry, as [`GpuKernel::sass_must_contain`]
    /// does of the first: the second pass is often where the op's bytes are read (a fused
    /// GEMV's rows), so its 128-bit loads and shuffles are checked too. Empty for WGSL.
    pub sass_must_contain: &'static [&'static str],
}

/// How a kernel is implemented.
#[derive(Clone, Copy, Debug)]
pub enum KernelImpl {
    /// The op's own reference implementation.
    Reference,
    /// A fast CPU function.
    Cpu(HostFn),
    /// PTX: runs on `cuda` and `ptxvm`.
    Ptx(GpuKernel),
    /// WGSL: runs on `wgpu`.
    Wgsl(GpuKernel),
}

impl KernelImpl {
    /// Declares the op inputs a GPU kernel's layout leaves as they are ([`GpuKernel::inputs_as_is`]).
    /// A host kernel keeps its inputs as they are anyway, so this is for `Ptx` and `Wgsl` only.
    pub const fn with_inputs_as_is(self, pairs: &'static [(usize, usize)]) -> Self {
        match self {
            KernelImpl::Ptx(mut k) => {
                k.inputs_as_is = pairs;
                KernelImpl::Ptx(k)
            }
            KernelImpl::Wgsl(mut k) => {
                k.inputs_as_is = pairs;
                KernelImpl::Wgsl(k)
            }
            KernelImpl::Reference | KernelImpl::Cpu(_) => panic!("host kernels keep every input as it is"),
        }
    }
}

/// A GEMV's activations `x` (op input 1) are device buffer 2 of its layout: `[scales, codes, x]`.
const X_IS_BUFFER_2: &[(usize, usize)] = &[(1, 2)];
/// A Q4_1 GEMV's activations `x` (op input 1) are device buffer 3: `[scales, offsets, codes, x]`.
const X_IS_BUFFER_3: &[(usize, usize)] = &[(1, 3)];

/// One registered kernel: an op, a variant name and an implementation.
pub struct KernelSpec {
    /// The op it computes.
    pub op: &'static dyn Op,
    /// Variant name, unique per (op, implementation family), e.g. `warp_per_row`.
    pub variant: &'static str,
    /// The implementation.
    pub imp: KernelImpl,
}

impl KernelSpec {
    /// Backends this kernel runs on.
    pub fn backends(&self) -> &'static [BackendKind] {
        match self.imp {
            KernelImpl::Reference => &[BackendKind::Reference],
            KernelImpl::Cpu(_) => &[BackendKind::Cpu],
            KernelImpl::Ptx(_) => &[BackendKind::Cuda, BackendKind::Ptxvm],
            KernelImpl::Wgsl(_) => &[BackendKind::Wgpu],
        }
    }

    /// Whether the kernel runs on matrix units (tensor cores): a PTX kernel whose SASS must hold
    /// `HMMA`. Its compute roof is then the `mma_peak` rate, not the FMA peak.
    pub fn uses_matrix_units(&self) -> bool {
        match &self.imp {
            KernelImpl::Ptx(k) => std::iter::once(k.sass_must_contain)
                .chain(k.later_passes().map(|p| p.sass_must_contain))
                .any(|pats| pats.iter().any(|p| p.starts_with("HMMA"))),
            _ => false,
        }
    }

    /// `op/variant`, e.g. `q8_0_gemv/warp_per_row`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.op.name(), self.variant)
    }
}

impl std::fmt::Debug for KernelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

/// Every registered kernel.
pub static KERNELS: &[KernelSpec] = &[
    KernelSpec { op: &Q8_0Gemv, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q8_0Gemv, variant: "rayon_simd", imp: KernelImpl::Cpu(q8_0_gemv_cpu) },
    KernelSpec {
        op: &Q8_0Gemv,
        variant: "warp_per_row",
        imp: ptx(
            sources::Q8_0_GEMV_PTX,
            "q8_0_gemv",
            layout::q8_0_warp_tiles,
            rows_per_block_grid::<4>,
            &["LDG.E.128"],
        )
        .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &Q8_0Gemv,
        variant: "rows4_split4",
        imp: ptx(
            sources::Q8_0_GEMV_ROWS4_PTX,
            "q8_0_gemv_rows4",
            layout::q8_0_warp_tiles,
            rows_per_block_grid::<4>,
            &["LDG.E.128"],
        )
        .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &Q8_0Gemv,
        variant: "lanes32_per_row",
        imp: wgsl(sources::Q8_0_GEMV_WGSL, "q8_0_gemv", layout::q8_0_gemv_buffers, rows_per_block_grid::<4>)
            .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec { op: &Q4_0Gemv, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q4_0Gemv, variant: "rayon_simd", imp: KernelImpl::Cpu(q4_0_gemv_cpu) },
    KernelSpec {
        op: &Q4_0Gemv,
        variant: "warp_per_row",
        imp: ptx(
            sources::Q4_0_GEMV_PTX,
            "q4_0_gemv",
            layout::q4_0_warp_tiles,
            rows_per_block_grid::<4>,
            &["LDG.E.128"],
        )
        .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &Q4_0Gemv,
        variant: "rows4_split4",
        imp: ptx(
            sources::Q4_0_GEMV_ROWS4_PTX,
            "q4_0_gemv_rows4",
            layout::q4_0_warp_tiles,
            rows_per_block_grid::<4>,
            &["LDG.E.128"],
        )
        .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &Q4_0Gemv,
        variant: "lanes32_per_row",
        imp: wgsl(sources::Q4_0_GEMV_WGSL, "q4_0_gemv", layout::q4_0_gemv_buffers, rows_per_block_grid::<4>)
            .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec { op: &Q4_1Gemv, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q4_1Gemv, variant: "rayon_simd", imp: KernelImpl::Cpu(q4_1_gemv_cpu) },
    KernelSpec {
        op: &Q4_1Gemv,
        variant: "warp_per_row",
        imp: ptx(
            sources::Q4_1_GEMV_PTX,
            "q4_1_gemv",
            layout::q4_1_warp_tiles,
            rows_per_block_grid::<4>,
            &["LDG.E.128", "SHFL.IDX"],
        )
        .with_inputs_as_is(X_IS_BUFFER_3),
    },
    KernelSpec {
        op: &Q4_1Gemv,
        variant: "lanes32_per_row",
        imp: wgsl(sources::Q4_1_GEMV_WGSL, "q4_1_gemv", layout::q4_1_gemv_buffers, rows_per_block_grid::<4>)
            .with_inputs_as_is(X_IS_BUFFER_3),
    },
    KernelSpec { op: &Q4_0_GEMV_T, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q4_0_GEMV_T, variant: "rayon_column_panels", imp: KernelImpl::Cpu(quant_gemv_t_cpu::<0>) },
    KernelSpec {
        op: &Q4_0_GEMV_T,
        variant: "thread_per_column",
        imp: ptx(sources::QUANT_GEMV_T_PTX, "q4_0_gemv_t", layout::q4_0_gemv_buffers, column_token_grid, &["FFMA"])
            .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &Q4_0_GEMV_T,
        variant: "invocation_per_column",
        imp: wgsl(sources::Q4_0_GEMV_T_WGSL, "gemv_t", layout::q4_0_gemv_buffers, column_token_grid)
            .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec { op: &Q4_1_GEMV_T, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q4_1_GEMV_T, variant: "rayon_column_panels", imp: KernelImpl::Cpu(quant_gemv_t_cpu::<1>) },
    KernelSpec {
        op: &Q4_1_GEMV_T,
        variant: "thread_per_column",
        imp: ptx(sources::QUANT_GEMV_T_PTX, "q4_1_gemv_t", layout::q4_1_gemv_buffers, column_token_grid, &["FFMA"])
            .with_inputs_as_is(X_IS_BUFFER_3),
    },
    KernelSpec {
        op: &Q4_1_GEMV_T,
        variant: "invocation_per_column",
        imp: wgsl(sources::Q4_1_GEMV_T_WGSL, "gemv_t", layout::q4_1_gemv_buffers, column_token_grid)
            .with_inputs_as_is(X_IS_BUFFER_3),
    },
    KernelSpec { op: &Q8_0_GEMV_T, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q8_0_GEMV_T, variant: "rayon_column_panels", imp: KernelImpl::Cpu(quant_gemv_t_cpu::<2>) },
    KernelSpec {
        op: &Q8_0_GEMV_T,
        variant: "thread_per_column",
        imp: ptx(sources::QUANT_GEMV_T_PTX, "q8_0_gemv_t", layout::q8_0_gemv_buffers, column_token_grid, &["FFMA"])
            .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &Q8_0_GEMV_T,
        variant: "invocation_per_column",
        imp: wgsl(sources::Q8_0_GEMV_T_WGSL, "gemv_t", layout::q8_0_gemv_buffers, column_token_grid)
            .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec { op: &Q8_0_GEMM, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q8_0_GEMM, variant: "rayon_band16", imp: KernelImpl::Cpu(q8_0_gemm_cpu) },
    KernelSpec {
        op: &Q8_0_GEMM,
        variant: "mma_m16n8k16",
        imp: ptx(sources::Q8_0_GEMM_PTX, "q8_0_gemm_mma", layout::q8_0_gemv_buffers, gemm_mma_grid, &["HMMA"]),
    },
    KernelSpec {
        op: &Q8_0_GEMM,
        variant: "tile16x16",
        imp: wgsl(sources::Q8_0_GEMM_WGSL, "quant_gemm", layout::q8_0_gemv_buffers, gemm_tile16_grid),
    },
    KernelSpec { op: &Q4_0_GEMM, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q4_0_GEMM, variant: "rayon_band16", imp: KernelImpl::Cpu(q4_0_gemm_cpu) },
    KernelSpec {
        op: &Q4_0_GEMM,
        variant: "mma_m16n8k16",
        imp: ptx(sources::Q4_0_GEMM_PTX, "q4_0_gemm_mma", layout::q4_0_gemv_buffers, gemm_mma_grid, &["HMMA"]),
    },
    KernelSpec {
        op: &Q4_0_GEMM,
        variant: "tile16x16",
        imp: wgsl(sources::Q4_0_GEMM_WGSL, "quant_gemm", layout::q4_0_gemv_buffers, gemm_tile16_grid),
    },
    KernelSpec { op: &Int4G128Gemv, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Int4G128Gemv, variant: "rayon_simd", imp: KernelImpl::Cpu(int4_g128_gemv_cpu) },
    KernelSpec {
        op: &Int4G128Gemv,
        variant: "warp_per_row",
        imp: ptx(
            sources::INT4_G128_GEMV_PTX,
            "int4_g128_gemv",
            layout::int4_g128_warp_tiles,
            rows_per_block_grid::<4>,
            &["LDG.E.128"],
        ),
    },
    KernelSpec {
        op: &Int4G128Gemv,
        variant: "lanes32_per_row",
        imp: wgsl(
            sources::INT4_G128_GEMV_WGSL,
            "int4_g128_gemv",
            layout::int4_g128_gemv_buffers,
            rows_per_block_grid::<4>,
        ),
    },
    KernelSpec { op: &Q8_0_Q8_1_GEMM, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q8_0_Q8_1_GEMM, variant: "rayon_band16", imp: KernelImpl::Cpu(q8_0_q8_1_gemm_cpu) },
    KernelSpec {
        op: &Q8_0_Q8_1_GEMM,
        variant: "dp4a_warp_per_row",
        imp: ptx(
            sources::Q8_0_Q8_1_GEMM_PTX,
            "q8_0_q8_1_gemm_dp4a",
            layout::q8_0_q8_1_buffers,
            gemm_dp4a_grid,
            &["IDP.4A", "LDG.E.128"],
        ),
    },
    KernelSpec {
        op: &Q8_0_Q8_1_GEMM,
        variant: "tile8x8",
        imp: wgsl(sources::Q8_0_Q8_1_GEMM_WGSL, "q8_1_gemm", layout::q8_0_q8_1_buffers, gemm_tile8_grid),
    },
    KernelSpec {
        op: &Q8_0_Q8_1_GEMM,
        variant: "tile8x8_dot4",
        imp: wgsl(sources::Q8_0_Q8_1_GEMM_DOT4_WGSL, "q8_1_gemm", layout::q8_0_q8_1_buffers, gemm_tile8_grid),
    },
    KernelSpec { op: &Q4_0_Q8_1_GEMM, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Q4_0_Q8_1_GEMM, variant: "rayon_band16", imp: KernelImpl::Cpu(q4_0_q8_1_gemm_cpu) },
    KernelSpec {
        op: &Q4_0_Q8_1_GEMM,
        variant: "dp4a_warp_per_row",
        imp: ptx(
            sources::Q4_0_Q8_1_GEMM_PTX,
            "q4_0_q8_1_gemm_dp4a",
            layout::q4_0_q8_1_buffers,
            gemm_dp4a_grid,
            &["IDP.4A", "LDG.E.128"],
        ),
    },
    KernelSpec {
        op: &Q4_0_Q8_1_GEMM,
        variant: "tile8x8",
        imp: wgsl(sources::Q4_0_Q8_1_GEMM_WGSL, "q8_1_gemm", layout::q4_0_q8_1_buffers, gemm_tile8_grid),
    },
    KernelSpec {
        op: &Q4_0_Q8_1_GEMM,
        variant: "tile8x8_dot4",
        imp: wgsl(sources::Q4_0_Q8_1_GEMM_DOT4_WGSL, "q8_1_gemm", layout::q4_0_q8_1_buffers, gemm_tile8_grid),
    },
    KernelSpec { op: &QuantizeQ8_1, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &QuantizeQ8_1, variant: "rayon_avx2", imp: KernelImpl::Cpu(quantize_q8_1_cpu) },
    KernelSpec {
        op: &QuantizeQ8_1,
        variant: "thread_per_block",
        imp: ptx(sources::QUANTIZE_Q8_1_PTX, "quantize_q8_1", layout::as_is, q8_1_blocks_grid::<128>, &["LDG.E.128"]),
    },
    KernelSpec {
        op: &QuantizeQ8_1,
        variant: "invocation_per_block",
        imp: wgsl(sources::QUANTIZE_Q8_1_WGSL, "quantize_q8_1", layout::as_is, q8_1_blocks_grid::<64>),
    },
    // Calibration ops: the bench measures each backend's roofline with these.
    KernelSpec { op: &StreamRead, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &StreamRead, variant: "rayon_simd", imp: KernelImpl::Cpu(stream_read_cpu) },
    KernelSpec {
        op: &StreamRead,
        variant: "block_per_chunk",
        imp: ptx(sources::STREAM_READ_PTX, "stream_read", layout::as_is, chunk_grid, &["SHFL.BFLY"]),
    },
    KernelSpec {
        op: &StreamRead,
        variant: "workgroup_per_chunk",
        imp: wgsl(sources::STREAM_READ_WGSL, "stream_read", layout::as_is, chunk_grid),
    },
    KernelSpec {
        op: &StreamRead,
        variant: "v4_per_chunk",
        imp: ptx(sources::STREAM_READ_V4_PTX, "stream_read_v4", layout::as_is, chunk_grid, &["LDG.E.128", "SHFL.BFLY"]),
    },
    KernelSpec {
        op: &StreamRead,
        variant: "v4_per_workgroup",
        imp: wgsl(sources::STREAM_READ_V4_WGSL, "stream_read_v4", layout::padded_to_vectors, chunk_grid),
    },
    KernelSpec { op: &StreamCopy, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &StreamCopy, variant: "rayon", imp: KernelImpl::Cpu(stream_copy_cpu) },
    KernelSpec {
        op: &StreamCopy,
        variant: "grid_stride_v4",
        imp: ptx(sources::STREAM_COPY_PTX, "stream_copy", layout::as_is, capped_grid::<4>, &["LDG.E.128", "STG.E.128"]),
    },
    KernelSpec {
        op: &StreamCopy,
        variant: "grid_stride",
        imp: wgsl(sources::STREAM_COPY_WGSL, "stream_copy", layout::as_is, capped_grid::<1>),
    },
    KernelSpec {
        op: &StreamCopy,
        variant: "grid_stride_v4_x4",
        imp: ptx(
            sources::STREAM_COPY_X4_PTX,
            "stream_copy_x4",
            layout::as_is,
            capped_grid::<16>,
            &["LDG.E.128", "STG.E.128"],
        ),
    },
    // Matrix units only where there are some: a backend without an `mma_peak` kernel places its
    // cases against the FMA peak alone.
    KernelSpec { op: &MmaPeak, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec {
        op: &MmaPeak,
        variant: "mma_m16n8k16_x4",
        imp: ptx(sources::MMA_PEAK_PTX, "mma_peak", layout::as_is, warps_grid::<4>, &["HMMA"]),
    },
    KernelSpec { op: &FmaPeak, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &FmaPeak, variant: "rayon_simd", imp: KernelImpl::Cpu(fma_peak_cpu) },
    KernelSpec {
        op: &FmaPeak,
        variant: "four_chains",
        imp: ptx(sources::FMA_PEAK_PTX, "fma_peak", layout::as_is, four_per_thread_grid, &["FFMA"]),
    },
    KernelSpec {
        op: &FmaPeak,
        variant: "four_chains",
        imp: wgsl(sources::FMA_PEAK_WGSL, "fma_peak", layout::as_is, four_per_thread_grid),
    },
    // Signal compression: the generator, then the projections drawing from it.
    KernelSpec { op: &Philox4x32_10, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Philox4x32_10, variant: "rayon", imp: KernelImpl::Cpu(philox_cpu) },
    KernelSpec {
        op: &Philox4x32_10,
        variant: "thread_per_block",
        imp: ptx(
            sources::PHILOX_PTX,
            "philox4x32_10",
            layout::as_is,
            one_per_thread_grid,
            &["IMAD.WIDE.U32", "STG.E.128"],
        ),
    },
    KernelSpec {
        op: &Philox4x32_10,
        variant: "thread_per_block",
        imp: wgsl(sources::PHILOX_WGSL, "philox4x32_10", layout::as_is, one_per_thread_grid),
    },
    KernelSpec { op: &DenseProject, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &DenseProject, variant: "rayon_chunks", imp: KernelImpl::Cpu(dense_project_cpu) },
    KernelSpec {
        op: &DenseProject,
        variant: "chunk_partials_then_reduce",
        imp: ptx_two_pass(
            sources::DENSE_PROJECT_PTX,
            "dense_project_partials",
            dense_project_buffers,
            dense_chunk_grid,
            &["IMAD.WIDE.U32", "LDS.128"],
            SecondPass { entry: "dense_project_reduce", grid: k_rows_grid, sass_must_contain: &["FADD", "MUFU.RCP"] },
        ),
    },
    KernelSpec {
        op: &DenseProject,
        variant: "chunk_partials_then_reduce",
        imp: wgsl_two_pass(
            sources::DENSE_PROJECT_WGSL,
            "dense_project_partials",
            dense_project_buffers,
            dense_chunk_grid,
            SecondPass { entry: "dense_project_reduce", grid: k_rows_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &DenseProjectT, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &DenseProjectT, variant: "rayon_blocks", imp: KernelImpl::Cpu(dense_project_t_cpu) },
    KernelSpec {
        op: &DenseProjectT,
        variant: "block_per_128_columns",
        imp: ptx(sources::DENSE_PROJECT_T_PTX, "dense_project_t", layout::as_is, column_block_grid, &["IMAD.WIDE.U32"]),
    },
    KernelSpec {
        op: &DenseProjectT,
        variant: "block_per_128_columns",
        imp: wgsl(sources::DENSE_PROJECT_T_WGSL, "dense_project_t", layout::as_is, column_block_grid_2d),
    },
    // Gaussian entries: Box-Muller in f32 with correctly rounded operations (.rn division and
    // square root, fma.rn polynomials), so MUFU.RCP and MUFU.RSQ seed the division and sqrt.
    KernelSpec { op: &DenseProjectGaussian, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec {
        op: &DenseProjectGaussian,
        variant: "rayon_chunks",
        imp: KernelImpl::Cpu(dense_gaussian::forward_cpu),
    },
    KernelSpec {
        op: &DenseProjectGaussian,
        variant: "chunk_partials_then_reduce",
        imp: ptx_two_pass(
            sources::DENSE_PROJECT_GAUSSIAN_PTX,
            "dense_project_gaussian_partials",
            dense_gaussian::forward_buffers,
            dense_gaussian::chunk_grid,
            &["IMAD.WIDE.U32", "MUFU.RCP", "MUFU.RSQ", "FFMA", "LDS.128"],
            SecondPass {
                entry: "dense_project_gaussian_reduce",
                grid: k_rows_grid,
                sass_must_contain: &["FADD", "MUFU.RCP"],
            },
        ),
    },
    KernelSpec {
        op: &DenseProjectGaussian,
        variant: "chunk_partials_then_reduce",
        imp: wgsl_two_pass(
            sources::DENSE_PROJECT_GAUSSIAN_WGSL,
            "dense_project_gaussian_partials",
            dense_gaussian::forward_buffers,
            dense_gaussian::chunk_grid,
            SecondPass { entry: "dense_project_gaussian_reduce", grid: k_rows_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &DenseProjectGaussianT, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec {
        op: &DenseProjectGaussianT,
        variant: "rayon_columns",
        imp: KernelImpl::Cpu(dense_gaussian::transpose_cpu),
    },
    KernelSpec {
        op: &DenseProjectGaussianT,
        variant: "thread_per_4_columns",
        imp: ptx(
            sources::DENSE_PROJECT_GAUSSIAN_T_PTX,
            "dense_project_gaussian_t",
            layout::as_is,
            dense_gaussian::transpose_grid,
            &["IMAD.WIDE.U32", "MUFU.RCP", "MUFU.RSQ", "FFMA", "STG.E.128"],
        ),
    },
    KernelSpec {
        op: &DenseProjectGaussianT,
        variant: "thread_per_4_columns",
        imp: wgsl(
            sources::DENSE_PROJECT_GAUSSIAN_T_WGSL,
            "dense_project_gaussian_t",
            layout::as_is,
            dense_gaussian::transpose_grid,
        ),
    },
    KernelSpec { op: &CountSketch, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &CountSketch, variant: "rayon_rows", imp: KernelImpl::Cpu(count_sketch_cpu) },
    KernelSpec {
        op: &CountSketch,
        variant: "zero_then_atomic_add",
        imp: ptx_two_pass(
            sources::COUNT_SKETCH_PTX,
            "count_sketch_zero",
            layout::as_is,
            sketch::sketch_buckets_grid,
            &["STG.E"],
            sketch::COUNT_SKETCH_ADD_PTX,
        ),
    },
    KernelSpec {
        op: &CountSketch,
        variant: "zero_then_atomic_add",
        imp: wgsl_two_pass(
            sources::COUNT_SKETCH_WGSL,
            "count_sketch_zero",
            layout::as_is,
            sketch::sketch_buckets_grid,
            sketch::COUNT_SKETCH_ADD_WGSL,
        ),
    },
    KernelSpec { op: &CountUnsketch, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &CountUnsketch, variant: "rayon_chunks", imp: KernelImpl::Cpu(sketch::count_unsketch_cpu) },
    KernelSpec {
        op: &CountUnsketch,
        variant: "thread_per_coordinate",
        imp: ptx(
            sources::COUNT_UNSKETCH_PTX,
            "count_unsketch",
            layout::as_is,
            sketch::coordinates_grid,
            &["IMAD.WIDE.U32", "STS", "LDS"],
        ),
    },
    KernelSpec {
        op: &CountUnsketch,
        variant: "thread_per_coordinate",
        imp: wgsl(sources::COUNT_UNSKETCH_WGSL, "count_unsketch", layout::as_is, sketch::coordinates_grid),
    },
    KernelSpec { op: &TopK, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &TopK, variant: "rayon_radix_select", imp: KernelImpl::Cpu(signals::topk_cpu) },
    KernelSpec {
        op: &TopK,
        variant: "radix_select_then_tile_sort",
        imp: ptx_passes(
            sources::TOPK_PTX,
            "topk_init",
            sketch::topk_buffers,
            sketch::one_workgroup,
            &["STG.E"],
            sketch::TOPK_PTX_PASSES,
        ),
    },
    KernelSpec {
        op: &TopK,
        variant: "radix_select_then_tile_sort",
        imp: wgsl_passes(
            sources::TOPK_WGSL,
            "topk_init",
            sketch::topk_buffers,
            sketch::one_workgroup,
            sketch::TOPK_WGSL_PASSES,
        ),
    },
    KernelSpec { op: &StochasticQuantize, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec {
        op: &StochasticQuantize,
        variant: "rayon_blocks",
        imp: KernelImpl::Cpu(signals::stochastic_quantize_cpu),
    },
    KernelSpec {
        op: &StochasticQuantize,
        variant: "block_per_256",
        imp: ptx(
            sources::STOCHASTIC_QUANTIZE_PTX,
            "stochastic_quantize",
            signals::quantize_buffers,
            signals::quant_block_grid,
            &["IMAD.WIDE.U32"],
        ),
    },
    KernelSpec {
        op: &StochasticQuantize,
        variant: "block_per_256",
        imp: wgsl(
            sources::STOCHASTIC_QUANTIZE_WGSL,
            "stochastic_quantize",
            signals::quantize_buffers,
            signals::quant_block_grid_2d,
        ),
    },
    KernelSpec { op: &StochasticDequantize, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec {
        op: &StochasticDequantize,
        variant: "rayon_blocks",
        imp: KernelImpl::Cpu(signals::stochastic_dequantize_cpu),
    },
    KernelSpec {
        op: &StochasticDequantize,
        variant: "thread_per_coordinate",
        imp: ptx(
            sources::STOCHASTIC_DEQUANTIZE_PTX,
            "stochastic_dequantize",
            signals::dequantize_buffers,
            signals::quant_block_grid,
            &[],
        ),
    },
    KernelSpec {
        op: &StochasticDequantize,
        variant: "thread_per_coordinate",
        imp: wgsl(
            sources::STOCHASTIC_DEQUANTIZE_WGSL,
            "stochastic_dequantize",
            signals::dequantize_buffers,
            signals::quant_block_grid_2d,
        ),
    },
    KernelSpec { op: &Srht, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Srht, variant: "rayon_fwht", imp: KernelImpl::Cpu(signals::srht_cpu) },
    KernelSpec {
        op: &Srht,
        variant: "chunk_fwht_then_gather",
        imp: ptx_two_pass(
            sources::SRHT_PTX,
            "srht_chunks",
            signals::srht_buffers,
            signals::srht_chunk_grid,
            &["IMAD.WIDE.U32"],
            SecondPass { entry: "srht_gather", grid: signals::single_workgroup_grid, sass_must_contain: &["POPC"] },
        ),
    },
    KernelSpec {
        op: &Srht,
        variant: "chunk_fwht_then_gather",
        imp: wgsl_two_pass(
            sources::SRHT_WGSL,
            "srht_chunks",
            signals::srht_buffers,
            signals::srht_chunk_grid_2d,
            SecondPass { entry: "srht_gather", grid: signals::single_workgroup_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &SrhtT, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &SrhtT, variant: "rayon_fwht", imp: KernelImpl::Cpu(signals::srht_t_cpu) },
    KernelSpec {
        op: &SrhtT,
        variant: "sample_buckets_then_chunk_fwht",
        imp: ptx_two_pass(
            sources::SRHT_T_PTX,
            "srht_t_bucket",
            signals::srht_t_buffers,
            signals::single_workgroup_grid,
            &["IMAD.WIDE.U32"],
            SecondPass { entry: "srht_t_chunks", grid: signals::srht_chunk_grid, sass_must_contain: &["POPC"] },
        ),
    },
    KernelSpec {
        op: &SrhtT,
        variant: "sample_buckets_then_chunk_fwht",
        imp: wgsl_two_pass(
            sources::SRHT_T_WGSL,
            "srht_t_bucket",
            signals::srht_t_buffers,
            signals::single_workgroup_grid,
            SecondPass { entry: "srht_t_chunks", grid: signals::srht_chunk_grid_2d, sass_must_contain: &[] },
        ),
    },
    // Context adapters: shrink, expand, fused over a quantized base, batched, backward.
    KernelSpec { op: &LoraShrink, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LoraShrink, variant: "rayon_tokens", imp: KernelImpl::Cpu(lora::shrink_cpu) },
    KernelSpec {
        op: &LoraShrink,
        variant: "warp_per_row_tokens4",
        imp: ptx(
            sources::LORA_SHRINK_PTX,
            "lora_shrink",
            layout::as_is,
            lora_ptx::shrink_grid,
            &["LDG.E.128", "SHFL.BFLY"],
        ),
    },
    KernelSpec {
        op: &LoraShrink,
        variant: "row_per_workgroup_tokens8",
        imp: wgsl(sources::LORA_SHRINK_WGSL, "lora_shrink", layout::as_is, lora_wgsl::shrink_grid),
    },
    KernelSpec { op: &LoraExpand, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LoraExpand, variant: "rayon_chunks", imp: KernelImpl::Cpu(lora::expand_cpu) },
    KernelSpec {
        op: &LoraExpand,
        variant: "thread_per_row_tokens4",
        imp: ptx(sources::LORA_EXPAND_PTX, "lora_expand", layout::as_is, lora_ptx::expand_grid, &["LDG.E.128"]),
    },
    KernelSpec {
        op: &LoraExpand,
        variant: "invocation_per_output",
        imp: wgsl(sources::LORA_EXPAND_WGSL, "lora_expand", layout::as_is, lora_wgsl::expand_grid),
    },
    KernelSpec { op: &LORA_FUSED_Q4_0, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LORA_FUSED_Q4_0, variant: "rows_then_adapters", imp: KernelImpl::Cpu(lora::fused_q4_0_cpu) },
    KernelSpec {
        op: &LORA_FUSED_Q4_0,
        variant: "shrink_then_warp_per_row",
        imp: ptx_two_pass(
            sources::LORA_FUSED_Q4_0_PTX,
            "lora_fused_q4_0_shrink",
            lora_ptx::fused_q4_0_buffers,
            lora_ptx::fused_shrink_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass {
                entry: "lora_fused_q4_0_rows",
                grid: lora_ptx::fused_rows_grid,
                sass_must_contain: &["LDG.E.128", "SHFL.IDX", "SHFL.BFLY"],
            },
        ),
    },
    KernelSpec {
        op: &LORA_FUSED_Q4_0,
        variant: "rows4_overlapped_shrink",
        imp: ptx(
            sources::LORA_FUSED_Q4_0_OVERLAPPED_PTX,
            "lora_fused_q4_0_overlapped",
            lora_ptx::fused_q4_0_overlapped_buffers,
            lora_ptx::fused_overlapped_grid,
            &["LDG.E.128", "SHFL.IDX", "SHFL.BFLY", "ATOMG.E.ADD.64", "LDG.E.64.STRONG.GPU"],
        )
        .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &LORA_FUSED_Q4_0,
        variant: "rows4_claimed_shrink",
        imp: ptx(
            sources::LORA_FUSED_Q4_0_CLAIMED_PTX,
            "lora_fused_q4_0_claimed",
            lora_ptx::fused_q4_0_claimed_buffers,
            lora_ptx::fused_overlapped_grid,
            &[
                "LDG.E.128",
                "SHFL.IDX",
                "SHFL.BFLY",
                "ATOMG.E.INC",
                "ATOMG.E.EXCH",
                "STG.E.64.STRONG.GPU",
                "LDG.E.64.STRONG.GPU",
                "CCTL.E.PF2",
            ],
        )
        .with_inputs_as_is(X_IS_BUFFER_2),
    },
    KernelSpec {
        op: &LORA_FUSED_Q4_0,
        variant: "shrink_then_rows4_epilogue",
        imp: wgsl_two_pass(
            sources::LORA_FUSED_Q4_0_WGSL,
            "lora_fused_q4_0_shrink",
            lora_wgsl::fused_q4_0_buffers,
            lora_wgsl::fused_shrink_grid,
            SecondPass { entry: "lora_fused_q4_0", grid: lora_wgsl::fused_rows4_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &LORA_FUSED_Q4_1, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LORA_FUSED_Q4_1, variant: "rows_then_adapters", imp: KernelImpl::Cpu(lora::fused_q4_1_cpu) },
    KernelSpec {
        op: &LORA_FUSED_Q4_1,
        variant: "shrink_then_warp_per_row",
        imp: ptx_two_pass(
            sources::LORA_FUSED_Q4_1_PTX,
            "lora_fused_q4_1_shrink",
            lora_ptx::fused_q4_1_buffers,
            lora_ptx::fused_shrink_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass {
                entry: "lora_fused_q4_1_rows",
                grid: lora_ptx::fused_rows_grid,
                sass_must_contain: &["LDG.E.128", "SHFL.IDX", "SHFL.BFLY"],
            },
        ),
    },
    KernelSpec {
        op: &LORA_FUSED_Q4_1,
        variant: "shrink_then_rows4_epilogue",
        imp: wgsl_two_pass(
            sources::LORA_FUSED_Q4_1_WGSL,
            "lora_fused_q4_1_shrink",
            lora_wgsl::fused_q4_1_buffers,
            lora_wgsl::fused_shrink_grid,
            SecondPass { entry: "lora_fused_q4_1", grid: lora_wgsl::fused_rows4_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &LORA_FUSED_Q8_0, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LORA_FUSED_Q8_0, variant: "rows_then_adapters", imp: KernelImpl::Cpu(lora::fused_q8_0_cpu) },
    KernelSpec {
        op: &LORA_FUSED_Q8_0,
        variant: "shrink_then_warp_per_row",
        imp: ptx_two_pass(
            sources::LORA_FUSED_Q8_0_PTX,
            "lora_fused_q8_0_shrink",
            lora_ptx::fused_q8_0_buffers,
            lora_ptx::fused_shrink_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass {
                entry: "lora_fused_q8_0_rows",
                grid: lora_ptx::fused_rows_grid,
                sass_must_contain: &["LDG.E.128", "SHFL.BFLY"],
            },
        ),
    },
    KernelSpec {
        op: &LORA_FUSED_Q8_0,
        variant: "shrink_then_rows4_epilogue",
        imp: wgsl_two_pass(
            sources::LORA_FUSED_Q8_0_WGSL,
            "lora_fused_q8_0_shrink",
            lora_wgsl::fused_q8_0_buffers,
            lora_wgsl::fused_shrink_grid,
            SecondPass { entry: "lora_fused_q8_0", grid: lora_wgsl::fused_rows4_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &LORA_FUSED_F16, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LORA_FUSED_F16, variant: "rows_then_adapters", imp: KernelImpl::Cpu(lora::fused_f16_cpu) },
    KernelSpec {
        op: &LORA_FUSED_F16,
        variant: "shrink_then_warp_per_row",
        imp: ptx_two_pass(
            sources::LORA_FUSED_F16_PTX,
            "lora_fused_f16_shrink",
            lora_ptx::fused_f16_buffers,
            lora_ptx::fused_shrink_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass {
                entry: "lora_fused_f16_rows",
                grid: lora_ptx::fused_rows_grid,
                sass_must_contain: &["LDG.E.128", "HADD2.F32", "SHFL.BFLY"],
            },
        ),
    },
    KernelSpec {
        op: &LORA_FUSED_F16,
        variant: "shrink_then_rows4_epilogue",
        imp: wgsl_two_pass(
            sources::LORA_FUSED_F16_WGSL,
            "lora_fused_f16_shrink",
            lora_wgsl::fused_f16_buffers,
            lora_wgsl::fused_shrink_grid,
            SecondPass { entry: "lora_fused_f16", grid: lora_wgsl::fused_rows4_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &Bgmv, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Bgmv, variant: "rayon_two_phase", imp: KernelImpl::Cpu(lora::bgmv_cpu) },
    KernelSpec {
        op: &Bgmv,
        variant: "warp_shrink_then_row_expand",
        imp: ptx_two_pass(
            sources::BGMV_PTX,
            "bgmv_shrink",
            lora_ptx::batched_buffers,
            lora_ptx::rank_row_token_warps_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass { entry: "bgmv_expand", grid: lora_ptx::batched_expand_grid, sass_must_contain: &["LDG.E.128"] },
        ),
    },
    KernelSpec {
        op: &Bgmv,
        variant: "token_shrink_then_expand",
        imp: wgsl_two_pass(
            sources::BGMV_WGSL,
            "bgmv_shrink",
            lora_wgsl::stacked_buffers,
            lora_wgsl::rank_by_tokens_grid,
            SecondPass { entry: "bgmv_expand", grid: lora_wgsl::expand_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &Sgmv, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &Sgmv, variant: "rayon_two_phase", imp: KernelImpl::Cpu(lora::sgmv_cpu) },
    KernelSpec {
        op: &Sgmv,
        variant: "warp_shrink_then_row_expand",
        imp: ptx_two_pass(
            sources::SGMV_PTX,
            "sgmv_shrink",
            lora_ptx::batched_buffers,
            lora_ptx::rank_row_token_warps_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass { entry: "sgmv_expand", grid: lora_ptx::batched_expand_grid, sass_must_contain: &["LDG.E.128"] },
        ),
    },
    KernelSpec {
        op: &Sgmv,
        variant: "segment_search_shrink_then_expand",
        imp: wgsl_two_pass(
            sources::SGMV_WGSL,
            "sgmv_shrink",
            lora_wgsl::stacked_buffers,
            lora_wgsl::rank_by_tokens_grid,
            SecondPass { entry: "sgmv_expand", grid: lora_wgsl::expand_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &LoraBackward, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LoraBackward, variant: "rayon_rows", imp: KernelImpl::Cpu(lora::backward_cpu) },
    KernelSpec {
        op: &LoraBackward,
        variant: "warp_hu_then_thread_per_grad",
        imp: ptx_two_pass(
            sources::LORA_BACKWARD_PTX,
            "lora_backward_hu",
            lora_ptx::backward_buffers,
            lora_ptx::rank_row_token_warps_grid,
            &["LDG.E.128", "SHFL.BFLY"],
            SecondPass {
                entry: "lora_backward_grads",
                grid: lora_ptx::backward_grads_grid,
                sass_must_contain: &["LDG.E.CONSTANT", "FFMA"],
            },
        ),
    },
    KernelSpec {
        op: &LoraBackward,
        variant: "factors_then_invocation_per_grad",
        imp: wgsl_two_pass(
            sources::LORA_BACKWARD_WGSL,
            "lora_backward_factors",
            lora_wgsl::backward_buffers,
            lora_wgsl::backward_factors_grid,
            SecondPass { entry: "lora_backward_grads", grid: lora_wgsl::backward_grads_grid, sass_must_contain: &[] },
        ),
    },
    KernelSpec { op: &LoraBackwardDx, variant: "reference", imp: KernelImpl::Reference },
    KernelSpec { op: &LoraBackwardDx, variant: "rayon_tokens", imp: KernelImpl::Cpu(lora::backward_dx_cpu) },
    KernelSpec {
        op: &LoraBackwardDx,
        variant: "warp_u_then_thread_per_column",
        imp: ptx_two_pass(
            sources::LORA_BACKWARD_PTX,
            "lora_backward_dx_u",
            lora_ptx::backward_dx_buffers,
            lora_ptx::rank_row_token_warps_grid,
            &["SHFL.BFLY"],
            SecondPass {
                entry: "lora_backward_dx_rows",
                grid: lora_ptx::backward_dx_rows_grid,
                sass_must_contain: &["LDG.E.CONSTANT", "FFMA"],
            },
        ),
    },
    KernelSpec {
        op: &LoraBackwardDx,
        variant: "u_then_invocation_per_dx",
        imp: wgsl_two_pass(
            sources::LORA_BACKWARD_DX_WGSL,
            "lora_backward_dx_u",
            lora_wgsl::backward_dx_buffers,
            lora_wgsl::rank_by_tokens_grid,
            SecondPass {
                entry: "lora_backward_dx_grads",
                grid: lora_wgsl::backward_dx_grads_grid,
                sass_must_contain: &[],
            },
        ),
    },
];

const LORA_FUSED_Q4_0: LoraFused = LoraFused(BaseFormat::Q4_0);
const LORA_FUSED_Q4_1: LoraFused = LoraFused(BaseFormat::Q4_1);
const LORA_FUSED_Q8_0: LoraFused = LoraFused(BaseFormat::Q8_0);
const LORA_FUSED_F16: LoraFused = LoraFused(BaseFormat::F16);

/// A PTX kernel: `source`'s `entry`, inputs laid out by `buffers`, launched on `grid`, whose SASS
/// must contain each of `sass`.
const fn ptx(
    source: SourceFile,
    entry: &'static str,
    buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    grid: fn(&Dims) -> Grid,
    sass: &'static [&'static str],
) -> KernelImpl {
    KernelImpl::Ptx(GpuKernel {
        source,
        entry,
        buffers,
        grid,
        sass_must_contain: sass,
        then: None,
        more_passes: &[],
        inputs_as_is: &[],
    })
}

/// A PTX kernel of several passes: [`ptx`], then each of `passes` in order on the same
/// arguments, each with its own SASS checks.
const fn ptx_passes(
    source: SourceFile,
    entry: &'static str,
    buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    grid: fn(&Dims) -> Grid,
    sass: &'static [&'static str],
    passes: &'static [SecondPass],
) -> KernelImpl {
    KernelImpl::Ptx(GpuKernel {
        source,
        entry,
        buffers,
        grid,
        sass_must_contain: sass,
        then: None,
        more_passes: passes,
        inputs_as_is: &[],
    })
}

/// A two-pass PTX kernel: [`ptx`], then `then` on the same arguments; `sass` is checked in
/// `entry`'s SASS and `then.sass_must_contain` in the second entry's.
const fn ptx_two_pass(
    source: SourceFile,
    entry: &'static str,
    buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    grid: fn(&Dims) -> Grid,
    sass: &'static [&'static str],
    then: SecondPass,
) -> KernelImpl {
    KernelImpl::Ptx(GpuKernel {
        source,
        entry,
        buffers,
        grid,
        sass_must_contain: sass,
        then: Some(then),
        more_passes: &[],
        inputs_as_is: &[],
    })
}

/// A WGSL kernel: `source`'s `entry`, inputs laid out by `buffers`, dispatched on `grid`.
const fn wgsl(
    source: SourceFile,
    entry: &'static str,
    buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    grid: fn(&Dims) -> Grid,
) -> KernelImpl {
    KernelImpl::Wgsl(GpuKernel {
        source,
        entry,
        buffers,
        grid,
        sass_must_contain: &[],
        then: None,
        more_passes: &[],
        inputs_as_is: &[],
    })
}

/// A WGSL kernel of several passes: [`wgsl`], then each of `passes` in order on one bind group
/// (so every entry must use every binding).
const fn wgsl_passes(
    source: SourceFile,
    entry: &'static str,
    buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    grid: fn(&Dims) -> Grid,
    passes: &'static [SecondPass],
) -> KernelImpl {
    KernelImpl::Wgsl(GpuKernel {
        source,
        entry,
        buffers,
        grid,
        sass_must_contain: &[],
        then: None,
        more_passes: passes,
        inputs_as_is: &[],
    })
}

/// A two-pass WGSL kernel: [`wgsl`], then `then` on the same bind group.
const fn wgsl_two_pass(
    source: SourceFile,
    entry: &'static str,
    buffers: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>,
    grid: fn(&Dims) -> Grid,
    then: SecondPass,
) -> KernelImpl {
    KernelImpl::Wgsl(GpuKernel {
        source,
        entry,
        buffers,
        grid,
        sass_must_contain: &[],
        then: Some(then),
        more_passes: &[],
        inputs_as_is: &[],
    })
}

/// Kernels that run on `backend`.
pub fn for_backend(backend: BackendKind) -> impl Iterator<Item = &'static KernelSpec> {
    KERNELS.iter().filter(move |k| k.backends().contains(&backend))
}

/// Kernels of the op called `op` that run on `backend`.
pub fn find(op: &str, backend: BackendKind) -> impl Iterator<Item = &'static KernelSpec> {
    for_backend(backend).filter(move |k| k.op.name() == op)
}

/// Grid of 32 threads per row, `R` rows per block, one block per `R` rows.
/// The transposed products: a thread (invocation) a column and four tokens, 128 a block.
fn column_token_grid(dims: &Dims) -> Grid {
    let (cols, tokens) = (dims.get("cols") as u32, dims.get("tokens") as u32);
    Grid { blocks: [cols.div_ceil(128), tokens.div_ceil(4), 1], threads: [128, 1, 1] }
}

fn rows_per_block_grid<const R: u32>(dims: &Dims) -> Grid {
    let rows = u32::try_from(dims.get("rows")).expect("rows exceed u32");
    Grid { blocks: [rows.div_ceil(R), 1, 1], threads: [32 * R, 1, 1] }
}

fn n_u32(dims: &Dims) -> u32 {
    u32::try_from(dims.get("n")).expect("n exceeds u32")
}

/// One block of 256 threads per 4096-element chunk.
fn chunk_grid(dims: &Dims) -> Grid {
    Grid { blocks: [n_u32(dims).div_ceil(CHUNK as u32), 1, 1], threads: [256, 1, 1] }
}

/// A grid-stride launch: one thread per `V` elements, at most 8192 blocks of 256.
fn capped_grid<const V: u32>(dims: &Dims) -> Grid {
    Grid { blocks: [n_u32(dims).div_ceil(V).div_ceil(256).clamp(1, 8192), 1, 1], threads: [256, 1, 1] }
}

/// Four elements a thread, 256 threads a block.
fn four_per_thread_grid(dims: &Dims) -> Grid {
    Grid { blocks: [n_u32(dims).div_ceil(4).div_ceil(256), 1, 1], threads: [256, 1, 1] }
}

/// One thread per element of `n`, 256 threads a block.
fn one_per_thread_grid(dims: &Dims) -> Grid {
    Grid { blocks: [n_u32(dims).div_ceil(256), 1, 1], threads: [256, 1, 1] }
}

fn f32_out(outputs: &mut [Tensor]) -> &mut Vec<f32> {
    let dfma_reference::TensorData::F32(y) = &mut outputs[0].data else { panic!("output is f32") };
    y
}

fn stream_read_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    cpu::calibration::stream_read(inputs[0].as_f32().expect("x is f32"), f32_out(outputs));
}

fn stream_copy_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    cpu::calibration::stream_copy(inputs[0].as_f32().expect("x is f32"), f32_out(outputs));
}

fn fma_peak_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    cpu::calibration::fma_peak(inputs[0].as_f32().expect("x is f32"), f32_out(outputs), dims.get("iters"));
}

fn q8_0_gemm_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
    let w = inputs[0].as_u8().expect("w is u8");
    let x = inputs[1].as_f32().expect("x is f32");
    cpu::q8_0_gemm::quant_gemm(BaseFormat::Q8_0, w, x, f32_out(outputs), rows, cols, m);
}

fn q4_0_gemm_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
    let w = inputs[0].as_u8().expect("w is u8");
    let x = inputs[1].as_f32().expect("x is f32");
    cpu::q8_0_gemm::quant_gemm(BaseFormat::Q4_0, w, x, f32_out(outputs), rows, cols, m);
}

fn q8_0_q8_1_gemm_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    q8_1_gemm_cpu(BaseFormat::Q8_0, dims, inputs, outputs);
}

fn q4_0_q8_1_gemm_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    q8_1_gemm_cpu(BaseFormat::Q4_0, dims, inputs, outputs);
}

fn q8_1_gemm_cpu(format: BaseFormat, dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
    let w = inputs[0].as_u8().expect("w is u8");
    let xq = inputs[1].as_u8().expect("xq is u8");
    cpu::q8_1_gemm::q8_1_gemm(format, w, xq, f32_out(outputs), rows, cols, m);
}

/// A warp per `warps` unit, `W` warps a block.
fn warps_grid<const W: u32>(dims: &Dims) -> Grid {
    let warps = u32::try_from(dims.get("warps")).expect("warps exceed u32");
    Grid { blocks: [warps.div_ceil(W), 1, 1], threads: [32 * W, 1, 1] }
}

/// One thread (invocation) per Q8_1 block of 32 activations, `T` a block (workgroup).
fn q8_1_blocks_grid<const T: u32>(dims: &Dims) -> Grid {
    let blocks = u32::try_from(dims.get("cols") / 32 * dims.get("m")).expect("blocks exceed u32");
    Grid { blocks: [blocks.div_ceil(T), 1, 1], threads: [T, 1, 1] }
}

fn quantize_q8_1_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let x = inputs[0].as_f32().expect("x is f32");
    let dfma_reference::TensorData::U8(xq) = &mut outputs[0].data else { panic!("xq is u8") };
    cpu::quantize_q8_1::quantize_q8_1(x, xq, dims.get("cols"));
}

/// dp4a GEMM: a warp per row, 4 rows x 8 tokens a block.
fn gemm_dp4a_grid(dims: &Dims) -> Grid {
    let (rows, m) = rows_and_m(dims);
    Grid { blocks: [rows.div_ceil(4), m.div_ceil(8), 1], threads: [128, 1, 1] }
}

/// WGSL int8 GEMM: workgroups of 64 own 8 rows x 8 tokens.
fn gemm_tile8_grid(dims: &Dims) -> Grid {
    let (rows, m) = rows_and_m(dims);
    Grid { blocks: [rows.div_ceil(8), m.div_ceil(8), 1], threads: [64, 1, 1] }
}

fn rows_and_m(dims: &Dims) -> (u32, u32) {
    let rows = u32::try_from(dims.get("rows")).expect("rows exceed u32");
    let m = u32::try_from(dims.get("m")).expect("m exceeds u32");
    (rows, m)
}

/// Tensor-core GEMM: blocks of 4 warps own 64 rows x 32 tokens.
fn gemm_mma_grid(dims: &Dims) -> Grid {
    let (rows, m) = rows_and_m(dims);
    Grid { blocks: [rows.div_ceil(64), m.div_ceil(32), 1], threads: [128, 1, 1] }
}

/// WGSL GEMM: workgroups of 256 own 16 rows x 16 tokens.
fn gemm_tile16_grid(dims: &Dims) -> Grid {
    let (rows, m) = rows_and_m(dims);
    Grid { blocks: [rows.div_ceil(16), m.div_ceil(16), 1], threads: [256, 1, 1] }
}

fn q8_0_gemv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = inputs[0].as_u8().expect("w is u8");
    let x = inputs[1].as_f32().expect("x is f32");
    cpu::q8_0_gemv::q8_0_gemv(w, x, f32_out(outputs), rows, cols, batch);
}

/// The transposed products' cpu kernel; `F` picks the format (0: Q4_0, 1: Q4_1, 2: Q8_0).
fn quant_gemv_t_cpu<const F: u8>(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let format = [BaseFormat::Q4_0, BaseFormat::Q4_1, BaseFormat::Q8_0][usize::from(F)];
    let (rows, cols, tokens) = (dims.get("rows"), dims.get("cols"), dims.get("tokens"));
    let w = inputs[0].as_u8().expect("w is u8");
    let dy = inputs[1].as_f32().expect("dy is f32");
    cpu::quant_gemv_t::quant_gemv_t(format, w, dy, f32_out(outputs), rows, cols, tokens);
}

fn q4_1_gemv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = inputs[0].as_u8().expect("w is u8");
    let x = inputs[1].as_f32().expect("x is f32");
    cpu::q4_1_gemv::q4_1_gemv(w, x, f32_out(outputs), rows, cols, batch);
}

fn q4_0_gemv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = inputs[0].as_u8().expect("w is u8");
    let x = inputs[1].as_f32().expect("x is f32");
    cpu::q4_0_gemv::q4_0_gemv(w, x, f32_out(outputs), rows, cols, batch);
}

/// Columns of g one block of the `dense_project` GPU kernels stages and reduces.
const DENSE_CHUNK: u32 = 4096;

/// `dense_project`'s GPU buffers: g, seed, and a zeroed scratch of ceil(n/4096) x k f32 partials.
fn dense_project_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let partials = dims.get("n").div_ceil(DENSE_CHUNK as usize) * dims.get("k");
    vec![inputs[0].as_bytes().to_vec(), inputs[1].as_bytes().to_vec(), vec![0; 4 * partials]]
}

fn k_u32(dims: &Dims) -> u32 {
    u32::try_from(dims.get("k")).expect("k exceeds u32")
}

/// One block of 256 threads per 4096 columns of g.
fn dense_chunk_grid(dims: &Dims) -> Grid {
    Grid { blocks: [n_u32(dims).div_ceil(DENSE_CHUNK), 1, 1], threads: [256, 1, 1] }
}

/// One thread per row of the projection, 256 a block.
fn k_rows_grid(dims: &Dims) -> Grid {
    Grid { blocks: [k_u32(dims).div_ceil(256), 1, 1], threads: [256, 1, 1] }
}

/// One block of 128 threads per 128 columns (one Philox block of signs).
fn column_block_grid(dims: &Dims) -> Grid {
    Grid { blocks: [n_u32(dims).div_ceil(128), 1, 1], threads: [128, 1, 1] }
}

/// [`column_block_grid`] folded into x and y for WGSL, whose dispatch dimensions stop at 65535;
/// the shader numbers blocks `x + y·width` and skips those past the end.
fn column_block_grid_2d(dims: &Dims) -> Grid {
    let blocks = n_u32(dims).div_ceil(128);
    let width = blocks.clamp(1, 32768);
    Grid { blocks: [width, blocks.div_ceil(width), 1], threads: [128, 1, 1] }
}

fn philox_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (key, base) = key_and_base(inputs);
    let dfma_reference::TensorData::U32(y) = &mut outputs[0].data else { panic!("output is u32") };
    cpu::philox::philox(key, base, y);
}

fn dense_project_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = dfma_reference::ops::dense_project::key_of(&inputs[1]);
    cpu::dense_project::dense_project(key, inputs[0].as_f32().expect("g is f32"), f32_out(outputs));
}

fn dense_project_t_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = dfma_reference::ops::dense_project::key_of(&inputs[1]);
    cpu::dense_project::dense_project_t(key, inputs[0].as_f32().expect("s is f32"), f32_out(outputs));
}

fn int4_g128_gemv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = inputs[0].as_u8().expect("w is u8");
    let sz = inputs[1].as_u8().expect("sz is u8");
    let x = inputs[2].as_f32().expect("x is f32");
    cpu::int4_g128_gemv::int4_g128_gemv(w, sz, x, f32_out(outputs), rows, cols, batch);
}

fn count_sketch_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = dfma_reference::ops::dense_project::key_of(&inputs[1]);
    cpu::count_sketch::count_sketch(key, inputs[0].as_f32().expect("g is f32"), dims.get("c"), f32_out(outputs));
}
