//! The `cuda` backend: the PTX of `kernels/ptx`, loaded at run time by the CUDA driver through
//! cudarc's driver API. libcuda is loaded dynamically, so dfma builds and runs without CUDA; a
//! machine with no driver or no device gets "not available: <reason>", never a panic.

mod prepared;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg, result, sys};
use dfma_reference::{Dims, Tensor};

use crate::backend::{Backend, BackendKind, DeviceInfo, Error, Prepared};
use crate::registry::{GpuKernel, KernelImpl, KernelSpec};
use crate::sources::CACHE_FLUSH_PTX;

/// An open CUDA device with its stream and loaded modules.
pub struct CudaBackend {
    stream: Arc<CudaStream>,
    info: DeviceInfo,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    /// Twice the L2 size of zeros, read through L2 before a cold sample (`cache_flush.ptx`):
    /// it leaves L2 holding clean lines of this buffer, so the timed launch neither finds its
    /// inputs there nor pays for writing back the flush's lines. With the flush's sink.
    flush: Mutex<CacheFlush>,
    /// The flush kernel.
    flush_fn: CudaFunction,
    /// The L2's bytes, as the driver reports them.
    l2_bytes: u64,
}

/// The cache flush's buffers.
struct CacheFlush {
    /// Zeros, a whole number of 16-byte words.
    buffer: CudaSlice<u8>,
    /// Where a non-zero fold would be xored (never, since the buffer holds zeros).
    sink: CudaSlice<u32>,
}

/// Threads a block and words a thread of the flush's launch.
const FLUSH_THREADS: u32 = 256;
const FLUSH_WORDS_PER_THREAD: u32 = 8;

fn err(e: impl std::fmt::Display) -> Error {
    Error::driver(BackendKind::Cuda, e)
}

/// Runs `f`, turning a panic inside cudarc (a missing driver symbol) into `Unavailable`.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(Error::Unavailable(format!("{what}: the CUDA driver is unusable: {msg}")))
    })
}

/// Whether libcuda can be loaded, without panicking when it cannot.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library names; no symbol is called.
    unsafe { sys::is_culib_present() }
}

/// The CUDA driver version as "major.minor", if a driver is present.
pub fn driver_version() -> Result<String, Error> {
    if !driver_present() {
        return Err(Error::Unavailable("libcuda not found (no NVIDIA driver installed)".into()));
    }
    guarded("cuDriverGetVersion", || {
        let mut v = 0i32;
        // SAFETY: cuDriverGetVersion writes one int through a valid pointer.
        unsafe { sys::cuDriverGetVersion(&mut v) }.result().map_err(err)?;
        Ok(format!("{}.{}", v / 1000, (v % 1000) / 10))
    })
}

/// The number of CUDA devices, or why there are none.
pub fn device_count() -> Result<usize, Error> {
    if !driver_present() {
        return Err(Error::Unavailable("libcuda not found (no NVIDIA driver installed)".into()));
    }
    guarded("cuInit", || {
        result::init().map_err(|e| Error::Unavailable(format!("cuInit failed: {e:?}")))?;
        let n = CudaContext::device_count().map_err(|e| Error::Unavailable(format!("cuDeviceGetCount: {e:?}")))?;
        Ok(n.max(0) as usize)
    })
}

impl CudaBackend {
    /// Opens CUDA device `ordinal`.
    pub fn open(ordinal: usize) -> Result<Self, Error> {
        let n = device_count()?;
        if n == 0 {
            return Err(Error::Unavailable("the CUDA driver reports no device".into()));
        }
        if ordinal >= n {
            return Err(Error::Unavailable(format!("CUDA device {ordinal} requested, {n} present")));
        }
        let driver = driver_version()?;
        guarded("cuCtxCreate", || {
            let ctx = CudaContext::new(ordinal).map_err(|e| Error::Unavailable(format!("context creation: {e:?}")))?;
            let name = ctx.name().map_err(err)?;
            let (major, minor) = ctx.compute_capability().map_err(err)?;
            let mem = ctx.total_mem().map_err(err)?;
            let l2 = ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE).map_err(err)?;
            let stream = ctx.default_stream();
            let flush_bytes = (2 * l2.max(1 << 20)) as usize;
            let flush = CacheFlush {
                buffer: stream.alloc_zeros::<u8>(flush_bytes.next_multiple_of(16)).map_err(err)?,
                sink: stream.alloc_zeros::<u32>(1).map_err(err)?,
            };
            let flush_fn = ctx
                .load_module(cudarc::nvrtc::Ptx::from_src(CACHE_FLUSH_PTX.text))
                .and_then(|m| m.load_function("cache_flush"))
                .map_err(|e| err(format!("loading {}: {e:?}", CACHE_FLUSH_PTX.file)))?;
            let info = DeviceInfo {
                name,
                driver: format!("CUDA driver {driver}"),
                details: vec![
                    ("compute_capability".into(), format!("sm_{major}{minor}")),
                    ("memory_bytes".into(), mem.to_string()),
                    ("l2_bytes".into(), l2.to_string()),
                ],
            };
            let l2_bytes = u64::try_from(l2).unwrap_or(0);
            Ok(Self {
                stream,
                info,
                functions: Mutex::new(HashMap::new()),
                flush: Mutex::new(flush),
                flush_fn,
                l2_bytes,
            })
        })
    }

    /// The kernel's function, its module loaded (JIT-compiled by the driver) once.
    fn function(&self, k: &GpuKernel) -> Result<CudaFunction, Error> {
        self.function_named(k, k.entry)
    }

    /// Entry `entry` of `k`'s source (a two-pass kernel's second entry shares the file).
    fn function_named(&self, k: &GpuKernel, entry: &'static str) -> Result<CudaFunction, Error> {
        let mut cache = self.functions.lock().expect("function cache poisoned");
        if let Some(f) = cache.get(entry) {
            return Ok(f.clone());
        }
        let module = self
            .stream
            .context()
            .load_module(cudarc::nvrtc::Ptx::from_src(k.source.text))
            .map_err(|e| err(format!("loading {}: {e:?}", k.source.file)))?;
        let f = module.load_function(entry).map_err(|e| err(format!("{entry} in {}: {e:?}", k.source.file)))?;
        cache.insert(entry, f.clone());
        Ok(f)
    }
}

impl Backend for CudaBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
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
        let KernelImpl::Ptx(k) = &kernel.imp else {
            return Err(Error::WrongBackend { kernel: kernel.id(), backend: BackendKind::Cuda });
        };
        let f = self.function(k)?;
        let later = k
            .later_passes()
            .map(|t| Ok((self.function_named(k, t.entry)?, (t.grid)(dims))))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Box::new(prepared::CudaPrepared::new(self.stream.clone(), kernel, k, f, later, dims, inputs)?))
    }

    fn flush_caches(&self) -> Result<(), Error> {
        let mut flush = self.flush.lock().expect("flush buffer poisoned");
        let CacheFlush { buffer, sink } = &mut *flush;
        let words = u32::try_from(buffer.len() / 16).map_err(err)?;
        let blocks = words.div_ceil(FLUSH_THREADS * FLUSH_WORDS_PER_THREAD).max(1);
        let mut b = self.stream.launch_builder(&self.flush_fn);
        b.arg(&*buffer).arg(&words).arg(sink);
        let cfg = LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (FLUSH_THREADS, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: cache_flush takes (buf, words, sink) as declared in its PTX; `words` 16-byte
        // words fit in `buffer`, and `sink` holds the one u32 it may xor into.
        unsafe { b.launch(cfg) }.map_err(err)?;
        self.stream.synchronize().map_err(err)
    }

    fn cache_bytes(&self) -> u64 {
        self.l2_bytes
    }
}
