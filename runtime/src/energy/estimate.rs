//! Energy estimates where nothing measures: TDP × utilization. Always labelled
//! [`MeterKind::Estimated`], with the formula and its constants in [`Method::Estimate`].
//!
//! The model ignores idle power, turbo above TDP and memory energy; it is a rough upper-level
//! figure for machines without RAPL (VMs, containers), never a substitute for a measurement.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::EnergyError;
use super::meter::{DomainEnergy, EnergyMeter, EnergyReading, MeterKind, Method, Scope};
use super::sysfs::{RealSysfs, SysfsReader, parse_error, read_trimmed};

/// Where Linux reports CPU time.
pub const PROC_STAT: &str = "/proc/stat";

/// The environment variable that sets the whole CPU's TDP in watts, e.g. `DFMA_CPU_TDP_W=125`.
pub const CPU_TDP_ENV: &str = "DFMA_CPU_TDP_W";

/// The TDP assumed per logical CPU when [`CPU_TDP_ENV`] is not set: 3 W. Server and desktop
/// parts fall around 2–4 W per hardware thread (a 96-core/192-thread 360 W EPYC ≈ 1.9 W, a
/// 56-core/112-thread 350 W Xeon ≈ 3.1 W, a 32-thread 125 W desktop part ≈ 3.9 W); a VM's
/// vCPUs are hardware threads of such parts.
pub const DEFAULT_CPU_TDP_PER_CPU_W: f64 = 3.0;

/// Linux reports `/proc/stat` times in USER_HZ ticks, 100 per second on every architecture
/// Rust targets (the ABI fixes it independently of the kernel's HZ).
const USER_HZ: f64 = 100.0;

/// Parses a TDP in watts (the value of [`CPU_TDP_ENV`]): a finite number above zero.
pub fn parse_tdp_w(value: &str) -> Result<f64, EnergyError> {
    match value.trim().parse::<f64>() {
        Ok(w) if w.is_finite() && w > 0.0 => Ok(w),
        _ => {
            Err(EnergyError::Invalid(format!("{CPU_TDP_ENV}={value:?}: expected a TDP in watts above zero, e.g. 125")))
        }
    }
}

/// Checks a TDP given as a number: finite and above zero.
fn check_tdp_w(tdp_w: f64, what: &str) -> Result<f64, EnergyError> {
    if tdp_w.is_finite() && tdp_w > 0.0 {
        Ok(tdp_w)
    } else {
        Err(EnergyError::Invalid(format!("{what} TDP {tdp_w} W: expected watts above zero")))
    }
}

/// Cumulative CPU time from `/proc/stat`, in USER_HZ ticks summed over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq (guest time is already inside user and nice).
    pub busy_ticks: u64,
    /// busy + idle + iowait + steal.
    pub total_ticks: u64,
    /// Number of `cpuN` lines: the logical CPUs online.
    pub cpus: usize,
}

/// Parses `/proc/stat` text; `path` names the file in errors.
pub fn parse_proc_stat(text: &str, path: &Path) -> Result<CpuTimes, EnergyError> {
    let expected = "a line \"cpu <user> <nice> <system> <idle> …\" (proc(5))";
    let first = text.lines().find(|l| l.split_whitespace().next() == Some("cpu"));
    let Some(first) = first else {
        return Err(parse_error(path, expected, text.lines().next().unwrap_or("")));
    };
    let fields: Result<Vec<u64>, _> = first.split_whitespace().skip(1).map(str::parse::<u64>).collect();
    let fields = match fields {
        Ok(f) if f.len() >= 4 => f,
        _ => return Err(parse_error(path, expected, first)),
    };
    let get = |i: usize| fields.get(i).copied().unwrap_or(0);
    let (user, nice, system, idle, iowait, irq, softirq, steal) =
        (get(0), get(1), get(2), get(3), get(4), get(5), get(6), get(7));
    let busy_ticks = user + nice + system + irq + softirq;
    let total_ticks = busy_ticks + idle + iowait + steal;
    let cpus = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() > 3 && w.starts_with("cpu") && w[3..].bytes().all(|b| b.is_ascii_digit()))
        .count();
    if cpus == 0 {
        return Err(parse_error(path, "at least one \"cpuN\" line", first));
    }
    Ok(CpuTimes { busy_ticks, total_ticks, cpus })
}

/// The whole host CPU, estimated as TDP × busy fraction × window, from `/proc/stat`.
///
/// Its reading is TDP × busy CPU-seconds / CPUs, so the difference of two readings is exactly
/// TDP × (busy ticks / all ticks) × window_s. Resolution is one tick (10 ms of one CPU).
#[derive(Debug)]
pub struct CpuEstimateMeter {
    stat_path: PathBuf,
    tdp_w: f64,
    formula: String,
    domains: Vec<String>,
    reader: Arc<dyn SysfsReader>,
}

impl CpuEstimateMeter {
    /// Opens the estimate over `stat_path` (normally [`PROC_STAT`]). `tdp_w` is the whole
    /// CPU's TDP; `None` takes [`CPU_TDP_ENV`], else [`DEFAULT_CPU_TDP_PER_CPU_W`] × logical
    /// CPUs. A malformed environment value is an error, not silently the default.
    pub fn open(stat_path: &Path, tdp_w: Option<f64>) -> Result<Self, EnergyError> {
        Self::open_with(stat_path, tdp_w, Arc::new(RealSysfs))
    }

    /// Like [`CpuEstimateMeter::open`], reading files through `reader`.
    pub fn open_with(stat_path: &Path, tdp_w: Option<f64>, reader: Arc<dyn SysfsReader>) -> Result<Self, EnergyError> {
        let times = parse_proc_stat(&read_trimmed(reader.as_ref(), stat_path)?, stat_path)?;
        let env = std::env::var(CPU_TDP_ENV).ok();
        let (tdp_w, origin) = match (tdp_w, env) {
            (Some(w), _) => (check_tdp_w(w, "CPU")?, "given".to_string()),
            (None, Some(value)) => (parse_tdp_w(&value)?, format!("from {CPU_TDP_ENV}")),
            (None, None) => (
                DEFAULT_CPU_TDP_PER_CPU_W * times.cpus as f64,
                format!("default {DEFAULT_CPU_TDP_PER_CPU_W} W × {} logical CPUs; set {CPU_TDP_ENV}", times.cpus),
            ),
        };
        let formula = format!(
            "energy_j = TDP {tdp_w} W ({origin}) × busy fraction of {} (all CPUs) × window_s",
            stat_path.display()
        );
        Ok(CpuEstimateMeter {
            stat_path: stat_path.to_path_buf(),
            tdp_w,
            formula,
            domains: vec!["cpu".to_string()],
            reader,
        })
    }

    /// The TDP used, watts.
    pub fn tdp_w(&self) -> f64 {
        self.tdp_w
    }
}

impl EnergyMeter for CpuEstimateMeter {
    fn name(&self) -> &str {
        "estimate:cpu"
    }

    fn kind(&self) -> MeterKind {
        MeterKind::Estimated
    }

    fn method(&self) -> Method {
        Method::Estimate { formula: self.formula.clone() }
    }

    fn scope(&self) -> Scope {
        Scope::Cpu
    }

    fn domains(&self) -> &[String] {
        &self.domains
    }

    fn update_period_s(&self) -> f64 {
        1.0 / USER_HZ
    }

    fn read(&self) -> Result<EnergyReading, EnergyError> {
        let text = read_trimmed(self.reader.as_ref(), &self.stat_path)?;
        let at = Instant::now();
        let times = parse_proc_stat(&text, &self.stat_path)?;
        let busy_cpu_s = times.busy_ticks as f64 / USER_HZ;
        let energy_j = self.tdp_w * busy_cpu_s / times.cpus as f64;
        Ok(EnergyReading { at, domains: vec![DomainEnergy { domain: "cpu".to_string(), energy_j, wrap_j: None }] })
    }
}

/// A handle the harness uses to tell a [`GpuEstimateMeter`] how long the device was busy.
/// Cheap to clone; all clones add to the same total.
#[derive(Debug, Clone, Default)]
pub struct BusyTime(Arc<AtomicU64>);

impl BusyTime {
    /// Adds device-busy time (e.g. the timed duration of a batch of launches).
    pub fn add(&self, busy: Duration) {
        let ns = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(ns, Ordering::Relaxed);
    }

    /// Total busy time recorded so far, seconds.
    pub fn total_s(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 * 1e-9
    }
}

/// A GPU without a power interface, estimated as TDP × busy time: utilization is busy time /
/// window, so TDP × utilization × window_s = TDP × busy_s. The harness reports busy time
/// through [`GpuEstimateMeter::busy_time`].
#[derive(Debug)]
pub struct GpuEstimateMeter {
    name: String,
    tdp_w: f64,
    domains: Vec<String>,
    busy: BusyTime,
}

impl GpuEstimateMeter {
    /// A meter for the GPU called `domain` (e.g. "gpu0") with a TDP of `tdp_w` watts.
    pub fn new(domain: &str, tdp_w: f64) -> Result<Self, EnergyError> {
        let tdp_w = check_tdp_w(tdp_w, "GPU")?;
        Ok(GpuEstimateMeter {
            name: format!("estimate:{domain}"),
            tdp_w,
            domains: vec![domain.to_string()],
            busy: BusyTime::default(),
        })
    }

    /// The handle to record busy time with.
    pub fn busy_time(&self) -> BusyTime {
        self.busy.clone()
    }
}

impl EnergyMeter for GpuEstimateMeter {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> MeterKind {
        MeterKind::Estimated
    }

    fn method(&self) -> Method {
        Method::Estimate {
            formula: format!("energy_j = TDP {} W × utilization × window_s = TDP × device busy seconds", self.tdp_w),
        }
    }

    fn scope(&self) -> Scope {
        Scope::Gpu
    }

    fn domains(&self) -> &[String] {
        &self.domains
    }

    fn update_period_s(&self) -> f64 {
        1e-9
    }

    fn read(&self) -> Result<EnergyReading, EnergyError> {
        Ok(EnergyReading {
            at: Instant::now(),
            domains: vec![DomainEnergy {
                domain: self.domains[0].clone(),
                energy_j: self.tdp_w * self.busy.total_s(),
                wrap_j: None,
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_busy_and_total_ticks_follow_proc_5() {
        let text =
            "cpu  100 10 50 800 20 5 5 10 7 0\ncpu0 50 5 25 400 10 2 3 5 3 0\ncpu1 50 5 25 400 10 3 2 5 4 0\nintr 1\n";
        let t = parse_proc_stat(text, Path::new("stat")).unwrap();
        assert_eq!(t, CpuTimes { busy_ticks: 170, total_ticks: 1000, cpus: 2 });
    }

    #[test]
    fn a_tdp_that_is_not_positive_watts_is_rejected() {
        assert!(parse_tdp_w("abc").is_err());
        assert!(parse_tdp_w("0").is_err());
        assert!(parse_tdp_w("-5").is_err());
        assert!(parse_tdp_w("NaN").is_err());
        assert_eq!(parse_tdp_w(" 125 ").unwrap(), 125.0);
    }
}
