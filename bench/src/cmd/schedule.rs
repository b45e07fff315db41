//! `dfma schedule TRACE JOBS`: place jobs on a carbon-intensity (or renewable-share) trace and
//! print the schedule, carbon, energy and savings; `--sweep N,…` runs the reference experiment of
//! the carbon fixtures instead; `--run CMD` then runs the schedule live.
//!
//! TRACE is an Electricity Maps hourly CSV or a GB forecast CSV (told apart by their exact
//! headers), a GB Carbon Intensity API JSON, a WattTime v3 JSON or a Carbon Aware SDK forecast
//! JSON (told apart by their shape). A trace is planned on and charged on as it is (perfect
//! foresight), except a GB API JSON (planned on its forecast, charged on its actual); `--plan
//! FORECAST` gives another trace to plan on (same start and slot length, at least as long; only
//! the common slots are used); `--error-model FORECAST ACTUAL` plans on TRACE seen through seeded
//! forecast error fitted on that pair. The jobs file is described in
//! `dfma_runtime::schedule::jobs_file`. Bad input exits 2 with one line.

use std::path::Path;

use anyhow::Result;
use dfma_runtime::schedule::report_energy::ReportEnergy;
use dfma_runtime::schedule::{
    CarbonTrace, Evaluation, ForecastErrorModel, Forecasts, Job, Policy, Signal, TraceError, evaluate_with,
    parse_carbon_aware_forecast_json, parse_electricity_maps_signal_csv, parse_gb_api_json, parse_gb_forecast_csv,
    parse_jobs_csv, parse_watttime_json, run_live, sweep,
};

use crate::cli::ScheduleArgs;
use crate::error::bad_input;

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

fn bad_trace(e: TraceError) -> anyhow::Error {
    bad_input(e.to_string())
}

/// Reads a trace: `(plan, charge)`; the same trace twice unless it is a GB API JSON.
fn read_trace(path: &Path, signal: Signal) -> Result<(CarbonTrace, CarbonTrace)> {
    let text = read(path)?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let is_json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let is_em = !is_json && !trimmed.starts_with("from,");
    if signal == Signal::Renewable && !is_em {
        return Err(bad_input(format!(
            "{}: --signal renewable needs an Electricity Maps CSV (its Renewable Percentage column)",
            path.display()
        )));
    }
    if !is_json {
        let trace = if is_em {
            parse_electricity_maps_signal_csv(path, &text, signal)
        } else {
            parse_gb_forecast_csv(path, &text)
        }
        .map_err(bad_trace)?;
        return Ok((trace.clone(), trace));
    }
    let shape: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // Any of the JSON readers reports a syntax error with its line.
        Err(_) => return Err(bad_trace(parse_gb_api_json(path, &text).unwrap_err())),
    };
    if shape.is_array() {
        let t = parse_carbon_aware_forecast_json(path, &text).map_err(bad_trace)?;
        return Ok((t.clone(), t));
    }
    if shape.get("meta").is_some() {
        let t = parse_watttime_json(path, &text).map_err(bad_trace)?;
        return Ok((t.clone(), t));
    }
    if shape.get("data").is_none() {
        return Err(bad_input(format!(
            "{}: JSON is none of: GB Carbon Intensity API (data[].from), WattTime v3 (meta, data[].point_time), \
             Carbon Aware SDK forecast (an array with forecastData)",
            path.display()
        )));
    }
    let p = parse_gb_api_json(path, &text).map_err(bad_trace)?;
    let forecast = p
        .forecast
        .slice(0, p.actual.len())
        .ok_or_else(|| bad_input(format!("{}: actual longer than forecast", path.display())))?;
    Ok((forecast, p.actual))
}

fn parse_policy(s: &str) -> Result<Policy> {
    match s {
        "optimal" => Ok(Policy::Optimal),
        "online" => Ok(Policy::Online),
        "at-once" => Ok(Policy::RunAtOnce),
        _ => match s.strip_prefix("threshold=").map(str::parse::<f64>) {
            Some(Ok(g)) if g.is_finite() => Ok(Policy::Threshold { g_per_kwh: g }),
            _ => Err(bad_input(format!("--policy {s}: expected optimal, online, at-once or threshold=G"))),
        },
    }
}

fn policy_name(p: Policy) -> String {
    match p {
        Policy::RunAtOnce => "at-once".into(),
        Policy::Threshold { g_per_kwh } => format!("threshold={g_per_kwh}"),
        Policy::Optimal => "optimal".into(),
        Policy::Online => "online".into(),
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

fn pct(x: f64) -> f64 {
    x * 100.0
}

/// What the policies plan on: a fixed trace, or the actual trace through fitted forecast error.
enum Plan {
    Fixed(CarbonTrace),
    Noisy { model: ForecastErrorModel, seed: u64 },
}

/// The plan and a line saying how it was made.
fn read_plan(args: &ScheduleArgs, signal: Signal, plan: CarbonTrace, actual: &CarbonTrace) -> Result<(Plan, String)> {
    if let Some(p) = &args.plan {
        let forecast = read_trace(p, signal)?.0;
        // A forecast from the same start may run past the actual: plan on the common slots.
        let same_grid = forecast.start_s == actual.start_s && forecast.slot_s == actual.slot_s;
        let plan = forecast.slice(0, actual.len()).filter(|_| same_grid).unwrap_or(forecast);
        if !plan.aligned_with(actual) {
            return Err(bad_input(format!(
                "{}: does not cover the same slots as {} (start, slot length and count must match)",
                p.display(),
                args.trace.display()
            )));
        }
        return Ok((Plan::Fixed(plan), format!("planned on the fixed forecast {}", p.display())));
    }
    let Some(pair) = &args.error_model else {
        let how = if plan == *actual {
            "perfect foresight (planned on the actual trace)"
        } else {
            "planned on the trace's forecast"
        };
        return Ok((Plan::Fixed(plan), how.into()));
    };
    let (forecast, measured) = (read_trace(&pair[0], signal)?.0, read_trace(&pair[1], signal)?.1);
    let model = ForecastErrorModel::fit(&forecast, &measured)
        .map_err(|e| bad_input(format!("--error-model {} {}: {e}", pair[0].display(), pair[1].display())))?;
    let seed = match args.seed {
        Some(s) => s,
        None => dfma_reference::seed::seed_from_env().map_err(bad_input)?,
    };
    let how = format!(
        "planned on the actual trace through forecast error fitted on {} vs {} ({} slots, mean ln(forecast/actual) \
         {:+.3}, rms {:.3} at the reference lead {:.1} h, growing with sqrt(lead), 6-h block bootstrap); seed {seed} \
         (--seed or DFMA_SEED reproduces)",
        pair[0].display(),
        pair[1].display(),
        model.log_ratios.len(),
        model.mean_log_ratio(),
        model.rms_log_ratio(),
        model.reference_lead_s / 3600.0
    );
    Ok((Plan::Noisy { model, seed }, how))
}

fn print_evaluation(e: &Evaluation, jobs: &[Job], sources: &[Option<String>], policy: Policy, signal: Signal) {
    let unit = signal.total_unit();
    println!("{:<16} {:>6} {:>10} {:>14} {:>14} {:>14}  slots", "job", "power", "kWh", unit, "at once", "bound");
    for (o, job) in e.outcomes.iter().zip(jobs) {
        let power = job.level(o.placement.level).map_or(f64::NAN, |l| l.power_fraction);
        println!(
            "{:<16} {:>6.2} {:>10.4} {:>14.4} {:>14.4} {:>14.4}  {}",
            o.name,
            power,
            o.energy_kwh,
            o.carbon_g,
            o.baseline_g,
            o.bound_g,
            ranges(&o.placement.slots)
        );
    }
    for (job, source) in jobs.iter().zip(sources) {
        if let Some(s) = source {
            println!("energy of {}: {s}", job.name);
        }
    }
    println!("policy {}; signal {signal:?} ({})", policy_name(policy), signal.per_kwh_unit());
    println!(
        "planned saving {:.2} %, realised saving {:.2} %, perfect-foresight bound {:.2} %, gap to bound {:.2} points",
        pct(e.planned_saving()),
        pct(e.realised_saving()),
        pct(e.bound_saving()),
        pct(e.gap_to_bound())
    );
    println!("deadline misses: {}", e.deadline_misses);
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run_sweep(
    args: &ScheduleArgs,
    windows: &[usize],
    forecasts: &dyn Forecasts,
    actual: &CarbonTrace,
    threshold: f64,
    signal: Signal,
) -> Result<()> {
    let policies = [Policy::RunAtOnce, Policy::Threshold { g_per_kwh: threshold }, Policy::Optimal, Policy::Online];
    println!(
        "sweep on {}: one 1-slot job of 1 kWh released every slot, N extra slots of slack (N+1 choices); jobs whose \
         window would pass the trace end are left out; saving = 1 - sum chosen / sum at release",
        args.trace.display()
    );
    println!("threshold policy: below {threshold} {}", signal.per_kwh_unit());
    let rows = sweep(actual, forecasts, windows, &policies).map_err(|e| bad_input(e.to_string()))?;
    println!("realised saving, % (planned saving in the last two columns; bound = perfect foresight on the actual)");
    println!(
        "{:>4} {:>6} {:>8} {:>10} {:>8} {:>8} {:>8} {:>16} {:>15}",
        "N", "jobs", "at-once", "threshold", "optimal", "online", "bound", "optimal-planned", "online-planned"
    );
    let mut misses = 0;
    for row in &rows {
        let e = |i: usize| &row.policies[i].1;
        misses += row.policies.iter().map(|(_, e)| e.deadline_misses).sum::<usize>();
        println!(
            "{:>4} {:>6} {:>8.2} {:>10.2} {:>8.2} {:>8.2} {:>8.2} {:>16.2} {:>15.2}",
            row.window_slots,
            row.jobs,
            pct(e(0).realised_saving()),
            pct(e(1).realised_saving()),
            pct(e(2).realised_saving()),
            pct(e(3).realised_saving()),
            pct(row.bound_saving()),
            pct(e(2).planned_saving()),
            pct(e(3).planned_saving())
        );
    }
    println!("deadline misses: {misses}");
    if misses > 0 {
        anyhow::bail!("{misses} deadline miss(es): a scheduler bug");
    }
    Ok(())
}

pub fn run(args: &ScheduleArgs) -> Result<()> {
    let signal = if args.signal == "renewable" { Signal::Renewable } else { Signal::Carbon };
    let policy = parse_policy(&args.policy)?;
    let (plan, actual) = read_trace(&args.trace, signal)?;
    let (plan, how) = read_plan(args, signal, plan, &actual)?;
    let noisy;
    let forecasts: &dyn Forecasts = match &plan {
        Plan::Fixed(t) => t,
        Plan::Noisy { model, seed } => {
            noisy = model.noisy(&actual, *seed);
            &noisy
        }
    };
    println!("{how}");
    if let Some(windows) = &args.sweep {
        let threshold = match (policy, &plan) {
            (Policy::Threshold { g_per_kwh }, _) => g_per_kwh,
            (_, Plan::Fixed(t)) => median(&t.g_per_kwh),
            (_, Plan::Noisy { .. }) => median(&actual.g_per_kwh),
        };
        return run_sweep(args, windows, forecasts, &actual, threshold, signal);
    }
    let Some(jobs_path) = &args.jobs else { return Err(bad_input("a jobs file or --sweep is needed")) };
    let report = match &args.energy_from {
        Some(p) => Some(ReportEnergy::parse(p, &read(p)?).map_err(|e| bad_input(e.to_string()))?),
        None => None,
    };
    let file = parse_jobs_csv(jobs_path, &read(jobs_path)?, report.as_ref()).map_err(|e| bad_input(e.to_string()))?;
    let e = evaluate_with(&file.jobs, policy, forecasts, &actual)
        .map_err(|e| bad_input(format!("{}: {e}", jobs_path.display())))?;
    print_evaluation(&e, &file.jobs, &file.energy_sources, policy, signal);
    if e.deadline_misses > 0 {
        anyhow::bail!("{} deadline miss(es): a scheduler bug", e.deadline_misses);
    }
    let Some(command) = &args.run else { return Ok(()) };
    if !(args.time_compression.is_finite() && args.time_compression > 0.0) {
        return Err(bad_input(format!("--time-compression {}: need a finite number > 0", args.time_compression)));
    }
    println!(
        "live: time compressed {}x, one {} s slot lasts {:.3} wall s",
        args.time_compression,
        actual.slot_s,
        actual.slot_s as f64 / args.time_compression
    );
    let runs = run_live(&file.jobs, &e.outcomes, &actual, args.time_compression, command, |r| {
        println!(
            "live {:<16} slot {:>6} part {}/{} started {:>9.3} s ran {:>8.3} s exit {}{}",
            r.job,
            r.slot,
            r.part,
            r.parts,
            r.started_s,
            r.ran_s,
            r.exit_code.map_or("signal".into(), |c| c.to_string()),
            if r.overran { " OVERRAN its slot" } else { "" }
        );
    })?;
    let failed = runs.iter().filter(|r| r.exit_code != Some(0)).count();
    let overran = runs.iter().filter(|r| r.overran).count();
    println!("live: {} run(s), {failed} failed, {overran} overran their slot", runs.len());
    if failed > 0 {
        anyhow::bail!("{failed} live run(s) of {command:?} failed");
    }
    Ok(())
}
