//! `dfma schedule` end to end: a schedule and its savings on the shared CAISO and GB fixtures,
//! and bad input rejected with one line and exit code 2.

use std::path::PathBuf;
use std::process::{Command, Output};

fn dfma(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dfma")).args(args).output().expect("dfma runs")
}

/// The carbon fixtures directory, or `None` after "not run" (a failure when
/// `DFMA_REQUIRE_CARBON_DATA=1`, which `ci/test` sets whenever it finds them).
fn carbon_data() -> Option<PathBuf> {
    let dir = std::env::var_os("DFMA_CARBON_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/carbon"), PathBuf::from);
    if dir.join("US-CAL-CISO_2022_hourly.csv").is_file() {
        return Some(dir);
    }
    let reason = format!("{} has no carbon fixtures (set DFMA_CARBON_DATA)", dir.display());
    assert!(
        !std::env::var("DFMA_REQUIRE_CARBON_DATA").is_ok_and(|v| v == "1" || v == "true"),
        "DFMA_REQUIRE_CARBON_DATA=1 but {reason}"
    );
    println!("not run: {reason}");
    None
}

fn jobs_file(dir: &tempfile::TempDir, body: &str) -> PathBuf {
    let path = dir.path().join("jobs.csv");
    std::fs::write(&path, format!("name,energy_kwh,duration_slots,release,deadline,interruptible\n{body}")).unwrap();
    path
}

#[test]
fn schedule_prints_placements_and_savings_on_caiso_and_gb_forecast_versus_actual() {
    let Some(data) = carbon_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let jobs = jobs_file(&tmp, "train,2.5,3,0,12,false\nsketch,1.0,4,5,20,true\n");
    let caiso = data.join("US-CAL-CISO_2022_hourly.csv");
    let out = dfma(&["schedule", caiso.to_str().unwrap(), jobs.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("train") && stdout.contains("7-9"), "{stdout}");
    assert!(stdout.contains("deadline misses: 0"), "{stdout}");
    let json = data.join("national_pt24h_2023-03-15T0331Z.json");
    let fw = data.join("national_fw48h_2023-03-14T0331Z.csv");
    let out = dfma(&["schedule", json.to_str().unwrap(), jobs.to_str().unwrap(), "--plan", fw.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("planned saving") && stdout.contains("realised saving"), "{stdout}");
    println!("{stdout}");
}

#[test]
fn bad_schedule_input_exits_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.csv");
    std::fs::write(
        &trace,
        "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n2022-01-01 00:00:00,100\n2022-01-01 02:00:00,50\n",
    )
    .unwrap();
    let jobs = jobs_file(&tmp, "x,1,1,0,2,true\n");
    let long = tmp.path().join("long.csv");
    std::fs::write(&long, "name,energy_kwh,duration_slots,release,deadline,interruptible\nx,1,5,3,4,true\n").unwrap();
    let cases: [(Vec<&str>, &str); 4] = [
        (vec![trace.to_str().unwrap(), jobs.to_str().unwrap()], "trace.csv:3: gap"),
        (vec![jobs.to_str().unwrap(), long.to_str().unwrap()], "unknown header"),
        (vec![trace.to_str().unwrap(), jobs.to_str().unwrap(), "--policy", "soon"], "--policy soon"),
        (vec!["missing.csv", jobs.to_str().unwrap()], "missing.csv"),
    ];
    for (args, needle) in cases {
        let out = dfma(&[&["schedule"], args.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
