//! Every bad input is a typed error naming the file, the line and the problem.

use std::path::Path;

use dfma_runtime::schedule::{
    CarbonTrace, Job, JobError, Policy, TraceError, TraceProblem, evaluate, parse_electricity_maps_csv,
    parse_gb_api_json, parse_gb_forecast_csv, place,
};

const EM_HEADER: &str =
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA)";

fn em(rows: &[&str]) -> Result<CarbonTrace, TraceError> {
    let text = std::iter::once(EM_HEADER).chain(rows.iter().copied()).collect::<Vec<_>>().join("\n");
    parse_electricity_maps_csv(Path::new("em.csv"), &text)
}

fn row(t: &str, v: &str) -> String {
    format!("{t},USA,CAISO,US-CAL-CISO,{v},300")
}

fn em_err(rows: &[String]) -> TraceError {
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    em(&rows).unwrap_err()
}

#[test]
fn a_good_electricity_maps_csv_parses_into_hourly_slots() {
    let t = em(&[&row("2022-01-01 00:00:00", "200.5"), &row("2022-01-01 01:00:00", "150")]).unwrap();
    assert_eq!((t.start_s, t.slot_s, t.g_per_kwh.clone()), (1_640_995_200, 3600, vec![200.5, 150.0]));
}

#[test]
fn a_gap_is_rejected_with_its_line_and_size() {
    let e = em_err(&[row("2022-01-01 00:00:00", "1"), row("2022-01-01 03:00:00", "1")]);
    assert_eq!(e.line, 3);
    assert_eq!(e.problem, TraceProblem::Gap { missing_slots: 2, from_s: 1_640_995_200 + 3600 });
    assert!(e.to_string().starts_with("em.csv:3: gap: 2 slot(s)"), "{e}");
}

#[test]
fn a_duplicate_timestamp_is_rejected() {
    let e =
        em_err(&[row("2022-01-01 00:00:00", "1"), row("2022-01-01 01:00:00", "1"), row("2022-01-01 01:00:00", "2")]);
    assert_eq!(e.line, 4);
    assert!(matches!(e.problem, TraceProblem::Duplicate { .. }), "{e}");
}

#[test]
fn a_timestamp_going_backwards_is_rejected() {
    let e = em_err(&[row("2022-01-01 01:00:00", "1"), row("2022-01-01 00:00:00", "1")]);
    assert!(matches!(e.problem, TraceProblem::NonMonotonic { .. }), "{e}");
}

#[test]
fn an_off_grid_timestamp_is_rejected() {
    let e = em_err(&[row("2022-01-01 00:00:00", "1"), row("2022-01-01 00:30:00", "1")]);
    assert!(matches!(e.problem, TraceProblem::IrregularStep { step_s: 1800, slot_s: 3600 }), "{e}");
}

#[test]
fn missing_and_unparsable_values_are_rejected_never_filled() {
    for v in ["", "abc", "-3", "NaN", "inf"] {
        let e = em_err(&[row("2022-01-01 00:00:00", "1"), row("2022-01-01 01:00:00", v)]);
        assert_eq!((e.line, e.problem.clone()), (3, TraceProblem::BadValue { text: v.into() }), "{v:?}");
    }
}

#[test]
fn an_unparsable_timestamp_and_a_short_row_are_rejected() {
    let e = em_err(&[row("2022-01-01T00:00:00Z", "1")]);
    assert!(matches!(e.problem, TraceProblem::BadTimestamp { .. }), "{e}");
    let e = em(&["2022-01-01 00:00:00,USA"]).unwrap_err();
    assert!(matches!(e.problem, TraceProblem::MissingField { .. }), "{e}");
}

#[test]
fn an_unknown_header_is_rejected() {
    let e = parse_electricity_maps_csv(Path::new("x.csv"), "Datetime,Carbon Intensity (direct)\n2022-01-01 00:00:00,1")
        .unwrap_err();
    assert_eq!(e.line, 1);
    assert!(matches!(e.problem, TraceProblem::UnknownHeader { .. }), "{e}");
    let e = parse_gb_forecast_csv(Path::new("f.csv"), "from,forecast\n2023-03-14T03:30Z,69").unwrap_err();
    assert!(matches!(e.problem, TraceProblem::UnknownHeader { .. }), "{e}");
}

#[test]
fn the_gb_forecast_csv_checks_slot_ends_and_gaps() {
    let ok = "from,to,forecast,index\n2023-03-14T03:30Z,2023-03-14T04:00Z,69,low\n2023-03-14T04:00Z,2023-03-14T04:30Z,72,low";
    assert_eq!(parse_gb_forecast_csv(Path::new("f.csv"), ok).unwrap().g_per_kwh, vec![69.0, 72.0]);
    let bad_end = "from,to,forecast,index\n2023-03-14T03:30Z,2023-03-14T05:00Z,69,low";
    let e = parse_gb_forecast_csv(Path::new("f.csv"), bad_end).unwrap_err();
    assert_eq!((e.line, e.problem), (2, TraceProblem::BadSlotEnd { length_s: 5400 }));
    let gap = "from,intensity.forecast,intensity.actual\n2023-03-14T03:30Z,69,\n2023-03-14T05:00Z,72,";
    let e = parse_gb_forecast_csv(Path::new("f.csv"), gap).unwrap_err();
    assert!(matches!(e.problem, TraceProblem::Gap { missing_slots: 2, .. }), "{e}");
}

fn gb(elements: &[(&str, &str, &str, &str)]) -> String {
    let els: Vec<String> = elements
        .iter()
        .map(|(f, t, fc, a)| {
            format!("    {{\n      \"from\": \"{f}\",\n      \"to\": \"{t}\",\n      \"intensity\": {{ \"forecast\": {fc}, \"actual\": {a} }}\n    }}")
        })
        .collect();
    format!("{{\n  \"data\": [\n{}\n  ]\n}}", els.join(",\n"))
}

#[test]
fn the_gb_api_json_ends_the_actual_trace_at_trailing_nulls_but_rejects_an_inner_null() {
    let ok = gb(&[
        ("2023-03-14T03:30Z", "2023-03-14T04:00Z", "72", "78"),
        ("2023-03-14T04:00Z", "2023-03-14T04:30Z", "79", "null"),
    ]);
    let p = parse_gb_api_json(Path::new("gb.json"), &ok).unwrap();
    assert_eq!((p.forecast.len(), p.actual.len()), (2, 1));
    let inner = gb(&[
        ("2023-03-14T03:30Z", "2023-03-14T04:00Z", "72", "null"),
        ("2023-03-14T04:00Z", "2023-03-14T04:30Z", "79", "80"),
    ]);
    let e = parse_gb_api_json(Path::new("gb.json"), &inner).unwrap_err();
    assert_eq!(e.line, 9, "{e}");
    assert!(matches!(e.problem, TraceProblem::BadValue { .. }), "{e}");
}

#[test]
fn the_gb_api_json_rejects_duplicates_bad_values_and_malformed_documents() {
    let dup = gb(&[
        ("2023-03-14T03:30Z", "2023-03-14T04:00Z", "72", "78"),
        ("2023-03-14T03:30Z", "2023-03-14T04:00Z", "79", "80"),
    ]);
    let e = parse_gb_api_json(Path::new("gb.json"), &dup).unwrap_err();
    assert!(matches!(e.problem, TraceProblem::Duplicate { .. }), "{e}");
    let bad = gb(&[("2023-03-14T03:30Z", "2023-03-14T04:00Z", "\"high\"", "78")]);
    let e = parse_gb_api_json(Path::new("gb.json"), &bad).unwrap_err();
    assert_eq!(e.line, 4, "the line of the element's \"from\"");
    assert!(matches!(e.problem, TraceProblem::BadValue { .. }), "{e}");
    let e = parse_gb_api_json(Path::new("gb.json"), "{\"data\": [").unwrap_err();
    assert!(matches!(e.problem, TraceProblem::Malformed { .. }), "{e}");
}

#[test]
fn impossible_jobs_are_typed_errors() {
    assert!(matches!(Job::new("a", 1.0, 1, 5, 4, true), Err(JobError::DeadlineBeforeRelease { .. })));
    let e = Job::new("b", 1.0, 3, 0, 2, false).unwrap_err();
    assert!(matches!(e, JobError::LongerThanWindow { .. }));
    assert_eq!(e.to_string(), "job \"b\": needs 3 slot(s) but its window 0..2 has 2");
    assert!(matches!(Job::new("c", 1.0, 0, 0, 2, false), Err(JobError::ZeroDuration { .. })));
    assert!(matches!(Job::new("d", f64::NAN, 1, 0, 2, false), Err(JobError::BadEnergy { .. })));
    let j = Job::from_joules("e", 3.6e6, 1, 0, 2, true).unwrap();
    assert_eq!(j.energy_kwh, 1.0);
}

#[test]
fn a_job_past_the_trace_or_misaligned_traces_are_rejected() {
    let trace = CarbonTrace { start_s: 0, slot_s: 3600, g_per_kwh: vec![1.0, 2.0, 3.0] };
    let job = Job::new("late", 1.0, 1, 2, 4, true).unwrap();
    assert!(matches!(place(Policy::Optimal, &job, &trace), Err(JobError::PastTrace { .. })));
    let other = CarbonTrace { start_s: 3600, ..trace.clone() };
    let ok = Job::new("ok", 1.0, 1, 0, 3, true).unwrap();
    assert_eq!(evaluate(&[ok], Policy::Optimal, &other, &trace), Err(JobError::MisalignedTraces));
}

#[test]
fn policies_place_a_small_job_where_expected() {
    let trace = CarbonTrace { start_s: 0, slot_s: 3600, g_per_kwh: vec![300.0, 100.0, 400.0, 50.0, 60.0, 500.0] };
    let split = Job::new("s", 2.0, 2, 0, 6, true).unwrap();
    let whole = Job::new("w", 2.0, 2, 0, 6, false).unwrap();
    assert_eq!(place(Policy::RunAtOnce, &split, &trace).unwrap().slots, vec![0, 1]);
    assert_eq!(place(Policy::Optimal, &split, &trace).unwrap().slots, vec![3, 4]);
    assert_eq!(place(Policy::Optimal, &whole, &trace).unwrap().slots, vec![3, 4]);
    assert_eq!(place(Policy::Threshold { g_per_kwh: 200.0 }, &split, &trace).unwrap().slots, vec![1, 3]);
    // Online: slot 1 is below 200 and the job still fits there, so it starts (and cannot pause).
    assert_eq!(place(Policy::Threshold { g_per_kwh: 200.0 }, &whole, &trace).unwrap().slots, vec![1, 2]);
    // Nothing is below 10 g/kWh: the threshold policy runs at the last moment, still on time.
    assert_eq!(place(Policy::Threshold { g_per_kwh: 10.0 }, &split, &trace).unwrap().slots, vec![4, 5]);
    let e = evaluate(&[split], Policy::Optimal, &trace, &trace).unwrap();
    // 2 kWh over 2 slots: 1 kWh × (50 + 60) g/kWh.
    assert_eq!((e.carbon_g, e.baseline_g), (110.0, 400.0));
}
