//! Jobs: power levels chosen by the placement, the jobs CSV (with and without levels), energy
//! from a bench report, and every bad job named by file and line.

use std::path::Path;

use dfma_runtime::schedule::jobs_file::JobsProblem;
use dfma_runtime::schedule::report_energy::ReportError;
use dfma_runtime::schedule::{
    CarbonTrace, Job, JobError, Level, Policy, ReportEnergy, evaluate, parse_jobs_csv, place,
};

fn trace(values: &[f64]) -> CarbonTrace {
    CarbonTrace { start_s: 0, slot_s: 3600, g_per_kwh: values.to_vec() }
}

#[test]
fn the_optimal_placement_picks_the_level_with_the_least_carbon() {
    let t = trace(&[100.0, 100.0, 10.0, 10.0, 10.0, 10.0]);
    // Nominal: 2 slots, 2 kWh → best 1 kWh × (10 + 10) = 20 g. Half power: 4 slots, 1.8 kWh →
    // 0.45 kWh × 40 = 18 g: cleaner, so chosen.
    let slow = Level { power_fraction: 0.5, slots: 4, energy_kwh: 1.8 };
    let job = Job::new("j", 2.0, 2, 0, 6, false).unwrap().with_levels(vec![slow]).unwrap();
    let p = place(Policy::Optimal, &job, &t).unwrap();
    assert_eq!((p.level, p.slots.clone()), (1, vec![2, 3, 4, 5]));
    let e = evaluate(std::slice::from_ref(&job), Policy::Optimal, &t, &t).unwrap();
    let o = &e.outcomes[0];
    assert!((o.carbon_g - 18.0).abs() < 1e-9 && o.energy_kwh == 1.8, "{o:?}");
    // Run-at-once is the nominal level from the release: 1 kWh × (100 + 100).
    assert_eq!(o.baseline_g, 200.0);
    // In a window with only one clean slot the slow level loses: 4 slots cost more than 2.
    let t2 = trace(&[100.0, 100.0, 10.0, 100.0, 100.0, 100.0]);
    let p = place(Policy::Optimal, &job, &t2).unwrap();
    assert_eq!((p.level, p.slots), (0, vec![1, 2]));
    // Run-at-once, threshold and the online policy on a fixed trace.
    assert_eq!(place(Policy::RunAtOnce, &job, &t).unwrap().level, 0);
    assert_eq!(place(Policy::Threshold { g_per_kwh: 50.0 }, &job, &t).unwrap().level, 0);
    assert_eq!(place(Policy::Online, &job, &t).unwrap(), place(Policy::Optimal, &job, &t).unwrap());
}

#[test]
fn levels_that_cannot_run_are_refused() {
    let job = || Job::new("j", 1.0, 2, 3, 7, true).unwrap();
    for (level, why) in [
        (Level { power_fraction: 0.0, slots: 2, energy_kwh: 1.0 }, "power fraction"),
        (Level { power_fraction: 1.5, slots: 2, energy_kwh: 1.0 }, "power fraction"),
        (Level { power_fraction: 0.5, slots: 0, energy_kwh: 1.0 }, "zero slots"),
        (Level { power_fraction: 0.5, slots: 2, energy_kwh: -1.0 }, "energy"),
        (Level { power_fraction: 0.5, slots: 5, energy_kwh: 1.0 }, "more slots than the window"),
    ] {
        let e = job().with_levels(vec![level]).unwrap_err();
        assert!(matches!(e, JobError::BadLevel { level: 1, .. }), "{e}");
        assert!(e.to_string().contains(why), "{e}");
    }
}

const HEADER: &str = "name,energy_kwh,duration_slots,release,deadline,interruptible";

fn jobs(body: &str) -> Result<Vec<Job>, dfma_runtime::schedule::JobsFileError> {
    parse_jobs_csv(Path::new("jobs.csv"), body, None).map(|f| f.jobs)
}

#[test]
fn the_jobs_csv_reads_with_and_without_a_levels_column() {
    let old = jobs(&format!("{HEADER}\ntrain,2.5,3,0,12,false\n")).unwrap();
    assert_eq!((old[0].energy_kwh, old[0].duration_slots, old[0].levels.len()), (2.5, 3, 0));
    let new =
        jobs(&format!("{HEADER},levels\ntrain,2.5,4,0,12,false,0.5:8:2.0|0.75:6:2.2\nsketch,1,1,0,2,true\n")).unwrap();
    assert_eq!(
        new[0].levels,
        vec![
            Level { power_fraction: 0.5, slots: 8, energy_kwh: 2.0 },
            Level { power_fraction: 0.75, slots: 6, energy_kwh: 2.2 }
        ]
    );
    assert!(new[1].levels.is_empty());
}

#[test]
fn bad_jobs_name_their_line_and_problem() {
    let cases: [(String, usize, &str); 8] = [
        (format!("{HEADER}\na,1,1,5,4,true\n"), 2, "deadline slot 4 is before release slot 5"),
        (format!("{HEADER}\nok,1,1,0,2,true\nb,1,5,3,4,true\n"), 3, "needs 5 slot(s) but its window 3..4 has 1"),
        (format!("{HEADER},levels\nc,1,2,0,4,true,0.5:9:1\n"), 2, "needs more slots than the window has"),
        (format!("{HEADER},levels\nc,1,2,0,4,true,0.5-4-1\n"), 2, "levels \"0.5-4-1\" does not parse"),
        (format!("{HEADER}\nd,1,2,0,4,maybe\n"), 2, "interruptible \"maybe\""),
        (format!("{HEADER}\ne,1,2,0\n"), 2, "4 fields, expected 6"),
        ("name,kwh\n".to_string(), 1, "header \"name,kwh\""),
        (format!("{HEADER}\nf,report:x*3,1,0,2,true\n"), 2, "needs a bench report"),
    ];
    for (text, line, needle) in cases {
        let e = jobs(&text).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().starts_with(&format!("jobs.csv:{line}: ")), "{e}");
        assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
    }
}

/// A bench report with the fields the scheduler reads: two q8_0_gemv cases, one measured.
const REPORT: &str = r#"{
  "schema_version": 1,
  "cases": [
    { "op": "q8_0_gemv", "backend": "cuda", "kernel": "warp", "dims": "m=4096 k=4096", "cache_mode": "hot",
      "energy": { "meter": "nvml:0", "kind": "measured", "joules_per_op": 0.0036 } },
    { "op": "q8_0_gemv", "backend": "cpu", "kernel": "avx2", "dims": "m=4096 k=4096", "cache_mode": "hot",
      "energy": null }
  ]
}"#;

#[test]
fn report_energy_is_joules_per_op_times_ops_of_exactly_one_measured_case() {
    let report = ReportEnergy::parse(Path::new("r.json"), REPORT).unwrap();
    let text = format!("{HEADER}\nprefill,report:cuda q8_0_gemv*1e9,2,0,8,true\n");
    let file = parse_jobs_csv(Path::new("jobs.csv"), &text, Some(&report)).unwrap();
    // 0.0036 J × 1e9 = 3.6e6 J = 1 kWh.
    assert!((file.jobs[0].energy_kwh - 1.0).abs() < 1e-12, "{:?}", file.jobs[0]);
    let source = file.energy_sources[0].as_deref().unwrap();
    assert!(source.contains("measured") && source.contains("nvml:0") && source.contains("r.json"), "{source}");

    let ambiguous = format!("{HEADER}\np,report:q8_0_gemv*1,1,0,2,true\n");
    let e = parse_jobs_csv(Path::new("jobs.csv"), &ambiguous, Some(&report)).unwrap_err();
    assert!(matches!(e.problem, JobsProblem::Report(ReportError::Match { matches: 2, .. })), "{e}");
    let unmeasured = format!("{HEADER}\np,report:cpu avx2*1,1,0,2,true\n");
    let e = parse_jobs_csv(Path::new("jobs.csv"), &unmeasured, Some(&report)).unwrap_err();
    assert!(matches!(e.problem, JobsProblem::Report(ReportError::NoEnergy { .. })), "{e}");
    assert!(e.to_string().contains("has no energy"), "{e}");
    let e = ReportEnergy::parse(Path::new("r.json"), r#"{"schema_version": 2, "cases": []}"#).unwrap_err();
    assert!(matches!(e, ReportError::NotAReport { .. }), "{e}");
}
