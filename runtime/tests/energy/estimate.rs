use std::path::Path;

use dfma_runtime::energy::{
    CpuEstimateMeter, EnergyError, EnergyMeter, EnergyWindow, GpuEstimateMeter, MeterKind, Method, Scope,
};

use crate::fixture::write;

/// `/proc/stat` with two CPUs and the given total busy and idle ticks.
fn stat(root: &Path, busy: u64, idle: u64) {
    let line = format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n");
    let text = format!("{line}cpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\nctxt 5\n");
    write(root, "stat", &text);
}

#[test]
fn the_cpu_estimate_is_tdp_times_busy_fraction_times_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stat");
    stat(dir.path(), 1000, 1000);
    let meter = CpuEstimateMeter::open(&path, Some(40.0)).unwrap();
    let window = EnergyWindow::start(&meter).unwrap();
    // One second of two CPUs (200 ticks at USER_HZ 100), 150 busy: 75 % × 40 W × 1 s = 30 J.
    stat(dir.path(), 1150, 1050);
    let result = window.stop().unwrap();
    assert!((result.energy_j().unwrap() - 30.0).abs() < 1e-9, "{result:?}");
}

#[test]
fn the_cpu_estimate_is_labelled_estimated_with_its_formula_and_tdp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stat");
    stat(dir.path(), 1, 1);
    let meter = CpuEstimateMeter::open(&path, Some(65.0)).unwrap();
    assert_eq!(meter.kind(), MeterKind::Estimated);
    assert_eq!(meter.scope(), Scope::Cpu);
    let Method::Estimate { formula } = meter.method() else {
        panic!("a CPU estimate must carry its formula: {:?}", meter.method());
    };
    assert!(formula.contains("TDP 65 W"), "{formula}");
    assert!(formula.contains("busy fraction"), "{formula}");
}

#[test]
fn a_corrupt_proc_stat_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "stat", "cpu  1 2 x 4\ncpu0 1 2 3 4\n");
    let err = CpuEstimateMeter::open(&path, Some(10.0)).unwrap_err();
    assert!(matches!(err, EnergyError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[test]
fn a_nonpositive_cpu_tdp_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    stat(dir.path(), 1, 1);
    assert!(CpuEstimateMeter::open(&dir.path().join("stat"), Some(0.0)).is_err());
}

#[test]
fn the_gpu_estimate_is_tdp_times_recorded_busy_time() {
    let meter = GpuEstimateMeter::new("gpu0", 300.0).unwrap();
    let busy = meter.busy_time();
    let window = EnergyWindow::start(&meter).unwrap();
    busy.add(std::time::Duration::from_millis(250));
    let result = window.stop().unwrap();
    assert!((result.energy_j().unwrap() - 75.0).abs() < 1e-9, "{result:?}");
    assert_eq!(result.kind, MeterKind::Estimated);
    assert!(result.to_string().starts_with("estimated 75.0000 J"), "{result}");
}

#[test]
fn a_gpu_estimate_without_a_positive_tdp_is_rejected() {
    assert!(GpuEstimateMeter::new("gpu0", f64::NAN).is_err());
    assert!(GpuEstimateMeter::new("gpu0", -1.0).is_err());
}
