//! WattTime v3 and Carbon Aware SDK JSON, and the renewable-share signal: good documents parse
//! into the right slots and units; bad ones are typed errors with the file and line.

use std::path::Path;

use dfma_runtime::schedule::watttime::G_PER_KWH_PER_LB_PER_MWH;
use dfma_runtime::schedule::{
    Signal, TraceError, TraceProblem, parse_carbon_aware_forecast_json, parse_electricity_maps_signal_csv,
    parse_watttime_json,
};

/// A WattTime v3 response with one point per line (times, values in lb/MWh) and the given meta.
fn watttime(points: &[(&str, &str)], meta: &str) -> String {
    let data: Vec<String> =
        points.iter().map(|(t, v)| format!("    {{ \"point_time\": \"{t}\", \"value\": {v} }}")).collect();
    format!("{{\n  \"data\": [\n{}\n  ],\n  \"meta\": {meta}\n}}", data.join(",\n"))
}

const MOER_META: &str =
    r#"{ "data_point_period_seconds": 300, "signal_type": "co2_moer", "units": "lbs_co2_per_mwh", "region": "X" }"#;

fn wt_err(points: &[(&str, &str)], meta: &str) -> TraceError {
    parse_watttime_json(Path::new("wt.json"), &watttime(points, meta)).unwrap_err()
}

#[test]
fn a_watttime_forecast_becomes_five_minute_slots_in_grams_per_kwh() {
    let doc = watttime(&[("2024-05-01T00:00:00+00:00", "1000"), ("2024-05-01T00:05:00+00:00", "500.5")], MOER_META);
    let t = parse_watttime_json(Path::new("wt.json"), &doc).unwrap();
    assert_eq!((t.start_s, t.slot_s), (1_714_521_600, 300));
    // 1000 lb/MWh = 453.59237 g/kWh exactly.
    assert!((t.g_per_kwh[0] - 453.592_37).abs() < 1e-9, "{:?}", t.g_per_kwh);
    assert_eq!(t.g_per_kwh[1], 500.5 * G_PER_KWH_PER_LB_PER_MWH);
}

#[test]
fn watttime_units_are_never_guessed() {
    let p = [("2024-05-01T00:00:00Z", "1"), ("2024-05-01T00:05:00Z", "2")];
    for (meta, found) in [
        (r#"{ "signal_type": "co2_moer", "units": "percentile" }"#, "percentile"),
        (r#"{ "signal_type": "co2_moer", "units": "kg_co2_per_mwh" }"#, "kg_co2_per_mwh"),
        (r#"{ "signal_type": "co2_moer" }"#, ""),
    ] {
        let e = wt_err(&p, meta);
        assert!(matches!(&e.problem, TraceProblem::Units { found: f, .. } if f == found), "{e}");
        assert_eq!(e.line, 6, "the line of \"meta\": {e}");
    }
    let e = wt_err(&p, r#"{ "signal_type": "health_damage", "units": "lbs_co2_per_mwh" }"#);
    assert!(matches!(e.problem, TraceProblem::Malformed { .. }), "{e}");
}

#[test]
fn watttime_duplicates_reversals_gaps_and_bad_values_name_their_line() {
    let e = wt_err(&[("2024-05-01T00:00:00Z", "1"), ("2024-05-01T00:00:00Z", "2")], MOER_META);
    assert_eq!((e.line, matches!(e.problem, TraceProblem::Duplicate { .. })), (4, true), "{e}");
    let e = wt_err(&[("2024-05-01T00:05:00Z", "1"), ("2024-05-01T00:00:00Z", "2")], MOER_META);
    assert!(matches!(e.problem, TraceProblem::NonMonotonic { .. }), "{e}");
    let e = wt_err(&[("2024-05-01T00:00:00Z", "1"), ("2024-05-01T00:15:00Z", "2")], MOER_META);
    assert!(matches!(e.problem, TraceProblem::Gap { missing_slots: 2, .. }), "{e}");
    let e = wt_err(&[("2024-05-01T00:00:00Z", "1"), ("2024-05-01T00:05:00Z", "-3")], MOER_META);
    assert_eq!((e.line, e.problem), (4, TraceProblem::BadValue { text: "-3".into() }));
    let e = wt_err(&[("2024-05-01T00:00:00.25Z", "1")], MOER_META);
    assert!(matches!(e.problem, TraceProblem::BadTimestamp { .. }), "{e}");
}

#[test]
fn truncated_json_is_malformed_on_its_line() {
    let full = watttime(&[("2024-05-01T00:00:00Z", "1"), ("2024-05-01T00:05:00Z", "2")], MOER_META);
    let cut = &full[..full.len() / 2];
    let e = parse_watttime_json(Path::new("wt.json"), cut).unwrap_err();
    assert!(matches!(e.problem, TraceProblem::Malformed { .. }), "{e}");
    assert!(e.line > 0, "{e}");
    let e = parse_carbon_aware_forecast_json(Path::new("ca.json"), "[{\"forecastData\": [").unwrap_err();
    assert!(matches!(e.problem, TraceProblem::Malformed { .. }), "{e}");
}

/// A Carbon Aware SDK forecast response for one location; points are (timestamp, minutes, value).
fn carbon_aware(points: &[(&str, u32, &str)]) -> String {
    let data: Vec<String> = points
        .iter()
        .map(|(t, d, v)| {
            format!("      {{ \"location\": \"X\", \"timestamp\": \"{t}\", \"duration\": {d}, \"value\": {v} }}")
        })
        .collect();
    format!(
        "[\n  {{\n    \"location\": \"eastus\",\n    \"windowSize\": 30,\n    \"optimalDataPoints\": [\n      \
         {{ \"timestamp\": \"2022-07-19T14:00:00Z\", \"duration\": 30, \"value\": 1 }}\n    ],\n    \
         \"forecastData\": [\n{}\n    ]\n  }}\n]",
        data.join(",\n")
    )
}

fn ca_err(points: &[(&str, u32, &str)]) -> TraceError {
    parse_carbon_aware_forecast_json(Path::new("ca.json"), &carbon_aware(points)).unwrap_err()
}

#[test]
fn a_carbon_aware_sdk_forecast_becomes_slots_of_its_point_duration() {
    let doc = carbon_aware(&[("2022-07-19T14:00:00+00:00", 30, "532.5"), ("2022-07-19T14:30:00+00:00", 30, "448")]);
    let t = parse_carbon_aware_forecast_json(Path::new("ca.json"), &doc).unwrap();
    assert_eq!((t.start_s, t.slot_s, t.g_per_kwh.clone()), (1_658_239_200, 1800, vec![532.5, 448.0]));
}

#[test]
fn carbon_aware_windowed_averages_and_mixed_durations_are_refused() {
    // windowSize averages: 60-minute points five minutes apart overlap.
    let e = ca_err(&[("2022-07-19T14:00:00Z", 60, "1"), ("2022-07-19T14:05:00Z", 60, "2")]);
    assert!(matches!(&e.problem, TraceProblem::Malformed { message } if message.contains("overlapping")), "{e}");
    assert_eq!(e.line, 10, "the second forecastData point, past the optimal one: {e}");
    let e = ca_err(&[("2022-07-19T14:00:00Z", 30, "1"), ("2022-07-19T14:30:00Z", 60, "2")]);
    assert_eq!(e.problem, TraceProblem::BadSlotEnd { length_s: 3600 });
}

#[test]
fn carbon_aware_duplicates_reversals_gaps_and_several_locations_are_refused() {
    let e = ca_err(&[("2022-07-19T14:00:00Z", 30, "1"), ("2022-07-19T14:00:00Z", 30, "2")]);
    assert!(matches!(e.problem, TraceProblem::Duplicate { .. }), "{e}");
    let e = ca_err(&[("2022-07-19T14:30:00Z", 30, "1"), ("2022-07-19T14:00:00Z", 30, "2")]);
    assert!(matches!(e.problem, TraceProblem::NonMonotonic { .. }), "{e}");
    let e = ca_err(&[("2022-07-19T14:00:00Z", 30, "1"), ("2022-07-19T15:30:00Z", 30, "2")]);
    assert!(matches!(e.problem, TraceProblem::Gap { missing_slots: 2, .. }), "{e}");
    let e = ca_err(&[("2022-07-19T14:00:00Z", 30, "null")]);
    assert!(matches!(e.problem, TraceProblem::BadValue { .. }), "{e}");
    let two = r#"[{"location": "eastus", "forecastData": []}, {"location": "westus", "forecastData": []}]"#;
    let e = parse_carbon_aware_forecast_json(Path::new("ca.json"), two).unwrap_err();
    assert!(e.to_string().contains("2 forecasts (eastus, westus)"), "{e}");
}

const EM_HEADER: &str = "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Renewable Percentage";

#[test]
fn the_renewable_signal_is_the_non_renewable_fraction() {
    let text = format!("{EM_HEADER}\n2022-01-01 00:00:00,X,200,41.25\n2022-01-01 01:00:00,X,150,100\n");
    let t = parse_electricity_maps_signal_csv(Path::new("em.csv"), &text, Signal::Renewable).unwrap();
    assert_eq!(t.g_per_kwh, vec![(100.0 - 41.25) / 100.0, 0.0]);
    let carbon = parse_electricity_maps_signal_csv(Path::new("em.csv"), &text, Signal::Carbon).unwrap();
    assert_eq!(carbon.g_per_kwh, vec![200.0, 150.0]);
    let over = format!("{EM_HEADER}\n2022-01-01 00:00:00,X,200,100.5\n");
    let e = parse_electricity_maps_signal_csv(Path::new("em.csv"), &over, Signal::Renewable).unwrap_err();
    assert_eq!((e.line, e.problem), (2, TraceProblem::BadValue { text: "100.5".into() }));
    let no_column = "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n2022-01-01 00:00:00,200\n";
    let e = parse_electricity_maps_signal_csv(Path::new("em.csv"), no_column, Signal::Renewable).unwrap_err();
    assert!(matches!(e.problem, TraceProblem::UnknownHeader { .. }), "{e}");
}
