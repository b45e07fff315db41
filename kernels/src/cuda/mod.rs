//! The `cuda` backend: the PTX of `kernels/ptx`, loaded at run time by the CUDA driver through
//! cudarc's driver API. libcuda is loaded dynamically, so dfma builds and runs without CUDA; a
//! machine with no driver or no device gets "not available: <reason>", never a panic.

mod prepared;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, result, sys};
use dfma_reference::{Dims, Tensor};

use crate::backend::{Backend, BackendKind, DeviceInfo, Error, Prepared};
use crate::registry::{GpuKernel, KernelImpl, KernelSpec};

/// An open CUDA device with its stream and loaded modules.
pub struct CudaBackend {
    stream: Arc<CudaStream>,
    info: DeviceInfo,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    /// Twice the L2 size; zeroed before a cold sample (a memset goes through L2 and evicts it).
    flush: Mutex<CudaSlice<u8>>,
    /// The L2's bytes, as the driver reports them.
    l2_bytes: u64,
}

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
            let flush = stream.alloc_zeros::<u8>((2 * l2.max(1 << 20)) as usize).map_err(err)?;
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
            Ok(Self { stream, info, functions: Mutex::new(HashMap::new()), flush: Mutex::new(flush), l2_bytes })
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
        let mut buf = self.flush.lock().expect("flush buffer poisoned");
        self.stream.memset_zeros(&mut *buf).map_err(err)?;
        self.stream.synchronize().map_err(err)
    }

    fn cache_bytes(&self) -> u64 {
        self.l2_bytes
    }
}
