use std::time::Duration;

use dfma_runtime::energy::{MeterKind, ProbeConfig, Scope, available_meters};

use crate::fixture::{powercap, write};

fn config(root: &std::path::Path) -> ProbeConfig {
    ProbeConfig {
        powercap_root: root.join("powercap"),
        hwmon_root: root.join("hwmon"),
        proc_stat: root.join("stat"),
        nvml: true,
        nvml_library: Some(root.join("no-libnvidia-ml.so.1").into_os_string()),
        cpu_tdp_w: Some(20.0),
        sample_period: Duration::from_millis(10),
    }
}

#[test]
fn a_machine_with_only_proc_stat_is_estimated_and_says_why_each_meter_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "stat", "cpu  1 0 0 1\ncpu0 1 0 0 1\n");
    std::fs::create_dir(dir.path().join("hwmon")).unwrap();
    let found = available_meters(&config(dir.path()));
    assert_eq!(found.meters.len(), 1);
    assert_eq!(found.best(Scope::Cpu).unwrap().kind(), MeterKind::Estimated);
    assert!(found.best(Scope::Gpu).is_none());
    let summary = found.summary();
    assert!(summary.starts_with("energy: estimated (no RAPL: "), "{summary}");
    assert!(summary.contains("; no NVML: NVML init: libnvidia-ml could not be loaded"), "{summary}");
    assert!(summary.contains("; no hwmon: no amdgpu, i915 or xe device under"), "{summary}");
}

#[test]
fn a_measured_meter_is_preferred_over_the_estimate_for_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "stat", "cpu  1 0 0 1\ncpu0 1 0 0 1\n");
    powercap(&dir.path().join("powercap"), 1, 2, 1000);
    write(dir.path(), "hwmon/hwmon0/name", "i915");
    write(dir.path(), "hwmon/hwmon0/energy1_input", "5");
    let found = available_meters(&config(dir.path()));
    assert_eq!(found.best(Scope::Cpu).unwrap().name(), "rapl");
    assert_eq!(found.best(Scope::Gpu).unwrap().name(), "hwmon:i915-hwmon0");
    let summary = found.summary();
    assert!(summary.starts_with("energy: measured by rapl [package-0, dram-0], hwmon:i915-hwmon0"), "{summary}");
    assert!(summary.contains("(no NVML: "), "{summary}");
}

#[test]
fn this_machine_probes_without_panicking_and_always_has_an_answer_for_the_cpu() {
    // Whatever this machine has (here: no RAPL, no NVML), the CPU gets a meter: measured
    // where RAPL is readable, otherwise the labelled estimate.
    let found = available_meters(&ProbeConfig::default());
    let cpu = found.best(Scope::Cpu).expect("/proc/stat exists on Linux");
    assert!(found.summary().starts_with("energy: "), "{}", found.summary());
    if cpu.kind() == MeterKind::Estimated {
        assert!(found.unavailable.iter().any(|u| u.meter == "RAPL"), "{found:?}");
    }
}
