//! NVIDIA GPUs through NVML (`libnvidia-ml`, loaded at run time by `nvml-wrapper`).
//!
//! Volta and newer have a total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ
//! since the driver loaded, refreshed every 20–100 ms). Where it is not supported, power
//! (`nvmlDeviceGetPowerUsage`, mW) is sampled on a background thread and integrated; the
//! meter's [`Method`] says which was used. On H100 the power reading is a one-second average,
//! so the counter is much preferred there. No NVIDIA driver is not a panic: opening returns an
//! error saying the library could not be loaded.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::Clock;
use nvml_wrapper::error::NvmlError;
use serde::Serialize;

use super::error::EnergyError;
use super::meter::{DomainEnergy, EnergyMeter, EnergyReading, MeterKind, Method, Scope};
use super::power_sampling::PowerSampler;

/// NVML's energy counter is refreshed every 20–100 ms; the slow end bounds a window's error.
const NVML_COUNTER_UPDATE_PERIOD_S: f64 = 0.1;

/// Turns an NVML error into an [`EnergyError`] with a hint for the common cases.
fn nvml_error(call: impl Into<String>, error: NvmlError) -> EnergyError {
    let message = match &error {
        NvmlError::LibloadingError(e) => {
            format!("libnvidia-ml could not be loaded (no NVIDIA driver installed?): {e}")
        }
        NvmlError::DriverNotLoaded => "the NVIDIA kernel driver is not loaded".to_string(),
        NvmlError::NotSupported => "not supported on this GPU".to_string(),
        NvmlError::NoPermission => "permission denied by the NVIDIA driver".to_string(),
        other => other.to_string(),
    };
    EnergyError::Nvml { call: call.into(), message }
}

/// Loads NVML. `library` overrides the shared library (default: `libnvidia-ml.so.1`, found
/// through the dynamic loader's search path).
pub fn init_nvml(library: Option<&OsStr>) -> Result<Arc<Nvml>, EnergyError> {
    let mut builder = Nvml::builder();
    if let Some(library) = library {
        builder.lib_path(library);
    }
    builder.init().map(Arc::new).map_err(|e| nvml_error("init", e))
}

/// Clocks and clock-limiting reasons of a GPU at one moment, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuClocks {
    /// The streaming-multiprocessor clock, MHz.
    pub sm_mhz: Option<u32>,
    /// The memory clock, MHz.
    pub memory_mhz: Option<u32>,
    /// Why clocks are below their maximum right now (NVML's throttle reasons, renamed "clock
    /// event reasons" in recent NVML), e.g. `["SW_POWER_CAP"]`; empty when nothing limits
    /// them; `None` when NVML cannot tell.
    pub throttle_reasons: Option<Vec<String>>,
}

/// Where the joules come from.
#[derive(Debug)]
enum Source {
    Counter,
    Sampled(PowerSampler),
}

/// One NVIDIA GPU, as a meter with one domain "gpuN".
pub struct NvmlMeter {
    nvml: Arc<Nvml>,
    index: u32,
    name: String,
    domains: Vec<String>,
    source: Source,
}

impl std::fmt::Debug for NvmlMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlMeter")
            .field("index", &self.index)
            .field("name", &self.name)
            .field("source", &self.source)
            .finish()
    }
}

impl NvmlMeter {
    /// Opens GPU `index` with the default NVML library.
    pub fn open(index: u32, sample_period: Duration) -> Result<Self, EnergyError> {
        Self::open_with(init_nvml(None)?, index, sample_period)
    }

    /// Opens GPU `index` of an initialized NVML: the energy counter where the GPU has one,
    /// otherwise power sampled every `sample_period` (started here).
    pub fn open_with(nvml: Arc<Nvml>, index: u32, sample_period: Duration) -> Result<Self, EnergyError> {
        let domain = format!("gpu{index}");
        let device = nvml.device_by_index(index).map_err(|e| nvml_error(format!("open {domain}"), e))?;
        let model = device.name().unwrap_or_else(|_| "unknown model".to_string());
        let source = match device.total_energy_consumption() {
            Ok(_) => Source::Counter,
            Err(NvmlError::NotSupported) => {
                let poll_nvml = Arc::clone(&nvml);
                let poll_domain = domain.clone();
                let sampler = PowerSampler::spawn(sample_period, move || {
                    let call = || format!("power_usage({poll_domain})");
                    let device = poll_nvml.device_by_index(index).map_err(|e| nvml_error(call(), e))?;
                    let mw = device.power_usage().map_err(|e| nvml_error(call(), e))?;
                    Ok(f64::from(mw) * 1e-3)
                })?;
                Source::Sampled(sampler)
            }
            Err(e) => return Err(nvml_error(format!("total_energy_consumption({domain})"), e)),
        };
        Ok(NvmlMeter { name: format!("nvml:{domain} ({model})"), domains: vec![domain], nvml, index, source })
    }

    /// Opens every GPU NVML sees. Fails only when NVML itself cannot be loaded or counted;
    /// per-GPU failures are returned beside the meters that opened.
    pub fn open_all(
        library: Option<&OsStr>,
        sample_period: Duration,
    ) -> Result<(Vec<NvmlMeter>, Vec<EnergyError>), EnergyError> {
        let nvml = init_nvml(library)?;
        let count = nvml.device_count().map_err(|e| nvml_error("device_count", e))?;
        let mut meters = Vec::new();
        let mut failures = Vec::new();
        for index in 0..count {
            match Self::open_with(Arc::clone(&nvml), index, sample_period) {
                Ok(meter) => meters.push(meter),
                Err(e) => failures.push(e),
            }
        }
        Ok((meters, failures))
    }

    /// The GPU's index in NVML's enumeration.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The current SM and memory clocks and throttle reasons, or `None` when NVML can give
    /// none of them (each field is `None` on its own when only that query fails). Also
    /// reachable through [`EnergyMeter::gpu_clocks`].
    pub fn clocks(&self) -> Option<GpuClocks> {
        let device = self.nvml.device_by_index(self.index).ok()?;
        let clocks = GpuClocks {
            sm_mhz: device.clock_info(Clock::SM).ok(),
            memory_mhz: device.clock_info(Clock::Memory).ok(),
            throttle_reasons: device.current_throttle_reasons().ok().map(|reasons| {
                reasons.iter_names().map(|(name, _)| name.to_string()).filter(|name| name != "NONE").collect()
            }),
        };
        let empty = clocks.sm_mhz.is_none() && clocks.memory_mhz.is_none() && clocks.throttle_reasons.is_none();
        (!empty).then_some(clocks)
    }
}

impl EnergyMeter for NvmlMeter {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> MeterKind {
        MeterKind::Measured
    }

    fn method(&self) -> Method {
        match &self.source {
            Source::Counter => Method::EnergyCounter,
            Source::Sampled(sampler) => Method::PowerSampling { period_s: sampler.period().as_secs_f64() },
        }
    }

    fn scope(&self) -> Scope {
        Scope::Gpu
    }

    fn domains(&self) -> &[String] {
        &self.domains
    }

    fn update_period_s(&self) -> f64 {
        match &self.source {
            Source::Counter => NVML_COUNTER_UPDATE_PERIOD_S,
            Source::Sampled(sampler) => sampler.period().as_secs_f64(),
        }
    }

    fn gpu_clocks(&self) -> Option<GpuClocks> {
        self.clocks()
    }

    fn read(&self) -> Result<EnergyReading, EnergyError> {
        let domain = &self.domains[0];
        let (at, energy_j) = match &self.source {
            Source::Counter => {
                let call = || format!("total_energy_consumption({domain})");
                let device = self.nvml.device_by_index(self.index).map_err(|e| nvml_error(call(), e))?;
                let mj = device.total_energy_consumption().map_err(|e| nvml_error(call(), e))?;
                (Instant::now(), mj as f64 * 1e-3)
            }
            Source::Sampled(sampler) => sampler.cumulative()?,
        };
        Ok(EnergyReading { at, domains: vec![DomainEnergy { domain: domain.clone(), energy_j, wrap_j: None }] })
    }
}
