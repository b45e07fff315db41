use std::time::{Duration, Instant};

use dfma_runtime::energy::{
    DomainEnergy, EnergyError, EnergyMeter, EnergyReading, EnergyWindow, MeterKind, Method, RaplMeter, Scope,
    WindowEnergy, measure_idle_power, recommended_min_window,
};

use crate::fixture::{powercap, write};

#[test]
fn a_counter_that_does_not_move_within_the_window_reports_window_too_short_not_zero_joules() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 5_000_000, 6_000_000, 1_000_000_000);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    let result = EnergyWindow::start(&meter).unwrap().stop().unwrap();
    assert!(!result.counter_moved());
    assert_eq!(result.energy_j(), None);
    assert_eq!(result.power_w(), None);
    let text = result.to_string();
    assert!(text.contains("window too short: counter did not move"), "{text}");
    assert!(!text.contains(" 0.0000 J"), "{text}");
}

#[test]
fn one_domain_that_does_not_move_makes_the_whole_window_unknown() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 5_000_000, 6_000_000, 1_000_000_000);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    let window = EnergyWindow::start(&meter).unwrap();
    write(dir.path(), "intel-rapl:0/energy_uj", "7000000");
    let result = window.stop().unwrap();
    assert!(result.domains[0].moved);
    assert!(!result.domains[1].moved);
    assert_eq!(result.energy_j(), None);
}

#[test]
fn a_moving_counter_reports_joules_seconds_and_mean_power() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 5_000_000, 6_000_000, 1_000_000_000);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    let window = EnergyWindow::start(&meter).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    write(dir.path(), "intel-rapl:0/energy_uj", "7000000");
    write(dir.path(), "intel-rapl:0:1/energy_uj", "6500000");
    let result = window.stop().unwrap();
    assert!((result.energy_j().unwrap() - 2.5).abs() < 1e-9);
    assert!(result.window_s >= 0.020, "{}", result.window_s);
    let power_w = result.power_w().unwrap();
    assert!((power_w - 2.5 / result.window_s).abs() < 1e-9);
    let text = result.to_string();
    assert!(text.starts_with("measured 2.5000 J over"), "{text}");
    assert!(text.contains("rapl, energy counter"), "{text}");
}

#[test]
fn idle_power_is_measured_over_the_requested_window() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 5_000_000, 6_000_000, 1_000_000_000);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    let result = measure_idle_power(&meter, Duration::from_millis(30)).unwrap();
    assert!(result.window_s >= 0.030, "{}", result.window_s);
    // The fixture's counters do not move: idle power is unknown, not 0 W.
    assert_eq!(result.power_w(), None);
}

/// A meter whose readings the test sets, to check windows independently of any sysfs layout.
struct Scripted {
    domains: Vec<String>,
    values: std::sync::Mutex<Vec<f64>>,
}

impl EnergyMeter for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn kind(&self) -> MeterKind {
        MeterKind::Estimated
    }
    fn method(&self) -> Method {
        Method::Estimate { formula: "test formula".to_string() }
    }
    fn scope(&self) -> Scope {
        Scope::Gpu
    }
    fn domains(&self) -> &[String] {
        &self.domains
    }
    fn update_period_s(&self) -> f64 {
        0.1
    }
    fn read(&self) -> Result<EnergyReading, EnergyError> {
        let energy_j = self.values.lock().unwrap().remove(0);
        let domain = DomainEnergy { domain: "gpu0".to_string(), energy_j, wrap_j: None };
        Ok(EnergyReading { at: Instant::now(), domains: vec![domain] })
    }
}

#[test]
fn an_estimated_window_says_estimated_and_gives_its_formula() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![1.0, 4.0].into() };
    let result = EnergyWindow::start(&meter).unwrap().stop().unwrap();
    assert_eq!(result.kind, MeterKind::Estimated);
    let text = result.to_string();
    assert!(text.starts_with("estimated 3.0000 J"), "{text}");
    assert!(text.contains("estimate: test formula"), "{text}");
    assert!(!text.contains("measured"), "{text}");
    let json = serde_json::to_string(&result).unwrap();
    assert!(json.contains(r#""kind":"estimated""#), "{json}");
    assert!(json.contains(r#""method":"estimate","formula":"test formula""#), "{json}");
}

#[test]
fn a_counter_that_goes_backwards_without_a_wrap_range_is_an_error() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![4.0, 1.0].into() };
    let err = EnergyWindow::start(&meter).unwrap().stop().unwrap_err();
    assert!(err.to_string().contains("gpu0: counter went backwards"), "{err}");
}

#[test]
fn readings_with_different_domains_cannot_make_a_window() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![].into() };
    let at = Instant::now();
    let a = EnergyReading { at, domains: vec![DomainEnergy { domain: "gpu0".into(), energy_j: 1.0, wrap_j: None }] };
    let b = EnergyReading { at, domains: vec![DomainEnergy { domain: "gpu1".into(), energy_j: 2.0, wrap_j: None }] };
    assert!(WindowEnergy::from_readings(&meter, &a, &b).is_err());
}

#[test]
fn the_recommended_window_is_ten_update_periods_but_never_under_200_ms() {
    let slow = Scripted { domains: vec![], values: vec![].into() };
    assert_eq!(recommended_min_window(&slow), Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 1, 2, 1000);
    let rapl = RaplMeter::probe(dir.path()).unwrap();
    assert_eq!(recommended_min_window(&rapl), Duration::from_millis(200));
}

#[test]
fn a_window_whose_counter_did_not_move_serializes_null_energy_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    powercap(dir.path(), 5_000_000, 6_000_000, 1_000_000_000);
    let meter = RaplMeter::probe(dir.path()).unwrap();
    let result = EnergyWindow::start(&meter).unwrap().stop().unwrap();
    let json: serde_json::Value = serde_json::to_value(&result).unwrap();
    assert_eq!(json["kind"], "measured");
    assert_eq!(json["method"], "energy_counter");
    assert!(json["energy_j"].is_null(), "{json}");
    assert!(json["power_w"].is_null(), "{json}");
    assert_eq!(json["counter_moved"], false);
    assert!(json["status"].as_str().unwrap().contains("window too short: counter did not move"));
    assert_eq!(json["domains"][0]["domain"], "package-0");
}

#[test]
fn a_moving_window_serializes_its_total_and_mean_power() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![1.0, 4.0].into() };
    let result = EnergyWindow::start(&meter).unwrap().stop().unwrap();
    let json: serde_json::Value = serde_json::to_value(&result).unwrap();
    assert_eq!(json["energy_j"], 3.0);
    assert_eq!(json["counter_moved"], true);
    assert!(json["power_w"].as_f64().unwrap() > 0.0, "{json}");
}

#[test]
fn meters_other_than_nvml_have_no_gpu_clocks() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![].into() };
    assert_eq!(meter.gpu_clocks(), None);
}

#[test]
fn energy_per_launch_divides_the_window_by_the_launch_count() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![1.0, 4.0].into() };
    let result = EnergyWindow::start(&meter).unwrap().stop().unwrap();
    assert_eq!(result.energy_per_launch_j(1000), Some(0.003));
    assert_eq!(result.energy_per_launch_j(0), None);
}

#[test]
fn energy_above_idle_subtracts_idle_power_over_the_same_length_without_clamping() {
    let meter = Scripted { domains: vec!["gpu0".to_string()], values: vec![].into() };
    let window = |window_s: f64, energy_j: f64| WindowEnergy {
        meter: meter.name().to_string(),
        kind: MeterKind::Measured,
        method: Method::EnergyCounter,
        window_s,
        update_period_s: 0.001,
        domains: vec![dfma_runtime::energy::DomainWindow {
            domain: "gpu0".to_string(),
            energy_j,
            moved: energy_j > 0.0,
        }],
    };
    let idle = window(0.2, 10.0); // 50 W
    assert_eq!(window(2.0, 300.0).energy_above_idle_j(&idle), Some(200.0));
    assert_eq!(window(2.0, 80.0).energy_above_idle_j(&idle), Some(-20.0));
    let mut other = idle.clone();
    other.meter = "rapl".to_string();
    assert_eq!(window(2.0, 300.0).energy_above_idle_j(&other), None);
    assert_eq!(window(2.0, 0.0).energy_above_idle_j(&idle), None);
}
