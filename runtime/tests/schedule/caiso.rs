//! The reference figures of `../shared/data/carbon/README.md` on CAISO 2022.
//!
//! One 1-hour job released at every hour t, which may start at t..=t+N. A job whose window runs
//! past the last hour of the year is not a valid job (its deadline is past the trace, which the
//! scheduler rejects), so the last N release hours are left out of both sums; keeping them with
//! a clipped window instead moves the figures by under 0.06 points.

use dfma_runtime::schedule::{Job, Policy, evaluate, parse_electricity_maps_csv};

use super::data;

#[test]
fn perfect_foresight_on_caiso_2022_reproduces_the_reference_savings_and_no_policy_beats_it() {
    let Some(path) = data::fixture("US-CAL-CISO_2022_hourly.csv") else { return };
    let trace = parse_electricity_maps_csv(&path, &data::read(&path)).unwrap();
    assert_eq!(trace.len(), 8760);
    for (n, expected) in [(4, 0.104), (8, 0.197), (12, 0.282), (24, 0.367)] {
        let jobs: Vec<Job> =
            (0..trace.len() - n).map(|t| Job::new(format!("t{t}"), 1.0, 1, t, t + n + 1, false).unwrap()).collect();
        let optimal = evaluate(&jobs, Policy::Optimal, &trace, &trace).unwrap();
        let saving = optimal.realised_saving();
        println!(
            "CAISO 2022, N={n}: perfect-foresight saving {:.2} % (reference {:.1} %)",
            saving * 100.0,
            expected * 100.0
        );
        assert!((saving - expected).abs() <= 0.005, "N={n}: {saving} vs {expected}");
        assert_eq!(optimal.deadline_misses, 0);
        assert!((optimal.bound_saving() - saving).abs() < 1e-12);
        for policy in
            [Policy::RunAtOnce, Policy::Threshold { g_per_kwh: 150.0 }, Policy::Threshold { g_per_kwh: 250.0 }]
        {
            let e = evaluate(&jobs, policy, &trace, &trace).unwrap();
            assert_eq!(e.deadline_misses, 0, "{policy:?}");
            assert!(e.carbon_g >= optimal.carbon_g * (1.0 - 1e-12), "{policy:?} beats the bound");
            println!(
                "  {policy:?}: saving {:.2} %, gap to bound {:.2} points",
                e.realised_saving() * 100.0,
                e.gap_to_bound() * 100.0
            );
        }
    }
}
