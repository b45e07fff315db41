//! `dfma bench`: every registered kernel of the chosen suites on every available backend.
//!
//! Per case: fresh random inputs (seed printed, `DFMA_SEED` reproduces), one checked run against
//! the reference (a wrong kernel gets no speed), warm-up, then samples of launch + synchronize
//! timed on the host clock until both the minimum sample count and the minimum time are met
//! (or the maximum time runs out, which the report says). On the cpu backend every sample is
//! cold: a buffer far larger than the last-level cache is read first. The host's streaming-read
//! and copy bandwidth are measured in the same run and every cpu case is reported as a fraction
//! of the streaming-read bandwidth.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use dfma_kernels::registry::{KernelSpec, for_backend};
use dfma_kernels::{Backend, BackendKind, BackendOptions, open};
use dfma_reference::compare::compare_f32;
use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_reference::{Dims, Op, ops};
use serde::Serialize;

use super::parse_backend;
use crate::calibrate::{self, HostRoofline};
use crate::cli::BenchArgs;
use crate::error::bad_input;
use crate::stats::{Summary, summarize};

/// How a case's samples were timed.
const TIMING_METHOD: &str = "host wall clock around launch + synchronize";

#[derive(Serialize)]
struct BackendReport {
    backend: String,
    available: bool,
    device: Option<String>,
    driver: Option<String>,
    details: Vec<(String, String)>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct CaseReport {
    op: String,
    backend: String,
    kernel: String,
    dims: String,
    seed: u64,
    correct: bool,
    check: String,
    cache_mode: String,
    timing_method: String,
    unmet: Vec<String>,
    summary: Option<Summary>,
    samples_s: Vec<f64>,
    model_bytes: u64,
    weight_bytes: u64,
    flops: u64,
    weight_bytes_per_s: f64,
    model_bytes_per_s: f64,
    flops_per_s: f64,
    fraction_of_read_bandwidth: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    tool: String,
    commit: String,
    seed: u64,
    backends: Vec<BackendReport>,
    host_roofline: Option<HostRoofline>,
    cases: Vec<CaseReport>,
}

fn commit() -> String {
    let out = std::process::Command::new("git").args(["describe", "--always", "--dirty", "--abbrev=12"]).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => "unknown".into(),
    }
}

struct Sampling {
    min_samples: usize,
    min_seconds: f64,
    max_seconds: f64,
}

/// Flush buffer for cold cpu samples: 64 MiB, far beyond the last-level cache.
fn flush_buffer() -> Vec<u64> {
    (0..(64usize << 20) / 8).map(|i| i as u64 ^ 0x5555).collect()
}

#[allow(clippy::too_many_arguments)]
fn bench_case(
    backend: &dyn Backend,
    kernel: &'static KernelSpec,
    op: &dyn Op,
    dims: &Dims,
    seed: u64,
    stream: u64,
    sampling: &Sampling,
    flush: &[u64],
    roofline: Option<&HostRoofline>,
) -> Result<CaseReport> {
    let inputs = op.random_inputs(dims, &mut rng_for(seed, stream));
    let reference = op.reference(dims, &inputs);
    let mut p = backend.prepare(kernel, dims, &inputs)?;
    p.poison_outputs()?;
    p.launch()?;
    p.synchronize()?;
    let got = p.read_outputs()?;
    let cmp = compare_f32(got[0].as_f32().unwrap_or(&[]), reference[0].as_f32().unwrap_or(&[]), op.tolerance());
    let cost = op.cost(dims);
    let cold = matches!(backend.kind(), BackendKind::Cpu | BackendKind::Reference);
    let mut case = CaseReport {
        op: op.name().into(),
        backend: backend.kind().name().into(),
        kernel: kernel.variant.into(),
        dims: dims.to_string(),
        seed,
        correct: cmp.passed,
        check: cmp.to_string(),
        cache_mode: if cold { "cold: 64 MiB read before each sample".into() } else { "hot: back-to-back".into() },
        timing_method: TIMING_METHOD.into(),
        unmet: vec![],
        summary: None,
        samples_s: vec![],
        model_bytes: cost.bytes,
        weight_bytes: cost.weight_bytes,
        flops: cost.flops,
        weight_bytes_per_s: f64::NAN,
        model_bytes_per_s: f64::NAN,
        flops_per_s: f64::NAN,
        fraction_of_read_bandwidth: None,
    };
    if !cmp.passed {
        return Ok(case);
    }
    // Warm-up: one more launch beyond the checked one.
    p.launch()?;
    p.synchronize()?;
    let start = Instant::now();
    let mut samples = Vec::new();
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        let enough = samples.len() >= sampling.min_samples && elapsed >= sampling.min_seconds;
        if enough {
            break;
        }
        if elapsed >= sampling.max_seconds {
            if samples.len() < sampling.min_samples {
                case.unmet.push(format!("min samples {} (got {})", sampling.min_samples, samples.len()));
            }
            if elapsed < sampling.min_seconds {
                case.unmet.push(format!("min time {} s", sampling.min_seconds));
            }
            break;
        }
        if cold {
            std::hint::black_box(calibrate::read_all(flush));
        }
        let t = Instant::now();
        p.launch()?;
        p.synchronize()?;
        samples.push(t.elapsed().as_secs_f64());
    }
    let s = summarize(&samples);
    case.weight_bytes_per_s = cost.weight_bytes as f64 / s.median_s;
    case.model_bytes_per_s = cost.bytes as f64 / s.median_s;
    case.flops_per_s = cost.flops as f64 / s.median_s;
    if cold {
        case.fraction_of_read_bandwidth = roofline.map(|r| case.model_bytes_per_s / r.read_bytes_per_s);
    }
    case.summary = Some(s);
    case.samples_s = samples;
    Ok(case)
}

fn print_case(c: &CaseReport) {
    let Some(s) = &c.summary else {
        println!("{:<10} {:<9} {:<22} {:<28} WRONG RESULT ({}), not timed", c.op, c.backend, c.kernel, c.dims, c.check);
        return;
    };
    let frac = c.fraction_of_read_bandwidth.map(|f| format!("{f:>6.3}")).unwrap_or_else(|| "   n/a".into());
    println!(
        "{:<10} {:<9} {:<22} {:<28} {:>9.3} ms [{:.3}..{:.3}] {:>7.2} GB/s weights {:>7.2} GB/s model {:>7.2} GFLOP/s  read-bw fraction {frac}{}",
        c.op,
        c.backend,
        c.kernel,
        c.dims,
        s.median_s * 1e3,
        s.p10_s * 1e3,
        s.p90_s * 1e3,
        c.weight_bytes_per_s / 1e9,
        c.model_bytes_per_s / 1e9,
        c.flops_per_s / 1e9,
        if c.unmet.is_empty() { String::new() } else { format!("  (unmet: {})", c.unmet.join(", ")) }
    );
}

fn write_json(path: &Path, report: &Report) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| bad_input(format!("{}: cannot create a file in {}: {e}", path.display(), dir.display())))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(tmp.as_file()), report)?;
    tmp.persist(path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}

pub fn run(args: &BenchArgs, opts: &BackendOptions) -> Result<()> {
    let seed = seed_from_env().map_err(bad_input)?;
    let mut op_names: Vec<String> = args.op.clone();
    if args.suite != "all" {
        op_names.push(args.suite.clone());
    }
    for name in &op_names {
        if ops::by_name(name).is_none() {
            return Err(bad_input(format!("op/suite {name}: unknown")));
        }
    }
    let selected_ops: Vec<&dyn Op> =
        ops::all().iter().copied().filter(|o| op_names.is_empty() || op_names.iter().any(|n| n == o.name())).collect();
    let kinds: Vec<BackendKind> = if args.backend.is_empty() {
        BackendKind::ALL.into_iter().filter(|k| *k != BackendKind::Reference).collect()
    } else {
        args.backend.iter().map(|b| parse_backend(b)).collect::<Result<_>>()?
    };
    println!("dfma bench  commit {}  seed {seed} (DFMA_SEED={seed} reproduces)", commit());
    let mut backends = Vec::new();
    let mut backend_reports = Vec::new();
    for kind in kinds {
        match open(kind, opts) {
            Ok(b) => {
                let d = b.device();
                println!("backend {kind:<9} {} ({})", d.name, d.driver);
                backend_reports.push(BackendReport {
                    backend: kind.name().into(),
                    available: true,
                    device: Some(d.name.clone()),
                    driver: Some(d.driver.clone()),
                    details: d.details.clone(),
                    reason: None,
                });
                backends.push(b);
            }
            Err(e) => {
                println!("backend {kind:<9} {e}");
                backend_reports.push(BackendReport {
                    backend: kind.name().into(),
                    available: false,
                    device: None,
                    driver: None,
                    details: vec![],
                    reason: Some(e.to_string()),
                });
            }
        }
    }
    let host = backends.iter().any(|b| matches!(b.kind(), BackendKind::Cpu | BackendKind::Reference));
    let roofline = host.then(|| {
        let r = calibrate::measure();
        println!(
            "host roofline ({} threads, {} MiB buffers): streaming read {:.2} GB/s, copy (read + write) {:.2} GB/s",
            r.threads,
            r.buffer_bytes >> 20,
            r.read_bytes_per_s / 1e9,
            r.copy_bytes_per_s / 1e9
        );
        r
    });
    let flush = if host { flush_buffer() } else { Vec::new() };
    let sampling =
        Sampling { min_samples: args.min_samples, min_seconds: args.min_seconds, max_seconds: args.max_seconds };
    let mut cases = Vec::new();
    let mut stream = 0u64;
    let mut wrong = 0;
    for op in &selected_ops {
        for b in &backends {
            for kernel in for_backend(b.kind()).filter(|k| k.op.name() == op.name()) {
                for dims in op.bench_dims() {
                    stream += 1;
                    let case =
                        bench_case(b.as_ref(), kernel, *op, &dims, seed, stream, &sampling, &flush, roofline.as_ref())
                            .with_context(|| format!("{} on {} at {dims}", kernel.id(), b.kind()))?;
                    print_case(&case);
                    wrong += usize::from(!case.correct);
                    cases.push(case);
                }
            }
        }
    }
    let report = Report {
        tool: format!("dfma {}", env!("CARGO_PKG_VERSION")),
        commit: commit(),
        seed,
        backends: backend_reports,
        host_roofline: roofline,
        cases,
    };
    if let Some(path) = &args.json {
        write_json(path, &report)?;
        println!("wrote {}", path.display());
    }
    if wrong > 0 {
        anyhow::bail!("{wrong} case(s) gave wrong results");
    }
    Ok(())
}
