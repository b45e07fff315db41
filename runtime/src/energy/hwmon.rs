//! GPU power and energy through Linux hwmon: amdgpu, and Intel's i915 and xe.
//!
//! Each `<root>/hwmonN` directory is one sensor chip, named by its `name` file. GPU drivers
//! expose (Documentation/hwmon/sysfs-interface.rst, amdgpu.rst, i915 and xe ABI docs):
//! `energy1_input` — cumulative µJ (i915, xe, some amdgpu) — preferred because it is a true
//! counter; otherwise `power1_average` or `power1_input` — µW (amdgpu), sampled and integrated.
//! Other chips (coretemp, nvme, …) are not GPUs and are skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::EnergyError;
use super::meter::{DomainEnergy, EnergyMeter, EnergyReading, MeterKind, Method, Scope};
use super::power_sampling::PowerSampler;
use super::sysfs::{RealSysfs, SysfsReader, io_error, read_trimmed, read_u64};

/// Where Linux exposes hwmon devices.
pub const HWMON_ROOT: &str = "/sys/class/hwmon";

/// The hwmon chip names of GPU drivers this meter understands.
pub const GPU_HWMON_NAMES: [&str; 3] = ["amdgpu", "i915", "xe"];

/// The files tried, in order of preference.
const ENERGY_FILE: &str = "energy1_input";
const POWER_FILES: [&str; 2] = ["power1_average", "power1_input"];

/// Where the joules come from.
#[derive(Debug)]
enum Source {
    /// `energy1_input`, µJ.
    Energy(PathBuf),
    /// `power1_*`, µW, integrated by a background thread.
    Power(PowerSampler),
}

/// One GPU's hwmon energy counter or power reading, as a meter with one domain named
/// `<driver>-hwmonN` (e.g. "amdgpu-hwmon2").
#[derive(Debug)]
pub struct HwmonMeter {
    name: String,
    domains: Vec<String>,
    source: Source,
    reader: Arc<dyn SysfsReader>,
}

/// The outcome of scanning a hwmon root: meters that opened, and GPU chips that did not.
#[derive(Debug, Default)]
pub struct HwmonScan {
    /// One meter per usable GPU chip.
    pub meters: Vec<HwmonMeter>,
    /// For each GPU chip that could not be used, why (the error names the path).
    pub failures: Vec<EnergyError>,
}

impl HwmonMeter {
    /// Opens one hwmon directory (e.g. `/sys/class/hwmon/hwmon3`) on the real file system,
    /// sampling power every `sample_period` when there is no energy counter.
    pub fn open(dir: &Path, sample_period: Duration) -> Result<Self, EnergyError> {
        Self::open_with(dir, sample_period, Arc::new(RealSysfs))
    }

    /// Like [`HwmonMeter::open`], reading files through `reader`.
    pub fn open_with(dir: &Path, sample_period: Duration, reader: Arc<dyn SysfsReader>) -> Result<Self, EnergyError> {
        let chip = read_trimmed(reader.as_ref(), &dir.join("name"))?;
        if !GPU_HWMON_NAMES.contains(&chip.as_str()) {
            return Err(EnergyError::Unavailable(format!(
                "{}: chip {chip:?} is not a supported GPU ({})",
                dir.display(),
                GPU_HWMON_NAMES.join(", ")
            )));
        }
        let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let domain = format!("{chip}-{}", dir_name.unwrap_or_default());

        let energy_path = dir.join(ENERGY_FILE);
        let source = if energy_path.exists() {
            read_u64(reader.as_ref(), &energy_path, "an unsigned integer (µJ)")?;
            Source::Energy(energy_path)
        } else if let Some(power_path) = POWER_FILES.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
            let poll_reader = Arc::clone(&reader);
            let sampler = PowerSampler::spawn(sample_period, move || {
                let uw = read_u64(poll_reader.as_ref(), &power_path, "an unsigned integer (µW)")?;
                Ok(uw as f64 * 1e-6)
            })?;
            Source::Power(sampler)
        } else {
            let tried: Vec<String> =
                std::iter::once(ENERGY_FILE).chain(POWER_FILES).map(|f| dir.join(f).display().to_string()).collect();
            return Err(EnergyError::Unavailable(format!(
                "{chip} hwmon has no energy or power reading: none of {} exists",
                tried.join(", ")
            )));
        };
        Ok(HwmonMeter { name: format!("hwmon:{domain}"), domains: vec![domain], source, reader })
    }

    /// Opens every supported GPU chip under `root` (normally [`HWMON_ROOT`]). Non-GPU chips are
    /// skipped silently; GPU chips that fail are listed in [`HwmonScan::failures`].
    pub fn scan(root: &Path, sample_period: Duration) -> Result<HwmonScan, EnergyError> {
        Self::scan_with(root, sample_period, Arc::new(RealSysfs))
    }

    /// Like [`HwmonMeter::scan`], reading files through `reader`.
    pub fn scan_with(
        root: &Path,
        sample_period: Duration,
        reader: Arc<dyn SysfsReader>,
    ) -> Result<HwmonScan, EnergyError> {
        let entries = std::fs::read_dir(root).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EnergyError::Unavailable(format!(
                "{} does not exist (no hwmon sensors visible in this VM or container)",
                root.display()
            )),
            _ => io_error(root, e),
        })?;
        let mut dirs: Vec<(u32, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(root, e))?;
            let name = entry.file_name();
            let index = name.to_str().and_then(|n| n.strip_prefix("hwmon")?.parse::<u32>().ok());
            if let Some(index) = index {
                dirs.push((index, entry.path()));
            }
        }
        dirs.sort();
        let mut scan = HwmonScan::default();
        for (_, dir) in dirs {
            // A chip without a readable name cannot be a GPU we know; skip it.
            let Ok(chip) = read_trimmed(reader.as_ref(), &dir.join("name")) else {
                continue;
            };
            if !GPU_HWMON_NAMES.contains(&chip.as_str()) {
                continue;
            }
            match Self::open_with(&dir, sample_period, Arc::clone(&reader)) {
                Ok(meter) => scan.meters.push(meter),
                Err(e) => scan.failures.push(e),
            }
        }
        Ok(scan)
    }
}

impl EnergyMeter for HwmonMeter {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> MeterKind {
        MeterKind::Measured
    }

    fn method(&self) -> Method {
        match &self.source {
            Source::Energy(_) => Method::EnergyCounter,
            Source::Power(sampler) => Method::PowerSampling { period_s: sampler.period().as_secs_f64() },
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
            // Drivers refresh their energy accumulators on the order of milliseconds.
            Source::Energy(_) => 1e-3,
            Source::Power(sampler) => sampler.period().as_secs_f64(),
        }
    }

    fn read(&self) -> Result<EnergyReading, EnergyError> {
        let (at, energy_j) = match &self.source {
            Source::Energy(path) => {
                let uj = read_u64(self.reader.as_ref(), path, "an unsigned integer (µJ)")?;
                (Instant::now(), uj as f64 * 1e-6)
            }
            Source::Power(sampler) => sampler.cumulative()?,
        };
        let domain = DomainEnergy { domain: self.domains[0].clone(), energy_j, wrap_j: None };
        Ok(EnergyReading { at, domains: vec![domain] })
    }
}
