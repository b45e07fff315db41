//! The `reference` and `cpu` backends: kernels that run on the host, in place.

use dfma_reference::{Dims, Tensor};

use crate::backend::{Backend, BackendKind, DeviceInfo, Error, Prepared, TimingMethod};
use crate::registry::{KernelImpl, KernelSpec};
use crate::resident::InputSlots;

/// Bytes read to evict the CPU caches before a cold sample, at least: what is assumed where sysfs
/// reports no cache.
pub const MIN_FLUSH_BYTES: usize = 64 << 20;
/// At most this many bytes are read (a VM may report its host's whole L3).
pub const MAX_FLUSH_BYTES: usize = 2 << 30;

/// The buffer a cold sample reads: twice the last-level cache, within [`MIN_FLUSH_BYTES`] and
/// [`MAX_FLUSH_BYTES`], made at the first cold sample and shared by both host backends. A read,
/// not a write: a write would leave the caches full of dirty lines whose write-back the timed
/// launch would pay for.
static FLUSH: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();

/// The flush's bytes on this machine.
fn flush_bytes() -> usize {
    let llc = last_level_cache_bytes().map_or(0, |b| usize::try_from(b).unwrap_or(usize::MAX));
    llc.saturating_mul(2).clamp(MIN_FLUSH_BYTES, MAX_FLUSH_BYTES)
}

/// Runs `f` on a worker of the rayon pool (at once when this thread is one): every parallel
/// loop inside then starts from a worker, which takes its share at once while the others steal
/// theirs, instead of handing the loop to the pool and sleeping until it is done. One hand-over
/// for all of `f` instead of one per loop, each a wake-up each way (about 10 µs on a 2-core VM,
/// more than a small GEMV takes). The runtime's forward passes, the host backend's timed
/// launches and the bench's streamed host rotations run this way.
pub fn on_the_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() { f() } else { rayon::scope(|_| f()) }
}

/// A host backend (`reference` or `cpu`).
pub struct HostBackend {
    kind: BackendKind,
    device: DeviceInfo,
}

impl HostBackend {
    /// Opens the host backend of `kind` (`Reference` or `Cpu`).
    pub fn new(kind: BackendKind) -> Self {
        assert!(matches!(kind, BackendKind::Reference | BackendKind::Cpu), "{kind} is not a host backend");
        let threads = rayon::current_num_threads();
        let simd = simd_features();
        let device = DeviceInfo {
            name: cpu_model_name().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            driver: format!("rust {}", std::env::consts::ARCH),
            details: vec![("threads".into(), threads.to_string()), ("simd".into(), simd)],
        };
        Self { kind, device }
    }
}

impl Backend for HostBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn device(&self) -> &DeviceInfo {
        &self.device
    }

    fn prepare<'a>(
        &'a self,
        kernel: &'static KernelSpec,
        dims: &Dims,
        inputs: &[Tensor],
    ) -> Result<Box<dyn Prepared + 'a>, Error> {
        if !kernel.backends().contains(&self.kind) {
            return Err(Error::WrongBackend { kernel: kernel.id(), backend: self.kind });
        }
        let outputs = kernel
            .op
            .outputs()
            .iter()
            .zip(kernel.op.output_shapes(dims))
            .map(|(spec, shape)| Tensor::poisoned(spec.dtype, shape))
            .collect();
        let slots = InputSlots::new(kernel, inputs);
        Ok(Box::new(HostPrepared { kernel, dims: dims.clone(), inputs: inputs.to_vec(), outputs, slots }))
    }

    fn flush_caches(&self) -> Result<(), Error> {
        use rayon::prelude::*;
        let buf = FLUSH.get_or_init(|| (0..flush_bytes() as u64 / 8).map(|i| i ^ 0x5555).collect());
        let sum = buf
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, v| a.wrapping_add(*v)))
            .reduce(|| 0, u64::wrapping_add);
        std::hint::black_box(sum);
        Ok(())
    }

    /// The last-level cache as sysfs reports it for CPU 0, else [`MIN_FLUSH_BYTES`] (above
    /// 1 GiB the cold flush, capped at [`MAX_FLUSH_BYTES`], covers less than twice it).
    fn cache_bytes(&self) -> u64 {
        last_level_cache_bytes().unwrap_or(MIN_FLUSH_BYTES as u64)
    }
}

/// The largest cache of CPU 0 in sysfs (`cache/index*/size`, e.g. "491520K"), where Linux
/// exposes it. A VM may report its host's whole L3.
fn last_level_cache_bytes() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("index"))
        .filter_map(|e| std::fs::read_to_string(e.path().join("size")).ok())
        .filter_map(|s| parse_cache_size(s.trim()))
        .max()
}

/// "491520K" → 503316480; "32M" → 33554432; a plain number is bytes.
fn parse_cache_size(s: &str) -> Option<u64> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

struct HostPrepared {
    kernel: &'static KernelSpec,
    dims: Dims,
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
    /// Input shapes, to check a rewrite.
    slots: InputSlots,
}

impl Prepared for HostPrepared {
    fn poison_outputs(&mut self) -> Result<(), Error> {
        for o in &mut self.outputs {
            *o = Tensor::poisoned(o.dtype(), o.shape.clone());
        }
        Ok(())
    }

    fn launch(&mut self) -> Result<(), Error> {
        match self.kernel.imp {
            KernelImpl::Reference => {
                let out = self.kernel.op.reference(&self.dims, &self.inputs);
                for (dst, src) in self.outputs.iter_mut().zip(out) {
                    *dst = src;
                }
            }
            KernelImpl::Cpu(f) => f(&self.dims, &self.inputs, &mut self.outputs),
            KernelImpl::Ptx(_) | KernelImpl::Wgsl(_) => unreachable!("checked in prepare"),
        }
        Ok(())
    }

    fn synchronize(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// On a worker of the thread pool ([`on_the_pool`]), as the runtime runs its forward
    /// passes: the hand-over happens once a sample, outside the clock.
    fn time_launches(&mut self, count: u32) -> Result<(f64, TimingMethod), Error> {
        let timed = || -> Result<f64, Error> {
            let t = std::time::Instant::now();
            for _ in 0..count {
                self.launch()?;
            }
            Ok(t.elapsed().as_secs_f64())
        };
        let s = on_the_pool(timed)?;
        Ok((s, TimingMethod::HostClockOnPool))
    }

    fn read_outputs(&mut self) -> Result<Vec<Tensor>, Error> {
        Ok(self.outputs.clone())
    }

    fn write_input(&mut self, input: usize, t: &Tensor) -> Result<(), Error> {
        self.slots.check(input, t)?;
        self.inputs[input].clone_from(t);
        Ok(())
    }
}

/// The CPU's model name from `/proc/cpuinfo` (Linux), if readable.
fn cpu_model_name() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
}

fn simd_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = Vec::new();
        if std::arch::is_x86_feature_detected!("avx2") {
            f.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            f.push("fma");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            f.push("avx512f");
        }
        if f.is_empty() { "sse2".into() } else { f.join(",") }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "portable".into()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cache_size;

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("491520K"), Some(491_520 << 10));
        assert_eq!(parse_cache_size("32M"), Some(32 << 20));
        assert_eq!(parse_cache_size("1G"), Some(1 << 30));
        assert_eq!(parse_cache_size("4096"), Some(4096));
        assert_eq!(parse_cache_size("K"), None);
        assert_eq!(parse_cache_size(""), None);
        assert_eq!(parse_cache_size("12Q"), None);
        assert_eq!(parse_cache_size("18446744073709551615K"), None, "overflow is no size");
    }
}
