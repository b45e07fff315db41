//! Energy meters: joules per op for `dfma bench`, measured where the hardware allows and
//! estimated (and labelled so) where it does not.
//!
//! Every meter implements [`EnergyMeter`]: a cumulative joule reading per domain ("package-0",
//! "dram-0", "gpu0"), a [`MeterKind`] (measured or estimated) and a [`Method`] (energy counter,
//! power sampling, estimate formula). A harness:
//!
//! 1. calls [`available_meters`] once, prints [`AvailableMeters::summary`] ("energy: estimated
//!    (no RAPL: …; no NVML: …)") and picks [`AvailableMeters::best`] for the backend's
//!    [`Scope`];
//! 2. records idle power with [`measure_idle_power`];
//! 3. wraps many launches (at least [`recommended_min_window`]) in an [`EnergyWindow`] and divides
//!    [`WindowEnergy::energy_j`] by the launch count. `energy_j` is `None` when the counter did not
//!    move: the window was too short, which is reported as such rather than as 0 J.
//!
//! Meters: [`RaplMeter`] (Linux powercap, Intel and AMD CPUs), [`NvmlMeter`] (NVIDIA, energy
//! counter or sampled power), [`HwmonMeter`] (amdgpu, i915, xe), [`CpuEstimateMeter`] and
//! [`GpuEstimateMeter`] (TDP × utilization). Sysfs roots are parameters so tests run on fixture
//! directories.

mod counter;
mod error;
mod estimate;
mod hwmon;
mod meter;
mod nvml;
mod power_sampling;
mod probe;
mod rapl;
mod sysfs;
mod window;

pub use counter::{DomainDelta, counter_delta_j, energy_between};
pub use error::EnergyError;
pub use estimate::{
    BusyTime, CPU_TDP_ENV, CpuEstimateMeter, CpuTimes, DEFAULT_CPU_TDP_PER_CPU_W, GpuEstimateMeter, PROC_STAT,
    parse_proc_stat, parse_tdp_w,
};
pub use hwmon::{GPU_HWMON_NAMES, HWMON_ROOT, HwmonMeter, HwmonScan};
pub use meter::{DomainEnergy, EnergyMeter, EnergyReading, MeterKind, Method, Scope};
pub use nvml::{GpuClocks, NvmlMeter, init_nvml};
pub use power_sampling::{DEFAULT_SAMPLE_PERIOD, PowerIntegrator, PowerSample, PowerSampler, integrate_trapezoid};
pub use probe::{AvailableMeters, ProbeConfig, Unavailable, available_meters};
pub use rapl::{POWERCAP_ROOT, RaplMeter};
pub use sysfs::{RealSysfs, SysfsReader};
pub use window::{
    DEFAULT_IDLE_WINDOW, DomainWindow, EnergyWindow, WindowEnergy, measure_idle_power, recommended_min_window,
};
