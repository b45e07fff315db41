//! Energy windows: read a meter before and after many launches, report joules and seconds.
//!
//! A window must be long against the meter's update period (RAPL ≈ 1 ms, NVML's counter
//! 20–100 ms): a counter that has not moved says nothing about the energy, so the result says
//! "window too short: counter did not move" instead of reporting 0 J.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::counter::energy_between;
use super::error::EnergyError;
use super::meter::{EnergyMeter, EnergyReading, MeterKind, Method};

/// The idle window [`measure_idle_power`] is normally given: short enough to run before every
/// suite, long enough for RAPL. NVML's counter needs longer: see [`recommended_min_window`].
pub const DEFAULT_IDLE_WINDOW: Duration = Duration::from_millis(200);

/// The shortest window worth measuring on `meter`: 200 ms, or ten of its update periods when
/// that is longer (1 s for NVML's counter), which keeps the timing error near 10 % or less.
pub fn recommended_min_window(meter: &dyn EnergyMeter) -> Duration {
    let ten_updates = Duration::from_secs_f64((10.0 * meter.update_period_s()).clamp(0.0, 3600.0));
    ten_updates.max(DEFAULT_IDLE_WINDOW)
}

/// The energy of one domain over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainWindow {
    /// The domain, e.g. "package-0".
    pub domain: String,
    /// Joules over the window as the counter reports them (0 when it did not move).
    pub energy_j: f64,
    /// Whether the counter changed between the two readings.
    pub moved: bool,
}

/// The energy of one meter over one window, with how it was obtained.
///
/// Serializes (for JSON reports) with its fields plus the derived `energy_j` (null when a
/// counter did not move), `power_w`, `counter_moved` and `status` (the [`fmt::Display`] line).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEnergy {
    /// The meter's name.
    pub meter: String,
    /// Measured or estimated; every rendering of the window says which.
    pub kind: MeterKind,
    /// How the joules were obtained.
    pub method: Method,
    /// Seconds between the two readings.
    pub window_s: f64,
    /// The meter's update period, seconds: the uncertainty of the window's edges.
    pub update_period_s: f64,
    /// Per-domain energy.
    pub domains: Vec<DomainWindow>,
}

impl WindowEnergy {
    /// Builds a window from two readings of `meter` (wraparound handled per domain).
    pub fn from_readings(
        meter: &dyn EnergyMeter,
        before: &EnergyReading,
        after: &EnergyReading,
    ) -> Result<Self, EnergyError> {
        let (deltas, window_s) = energy_between(before, after)?;
        let domains = deltas
            .into_iter()
            .map(|d| DomainWindow { moved: d.energy_j > 0.0, domain: d.domain, energy_j: d.energy_j })
            .collect();
        Ok(WindowEnergy {
            meter: meter.name().to_string(),
            kind: meter.kind(),
            method: meter.method(),
            window_s,
            update_period_s: meter.update_period_s(),
            domains,
        })
    }

    /// Whether every domain's counter moved. When one did not, the window was too short for
    /// the meter (or the hardware stopped counting) and the energy is unknown, not zero.
    pub fn counter_moved(&self) -> bool {
        !self.domains.is_empty() && self.domains.iter().all(|d| d.moved)
    }

    /// Total joules over all domains, or `None` when a counter did not move.
    pub fn energy_j(&self) -> Option<f64> {
        self.counter_moved().then(|| self.domains.iter().map(|d| d.energy_j).sum())
    }

    /// Mean power over the window in watts, or `None` when the energy is unknown or the window
    /// has no length.
    pub fn power_w(&self) -> Option<f64> {
        let energy_j = self.energy_j()?;
        (self.window_s > 0.0).then(|| energy_j / self.window_s)
    }

    /// Joules per launch (or per op) when the window spans `launches` of them; `None` when
    /// the energy is unknown or `launches` is zero.
    pub fn energy_per_launch_j(&self, launches: u64) -> Option<f64> {
        let energy_j = self.energy_j()?;
        (launches > 0).then(|| energy_j / launches as f64)
    }

    /// The energy above idle: this window's joules minus `idle`'s mean power × this window's
    /// length. `None` when either is unknown or `idle` comes from another meter. Not clamped:
    /// a negative value means the idle figure was noisy or the load was below idle.
    pub fn energy_above_idle_j(&self, idle: &WindowEnergy) -> Option<f64> {
        if idle.meter != self.meter {
            return None;
        }
        Some(self.energy_j()? - idle.power_w()? * self.window_s)
    }

    /// The window's edge uncertainty relative to its length (update period / window);
    /// `None` for a zero-length window. Above ~0.1 the figure is rough.
    pub fn relative_timing_uncertainty(&self) -> Option<f64> {
        (self.window_s > 0.0).then(|| self.update_period_s / self.window_s)
    }
}

impl fmt::Display for WindowEnergy {
    /// "measured 12.3 J over 1.200 s (10.25 W) by rapl, energy counter" or
    /// "measured: window too short: counter did not move (0.005 s, rapl, energy counter)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.energy_j(), self.power_w()) {
            (Some(energy_j), Some(power_w)) => write!(
                f,
                "{} {energy_j:.4} J over {:.3} s ({power_w:.2} W) by {}, {}",
                self.kind, self.window_s, self.meter, self.method
            ),
            (Some(energy_j), None) => write!(
                f,
                "{} {energy_j:.4} J over {:.3} s by {}, {}",
                self.kind, self.window_s, self.meter, self.method
            ),
            (None, _) => write!(
                f,
                "{}: window too short: counter did not move ({:.3} s, {}, {})",
                self.kind, self.window_s, self.meter, self.method
            ),
        }
    }
}

impl Serialize for WindowEnergy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            meter: &'a str,
            kind: MeterKind,
            #[serde(flatten)]
            method: &'a Method,
            window_s: f64,
            energy_j: Option<f64>,
            power_w: Option<f64>,
            counter_moved: bool,
            update_period_s: f64,
            domains: &'a [DomainWindow],
            status: String,
        }
        Json {
            meter: &self.meter,
            kind: self.kind,
            method: &self.method,
            window_s: self.window_s,
            energy_j: self.energy_j(),
            power_w: self.power_w(),
            counter_moved: self.counter_moved(),
            update_period_s: self.update_period_s,
            domains: &self.domains,
            status: self.to_string(),
        }
        .serialize(serializer)
    }
}

/// An open energy window on one meter: [`EnergyWindow::start`] before the launches,
/// [`EnergyWindow::stop`] after (after synchronizing the device, so the work is inside).
#[derive(Debug)]
pub struct EnergyWindow<'m> {
    meter: &'m dyn EnergyMeter,
    start: EnergyReading,
}

impl<'m> EnergyWindow<'m> {
    /// Reads the meter and opens the window.
    pub fn start(meter: &'m dyn EnergyMeter) -> Result<Self, EnergyError> {
        Ok(EnergyWindow { meter, start: meter.read()? })
    }

    /// Reads the meter again and returns the energy between the two readings.
    pub fn stop(self) -> Result<WindowEnergy, EnergyError> {
        let end = self.meter.read()?;
        WindowEnergy::from_readings(self.meter, &self.start, &end)
    }
}

/// Measures `meter` over `duration` while this thread sleeps: the idle power to report beside
/// the loaded figures ([`WindowEnergy::power_w`]). Other processes' load counts too; the
/// caller should not run work meanwhile.
pub fn measure_idle_power(meter: &dyn EnergyMeter, duration: Duration) -> Result<WindowEnergy, EnergyError> {
    let window = EnergyWindow::start(meter)?;
    std::thread::sleep(duration);
    window.stop()
}
