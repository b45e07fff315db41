//! Energy from power readings: trapezoid integration and a background sampling thread.
//!
//! Used where hardware reports watts but no energy counter: NVML before Volta (or wherever
//! `total_energy_consumption` is not supported) and amdgpu's hwmon `power1_average` /
//! `power1_input`. The integration ([`PowerIntegrator`]) is separate from the thread
//! ([`PowerSampler`]) so tests can feed it recorded samples.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::EnergyError;

/// The default sampling period: fast enough to follow kernels of a few milliseconds' worth of
/// power changes, slow enough to cost nothing measurable.
pub const DEFAULT_SAMPLE_PERIOD: Duration = Duration::from_millis(10);

/// One power reading at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSample {
    /// Seconds since an arbitrary origin shared by all samples of a series.
    pub t_s: f64,
    /// Power in watts.
    pub power_w: f64,
}

/// Running trapezoid integral of a power series: joules from the first sample to the latest.
#[derive(Debug, Clone, Default)]
pub struct PowerIntegrator {
    last: Option<PowerSample>,
    energy_j: f64,
    samples: u64,
}

impl PowerIntegrator {
    /// An integrator with no samples (0 J).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample. Samples must come in strictly increasing time with a finite, non-negative
    /// power; anything else is rejected and leaves the integral unchanged.
    pub fn push(&mut self, sample: PowerSample) -> Result<(), EnergyError> {
        if !sample.power_w.is_finite() || sample.power_w < 0.0 || !sample.t_s.is_finite() {
            return Err(EnergyError::Invalid(format!(
                "power sample {} W at {} s is not a finite non-negative value",
                sample.power_w, sample.t_s
            )));
        }
        if let Some(last) = self.last {
            if sample.t_s <= last.t_s {
                return Err(EnergyError::Invalid(format!(
                    "power sample at {} s is not after the previous one at {} s",
                    sample.t_s, last.t_s
                )));
            }
            self.energy_j += 0.5 * (last.power_w + sample.power_w) * (sample.t_s - last.t_s);
        }
        self.last = Some(sample);
        self.samples += 1;
        Ok(())
    }

    /// Joules from the first sample to the latest.
    pub fn energy_j(&self) -> f64 {
        self.energy_j
    }

    /// How many samples were accepted.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The latest accepted sample.
    pub fn last(&self) -> Option<PowerSample> {
        self.last
    }
}

/// The trapezoid integral of a recorded power series, in joules.
///
/// Convenience over [`PowerIntegrator`] for a whole series at once; fails on the same samples
/// it would reject.
pub fn integrate_trapezoid(samples: &[PowerSample]) -> Result<f64, EnergyError> {
    let mut integrator = PowerIntegrator::new();
    for &sample in samples {
        integrator.push(sample)?;
    }
    Ok(integrator.energy_j())
}

/// What the sampling thread shares with readers.
#[derive(Debug)]
struct SamplerState {
    integrator: PowerIntegrator,
    last_at: Instant,
    last_error: Option<String>,
}

/// A background thread that polls a power source every `period` and keeps the running
/// integral, so a sampled meter can answer "cumulative joules" like a counter does.
///
/// The thread stops when the sampler is dropped.
#[derive(Debug)]
pub struct PowerSampler {
    state: Arc<Mutex<SamplerState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    period: Duration,
}

fn lock(state: &Mutex<SamplerState>) -> MutexGuard<'_, SamplerState> {
    // A panic while holding the lock can only come from a bug in this file; the integral it
    // protects is still consistent (updates are single assignments), so keep going.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PowerSampler {
    /// Takes a first sample on the calling thread (so a source that cannot be read fails here,
    /// not silently later), then starts a thread that calls `poll` (returning watts) every
    /// `period`.
    pub fn spawn<F>(period: Duration, mut poll: F) -> Result<Self, EnergyError>
    where
        F: FnMut() -> Result<f64, EnergyError> + Send + 'static,
    {
        let origin = Instant::now();
        let first_w = poll()?;
        let mut integrator = PowerIntegrator::new();
        integrator.push(PowerSample { t_s: 0.0, power_w: first_w })?;
        let state = Arc::new(Mutex::new(SamplerState { integrator, last_at: origin, last_error: None }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("dfma-power-sampler".to_string())
                .spawn(move || {
                    let mut next = origin + period;
                    while !stop.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if now < next {
                            std::thread::park_timeout(next - now);
                            continue;
                        }
                        next += period;
                        if next < now {
                            next = now + period; // fell behind (suspended?): do not burst
                        }
                        let result = poll();
                        let at = Instant::now();
                        let mut s = lock(&state);
                        let pushed = result.and_then(|power_w| {
                            let t_s = at.duration_since(origin).as_secs_f64();
                            s.integrator.push(PowerSample { t_s, power_w })
                        });
                        match pushed {
                            Ok(()) => {
                                s.last_at = at;
                                s.last_error = None;
                            }
                            Err(e) => s.last_error = Some(e.to_string()),
                        }
                    }
                })
                .map_err(|e| EnergyError::Unavailable(format!("cannot start sampling thread: {e}")))?
        };
        Ok(PowerSampler { state, stop, thread: Some(thread), period })
    }

    /// The time of the latest sample and the joules integrated up to it since the first.
    ///
    /// Fails with the source's error when the latest poll failed (a GPU fell off the bus, a
    /// file disappeared), rather than quietly returning a stale integral.
    pub fn cumulative(&self) -> Result<(Instant, f64), EnergyError> {
        let s = lock(&self.state);
        if let Some(error) = &s.last_error {
            return Err(EnergyError::Unavailable(format!("power sampling failed: {error}")));
        }
        Ok((s.last_at, s.integrator.energy_j()))
    }

    /// The sampling period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl Drop for PowerSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
