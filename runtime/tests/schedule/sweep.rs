//! The reference experiment of `../shared/data/carbon/README.md` for every policy: the
//! perfect-foresight saving reproduces the README's figures within 0.5 points on CAISO and Spain
//! 2022, and no policy beats it.

use dfma_runtime::schedule::{Policy, parse_electricity_maps_csv, sweep};

use super::data;

fn check(zone: &str, reference: [(usize, f64); 4]) {
    let Some(path) = data::fixture(zone) else { return };
    let trace = parse_electricity_maps_csv(&path, &data::read(&path)).unwrap();
    let windows: Vec<usize> = reference.iter().map(|r| r.0).collect();
    let policies = [Policy::RunAtOnce, Policy::Threshold { g_per_kwh: 200.0 }, Policy::Optimal, Policy::Online];
    let rows = sweep(&trace, &trace, &windows, &policies).unwrap();
    for (row, (n, expected)) in rows.iter().zip(reference) {
        assert_eq!((row.window_slots, row.jobs), (n, trace.len() - n));
        let bound = row.bound_saving();
        println!("{zone} N={n}: bound {:.2} % (README {expected:.1} %)", bound * 100.0);
        assert!((bound - expected / 100.0).abs() <= 0.005, "{zone} N={n}: {bound} vs {expected} %");
        for (policy, e) in &row.policies {
            println!("  {policy:?}: realised {:.2} %", e.realised_saving() * 100.0);
            assert_eq!(e.deadline_misses, 0, "{policy:?}");
            assert!(e.realised_saving() <= bound + 1e-12, "{zone} N={n}: {policy:?} beats the bound");
        }
        let realised = |i: usize| row.policies[i].1.realised_saving();
        assert_eq!(realised(0), 0.0, "run-at-once is the baseline");
        assert!((realised(2) - bound).abs() < 1e-12 && (realised(3) - bound).abs() < 1e-12, "perfect foresight");
    }
}

#[test]
fn caiso_2022_windows_reproduce_the_reference_bounds_and_no_policy_beats_them() {
    check("US-CAL-CISO_2022_hourly.csv", [(4, 10.4), (8, 19.7), (12, 28.2), (24, 36.7)]);
}

#[test]
fn spain_2022_windows_reproduce_the_reference_bounds_and_no_policy_beats_them() {
    check("ES_2022_hourly.csv", [(4, 7.7), (8, 13.5), (12, 18.1), (24, 24.9)]);
}
