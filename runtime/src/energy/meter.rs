//! The one trait every energy meter implements, and what it returns.
//!
//! A meter is a cumulative counter of joules per domain: read it before and after a piece of
//! work and the difference is the work's energy (see [`super::window`]). Meters that only
//! see power (watts) integrate it themselves on a background thread, so the caller never has to
//! know which kind of hardware interface sits underneath; [`EnergyMeter::method`] records it.

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use super::error::EnergyError;
use super::nvml::GpuClocks;

/// Whether a meter measures energy or estimates it.
///
/// A report must never present an estimate as a measurement: every window and every printed
/// figure carries this label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterKind {
    /// Read from a hardware energy counter or integrated from hardware power readings.
    Measured,
    /// Computed from a model (TDP × utilization); not a measurement.
    Estimated,
}

impl fmt::Display for MeterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MeterKind::Measured => "measured",
            MeterKind::Estimated => "estimated",
        })
    }
}

/// How a meter arrives at joules; recorded next to every number it produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// A cumulative hardware energy counter (RAPL `energy_uj`, NVML total energy, hwmon
    /// `energy1_input`).
    EnergyCounter,
    /// Power readings sampled every `period_s` seconds on a background thread and integrated
    /// with the trapezoid rule. Accuracy depends on how the hardware averages its power reading
    /// (on H100 NVML's `power_usage` is a one-second average).
    PowerSampling {
        /// The sampling period in seconds.
        period_s: f64,
    },
    /// A model, not a measurement; `formula` says which (and with which constants).
    Estimate {
        /// The formula with its constants, e.g. "TDP 6.0 W × busy fraction × window_s".
        formula: String,
    },
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::EnergyCounter => f.write_str("energy counter"),
            Method::PowerSampling { period_s } => {
                write!(f, "power sampled every {:.0} ms, integrated", period_s * 1e3)
            }
            Method::Estimate { formula } => write!(f, "estimate: {formula}"),
        }
    }
}

/// What a meter covers, so a harness can pair a CPU backend with a CPU meter and a GPU backend
/// with a GPU meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The host CPU package(s) and, where the meter has it, DRAM.
    Cpu,
    /// One GPU.
    Gpu,
}

/// The cumulative energy of one domain at the time of a reading.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainEnergy {
    /// The domain, e.g. "package-0", "dram-0", "gpu0".
    pub domain: String,
    /// Energy accumulated since an arbitrary origin (boot, driver load, meter start), in joules.
    /// Only differences between two readings are meaningful.
    pub energy_j: f64,
    /// The counter wraps to zero after this many joules (RAPL's `max_energy_range_uj`);
    /// `None` for counters that do not wrap in practice (64-bit counters, integrals).
    pub wrap_j: Option<f64>,
}

/// One reading of a meter: cumulative joules per domain and when they were valid.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyReading {
    /// The moment the values refer to: the read time for counters, the time of the last power
    /// sample for sampled meters (so that windows line up with the integrated span).
    pub at: Instant,
    /// One entry per domain of [`EnergyMeter::domains`], in the same order.
    pub domains: Vec<DomainEnergy>,
}

/// An energy meter: a source of cumulative joules for one or more domains.
///
/// Implementations: [`super::RaplMeter`], [`super::NvmlMeter`], [`super::HwmonMeter`],
/// [`super::CpuEstimateMeter`], [`super::GpuEstimateMeter`]. The domains of one meter never
/// overlap (RAPL's "core" zone, a subset of "package", is left out), so their sum is the
/// meter's total.
pub trait EnergyMeter: Send + Sync {
    /// A short name for reports, e.g. "rapl", "nvml:gpu0 (NVIDIA H100 80GB HBM3)".
    fn name(&self) -> &str;
    /// Whether this meter measures or estimates.
    fn kind(&self) -> MeterKind;
    /// How the joules are obtained.
    fn method(&self) -> Method;
    /// Whether the meter covers the CPU or a GPU.
    fn scope(&self) -> Scope;
    /// The domains every reading reports, e.g. `["package-0", "dram-0"]`.
    fn domains(&self) -> &[String];
    /// How often the underlying value changes, in seconds (RAPL ≈ 0.001, NVML's counter up to
    /// 0.1). A window much shorter than this cannot be measured; see
    /// [`super::recommended_min_window`].
    fn update_period_s(&self) -> f64;
    /// Reads the cumulative energy of every domain now.
    fn read(&self) -> Result<EnergyReading, EnergyError>;

    /// The GPU's current clocks and throttle reasons, for reports next to the energy; `None`
    /// for meters that cannot see them (every meter except NVML's).
    fn gpu_clocks(&self) -> Option<GpuClocks> {
        None
    }
}

impl fmt::Debug for dyn EnergyMeter + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnergyMeter({})", self.name())
    }
}
