//! `dfma schedule TRACE JOBS`: place jobs on a carbon-intensity trace and print the schedule,
//! carbon and savings.
//!
//! TRACE is an Electricity Maps hourly CSV, a GB forecast CSV (told apart by their exact
//! headers) or a GB Carbon Intensity API JSON. A CSV is planned on and charged on as it is
//! (perfect foresight), unless `--plan FORECAST` gives another trace to plan on (same start and slot length, at
//! least as long; only the common slots are used). A GB JSON is planned on its forecast and charged on its actual (the measured slots). JOBS
//! is a CSV with the exact header `name,energy_kwh,duration_slots,release,deadline,interruptible`
//! (slots index the trace; `interruptible` is `true` or `false`). Bad input exits 2 with one line.

use std::path::Path;

use anyhow::Result;
use dfma_runtime::schedule::{
    CarbonTrace, Evaluation, Job, Policy, evaluate, parse_electricity_maps_csv, parse_gb_api_json,
    parse_gb_forecast_csv,
};

use crate::cli::ScheduleArgs;
use crate::error::bad_input;

/// The exact header of a jobs file.
const JOBS_HEADER: &str = "name,energy_kwh,duration_slots,release,deadline,interruptible";

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

/// Reads a trace: `(plan, charge)`; the same trace twice unless it is a GB API JSON.
fn read_trace(path: &Path) -> Result<(CarbonTrace, CarbonTrace)> {
    let text = read(path)?;
    let bad = |e: dfma_runtime::schedule::TraceError| bad_input(e.to_string());
    if path.extension().is_some_and(|e| e == "json") {
        let p = parse_gb_api_json(path, &text).map_err(bad)?;
        let n = p.actual.len();
        let forecast = p
            .forecast
            .slice(0, n)
            .ok_or_else(|| bad_input(format!("{}: actual longer than forecast", path.display())))?;
        return Ok((forecast, p.actual));
    }
    let trace = if text.trim_start_matches('\u{feff}').starts_with("from,") {
        parse_gb_forecast_csv(path, &text)
    } else {
        parse_electricity_maps_csv(path, &text)
    }
    .map_err(bad)?;
    Ok((trace.clone(), trace))
}

fn read_jobs(path: &Path) -> Result<Vec<Job>> {
    let text = read(path)?;
    let name = path.display();
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h == JOBS_HEADER => {}
        other => {
            let found = other.map_or("", |(_, h)| h);
            return Err(bad_input(format!("{name}:1: header {found:?} is not {JOBS_HEADER:?}")));
        }
    }
    let mut jobs = Vec::new();
    for (n, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let &[job, energy, duration, release, deadline, interruptible] = f.as_slice() else {
            return Err(bad_input(format!("{name}:{n}: {} fields, expected 6", f.len())));
        };
        let field = |what: &str, text: &str| bad_input(format!("{name}:{n}: {what} {text:?} does not parse"));
        let energy: f64 = energy.parse().map_err(|_| field("energy_kwh", energy))?;
        let duration: usize = duration.parse().map_err(|_| field("duration_slots", duration))?;
        let release: usize = release.parse().map_err(|_| field("release", release))?;
        let deadline: usize = deadline.parse().map_err(|_| field("deadline", deadline))?;
        let interruptible: bool = interruptible.parse().map_err(|_| field("interruptible", interruptible))?;
        let job = Job::new(job, energy, duration, release, deadline, interruptible)
            .map_err(|e| bad_input(format!("{name}:{n}: {e}")))?;
        jobs.push(job);
    }
    Ok(jobs)
}

fn parse_policy(s: &str) -> Result<Policy> {
    match s {
        "optimal" => Ok(Policy::Optimal),
        "at-once" => Ok(Policy::RunAtOnce),
        _ => match s.strip_prefix("threshold=").map(str::parse::<f64>) {
            Some(Ok(g)) if g.is_finite() => Ok(Policy::Threshold { g_per_kwh: g }),
            _ => Err(bad_input(format!("--policy {s}: expected optimal, at-once or threshold=G (g CO2e/kWh)"))),
        },
    }
}

/// Slots as compact ranges: `3-5,9`.
fn ranges(slots: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i;
        while j + 1 < slots.len() && slots[j + 1] == slots[j] + 1 {
            j += 1;
        }
        out.push(if i == j { slots[i].to_string() } else { format!("{}-{}", slots[i], slots[j]) });
        i = j + 1;
    }
    out.join(",")
}

fn print(e: &Evaluation, policy: Policy) {
    println!("{:<16} {:>10} {:>12} {:>12} {:>12}  slots", "job", "kWh", "g CO2e", "at once g", "bound g");
    for o in &e.outcomes {
        println!(
            "{:<16} {:>10.4} {:>12.2} {:>12.2} {:>12.2}  {}",
            o.name,
            o.energy_kwh,
            o.carbon_g,
            o.baseline_g,
            o.bound_g,
            ranges(&o.placement.slots)
        );
    }
    println!("policy {policy:?}");
    println!(
        "planned saving {:.2} %, realised saving {:.2} %, perfect-foresight bound {:.2} %, gap to bound {:.2} points",
        e.planned_saving() * 100.0,
        e.realised_saving() * 100.0,
        e.bound_saving() * 100.0,
        e.gap_to_bound() * 100.0
    );
    println!("deadline misses: {}", e.deadline_misses);
}

pub fn run(args: &ScheduleArgs) -> Result<()> {
    let policy = parse_policy(&args.policy)?;
    let (mut plan, actual) = read_trace(&args.trace)?;
    if let Some(p) = &args.plan {
        let forecast = read_trace(p)?.0;
        // A forecast from the same start may run past the actual: plan on the common slots.
        let same_grid = forecast.start_s == actual.start_s && forecast.slot_s == actual.slot_s;
        plan = forecast.slice(0, actual.len()).filter(|_| same_grid).unwrap_or(forecast);
        if !plan.aligned_with(&actual) {
            return Err(bad_input(format!(
                "{}: does not cover the same slots as {} (start, slot length and count must match)",
                p.display(),
                args.trace.display()
            )));
        }
    }
    let jobs = read_jobs(&args.jobs)?;
    let e = evaluate(&jobs, policy, &plan, &actual).map_err(|e| bad_input(format!("{}: {e}", args.jobs.display())))?;
    print(&e, policy);
    if e.deadline_misses > 0 {
        anyhow::bail!("{} deadline miss(es): a scheduler bug", e.deadline_misses);
    }
    Ok(())
}
