//! `dfma tune`: times every registered variant of each op at its bench shapes on each backend,
//! and caches the fastest per (device, driver, backend, op, shape) for `dfma op` and the runtime.
//!
//! Each variant runs through the bench's own case runner: checked against the reference first
//! (a wrong variant never wins), then sampled to the same criteria; the choice is the lowest
//! median. Ties closer than the samples' spread are reported as such, since on a noisy machine
//! the winner of a near-tie can change from run to run.

use anyhow::{Result, anyhow};
use dfma_kernels::registry::find;
use dfma_kernels::tune::{TUNE_CACHE_VERSION, TuneCache, TuneEntry, TuneKey};
use dfma_kernels::{BackendKind, BackendOptions, open};
use dfma_reference::ops;
use dfma_reference::seed::seed_from_env;

use super::bench::{Case, Problems, commit, run_case};
use super::parse_backend;
use crate::cli::TuneArgs;
use crate::error::bad_input;
use crate::sampling::Criteria;

pub fn run(args: &TuneArgs, opts: &BackendOptions) -> Result<()> {
    let seed = seed_from_env().map_err(bad_input)?;
    for name in &args.op {
        if ops::by_name(name).is_none() {
            return Err(bad_input(format!("--op {name}: unknown op")));
        }
    }
    let path = args.cache.clone().unwrap_or_else(TuneCache::default_path);
    let mut cache = TuneCache::load(&path).map_err(bad_input)?;
    cache.version = TUNE_CACHE_VERSION;
    let kinds: Vec<BackendKind> = if args.backend.is_empty() {
        vec![BackendKind::Cpu, BackendKind::Wgpu, BackendKind::Cuda]
    } else {
        args.backend.iter().map(|b| parse_backend(b)).collect::<Result<_>>()?
    };
    let criteria = Criteria {
        min_samples: args.min_samples,
        min_seconds: args.min_seconds,
        max_rel_stdev: args.max_rel_stdev,
        max_seconds: args.max_seconds,
    };
    let commit = commit();
    println!("dfma tune  commit {commit}  seed {seed}  cache {}", path.display());
    let mut failures = Vec::new();
    let problems = Problems::default();
    for kind in kinds {
        let backend = match open(kind, opts) {
            Ok(b) => b,
            Err(e) => {
                println!("{kind:<9} not run: {}", e.to_string().trim_start_matches("not available: "));
                continue;
            }
        };
        let device = backend.device().clone();
        println!("{kind:<9} {} ({})", device.name, device.driver);
        for op in ops::all().iter().filter(|o| !o.is_calibration()) {
            if !args.op.is_empty() && !args.op.iter().any(|n| n == op.name()) {
                continue;
            }
            let kernels: Vec<_> = find(op.name(), kind).collect();
            if kernels.is_empty() {
                continue;
            }
            for dims in op.bench_dims() {
                let mut timed: Vec<(String, f64, f64)> = Vec::new();
                for &kernel in &kernels {
                    let case = Case {
                        backend: backend.as_ref(),
                        kernel,
                        dims: dims.clone(),
                        mode: args.mode,
                        weights: None,
                        streamed_span_bytes: None,
                    };
                    match run_case(&case, seed, &problems, &criteria, None, None) {
                        Ok(r) if r.correct => {
                            let s = r.summary.as_ref().ok_or_else(|| anyhow!("{} was not timed", kernel.id()))?;
                            timed.push((kernel.variant.to_string(), s.median_s, s.rel_stdev));
                        }
                        Ok(r) => {
                            failures.push(format!("{} on {kind} at {dims}: wrong result ({})", kernel.id(), r.check))
                        }
                        Err(e) => failures.push(format!("{} on {kind} at {dims}: {e:#}", kernel.id())),
                    }
                }
                timed.sort_by(|a, b| a.1.total_cmp(&b.1));
                let Some((best, best_s, best_spread)) = timed.first().cloned() else { continue };
                let runner_up = timed.get(1).map(|(v, s, _)| {
                    let ratio = s / best_s;
                    let near = if ratio - 1.0 < 2.0 * best_spread { ", within noise" } else { "" };
                    format!("  ({ratio:.2}x faster than {v}{near})")
                });
                println!(
                    "{kind:<9} {:<12} {:<30} best {best:<20} {:>10.4} ms{}",
                    op.name(),
                    dims.to_string(),
                    best_s * 1e3,
                    runner_up.unwrap_or_default()
                );
                cache.insert(TuneEntry {
                    key: TuneKey {
                        device: device.name.clone(),
                        driver: device.driver.clone(),
                        backend: kind.name().into(),
                        op: op.name().into(),
                        dims: dims.to_string(),
                    },
                    variant: best,
                    median_s: best_s,
                    candidates: timed.into_iter().map(|(v, s, _)| (v, s)).collect(),
                    cache_mode: args.mode.name().into(),
                    commit: commit.clone(),
                });
            }
        }
    }
    cache.save(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    println!("wrote {} ({} choices)", path.display(), cache.entries.len());
    if let Some(first) = failures.first() {
        for f in &failures {
            eprintln!("FAILED {f}");
        }
        anyhow::bail!("{} variant(s) could not be tuned; first: {first}", failures.len());
    }
    Ok(())
}
