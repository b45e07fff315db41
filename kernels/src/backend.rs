//! The backend traits: a backend prepares a kernel on inputs once, then launches it any number
//! of times. Tests poison, launch once and read; benches launch many times between syncs.

use std::fmt;

use dfma_reference::{Dims, Tensor};

use crate::registry::KernelSpec;

/// The backends dfma knows. Every one exists in every build; one that cannot run here says why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendKind {
    /// The plain CPU reference (f64 accumulation).
    Reference,
    /// Fast CPU kernels (rayon + SIMD).
    Cpu,
    /// WGSL kernels through wgpu on any adapter (Vulkan, Metal, DX12; lavapipe on a CPU).
    Wgpu,
    /// PTX kernels through the CUDA driver API (cudarc).
    Cuda,
    /// The same PTX text interpreted on the CPU.
    Ptxvm,
}

impl BackendKind {
    /// Every backend, in report order.
    pub const ALL: [BackendKind; 5] =
        [BackendKind::Reference, BackendKind::Cpu, BackendKind::Wgpu, BackendKind::Cuda, BackendKind::Ptxvm];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Reference => "reference",
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
            BackendKind::Ptxvm => "ptxvm",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What a backend runs on, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device or adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Driver and API versions, as the backend reports them.
    pub driver: String,
    /// Extra facts (device type, compute capability, cores).
    pub details: Vec<(String, String)>,
}

/// A backend error. `Unavailable` is not a failure of a kernel: the backend cannot run here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The backend cannot run on this machine; the reason says why.
    #[error("not available: {0}")]
    Unavailable(String),
    /// The kernel is not registered for this backend.
    #[error("{kernel} does not run on {backend}")]
    WrongBackend {
        /// Kernel id.
        kernel: String,
        /// Backend asked to run it.
        backend: BackendKind,
    },
    /// The caller passed an input a prepared kernel cannot take (e.g. a rewrite of another
    /// shape): a usage error, not a failure of the kernel or the driver.
    #[error("{kernel}: {message}")]
    Input {
        /// Kernel id.
        kernel: String,
        /// What is wrong, in one line.
        message: String,
    },
    /// The driver or runtime failed.
    #[error("{backend}: {message}")]
    Driver {
        /// Backend that failed.
        backend: BackendKind,
        /// What failed, in one line.
        message: String,
    },
}

impl Error {
    /// A driver error of `backend`.
    pub fn driver(backend: BackendKind, message: impl fmt::Display) -> Self {
        Error::Driver { backend, message: message.to_string() }
    }
}

/// How a launch was timed; reports carry it next to every number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingMethod {
    /// Host monotonic clock around the launches and a full synchronize (submit-and-wait).
    HostClock,
    /// Host monotonic clock around the launches, on a worker of the cpu thread pool: each
    /// launch's parallel loop starts from a worker, as the runtime's forward passes call them,
    /// instead of handing the loop to the pool and sleeping until it is done.
    HostClockOnPool,
    /// CUDA events recorded on the stream before and after the launches.
    CudaEvents,
    /// wgpu timestamp queries at the beginning and end of the compute pass.
    WgpuTimestamps,
}

impl TimingMethod {
    /// Description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            TimingMethod::HostClock => "host clock around launch + synchronize (submit-and-wait)",
            TimingMethod::HostClockOnPool => "host clock around the launches, on a worker of the thread pool",
            TimingMethod::CudaEvents => "CUDA events on the stream",
            TimingMethod::WgpuTimestamps => "wgpu timestamp queries around the compute pass",
        }
    }
}

/// A backend: opened once per device, prepares kernels on inputs.
pub trait Backend: Send + Sync {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// The device it runs on.
    fn device(&self) -> &DeviceInfo;
    /// Uploads `inputs` (already validated by the op: `dims` came from `op.dims_of(inputs)`)
    /// in the kernel's device layout and allocates outputs.
    fn prepare<'a>(
        &'a self,
        kernel: &'static KernelSpec,
        dims: &Dims,
        inputs: &[Tensor],
    ) -> Result<Box<dyn Prepared + 'a>, Error>;
    /// Evicts the device's caches (GPU L2, CPU last-level cache) by touching a preallocated
    /// buffer larger than them, so the next launch starts cold. Waits until done.
    fn flush_caches(&self) -> Result<(), Error>;
    /// Bytes of the largest cache that keeps a launch's inputs between launches, as far as the
    /// backend knows it: the GPU's L2 where the driver reports it, else the size the cache
    /// flush assumes to exceed every cache. 0 where there is none (an interpreter). A
    /// streamed benchmark rotates over enough copies of its inputs to exceed it several times.
    fn cache_bytes(&self) -> u64;
}

/// A kernel bound to device-resident inputs and outputs.
///
/// `Send`, so that a model holding its prepared kernels can move between threads; every
/// backend's state (device buffers, streams, interpreter memory) already is.
pub trait Prepared: Send {
    /// Fills every output with poison (NaN for floats) so unwritten elements cannot pass.
    fn poison_outputs(&mut self) -> Result<(), Error>;
    /// Enqueues one launch (host backends run it to completion).
    fn launch(&mut self) -> Result<(), Error>;
    /// Waits until every enqueued launch has finished.
    fn synchronize(&mut self) -> Result<(), Error>;
    /// Copies the outputs back to the host. Call [`Prepared::synchronize`] first; outputs
    /// are not poisoned again here, so a read after a launch sees exactly what it wrote.
    fn read_outputs(&mut self) -> Result<Vec<Tensor>, Error>;
    /// Replaces op input `input` with `t` for the next launch (in stream order: launches
    /// already enqueued still see the old value), leaving every other input resident. This is
    /// how one prepared kernel runs on new activations without uploading its weights again.
    ///
    /// `t` must have the dtype and shape of the tensor the kernel was prepared with, so the
    /// dims, the device buffer's size and the launch geometry all still hold. GPU backends copy
    /// it straight into the device buffer that [`crate::registry::GpuKernel::inputs_as_is`]
    /// declares for it, and refuse an input the kernel's layout repacks ([`Error::Input`]);
    /// host backends take any input.
    fn write_input(&mut self, input: usize, t: &Tensor) -> Result<(), Error>;
    /// Thread-level instructions the last launch executed, where the backend counts them (the
    /// PTX interpreter does; hardware backends return `None`).
    fn thread_instructions(&self) -> Option<u64> {
        None
    }
    /// Runs `count` launches back to back and returns their total time in seconds, measured
    /// on the device where the backend can, with the method used. Waits until done.
    fn time_launches(&mut self, count: u32) -> Result<(f64, TimingMethod), Error> {
        self.synchronize()?;
        let t = std::time::Instant::now();
        for _ in 0..count {
            self.launch()?;
        }
        self.synchronize()?;
        Ok((t.elapsed().as_secs_f64(), TimingMethod::HostClock))
    }
}

/// Prepares, poisons, launches once, synchronizes and reads back: one checked execution.
pub fn run_once(
    backend: &dyn Backend,
    kernel: &'static KernelSpec,
    dims: &Dims,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, Error> {
    let mut p = backend.prepare(kernel, dims, inputs)?;
    p.poison_outputs()?;
    p.launch()?;
    p.synchronize()?;
    p.read_outputs()
}
