//! `dfma run heart`: Fed-Heart-Disease on the federated stack (see
//! `dfma_runtime::federated::heart`): per-hospital test accuracy of local-only, collective,
//! FedAvg and pooled models, printed as a table and written as JSON.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::experiment::mean;
use dfma_runtime::federated::heart::{self, HeartConfig, HeartReport, MethodAccuracy};
use dfma_runtime::federated::instance::Behaviour;
use serde::Serialize;

use crate::cli::HeartArgs;
use crate::error::bad_input;
use crate::files::write_atomic;

/// Factor a `scaled` bad hospital multiplies its signal by.
const BAD_SCALE: f32 = 100.0;

fn csv_path(args: &HeartArgs) -> Result<PathBuf> {
    match (&args.csv, std::env::var_os("DFMA_HEART_CSV")) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(p)) => Ok(PathBuf::from(p)),
        (None, None) => Err(bad_input("--csv: not given and DFMA_HEART_CSV is unset (ci/fetch-heart prints the path)")),
    }
}

fn parse_index_pair(flag: &str, s: &str) -> Result<(usize, String)> {
    let (i, v) = s.split_once(':').ok_or_else(|| bad_input(format!("{flag} {s}: expected INDEX:VALUE")))?;
    let i = i.parse().map_err(|_| bad_input(format!("{flag} {s}: {i:?} is not a hospital index")))?;
    Ok((i, v.to_string()))
}

fn config(args: &HeartArgs, hospitals: usize) -> Result<HeartConfig> {
    let mut c = HeartConfig::defaults(args.seed);
    c.rounds = args.rounds;
    c.local_epochs = args.local_epochs;
    c.codec = Codec::parse(&args.compress).map_err(|e| bad_input(format!("--compress: {e}")))?;
    if let Some(rule) = &args.robust {
        c.aggregation = match rule.as_str() {
            "median" | "trimmed-mean" | "norm-filter" => Aggregation::parse(rule).map_err(bad_input)?,
            _ => return Err(bad_input(format!("--robust {rule}: expected median, trimmed-mean or norm-filter"))),
        };
    }
    c.secure_aggregation = args.secure_aggregation;
    if !(args.dropout.is_finite() && (0.0..1.0).contains(&args.dropout)) {
        return Err(bad_input(format!("--dropout {}: must be in [0, 1)", args.dropout)));
    }
    c.faults.dropout_fraction = args.dropout;
    if let Some(privacy) = &mut c.privacy {
        privacy.clip_norm = args.clip;
        privacy.noise_multiplier = args.noise;
        privacy.epsilon_budget = args.epsilon;
        privacy.parameters().validate().map_err(|e| bad_input(format!("--clip/--noise: {e}")))?;
        if !(args.epsilon.is_finite() && args.epsilon > 0.0) {
            return Err(bad_input(format!("--epsilon {}: must be finite and above 0", args.epsilon)));
        }
    }
    if let Some(bad) = &args.bad {
        let (i, kind) = parse_index_pair("--bad", bad)?;
        let behaviour = match kind.as_str() {
            "scaled" => Behaviour::Scaled(BAD_SCALE),
            "random" => Behaviour::Random(BAD_SCALE),
            "silent" => Behaviour::Silent,
            _ => return Err(bad_input(format!("--bad {bad}: kind must be scaled, random or silent"))),
        };
        if i >= hospitals {
            return Err(bad_input(format!("--bad {bad}: there are {hospitals} hospitals (0..{hospitals})")));
        }
        c.faults.bad_instance = Some((i, behaviour));
    }
    for late in &args.late_join {
        let (i, r) = parse_index_pair("--late-join", late)?;
        let r: usize = r.parse().map_err(|_| bad_input(format!("--late-join {late}: {r:?} is not a round")))?;
        if i >= hospitals || r >= args.rounds {
            return Err(bad_input(format!("--late-join {late}: {hospitals} hospitals, {} rounds", args.rounds)));
        }
        c.faults.late_joins.push((i, r));
    }
    if args.rounds == 0 || args.local_epochs == 0 {
        return Err(bad_input("--rounds and --local-epochs: must be at least 1"));
    }
    Ok(c)
}

#[derive(Serialize)]
struct JsonReport<'a> {
    command: String,
    csv: String,
    rows: usize,
    seed: u64,
    split_seed: u64,
    rounds: usize,
    local_epochs: usize,
    compression: String,
    aggregation: &'static str,
    secure_aggregation: bool,
    clip_norm: Option<f64>,
    noise_multiplier: Option<f64>,
    dropout: f64,
    wall_seconds: f64,
    /// How accuracy was measured.
    method: &'static str,
    done_when_failures: Vec<String>,
    report: &'a HeartReport,
}

fn pct(v: f64) -> String {
    format!("{:.1}", 100.0 * v)
}

fn print_table(r: &HeartReport) {
    let width = r.hospitals.iter().map(String::len).max().unwrap_or(0).max(13);
    print!("{:<28}", "test accuracy %");
    for h in &r.hospitals {
        print!(" {h:>width$}");
    }
    println!(" {:>width$}", "mean");
    let row = |m: &MethodAccuracy| {
        print!("{:<28}", m.method);
        for v in &m.per_hospital {
            print!(" {:>width$}", pct(*v));
        }
        println!(" {:>width$}", pct(m.mean));
    };
    print!("{:<28}", "(train / test rows)");
    for (tr, te) in r.train_rows.iter().zip(&r.test_rows) {
        print!(" {:>width$}", format!("{tr} / {te}"));
    }
    println!();
    row(&r.local_only);
    for m in &r.local_only_cross {
        row(m);
    }
    row(&r.collective);
    row(&r.collective_personal);
    row(&r.fedavg);
    row(&r.pooled);
}

/// Runs `dfma run heart`.
pub fn run(args: &HeartArgs) -> Result<()> {
    let path = csv_path(args)?;
    // Flags first (all but the hospital indices), so that a bad flag is named before any file
    // is read.
    config(args, usize::MAX)?;
    let data = heart::load(&path, args.split_seed).map_err(bad_input)?;
    let cfg = config(args, data.hospitals.len())?;
    let started = Instant::now();
    let report = heart::run(&data, &cfg).map_err(|e| bad_input(format!("dfma run heart: {e}")))?;
    let wall_seconds = started.elapsed().as_secs_f64();
    println!(
        "Fed-Heart-Disease: {} rows from {}; {} rounds x {} local epoch(s), seed {}, compression {}, aggregation {}",
        data.rows,
        path.display(),
        cfg.rounds,
        cfg.local_epochs,
        cfg.seed,
        cfg.codec.name(),
        cfg.aggregation.name()
    );
    print_table(&report);
    let run = &report.collective_run;
    let rejected: usize = run.rounds.iter().map(|r| r.rejected).sum();
    let lost = run.rounds.iter().filter(|r| r.contributors == 0).count();
    println!(
        "collective: version {}, {} signal bytes ({} for FedAvg f32), {} frames refused, {} rounds without a signal, epsilon {}",
        run.version,
        run.signal_bytes(),
        report.fedavg_signal_bytes,
        rejected,
        lost,
        if run.epsilon_spent.iter().all(|e| e.is_infinite()) {
            "not claimed (no noise)".to_string()
        } else {
            format!("{:.2} (mean over hospitals)", mean(&run.epsilon_spent))
        }
    );
    let failures = report.check(2.0);
    if failures.is_empty() {
        println!(
            "done-when: collective mean {}% beats every local-only model over the test sets and is within 2 points of pooled {}%",
            pct(report.collective.mean),
            pct(report.pooled.mean)
        );
    } else {
        for f in &failures {
            println!("done-when not met: {f}");
        }
    }
    println!("{:.2} s wall", wall_seconds);
    if let Some(out) = &args.json {
        let json = JsonReport {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            csv: path.display().to_string(),
            rows: data.rows,
            seed: cfg.seed,
            split_seed: args.split_seed,
            rounds: cfg.rounds,
            local_epochs: cfg.local_epochs,
            compression: cfg.codec.name(),
            aggregation: cfg.aggregation.name(),
            secure_aggregation: cfg.secure_aggregation,
            clip_norm: cfg.privacy.map(|p| p.clip_norm),
            noise_multiplier: cfg.privacy.map(|p| p.noise_multiplier),
            dropout: cfg.faults.dropout_fraction,
            wall_seconds,
            method: "fraction of each hospital's held-out rows classified correctly (logit > 0); means are unweighted over hospitals",
            done_when_failures: failures,
            report: &report,
        };
        let mut text = serde_json::to_string_pretty(&json)?;
        text.push('\n');
        write_atomic(out, text.as_bytes())?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
