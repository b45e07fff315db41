//! GB forecast versus actual: plan on the forecast, be charged on the actual.

use dfma_runtime::schedule::{Job, Policy, evaluate, parse_gb_api_json, parse_gb_forecast_csv};

use super::data;

/// Every 1-slot (30 min) job with a 4-hour window that fits the measured span.
fn jobs(slots: usize) -> Vec<Job> {
    (0..slots - 8).map(|t| Job::new(format!("t{t}"), 0.5, 1, t, t + 8, false).unwrap()).collect()
}

#[test]
fn planning_on_the_gb_forecast_reports_planned_and_realised_saving() {
    let (Some(json), Some(csv)) =
        (data::fixture("national_pt24h_2023-03-15T0331Z.json"), data::fixture("national_fw48h_2023-03-14T0331Z.csv"))
    else {
        return;
    };
    let api = parse_gb_api_json(&json, &data::read(&json)).unwrap();
    let day_ahead = parse_gb_forecast_csv(&csv, &data::read(&csv)).unwrap();
    assert_eq!(api.forecast.len(), 48);
    assert_eq!(api.actual.len(), 45, "the last three slots are unmeasured (null) in the fixture");
    assert_eq!(day_ahead.len(), 96);
    assert_eq!(day_ahead.start_s, api.actual.start_s);
    let actual = api.actual;
    let n = actual.len();
    let jobs = jobs(n);
    for (label, forecast) in [
        ("48-hour forecast issued 03:31Z", day_ahead.slice(0, n).unwrap()),
        ("API forecast", api.forecast.slice(0, n).unwrap()),
    ] {
        let e = evaluate(&jobs, Policy::Optimal, &forecast, &actual).unwrap();
        println!(
            "GB 2023-03-14, plan on {label}: planned saving {:.2} %, realised {:.2} %, bound {:.2} %, gap {:.2} points",
            e.planned_saving() * 100.0,
            e.realised_saving() * 100.0,
            e.bound_saving() * 100.0,
            e.gap_to_bound() * 100.0
        );
        assert_eq!(e.deadline_misses, 0);
        assert!(e.planned_saving() >= 0.0);
        assert!(e.realised_saving() <= e.bound_saving() + 1e-12, "forecast planning beat the bound");
    }
}
