//! The `ptxvm` backend: the exact PTX text the cuda backend loads, executed by the
//! [`dfma_ptxvm`] interpreter on the CPU. Global buffers live in host memory at synthetic device
//! addresses; outputs are poisoned with NaN; parameters follow the registry's calling convention
//! (buffers, outputs, dims as `.param .u32`). It runs everywhere, so CI checks every PTX kernel
//! against the reference without a GPU; a kernel bug the GPU would hide (out-of-bounds access,
//! divergent barrier, uninitialized shared memory) is a launch error here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The order a launch hands its blocks to the host threads ([`PtxvmBackend::with_block_order`]).
pub use dfma_ptxvm::BlockOrder;
use dfma_ptxvm::{Arg, LaunchConfig, Memory, Module, launch};
/// The interpreter's report types, for `dfma profile`.
pub use dfma_ptxvm::{Class, Counters, GlobalStats, LaunchReport, program::Program};
use dfma_reference::{DType, Dims, Tensor};

use crate::backend::{Backend, BackendKind, DeviceInfo, Error, Prepared};
use crate::registry::{GpuKernel, KernelImpl, KernelSpec};
use crate::resident::InputSlots;

fn err(e: impl std::fmt::Display) -> Error {
    Error::driver(BackendKind::Ptxvm, e)
}

/// The interpreter backend: decoded modules cached per PTX file.
pub struct PtxvmBackend {
    info: DeviceInfo,
    modules: Mutex<HashMap<&'static str, Arc<Module>>>,
    block_order: BlockOrder,
}

impl Default for PtxvmBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl PtxvmBackend {
    /// Opens the interpreter on the current rayon pool.
    pub fn new() -> Self {
        let threads = rayon::current_num_threads();
        let info = DeviceInfo {
            name: format!("ptxvm (PTX interpreter on {threads} CPU threads)"),
            driver: format!("dfma-ptxvm {}", env!("CARGO_PKG_VERSION")),
            details: vec![("threads".into(), threads.to_string())],
        };
        Self { info, modules: Mutex::new(HashMap::new()), block_order: BlockOrder::Ascending }
    }

    /// The interpreter handing every launch's blocks to the host threads in `order`. On a
    /// one-thread rayon pool, [`BlockOrder::Descending`] runs each block before every block of a
    /// lower index: a kernel whose blocks wait for one another must still finish (tests).
    pub fn with_block_order(order: BlockOrder) -> Self {
        Self { block_order: order, ..Self::new() }
    }

    /// The decoded module of `k`'s source, decoded once.
    fn module(&self, k: &GpuKernel) -> Result<Arc<Module>, Error> {
        let mut cache = self.modules.lock().expect("module cache poisoned");
        if let Some(m) = cache.get(k.source.file) {
            return Ok(m.clone());
        }
        let m = Arc::new(Module::load(k.source.file, k.source.text).map_err(err)?);
        cache.insert(k.source.file, m.clone());
        Ok(m)
    }

    /// The concrete prepared kernel (for `dfma profile`, which needs the launch counters).
    pub fn prepare_ptx(
        &self,
        kernel: &'static KernelSpec,
        dims: &Dims,
        inputs: &[Tensor],
    ) -> Result<PtxvmPrepared, Error> {
        let KernelImpl::Ptx(k) = &kernel.imp else {
            return Err(Error::WrongBackend { kernel: kernel.id(), backend: BackendKind::Ptxvm });
        };
        PtxvmPrepared::new(self.module(k)?, kernel, k, dims, inputs, self.block_order)
    }
}

impl Backend for PtxvmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Ptxvm
    }

    fn device(&self) -> &DeviceInfo {
        &self.info
    }

    fn prepare<'a>(
        &'a self,
        kernel: &'static KernelSpec,
        dims: &Dims,
        inputs: &[Tensor],
    ) -> Result<Box<dyn Prepared + 'a>, Error> {
        Ok(Box::new(self.prepare_ptx(kernel, dims, inputs)?))
    }

    /// An interpreter has no device cache to evict; host caches barely matter at its speed.
    fn flush_caches(&self) -> Result<(), Error> {
        Ok(())
    }

    fn cache_bytes(&self) -> u64 {
        0
    }
}

/// A PTX kernel bound to interpreter memory.
pub struct PtxvmPrepared {
    module: Arc<Module>,
    entry: &'static str,
    mem: Memory,
    args: Vec<Arg>,
    outputs: Vec<(u64, DType, Vec<usize>)>,
    cfg: LaunchConfig,
    /// The later passes of a multi-pass kernel, in order: entry and geometry.
    later: Vec<(&'static str, LaunchConfig)>,
    last: Option<LaunchReport>,
    /// The kernel, for the input buffers a rewrite may touch.
    kernel: GpuKernel,
    /// Input shapes, to check a rewrite.
    slots: InputSlots,
}

impl PtxvmPrepared {
    fn new(
        module: Arc<Module>,
        kernel: &'static KernelSpec,
        k: &GpuKernel,
        dims: &Dims,
        inputs: &[Tensor],
        block_order: BlockOrder,
    ) -> Result<Self, Error> {
        let config = |blocks, threads| LaunchConfig { block_order, ..LaunchConfig::new(blocks, threads) };
        let mut mem = Memory::new(&module);
        let mut args = Vec::new();
        for bytes in (k.buffers)(dims, inputs) {
            args.push(Arg::U64(mem.alloc(&bytes)));
        }
        let mut outputs = Vec::new();
        for (spec, shape) in kernel.op.outputs().iter().zip(kernel.op.output_shapes(dims)) {
            let poison = Tensor::poisoned(spec.dtype, shape.clone());
            let addr = mem.alloc(poison.as_bytes());
            args.push(Arg::U64(addr));
            outputs.push((addr, spec.dtype, shape));
        }
        args.extend(dims.as_u32_params().into_iter().map(Arg::U32));
        let g = (k.grid)(dims);
        let later = k
            .later_passes()
            .map(|t| {
                let g2 = (t.grid)(dims);
                (t.entry, config(g2.blocks, g2.threads))
            })
            .collect();
        Ok(Self {
            module,
            entry: k.entry,
            mem,
            args,
            outputs,
            cfg: config(g.blocks, g.threads),
            later,
            last: None,
            kernel: *k,
            slots: InputSlots::new(kernel, inputs),
        })
    }

    /// Counters and timing of the most recent launch.
    pub fn last_launch(&self) -> Option<&LaunchReport> {
        self.last.as_ref()
    }

    /// The decoded module (instruction lines and opcodes for per-instruction reports).
    pub fn module(&self) -> &Module {
        &self.module
    }
}

impl Prepared for PtxvmPrepared {
    fn poison_outputs(&mut self) -> Result<(), Error> {
        for (addr, dtype, shape) in &self.outputs {
            let poison = Tensor::poisoned(*dtype, shape.clone());
            if !self.mem.write(*addr, poison.as_bytes()) {
                return Err(err("output buffer vanished"));
            }
        }
        Ok(())
    }

    fn launch(&mut self) -> Result<(), Error> {
        let r = launch(&self.module, &self.mem, self.entry, self.cfg, &self.args).map_err(err)?;
        self.last = Some(r);
        for &(entry, cfg) in &self.later {
            // The counters of a multi-pass kernel are those of its first pass.
            launch(&self.module, &self.mem, entry, cfg, &self.args).map_err(err)?;
        }
        Ok(())
    }

    fn synchronize(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn thread_instructions(&self) -> Option<u64> {
        self.last.as_ref().map(|r| r.counters.thread_instructions())
    }

    fn write_input(&mut self, input: usize, t: &Tensor) -> Result<(), Error> {
        let b = self.slots.device_buffer(&self.kernel, input, t)?;
        let Some(&Arg::U64(addr)) = self.args.get(b) else {
            return Err(err(format!("device buffer {b} is not a buffer argument")));
        };
        if !self.mem.write(addr, t.as_bytes()) {
            return Err(err(format!("device buffer {b} is not {} bytes long", t.as_bytes().len())));
        }
        Ok(())
    }

    fn read_outputs(&mut self) -> Result<Vec<Tensor>, Error> {
        let mut out = Vec::new();
        for (addr, dtype, shape) in &self.outputs {
            let bytes = self.mem.read(*addr).ok_or_else(|| err("output buffer vanished"))?;
            out.push(Tensor::from_bytes(*dtype, shape.clone(), &bytes).expect("readback length matches shape"));
        }
        Ok(out)
    }
}
