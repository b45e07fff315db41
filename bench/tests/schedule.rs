//! `dfma schedule` end to end: a schedule and its savings on the shared CAISO and GB fixtures,
//! the reference window sweep on CAISO and Spain, WattTime and Carbon Aware SDK inputs, the
//! renewable signal, power levels, energy from a bench report, live mode, and bad input rejected
//! with one line and exit code 2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

/// Runs `dfma schedule ARGS`, asserting success; returns stdout.
fn schedule_ok(args: &[&str]) -> String {
    let out = dfma(&[&["schedule"], args].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The sweep table: N → column name → value.
fn sweep_table(stdout: &str) -> HashMap<usize, HashMap<String, f64>> {
    let mut lines = stdout.lines().skip_while(|l| !l.trim_start().starts_with("N "));
    let header: Vec<String> = lines.next().expect("a table header").split_whitespace().map(String::from).collect();
    let mut table = HashMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let Some(Ok(n)) = cells.first().map(|c| c.parse::<usize>()) else { break };
        let row = header.iter().zip(&cells).skip(1).map(|(h, c)| (h.clone(), c.parse::<f64>().unwrap())).collect();
        table.insert(n, row);
    }
    table
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_sweep_reproduces_the_reference_bounds_on_caiso_and_spain_and_no_policy_beats_them() {
    let Some(data) = carbon_data() else { return };
    let (fw, gb) =
        (data.join("national_fw48h_2023-03-14T0331Z.csv"), data.join("national_pt24h_2023-03-15T0331Z.json"));
    for (zone, reference) in [
        ("US-CAL-CISO_2022_hourly.csv", [(4, 10.4), (8, 19.7), (12, 28.2), (24, 36.7)]),
        ("ES_2022_hourly.csv", [(4, 7.7), (8, 13.5), (12, 18.1), (24, 24.9)]),
    ] {
        let trace = data.join(zone);
        let perfect = sweep_table(&schedule_ok(&[path(&trace), "--sweep", "4,8,12,24"]));
        let stdout =
            schedule_ok(&[path(&trace), "--sweep", "4,8,12,24", "--error-model", path(&fw), path(&gb), "--seed", "1"]);
        println!("{stdout}");
        assert!(stdout.contains("deadline misses: 0"), "{stdout}");
        let noisy = sweep_table(&stdout);
        for (n, expected) in reference {
            for table in [&perfect, &noisy] {
                let row = &table[&n];
                let bound = row["bound"];
                assert!((bound - expected).abs() <= 0.5, "{zone} N={n}: bound {bound} vs README {expected}");
                // Two-decimal rounding is monotone, so a policy at most the bound prints at most it.
                for policy in ["at-once", "threshold", "optimal", "online"] {
                    assert!(row[policy] <= bound, "{zone} N={n}: {policy} {} beats the bound {bound}", row[policy]);
                }
            }
            assert_eq!((perfect[&n]["optimal"], perfect[&n]["online"]), (perfect[&n]["bound"], perfect[&n]["bound"]));
            // With forecast error the plan promises more than the actual trace delivers.
            assert!(noisy[&n]["optimal-planned"] > noisy[&n]["optimal"], "{zone} N={n}");
            assert!(noisy[&n]["online"] < noisy[&n]["bound"], "{zone} N={n}");
        }
    }
}

fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedule").join(name)
}

#[test]
fn watttime_and_carbon_aware_sdk_forecasts_are_scheduled_in_their_own_slots() {
    let tmp = tempfile::tempdir().unwrap();
    let jobs = jobs_file(&tmp, "whole,0.5,2,0,8,false\nsplit,1,2,0,8,true\n");
    let wt = schedule_ok(&[path(&fixture("watttime_forecast.json")), path(&jobs)]);
    // 5-minute slots; the cleanest contiguous pair is 410 + 395 lb/MWh at slots 3-4.
    assert!(wt.lines().any(|l| l.starts_with("whole") && l.ends_with(" 3-4")), "{wt}");
    assert!(wt.contains("deadline misses: 0"), "{wt}");
    let ca = schedule_ok(&[path(&fixture("carbon_aware_forecast.json")), path(&jobs)]);
    // 30-minute slots; the cleanest two are 118 and 125 g/kWh at slots 4 and 5.
    assert!(ca.lines().any(|l| l.starts_with("split") && l.ends_with(" 4-5")), "{ca}");
}

/// A small Electricity Maps CSV with carbon and renewable columns, hourly from 2022-01-01.
fn em_trace(dir: &tempfile::TempDir, g: &[f64]) -> PathBuf {
    let mut body = String::from("Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct),");
    body.push_str("Carbon Intensity gCO₂eq/kWh (LCA),Renewable Percentage\n");
    for (h, v) in g.iter().enumerate() {
        body.push_str(&format!("2022-01-01 {h:02}:00:00,X,{v},{},{}\n", v * 1.3, 100.0 - v / 10.0));
    }
    write(dir, "em.csv", &body)
}

const G: [f64; 12] = [300.0, 250.0, 90.0, 80.0, 400.0, 60.0, 70.0, 75.0, 500.0, 40.0, 450.0, 420.0];

#[test]
fn the_renewable_signal_schedules_on_the_non_renewable_share() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = em_trace(&tmp, &G);
    let jobs = jobs_file(&tmp, "a,1,1,0,12,true\n");
    let out = schedule_ok(&[path(&trace), path(&jobs), "--signal", "renewable"]);
    // Renewable share is 100 - g/10 here, so the cleanest hour is also the most renewable: slot 9.
    assert!(
        out.contains("non-renewable kWh") && out.lines().any(|l| l.starts_with("a ") && l.ends_with(" 9")),
        "{out}"
    );
}

#[test]
fn power_levels_and_report_energy_shape_the_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = em_trace(&tmp, &G);
    let report = write(
        &tmp,
        "report.json",
        r#"{"schema_version": 1, "cases": [
            {"op": "q8_0_gemv", "backend": "cuda", "kernel": "warp", "dims": "m=4096 k=4096", "cache_mode": "hot",
             "energy": {"meter": "nvml:0", "kind": "measured", "joules_per_op": 0.0036}}]}"#,
    );
    let jobs = write(
        &tmp,
        "jobs.csv",
        "name,energy_kwh,duration_slots,release,deadline,interruptible,levels\n\
         prefill,report:q8_0_gemv cuda*1e9,2,0,12,false\n\
         train,2,2,2,8,false,0.5:3:1.5\n",
    );
    let out = schedule_ok(&[path(&trace), path(&jobs), "--energy-from", path(&report)]);
    // 0.0036 J/op × 1e9 ops = 1 kWh; placed on the cleanest contiguous pair, slots 5-6.
    assert!(out.lines().any(|l| l.starts_with("prefill") && l.contains(" 1.0000 ") && l.ends_with(" 5-6")), "{out}");
    assert!(out.contains("energy of prefill: 0.0036 J/op (measured, nvml:0)"), "{out}");
    // train: nominal 1 kWh a slot × (60 + 70) = 130 g; at half power 0.5 kWh a slot × (60 + 70 + 75)
    // = 102.5 g, so the slower level is chosen.
    let train = out.lines().find(|l| l.starts_with("train")).unwrap();
    let cells: Vec<&str> = train.split_whitespace().collect();
    assert_eq!((cells[1], cells[2], cells[3], cells[6]), ("0.50", "1.5000", "102.5000", "5-7"), "{out}");
    let no_report = schedule_ok(&[path(&trace), path(&jobs_file(&tmp, "x,1,1,0,2,true\n"))]);
    assert!(no_report.contains("deadline misses: 0"));
}

#[test]
fn live_mode_starts_each_job_in_each_of_its_slots_in_slot_order() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = em_trace(&tmp, &G);
    // a: cleanest two slots of the day (9 and 5); b: cleanest contiguous three in 2..10 (5-7).
    let jobs = jobs_file(&tmp, "a,1,2,0,12,true\nb,1.5,3,2,10,false\n");
    let log = tmp.path().join("ran.txt");
    let cmd = format!("echo \"$DFMA_SLOT $DFMA_JOB $DFMA_PART $DFMA_POWER_FRACTION\" >> '{}'", log.display());
    // 3600 × 60: a one-hour slot lasts 1/60 s.
    let out = schedule_ok(&[path(&trace), path(&jobs), "--run", &cmd, "--time-compression", "216000"]);
    assert!(out.contains("live: 5 run(s), 0 failed"), "{out}");
    let mut ran: Vec<(usize, String, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f[3], "1", "{l}");
            (f[0].parse().unwrap(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    let in_file_order: Vec<usize> = ran.iter().map(|r| r.0).collect();
    assert!(in_file_order.is_sorted(), "runs out of slot order: {in_file_order:?}");
    ran.sort();
    let expected = [(5, "a", "1/2"), (5, "b", "1/3"), (6, "b", "2/3"), (7, "b", "3/3"), (9, "a", "2/2")];
    assert_eq!(ran, expected.map(|(s, j, p)| (s, j.to_string(), p.to_string())));
    // Slot 9 starts 9 slots after the first release, i.e. no earlier than 9/60 s of wall time.
    let started: f64 = out
        .lines()
        .find(|l| l.starts_with("live a") && l.contains("slot      9"))
        .and_then(|l| l.split("started").nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no run of a in slot 9: {out}"));
    assert!(started >= 9.0 / 60.0, "slot 9 started at {started} s");
    let failing = dfma(&["schedule", path(&trace), path(&jobs), "--run", "exit 3", "--time-compression", "216000"]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failing.stdout).contains("5 failed"));
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
    let good = em_trace(&tmp, &G);
    let jobs = jobs_file(&tmp, "x,1,1,0,2,true\n");
    let long =
        write(&tmp, "long.csv", "name,energy_kwh,duration_slots,release,deadline,interruptible\nx,1,5,3,4,true\n");
    let early =
        write(&tmp, "early.csv", "name,energy_kwh,duration_slots,release,deadline,interruptible\nx,1,1,5,4,true\n");
    let levels = write(
        &tmp,
        "levels.csv",
        "name,energy_kwh,duration_slots,release,deadline,interruptible,levels\nx,1,1,0,4,true,0.5:2\n",
    );
    let slow = write(
        &tmp,
        "slow.csv",
        "name,energy_kwh,duration_slots,release,deadline,interruptible,levels\nx,1,1,0,4,true,0.5:6:1\n",
    );
    let report_job = write(
        &tmp,
        "report_job.csv",
        "name,energy_kwh,duration_slots,release,deadline,interruptible\nx,report:stream_read*10,1,0,2,true\n",
    );
    let wt_path = fixture("watttime_forecast.json");
    let wt = std::fs::read_to_string(&wt_path).unwrap();
    let wt_units = write(&tmp, "wt_units.json", &wt.replace("lbs_co2_per_mwh", "percentile"));
    let wt_cut = write(&tmp, "wt_cut.json", &wt[..wt.len() / 2]);
    let ca = std::fs::read_to_string(fixture("carbon_aware_forecast.json")).unwrap();
    let ca_back =
        write(&tmp, "ca_back.json", &ca.replacen("2024-05-01T00:30:00+00:00", "2024-04-30T23:30:00+00:00", 1));
    let ca_dup = write(&tmp, "ca_dup.json", &ca.replacen("2024-05-01T00:30:00+00:00", "2024-05-01T00:00:00+00:00", 1));
    let unknown = write(&tmp, "unknown.json", "{\"points\": []}");
    let run_a = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run_a.json");
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![path(&trace), path(&jobs)], "trace.csv:3: gap"),
        (vec![path(&jobs), path(&long)], "unknown header"),
        (vec![path(&trace), path(&jobs), "--policy", "soon"], "--policy soon"),
        (vec!["missing.csv", path(&jobs)], "missing.csv"),
        (vec![path(&good), path(&long)], "long.csv:2: job \"x\": needs 5 slot(s) but its window 3..4 has 1"),
        (vec![path(&good), path(&early)], "early.csv:2: job \"x\": deadline slot 4 is before release slot 5"),
        (vec![path(&good), path(&levels)], "levels.csv:2: levels \"0.5:2\" does not parse"),
        (vec![path(&good), path(&slow)], "slow.csv:2: job \"x\": power level 1 (0.5:6:1): needs more slots"),
        (vec![path(&good), path(&report_job)], "needs a bench report"),
        (vec![path(&good), path(&report_job), "--energy-from", path(&run_a)], "has no energy"),
        (vec![path(&wt_units), path(&jobs)], "wt_units.json:12: units \"percentile\" not supported"),
        (vec![path(&wt_cut), path(&jobs)], "malformed"),
        (vec![path(&ca_back), path(&jobs)], "earlier than the previous"),
        (vec![path(&ca_dup), path(&jobs)], "duplicate timestamp"),
        (vec![path(&unknown), path(&jobs)], "JSON is none of"),
        (vec![path(&wt_path), path(&jobs), "--signal", "renewable"], "needs an Electricity Maps CSV"),
        (vec![path(&good), path(&jobs), "--run", "true", "--time-compression", "0"], "--time-compression 0"),
    ];
    let data = carbon_data();
    let (caiso, gb) = match &data {
        Some(d) => (d.join("US-CAL-CISO_2022_hourly.csv"), d.join("national_pt24h_2023-03-15T0331Z.json")),
        None => (PathBuf::new(), PathBuf::new()),
    };
    if data.is_some() {
        cases.push((vec![path(&caiso), "--sweep", "4", "--error-model", path(&caiso), path(&gb)], "same instant"));
    }
    for (args, needle) in cases {
        let out = dfma(&[&["schedule"], args.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {needle:?} not in {stderr}");
    }
}
