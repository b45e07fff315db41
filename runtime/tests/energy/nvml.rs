use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dfma_runtime::energy::{
    EnergyError, NvmlMeter, PowerIntegrator, PowerSample, PowerSampler, init_nvml, integrate_trapezoid,
};

fn s(t_s: f64, power_w: f64) -> PowerSample {
    PowerSample { t_s, power_w }
}

#[test]
fn a_machine_without_nvml_gives_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libnvidia-ml.so.1");
    let err = init_nvml(Some(missing.as_os_str())).unwrap_err();
    assert!(matches!(err, EnergyError::Nvml { .. }), "{err:?}");
    assert!(err.to_string().contains("libnvidia-ml could not be loaded"), "{err}");
    let err = NvmlMeter::open_all(Some(OsStr::new(&missing)), Duration::from_millis(10)).unwrap_err();
    assert!(err.to_string().starts_with("NVML init:"), "{err}");
}

#[test]
fn power_sampling_integrates_recorded_samples_with_the_trapezoid_rule() {
    // A GPU without the energy counter (pre-Volta), recorded every 10 ms: 100 W, a ramp to
    // 300 W, then 300 W. Exact area: 0.01·100 + 0.01·200 + 0.01·300 = 6 J.
    let samples = [s(0.00, 100.0), s(0.01, 100.0), s(0.02, 300.0), s(0.03, 300.0)];
    let energy_j = integrate_trapezoid(&samples).unwrap();
    assert!((energy_j - 6.0).abs() < 1e-12, "{energy_j}");
}

#[test]
fn power_sampling_handles_uneven_sample_spacing() {
    // A late sample (scheduler delay) weighs for its longer interval.
    let samples = [s(0.0, 10.0), s(0.01, 10.0), s(0.05, 30.0)];
    let energy_j = integrate_trapezoid(&samples).unwrap();
    assert!((energy_j - (0.1 + 0.8)).abs() < 1e-12, "{energy_j}");
}

#[test]
fn a_single_power_sample_is_zero_joules_because_it_spans_no_time() {
    assert_eq!(integrate_trapezoid(&[s(1.0, 250.0)]).unwrap(), 0.0);
}

#[test]
fn out_of_order_or_non_finite_power_samples_are_rejected_and_leave_the_integral_unchanged() {
    let mut integrator = PowerIntegrator::new();
    integrator.push(s(0.0, 10.0)).unwrap();
    integrator.push(s(1.0, 10.0)).unwrap();
    assert!(integrator.push(s(1.0, 10.0)).is_err());
    assert!(integrator.push(s(0.5, 10.0)).is_err());
    assert!(integrator.push(s(2.0, f64::NAN)).is_err());
    assert!(integrator.push(s(2.0, -1.0)).is_err());
    assert_eq!(integrator.energy_j(), 10.0);
    assert_eq!(integrator.samples(), 2);
}

#[test]
fn the_sampling_thread_integrates_a_power_source_over_time() {
    // 100 W, then 200 W after the fifth poll: the integral lies between the two.
    let polls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&polls);
    let sampler = PowerSampler::spawn(Duration::from_millis(5), move || {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        Ok(if n < 5 { 100.0 } else { 200.0 })
    })
    .unwrap();
    let (t0, e0) = sampler.cumulative().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (t1, e1) = sampler.cumulative().unwrap();
    let window_s = t1.duration_since(t0).as_secs_f64();
    assert!(window_s > 0.01, "{window_s}");
    let power_w = (e1 - e0) / window_s;
    assert!(power_w > 100.0 && power_w <= 200.0, "{power_w}");
    assert!(polls.load(Ordering::Relaxed) > 5);
}

#[test]
fn a_power_source_that_fails_at_once_fails_the_sampler_start() {
    let err = PowerSampler::spawn(Duration::from_millis(5), || {
        Err(EnergyError::Unavailable("power_usage: not supported".to_string()))
    })
    .unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn a_power_source_that_starts_failing_makes_reads_fail() {
    let polls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&polls);
    let sampler = PowerSampler::spawn(Duration::from_millis(2), move || {
        if counter.fetch_add(1, Ordering::Relaxed) < 2 {
            Ok(50.0)
        } else {
            Err(EnergyError::Unavailable("GPU fell off the bus".to_string()))
        }
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let err = sampler.cumulative().unwrap_err();
    assert!(err.to_string().contains("GPU fell off the bus"), "{err}");
}
