//! Finding the meters this machine has, and saying why the others are missing.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::estimate::{CpuEstimateMeter, PROC_STAT};
use super::hwmon::{HWMON_ROOT, HwmonMeter};
use super::meter::{EnergyMeter, MeterKind, Scope};
use super::nvml::NvmlMeter;
use super::power_sampling::DEFAULT_SAMPLE_PERIOD;
use super::rapl::{POWERCAP_ROOT, RaplMeter};

/// Where to look for meters. [`Default`] is the real machine; tests point the paths at
/// fixture directories and the NVML library at a file that does not exist.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The powercap root (RAPL), normally `/sys/class/powercap`.
    pub powercap_root: PathBuf,
    /// The hwmon root, normally `/sys/class/hwmon`.
    pub hwmon_root: PathBuf,
    /// The CPU time file for the CPU estimate, normally `/proc/stat`.
    pub proc_stat: PathBuf,
    /// Whether to try NVML at all.
    pub nvml: bool,
    /// The NVML library to load; `None` for the default `libnvidia-ml.so.1`.
    pub nvml_library: Option<OsString>,
    /// The whole CPU's TDP for the estimate; `None` for `DFMA_CPU_TDP_W` or the default.
    pub cpu_tdp_w: Option<f64>,
    /// The power sampling period for meters without an energy counter.
    pub sample_period: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            powercap_root: PathBuf::from(POWERCAP_ROOT),
            hwmon_root: PathBuf::from(HWMON_ROOT),
            proc_stat: PathBuf::from(PROC_STAT),
            nvml: true,
            nvml_library: None,
            cpu_tdp_w: None,
            sample_period: DEFAULT_SAMPLE_PERIOD,
        }
    }
}

/// A meter that is not available here, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unavailable {
    /// "RAPL", "NVML", "hwmon" or "CPU estimate".
    pub meter: String,
    /// The reason, naming the file or call that failed.
    pub reason: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no {}: {}", self.meter, self.reason)
    }
}

/// The meters that work on this machine and the reasons the others do not.
#[derive(Default)]
pub struct AvailableMeters {
    /// Working meters: measured ones first (RAPL, NVML, hwmon), then the CPU estimate.
    pub meters: Vec<Box<dyn EnergyMeter>>,
    /// One entry per meter family (or device) that could not be used.
    pub unavailable: Vec<Unavailable>,
}

impl fmt::Debug for AvailableMeters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.meters.iter().map(|m| m.name()).collect();
        f.debug_struct("AvailableMeters").field("meters", &names).field("unavailable", &self.unavailable).finish()
    }
}

impl AvailableMeters {
    /// The meter to use for `scope`: the first measured one, else the first estimate.
    pub fn best(&self, scope: Scope) -> Option<&dyn EnergyMeter> {
        let of_scope = || self.meters.iter().filter(move |m| m.scope() == scope);
        of_scope().find(|m| m.kind() == MeterKind::Measured).or_else(|| of_scope().next()).map(|m| m.as_ref())
    }

    /// One line for the terminal, e.g.
    /// `energy: estimated (no RAPL: …; no NVML: …; no hwmon: …)` or
    /// `energy: measured by rapl [package-0, dram-0], nvml:gpu0 (…) [gpu0] (no hwmon: …)`.
    pub fn summary(&self) -> String {
        let measured: Vec<String> = self
            .meters
            .iter()
            .filter(|m| m.kind() == MeterKind::Measured)
            .map(|m| format!("{} [{}]", m.name(), m.domains().join(", ")))
            .collect();
        let reasons: Vec<String> = self.unavailable.iter().map(ToString::to_string).collect();
        let head = if !measured.is_empty() {
            format!("energy: measured by {}", measured.join(", "))
        } else if self.meters.iter().any(|m| m.kind() == MeterKind::Estimated) {
            "energy: estimated".to_string()
        } else {
            "energy: none".to_string()
        };
        if reasons.is_empty() { head } else { format!("{head} ({})", reasons.join("; ")) }
    }
}

/// Probes RAPL, NVML, hwmon and the CPU estimate. Never fails and never panics: what does not
/// work is listed in [`AvailableMeters::unavailable`] with its reason.
pub fn available_meters(config: &ProbeConfig) -> AvailableMeters {
    let mut meters: Vec<Box<dyn EnergyMeter>> = Vec::new();
    let mut missing: Vec<Unavailable> = Vec::new();

    match RaplMeter::probe(&config.powercap_root) {
        Ok(meter) => meters.push(Box::new(meter)),
        Err(e) => missing.push(unavailable("RAPL", e.to_string())),
    }

    if config.nvml {
        match NvmlMeter::open_all(config.nvml_library.as_deref(), config.sample_period) {
            Ok((gpus, failures)) => {
                if gpus.is_empty() && failures.is_empty() {
                    missing.push(unavailable("NVML", "NVML found no GPU".to_string()));
                }
                meters.extend(gpus.into_iter().map(|m| Box::new(m) as Box<dyn EnergyMeter>));
                missing.extend(failures.into_iter().map(|e| unavailable("NVML", e.to_string())));
            }
            Err(e) => missing.push(unavailable("NVML", e.to_string())),
        }
    }

    match HwmonMeter::scan(&config.hwmon_root, config.sample_period) {
        Ok(scan) => {
            if scan.meters.is_empty() && scan.failures.is_empty() {
                missing.push(unavailable(
                    "hwmon",
                    format!("no amdgpu, i915 or xe device under {}", config.hwmon_root.display()),
                ));
            }
            meters.extend(scan.meters.into_iter().map(|m| Box::new(m) as Box<dyn EnergyMeter>));
            missing.extend(scan.failures.into_iter().map(|e| unavailable("hwmon", e.to_string())));
        }
        Err(e) => missing.push(unavailable("hwmon", e.to_string())),
    }

    match CpuEstimateMeter::open(&config.proc_stat, config.cpu_tdp_w) {
        Ok(meter) => meters.push(Box::new(meter)),
        Err(e) => missing.push(unavailable("CPU estimate", e.to_string())),
    }

    AvailableMeters { meters, unavailable: missing }
}

fn unavailable(meter: &str, reason: String) -> Unavailable {
    Unavailable { meter: meter.to_string(), reason }
}
