use std::sync::Arc;

use dfma_runtime::energy::{EnergyError, EnergyMeter, EnergyWindow, MeterKind, Method, RaplMeter, Scope};

use crate::fixture::{DenyFile, powercap, write};

#[test]
fn package_and_dram_domains_come_from_name_files_and_overlapping_zones_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1_000_000, 2_000_000, 262_143_328_850);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    assert_eq!(meter.domains(), ["package-0", "dram-0"]);
    assert_eq!(meter.kind(), MeterKind::Measured);
    assert_eq!(meter.method(), Method::EnergyCounter);
    assert_eq!(meter.scope(), Scope::Cpu);
    let reading = meter.read().unwrap();
    assert_eq!(reading.domains[0].energy_j, 1.0);
    assert_eq!(reading.domains[1].energy_j, 2.0);
    assert_eq!(reading.domains[0].wrap_j, Some(262_143.328_85));
}

#[test]
fn a_second_package_gets_its_own_package_and_dram_domains_in_order() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1, 2, 1000);
    for (zone, name) in [("intel-rapl:10", "package-10"), ("intel-rapl:10:0", "dram")] {
        write(dir.path(), &format!("{zone}/name"), name);
        write(dir.path(), &format!("{zone}/energy_uj"), "3");
        write(dir.path(), &format!("{zone}/max_energy_range_uj"), "1000");
    }
    let meter = RaplMeter::probe(dir.path()).unwrap();
    assert_eq!(meter.domains(), ["package-0", "dram-0", "package-10", "dram-10"]);
}

#[test]
fn a_counter_that_wraps_past_max_energy_range_counts_the_joules_across_the_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let range_uj = 262_143_328_850u64;
    // 3 J before the end of the range; the dram counter moves normally.
    powercap(dir.path(), range_uj - 3_000_000, 10_000_000, range_uj);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    let window = EnergyWindow::start(&meter).unwrap();
    // The package counter wraps and reaches 4.5 J past zero: 7.5 J in the window.
    write(dir.path(), "intel-rapl:0/energy_uj", "4500000\n");
    write(dir.path(), "intel-rapl:0:1/energy_uj", "11000000\n");
    let result = window.stop().unwrap();
    assert!(result.counter_moved());
    assert!((result.domains[0].energy_j - 7.5).abs() < 1e-6, "{result:?}");
    assert!((result.domains[1].energy_j - 1.0).abs() < 1e-6, "{result:?}");
    assert!((result.energy_j().unwrap() - 8.5).abs() < 1e-6);
}

#[test]
fn permission_denied_on_energy_uj_explains_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1, 2, 1000);
    let err = RaplMeter::probe_with(dir.path(), Arc::new(DenyFile("energy_uj"))).unwrap_err();
    assert!(matches!(err, EnergyError::PermissionDenied { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("intel-rapl:0/energy_uj: permission denied"), "{text}");
    assert!(text.contains("run as root or `sudo chmod o+r"), "{text}");
}

#[test]
fn a_corrupt_energy_file_is_an_error_naming_the_file_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1, 2, 1000);
    write(dir.path(), "intel-rapl:0:1/energy_uj", "\u{0}garbage");
    let err = RaplMeter::probe(dir.path()).unwrap_err();
    assert!(matches!(err, EnergyError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("intel-rapl:0:1/energy_uj"), "{err}");
}

#[test]
fn a_zero_wrap_range_is_rejected_because_wraparound_could_not_be_handled() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1, 2, 0);
    let err = RaplMeter::probe(dir.path()).unwrap_err();
    assert!(err.to_string().contains("max_energy_range_uj"), "{err}");
}

#[test]
fn a_machine_without_powercap_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = RaplMeter::probe(&dir.path().join("powercap")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn a_powercap_tree_without_rapl_zones_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "dtpm/name", "dtpm");
    let err = RaplMeter::probe(dir.path()).unwrap_err();
    assert!(err.to_string().contains("no intel-rapl package or dram zone"), "{err}");
}

#[test]
fn a_counter_file_that_disappears_mid_run_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1, 2, 1000);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("intel-rapl:0/energy_uj")).unwrap();
    let err = meter.read().unwrap_err();
    assert!(matches!(err, EnergyError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("intel-rapl:0/energy_uj: not found"), "{err}");
}
