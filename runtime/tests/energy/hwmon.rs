use std::time::Duration;

use dfma_runtime::energy::{EnergyError, EnergyMeter, EnergyWindow, HwmonMeter, Method, Scope};

use crate::fixture::write;

const PERIOD: Duration = Duration::from_millis(5);

#[test]
fn an_intel_gpu_energy_counter_is_read_in_microjoules() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon4/name", "i915\n");
    write(dir.path(), "hwmon4/energy1_input", "2500000\n");
    let meter = HwmonMeter::open(&dir.path().join("hwmon4"), PERIOD).unwrap();
    assert_eq!(meter.domains(), ["i915-hwmon4"]);
    assert_eq!(meter.method(), Method::EnergyCounter);
    assert_eq!(meter.scope(), Scope::Gpu);
    let window = EnergyWindow::start(&meter).unwrap();
    write(dir.path(), "hwmon4/energy1_input", "4000000\n");
    let result = window.stop().unwrap();
    assert!((result.energy_j().unwrap() - 1.5).abs() < 1e-9, "{result:?}");
}

#[test]
fn an_amdgpu_with_only_power_average_is_metered_by_integrating_sampled_power() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon1/name", "amdgpu\n");
    write(dir.path(), "hwmon1/power1_average", "50000000\n"); // 50 W in µW
    let meter = HwmonMeter::open(&dir.path().join("hwmon1"), PERIOD).unwrap();
    assert_eq!(meter.method(), Method::PowerSampling { period_s: 0.005 });
    let window = EnergyWindow::start(&meter).unwrap();
    std::thread::sleep(Duration::from_millis(80));
    let result = window.stop().unwrap();
    // Constant power: the trapezoid integral is exact over the sampled span.
    let power_w = result.power_w().unwrap();
    assert!((power_w - 50.0).abs() < 1e-6, "{result:?}");
    assert!(result.window_s > 0.01, "{result:?}");
}

#[test]
fn an_amdgpu_with_power_input_is_used_when_power_average_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon0/name", "amdgpu");
    write(dir.path(), "hwmon0/power1_input", "20000000");
    let meter = HwmonMeter::open(&dir.path().join("hwmon0"), PERIOD).unwrap();
    let window = EnergyWindow::start(&meter).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let result = window.stop().unwrap();
    assert!((result.power_w().unwrap() - 20.0).abs() < 1e-6, "{result:?}");
}

#[test]
fn a_gpu_hwmon_without_power_or_energy_files_names_every_path_it_tried() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon2/name", "amdgpu\n");
    write(dir.path(), "hwmon2/temp1_input", "45000\n");
    let err = HwmonMeter::open(&dir.path().join("hwmon2"), PERIOD).unwrap_err();
    let text = err.to_string();
    for file in ["energy1_input", "power1_average", "power1_input"] {
        let path = dir.path().join("hwmon2").join(file);
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
}

#[test]
fn a_hwmon_directory_without_a_name_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("hwmon7")).unwrap();
    let err = HwmonMeter::open(&dir.path().join("hwmon7"), PERIOD).unwrap_err();
    assert!(matches!(err, EnergyError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("hwmon7/name: not found"), "{err}");
}

#[test]
fn an_energy_file_that_disappears_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon3/name", "xe");
    write(dir.path(), "hwmon3/energy1_input", "1");
    let meter = HwmonMeter::open(&dir.path().join("hwmon3"), PERIOD).unwrap();
    std::fs::remove_file(dir.path().join("hwmon3/energy1_input")).unwrap();
    let err = meter.read().unwrap_err();
    assert!(err.to_string().contains("hwmon3/energy1_input: not found"), "{err}");
}

#[test]
fn a_power_file_that_turns_corrupt_makes_reads_fail_instead_of_returning_stale_energy() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon1/name", "amdgpu");
    write(dir.path(), "hwmon1/power1_average", "1000000");
    let meter = HwmonMeter::open(&dir.path().join("hwmon1"), PERIOD).unwrap();
    write(dir.path(), "hwmon1/power1_average", "N/A");
    std::thread::sleep(Duration::from_millis(40));
    let err = meter.read().unwrap_err();
    assert!(err.to_string().contains("power1_average"), "{err}");
    assert!(err.to_string().contains("N/A"), "{err}");
}

#[test]
fn scanning_keeps_gpus_skips_other_chips_and_reports_broken_gpus() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hwmon0/name", "coretemp");
    write(dir.path(), "hwmon1/name", "amdgpu");
    write(dir.path(), "hwmon1/power1_average", "1000000");
    write(dir.path(), "hwmon2/name", "i915");
    write(dir.path(), "hwmon3/name", "nvme");
    let scan = HwmonMeter::scan(dir.path(), PERIOD).unwrap();
    let names: Vec<&str> = scan.meters.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["hwmon:amdgpu-hwmon1"]);
    assert_eq!(scan.failures.len(), 1);
    assert!(scan.failures[0].to_string().contains("hwmon2/energy1_input"), "{:?}", scan.failures);
}

#[test]
fn a_machine_without_hwmon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = HwmonMeter::scan(&dir.path().join("hwmon"), PERIOD).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
