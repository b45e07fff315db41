//! The `wgpu` backend: WGSL kernels on any adapter wgpu finds (Vulkan, Metal, DX12), including
//! Mesa's lavapipe ("llvmpipe") on a machine without a GPU.
//!
//! Adapter choice: `DFMA_WGPU_ADAPTER` (or `--adapter`) selects by index or by a case-insensitive
//! substring of the name; otherwise a discrete GPU, then an integrated one, then anything else.

mod adapters;
mod flush;
mod prepared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dfma_reference::{Dims, Tensor};

pub use adapters::{AdapterSummary, list_adapters};

use crate::backend::{Backend, BackendKind, DeviceInfo, Error, Prepared};
use crate::registry::{GpuKernel, KernelImpl, KernelSpec};

/// Environment variable naming the adapter to use (index or name substring).
pub const ADAPTER_ENV: &str = "DFMA_WGPU_ADAPTER";

/// An open wgpu device and its compiled pipelines.
pub struct WgpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: DeviceInfo,
    /// Keyed by (source file, entry point): a two-pass kernel has two entries in one file.
    pipelines: Mutex<HashMap<(&'static str, &'static str), Arc<wgpu::ComputePipeline>>>,
    /// Whether the device times passes with timestamp queries.
    timestamps: bool,
    /// Read before a cold sample: twice [`GPU_CACHE_BYTES`] on a GPU.
    flush: flush::CacheFlush,
    /// What [`Backend::cache_bytes`] reports.
    cache_bytes: u64,
}

/// wgpu does not report cache sizes: a bound on NVIDIA's and Intel's GPU L2s to date (126 MB
/// on a B200, 60 MiB on an H200), which the flush reads twice over. An AMD GPU's Infinity Cache
/// can be larger (256 MB on an MI300X); there `--mode streamed`, whose span `--streamed-span-mb`
/// sets, is the out-of-cache measurement.
const GPU_CACHE_BYTES: u64 = 128 << 20;
/// On a CPU adapter (lavapipe) the flush reads 64 MiB: a cold sample there is meant to leave
/// the private caches and most of a shared one, not to cost a pass over a whole server LLC.
const CPU_FLUSH_BYTES: u64 = 64 << 20;

fn err(e: impl std::fmt::Display) -> Error {
    Error::driver(BackendKind::Wgpu, e)
}

impl WgpuBackend {
    /// Opens the adapter chosen by `preference` (else `DFMA_WGPU_ADAPTER`, else the best one).
    pub fn open(preference: Option<&str>) -> Result<Self, Error> {
        let env = std::env::var(ADAPTER_ENV).ok();
        let preference = preference.or(env.as_deref());
        let (adapter, summary) = adapters::select(preference)?;
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let on_cpu = adapter.get_info().device_type == wgpu::DeviceType::Cpu;
        let required_features = if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("dfma"),
            required_features,
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| Error::Unavailable(format!("{}: request_device failed: {e}", summary.name)))?;
        let limits = adapter.limits();
        let info = DeviceInfo {
            name: summary.name.clone(),
            driver: summary.driver.clone(),
            details: vec![
                ("api".into(), summary.backend.clone()),
                ("type".into(), summary.device_type.clone()),
                ("max_storage_binding_bytes".into(), limits.max_storage_buffer_binding_size.to_string()),
                ("timestamp_queries".into(), timestamps.to_string()),
            ],
        };
        let (flush_bytes, cache_bytes) =
            if on_cpu { (CPU_FLUSH_BYTES, CPU_FLUSH_BYTES) } else { (2 * GPU_CACHE_BYTES, GPU_CACHE_BYTES) };
        let flush = flush::CacheFlush::new(
            &device,
            flush_bytes.min(limits.max_buffer_size),
            limits.max_storage_buffer_binding_size,
        )?;
        let cache_bytes = cache_bytes.min(flush.bytes());
        Ok(Self { device, queue, info, pipelines: Mutex::new(HashMap::new()), timestamps, flush, cache_bytes })
    }

    /// The compute pipeline of `k`, compiled once per device.
    fn pipeline(&self, k: &GpuKernel, entry: &'static str) -> Result<Arc<wgpu::ComputePipeline>, Error> {
        let mut cache = self.pipelines.lock().expect("pipeline cache poisoned");
        if let Some(p) = cache.get(&(k.source.file, entry)) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(k.source.file),
            source: wgpu::ShaderSource::Wgsl(k.source.text.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(err(format!("{} ({entry}): {e}", k.source.file)));
        }
        let p = Arc::new(pipeline);
        cache.insert((k.source.file, entry), p.clone());
        Ok(p)
    }
}

impl Backend for WgpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wgpu
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
        let KernelImpl::Wgsl(k) = &kernel.imp else {
            return Err(Error::WrongBackend { kernel: kernel.id(), backend: BackendKind::Wgpu });
        };
        let pipeline = self.pipeline(k, k.entry)?;
        let later = k
            .later_passes()
            .map(|t| Ok((self.pipeline(k, t.entry)?, (t.grid)(dims))))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Box::new(prepared::WgpuPrepared::new(self, kernel, k, pipeline, later, dims, inputs)?))
    }

    fn flush_caches(&self) -> Result<(), Error> {
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("flush") });
        self.flush.encode(&mut enc);
        self.queue.submit([enc.finish()]);
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(err)?;
        Ok(())
    }

    /// wgpu does not report cache sizes: [`GPU_CACHE_BYTES`] on a GPU, the flush's bytes on a
    /// CPU adapter.
    fn cache_bytes(&self) -> u64 {
        self.cache_bytes
    }
}
