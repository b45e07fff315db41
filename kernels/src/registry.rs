//! The kernel registry: every implementation of every op, with the backends it runs on.
//!
//! Adding a kernel: put its source in `kernels/ptx` or `kernels/wgsl`, embed it in
//! [`crate::sources`], and add one [`KernelSpec`] to [`KERNELS`]. The test matrix, `dfma op`,
//! `dfma ptx check` and `dfma bench` pick it up from here.

use dfma_reference::ops::q8_0_gemv::Q8_0Gemv;
use dfma_reference::{Dims, Op, Tensor, cpu};

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
    /// SASS substrings `dfma ptx check` requires (e.g. `LDG.E.128`); empty for WGSL.
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
        imp: KernelImpl::Ptx(GpuKernel {
            source: sources::Q8_0_GEMV_PTX,
            entry: "q8_0_gemv",
            buffers: layout::q8_0_gemv_buffers,
            grid: rows_per_block_grid::<4>,
            sass_must_contain: &["LDG.E.128"],
        }),
    },
    KernelSpec {
        op: &Q8_0Gemv,
        variant: "lanes32_per_row",
        imp: KernelImpl::Wgsl(GpuKernel {
            source: sources::Q8_0_GEMV_WGSL,
            entry: "q8_0_gemv",
            buffers: layout::q8_0_gemv_buffers,
            grid: rows_per_block_grid::<4>,
            sass_must_contain: &[],
        }),
    },
];

/// Kernels that run on `backend`.
pub fn for_backend(backend: BackendKind) -> impl Iterator<Item = &'static KernelSpec> {
    KERNELS.iter().filter(move |k| k.backends().contains(&backend))
}

/// Kernels of the op called `op` that run on `backend`.
pub fn find(op: &str, backend: BackendKind) -> impl Iterator<Item = &'static KernelSpec> {
    for_backend(backend).filter(move |k| k.op.name() == op)
}

/// Grid of 32 threads per row, `R` rows per block, one block per `R` rows.
fn rows_per_block_grid<const R: u32>(dims: &Dims) -> Grid {
    let rows = u32::try_from(dims.get("rows")).expect("rows exceed u32");
    Grid { blocks: [rows.div_ceil(R), 1, 1], threads: [32 * R, 1, 1] }
}

fn q8_0_gemv_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = inputs[0].as_u8().expect("w is u8");
    let x = inputs[1].as_f32().expect("x is f32");
    let dfma_reference::TensorData::F32(y) = &mut outputs[0].data else { panic!("y is f32") };
    cpu::q8_0_gemv::q8_0_gemv(w, x, y, rows, cols, batch);
}
