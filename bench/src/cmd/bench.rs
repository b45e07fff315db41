//! `dfma bench`: every registered kernel of the chosen suites on every available backend.
//!
//! Per backend, first its roofline: the calibration ops (`stream_read`, `stream_copy`,
//! `fma_peak`) run on that backend in this run. Then per case: fresh random inputs (seed
//! printed, `DFMA_SEED` reproduces), one checked launch against the reference (a wrong kernel
//! gets no speed), warm-up, then adaptive sampling — cold (caches flushed before every sample)
//! and/or hot (back-to-back launches) — timed on the device where the backend can (CUDA events,
//! wgpu timestamp queries), else on the host clock, and recorded as such.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use dfma_kernels::registry::{KernelSpec, for_backend};
use dfma_kernels::{Backend, BackendKind, BackendOptions, open};
use dfma_reference::compare::compare_tensors;
use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_reference::{Dims, Op, Tensor, ops};
use dfma_runtime::energy::{
    AvailableMeters, DEFAULT_IDLE_WINDOW, EnergyMeter, EnergyWindow, ProbeConfig, Scope, available_meters,
    measure_idle_power, recommended_min_window,
};
use indicatif::{ProgressBar, ProgressStyle};

use super::bench_model;
use super::gguf_weights::{self, GgufWeights};
use super::parse_backend;
use crate::bars::{self, BarReport};
use crate::cli::{BenchArgs, CacheMode};
use crate::compression;
use crate::error::bad_input;
use crate::model_suite;
use crate::output;
use crate::peer_gemv;
use crate::report::{BackendReport, CaseReport, ClockReport, EnergyReport, Report, RooflineReport, SCHEMA_VERSION};
use crate::roofline::place;
use crate::sampling::{Criteria, sample};
use crate::stats::summarize;

use super::timed::Timed;

/// The commit the report is tagged with: `DFMA_COMMIT` when set (binaries built on one machine and
/// run on another, away from the checkout), else `git describe` of the working directory.
pub(super) fn commit() -> String {
    if let Ok(c) = std::env::var("DFMA_COMMIT")
        && !c.trim().is_empty()
    {
        return c.trim().to_string();
    }
    let out = std::process::Command::new("git").args(["describe", "--always", "--dirty", "--abbrev=12"]).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => "unknown".into(),
    }
}

fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    format!("{name} ({} {}, {} threads)", std::env::consts::OS, std::env::consts::ARCH, rayon::current_num_threads())
}

/// Prints above the progress bar, or plainly when the bar is hidden (output not a terminal).
fn say(pb: &ProgressBar, line: impl AsRef<str>) {
    if pb.is_hidden() {
        println!("{}", line.as_ref());
    } else {
        pb.println(line);
    }
}

/// One timed case.
pub(super) struct Case<'a> {
    pub(super) backend: &'a dyn Backend,
    pub(super) kernel: &'static KernelSpec,
    pub(super) dims: Dims,
    pub(super) mode: CacheMode,
    /// Real weights (first input) instead of random ones: `--gguf`.
    pub(super) weights: Option<Rc<GgufWeights>>,
    /// Streamed mode: the bytes the copies span together (`None`: the default for the backend,
    /// [`super::timed::default_span_bytes`]).
    pub(super) streamed_span_bytes: Option<u64>,
}

/// A backend's energy meter and the idle power measured before its cases.
pub(super) struct Energy<'m> {
    pub(super) meter: &'m dyn EnergyMeter,
    idle_power_w: Option<f64>,
}

/// The energy scope of a backend: GPU meters for GPUs, CPU meters for the CPU (and for
/// wgpu on a CPU adapter such as lavapipe).
fn scope_of(backend: &dyn Backend) -> Scope {
    let on_cpu = backend.device().details.iter().any(|(k, v)| k == "type" && v == "Cpu");
    match backend.kind() {
        BackendKind::Cuda => Scope::Gpu,
        BackendKind::Wgpu if !on_cpu => Scope::Gpu,
        _ => Scope::Cpu,
    }
}

/// Runs launches back to back (a sample's launches at a time, no cache flushes; streamed cases
/// round their copies) for at least the meter's minimum window and returns the energy per
/// launch, and the GPU clocks read halfway through the window, while the kernel keeps the GPU
/// busy. The window comes from the same run as the timing, right after it.
fn measure_energy(
    timed: &mut Timed<'_>,
    energy: &Energy<'_>,
    cost: &dfma_reference::Cost,
) -> Result<(EnergyReport, Option<ClockReport>)> {
    let min_window = recommended_min_window(energy.meter);
    let window = EnergyWindow::start(energy.meter)?;
    let start = std::time::Instant::now();
    let mut launches = 0u64;
    let mut clocks = None;
    while launches == 0 || start.elapsed() < min_window {
        launches += u64::from(timed.run_back_to_back()?);
        if clocks.is_none() && start.elapsed() >= min_window / 2 {
            clocks = energy.meter.gpu_clocks().map(|c| ClockReport {
                sm_mhz: c.sm_mhz,
                memory_mhz: c.memory_mhz,
                throttle_reasons: c.throttle_reasons,
            });
        }
    }
    let w = window.stop()?;
    let report = energy_report(&w, launches, energy, cost);
    Ok((report, clocks))
}

/// The energy per launch of a closed window of `launches` launches.
fn energy_report(
    w: &dfma_runtime::energy::WindowEnergy,
    launches: u64,
    energy: &Energy<'_>,
    cost: &dfma_reference::Cost,
) -> EnergyReport {
    let kind = w.kind.to_string();
    let Some(joules_per_op) = w.energy_per_launch_j(launches) else {
        return EnergyReport {
            meter: w.meter.clone(),
            kind,
            joules_per_op: 0.0,
            gflop_per_j: 0.0,
            gb_per_j: 0.0,
            power_w: 0.0,
            idle_power_w: energy.idle_power_w,
            window_s: w.window_s,
            launches,
            note: Some(w.to_string()),
        };
    };
    let per_j = |x: u64| if joules_per_op > 0.0 { x as f64 / joules_per_op / 1e9 } else { 0.0 };
    EnergyReport {
        meter: w.meter.clone(),
        kind,
        joules_per_op,
        gflop_per_j: per_j(cost.flops),
        gb_per_j: per_j(cost.bytes),
        power_w: w.power_w().unwrap_or(0.0),
        idle_power_w: energy.idle_power_w,
        window_s: w.window_s,
        launches,
        note: None,
    }
}

fn untimed(case: &Case<'_>, correct: bool, check: String) -> CaseReport {
    let (op, backend) = (case.kernel.op.name(), case.backend.kind().name());
    let dims = case.dims.to_string();
    let cost = case.kernel.op.cost(&case.dims);
    CaseReport {
        correct,
        check,
        ..CaseReport::untimed(op, backend, case.kernel.variant, &dims, case.mode.name(), cost)
    }
}

/// One problem's inputs and reference outputs: every backend and variant that runs the same op at
/// the same shape gets the same data (a fair comparison) and the reference runs once.
pub(super) struct Problem {
    inputs: Vec<Tensor>,
    reference: Vec<Tensor>,
}

/// Problems already generated in this run, by op, dims and weights.
#[derive(Default)]
pub(super) struct Problems(RefCell<HashMap<String, Rc<Problem>>>);

impl Problems {
    /// The problem of `case`: its inputs drawn from `seed` and a stream named by the problem (so
    /// `DFMA_SEED` reproduces it whatever else runs), and the reference's outputs.
    fn get(&self, case: &Case<'_>, seed: u64) -> Rc<Problem> {
        let op = case.kernel.op;
        let source = case.weights.as_ref().map(|w| w.source.as_str()).unwrap_or("random");
        let key = format!("{}|{}|{source}", op.name(), case.dims);
        if let Some(p) = self.0.borrow().get(&key) {
            return Rc::clone(p);
        }
        // FNV-1a of the key: a stable stream id.
        let stream =
            key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut inputs = op.random_inputs(&case.dims, &mut rng_for(seed, stream));
        if let Some(w) = &case.weights {
            inputs[0] = w.w.clone();
        }
        let reference = op.reference(&case.dims, &inputs);
        let p = Rc::new(Problem { inputs, reference });
        self.0.borrow_mut().insert(key, Rc::clone(&p));
        p
    }
}

pub(super) fn run_case(
    case: &Case<'_>,
    seed: u64,
    problems: &Problems,
    criteria: &Criteria,
    roof: Option<&RooflineReport>,
    energy: Option<&Energy<'_>>,
) -> Result<CaseReport> {
    let op = case.kernel.op;
    let problem = problems.get(case, seed);
    let (inputs, reference) = (&problem.inputs, &problem.reference);
    let mut p = case.backend.prepare(case.kernel, &case.dims, inputs)?;
    p.poison_outputs()?;
    p.launch()?;
    p.synchronize()?;
    let got = p.read_outputs()?;
    let mut correct = got.len() == reference.len();
    let mut checks = Vec::new();
    for (g, r) in got.iter().zip(reference) {
        // f32 under the op's tolerance, integer outputs bit for bit.
        let (passed, c) = compare_tensors(g, r, op.tolerance());
        correct &= passed;
        checks.push(c);
    }
    let mut report = untimed(case, correct, checks.join("; "));
    report.weights_source = case.weights.as_ref().map(|w| w.source.clone());
    if !correct {
        return Ok(report);
    }
    // Warm-up, the sample size, and the streamed copies.
    let mut timed = Timed::new(case, p, inputs)?;
    let sampled = sample(criteria, || timed.sample())?;
    if let Some(wrong) = timed.check_copies(op, reference)? {
        report.correct = false;
        report.check = format!("{}; {wrong}", report.check);
        return Ok(report);
    }
    let s = summarize(&sampled.samples_s);
    let cost = op.cost(&case.dims);
    report.timing_method = timed.method();
    report.unmet = sampled.unmet;
    report.weight_bytes_per_s = Some(cost.weight_bytes as f64 / s.median_s);
    report.model_bytes_per_s = Some(cost.bytes as f64 / s.median_s);
    report.flops_per_s = Some(cost.flops as f64 / s.median_s);
    if let Some(roof) = roof {
        let placed = place(&cost, s.median_s, roof, case.kernel.uses_matrix_units());
        report.binding = Some(placed.binding.into());
        report.fraction_of_peak = Some(placed.fraction_of_peak);
        report.fraction_of_read_bandwidth = Some(placed.fraction_of_read_bandwidth);
    }
    report.thread_instructions_per_s = timed.first().thread_instructions().map(|n| n as f64 / s.median_s);
    report.summary = Some(s);
    report.samples_s = sampled.samples_s;
    if let Some(e) = energy {
        let (energy, clocks) = measure_energy(&mut timed, e, &cost)?;
        report.energy = Some(energy);
        report.clocks = clocks;
    }
    Ok(report)
}

/// The bar's two sides (the kernels its medians came from) prepared together and launched in
/// alternating pairs under `criteria`: the median of case / peer over the pairs and their count.
/// `None` when a side is not among the planned cases.
fn pair_bar(
    bar: &BarReport,
    planned: &[Case<'_>],
    seed: u64,
    problems: &Problems,
    criteria: &Criteria,
) -> Result<Option<(f64, usize)>> {
    let Some((case_side, peer_side)) = bar.sides() else { return Ok(None) };
    let find = |(op, dims): (&str, &str), variant: &str| {
        planned.iter().find(|c| {
            c.backend.kind().name() == bar.backend
                && c.mode.name() == bar.cache_mode
                && c.kernel.op.name() == op
                && c.kernel.variant == variant
                && c.dims.to_string() == dims
        })
    };
    let (Some(case), Some(peer)) = (find(case_side, &bar.case_kernel), find(peer_side, &bar.peer_kernel)) else {
        return Ok(None);
    };
    let (pc, pp) = (problems.get(case, seed), problems.get(peer, seed));
    let a = case.backend.prepare(case.kernel, &case.dims, &pc.inputs)?;
    let b = peer.backend.prepare(peer.kernel, &peer.dims, &pp.inputs)?;
    let (mut a, mut b) = (Timed::new(case, a, &pc.inputs)?, Timed::new(peer, b, &pp.inputs)?);
    let mut case_first = true;
    let sampled = sample(criteria, || -> Result<f64> {
        let (ta, tb) = if case_first {
            let ta = a.sample()?;
            (ta, b.sample()?)
        } else {
            let tb = b.sample()?;
            (a.sample()?, tb)
        };
        case_first = !case_first;
        Ok(ta / tb)
    })?;
    let pairs = sampled.samples_s.len();
    Ok((pairs > 0).then(|| (summarize(&sampled.samples_s).median_s, pairs)))
}

/// Measures `backend`'s peaks with the calibration ops' kernels (hot; their buffers exceed any
/// cache). The best variant of each op counts.
fn calibrate(
    backend: &dyn Backend,
    seed: u64,
    problems: &Problems,
    criteria: &Criteria,
    cases: &mut Vec<CaseReport>,
    pb: &ProgressBar,
) -> Result<Option<RooflineReport>> {
    let mut best = [0.0f64; 4];
    let names = ["stream_read", "stream_copy", "fma_peak", "mma_peak"];
    for (i, name) in names.iter().enumerate() {
        for kernel in for_backend(backend.kind()).filter(|k| k.op.name() == *name) {
            for dims in kernel.op.bench_dims() {
                pb.set_message(format!("calibrating {} {}", backend.kind(), kernel.id()));
                let case =
                    Case { backend, kernel, dims, mode: CacheMode::Hot, weights: None, streamed_span_bytes: None };
                let r = run_case(&case, seed, problems, criteria, None, None)
                    .with_context(|| format!("calibration {} on {}", kernel.id(), backend.kind()))?;
                let rate = if name.ends_with("_peak") { r.flops_per_s } else { r.model_bytes_per_s };
                best[i] = best[i].max(rate.unwrap_or(0.0));
                say(pb, output::case_row(&r));
                cases.push(r);
            }
        }
    }
    // Matrix units are optional (`mma_peak` has kernels only where there are some).
    if best[..3].iter().any(|b| *b <= 0.0) {
        return Ok(None);
    }
    let mma = (best[3] > 0.0).then_some(best[3]);
    Ok(Some(RooflineReport {
        backend: backend.kind().name().into(),
        read_bytes_per_s: best[0],
        copy_bytes_per_s: best[1],
        fma_flops_per_s: best[2],
        mma_flops_per_s: mma,
        method: format!(
            "median of stream_read (read), stream_copy (read + write) and fma_peak{} kernels in this run",
            if mma.is_some() { " (and mma_peak: the matrix units, for kernels that run on them)" } else { "" }
        ),
    }))
}

/// Renders a report into one output format.
type Render = fn(&Report) -> Result<String>;

fn write_outputs(args: &BenchArgs, report: &Report) -> Result<()> {
    let outputs: [(&Option<PathBuf>, Render); 4] = [
        // Compact: a report keeps every sample, and hot cases take thousands.
        (&args.json, |r| Ok(serde_json::to_string(r)?)),
        (&args.csv, |r| Ok(output::write_csv(r))),
        (&args.md, |r| Ok(output::write_markdown(r))),
        (&args.svg, output::write_roofline_svg),
    ];
    for (path, render) in outputs {
        if let Some(path) = path {
            output::write_atomic(path, render(report)?.as_bytes())?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

pub fn run(args: &BenchArgs, opts: &BackendOptions) -> Result<()> {
    let seed = seed_from_env().map_err(bad_input)?;
    let gguf_weights = match &args.gguf {
        Some(path) => {
            let (weights, skipped) = gguf_weights::load(path, args.gguf_batch)?;
            println!("gguf {}: {} distinct weight matrices", path.display(), weights.len());
            if let Some(s) = skipped {
                println!("gguf {}: {s}", path.display());
            }
            weights
        }
        None => vec![],
    };
    let mut op_names: Vec<String> = args.op.clone();
    let compression_suite = args.suite == "compression";
    let model_suite = args.suite == "model";
    let model_file = if model_suite { Some(bench_model::resolve(args, seed)?) } else { None };
    if !model_suite && (args.model.is_some() || args.synthetic_model) {
        return Err(bad_input("--model and --synthetic-model belong to --suite model"));
    }
    if model_suite {
        // The model's products are the suite; --op adds op cases beside it.
    } else if compression_suite {
        // The compression ops the registry has (some may come later than the suite's list).
        op_names.extend(compression::OPS.iter().filter(|o| ops::by_name(o).is_some()).map(|o| o.to_string()));
    } else if args.suite != "all" {
        op_names.push(args.suite.clone());
    }
    for name in &op_names {
        if ops::by_name(name).is_none() {
            let names: Vec<&str> = ops::all().iter().map(|o| o.name()).collect();
            return Err(bad_input(format!("op/suite {name}: unknown (have {})", names.join(", "))));
        }
    }
    let selected: Vec<&dyn Op> = ops::all()
        .iter()
        .copied()
        .filter(|o| {
            if op_names.is_empty() {
                !model_suite && !o.is_calibration()
            } else {
                op_names.iter().any(|n| n == o.name())
            }
        })
        .collect();
    // By default the performance backends; `reference` and `ptxvm` (verification backends,
    // orders of magnitude slower) run only when named.
    let kinds: Vec<BackendKind> = if args.backend.is_empty() {
        vec![BackendKind::Cpu, BackendKind::Wgpu, BackendKind::Cuda]
    } else {
        args.backend.iter().map(|b| parse_backend(b)).collect::<Result<_>>()?
    };
    let modes: Vec<CacheMode> = args.mode.modes().to_vec();
    let criteria = Criteria {
        min_samples: args.min_samples,
        min_seconds: args.min_seconds,
        max_rel_stdev: args.max_rel_stdev,
        max_seconds: args.max_seconds,
    };
    let calibration_criteria = Criteria { min_samples: 5, min_seconds: 0.2, max_rel_stdev: 0.05, max_seconds: 10.0 };
    let started_unix_s = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        tool: format!("dfma {}", env!("CARGO_PKG_VERSION")),
        commit: commit(),
        seed,
        started_unix_s,
        host: host(),
        backends: vec![],
        rooflines: vec![],
        cases: vec![],
        bars: vec![],
        compression: None,
        model: None,
        gemv_peers: None,
        gemv_candle: None,
    };
    println!("dfma bench  commit {}  seed {seed} (DFMA_SEED={seed} reproduces)", report.commit);
    let mut backends = Vec::new();
    for kind in kinds {
        match open(kind, opts) {
            Ok(b) => {
                let d = b.device();
                println!("backend {kind:<9} {} ({})", d.name, d.driver);
                report.backends.push(BackendReport {
                    backend: kind.name().into(),
                    available: true,
                    device: Some(d.name.clone()),
                    driver: Some(d.driver.clone()),
                    details: d.details.clone(),
                    reason: None,
                    energy_meter: None,
                });
                backends.push(b);
            }
            Err(e) => {
                println!("backend {kind:<9} {e}");
                report.backends.push(BackendReport {
                    backend: kind.name().into(),
                    available: false,
                    device: None,
                    driver: None,
                    details: vec![],
                    reason: Some(e.to_string()),
                    energy_meter: None,
                });
            }
        }
    }
    let meters: AvailableMeters = available_meters(&ProbeConfig::default());
    println!("{}", meters.summary());
    let mut energies = Vec::new();
    for b in &backends {
        let meter = meters.best(scope_of(b.as_ref()));
        let idle_power_w =
            meter.and_then(|m| measure_idle_power(m, DEFAULT_IDLE_WINDOW).ok()).and_then(|w| w.power_w());
        if let Some(r) = report.backends.iter_mut().find(|r| r.backend == b.kind().name()) {
            r.energy_meter = meter.map(|m| format!("{} ({})", m.name(), m.kind()));
        }
        energies.push((b.kind(), meter.map(|meter| Energy { meter, idle_power_w })));
    }
    let span = args.streamed_span_mb.map(|mb| mb * 1_000_000);
    let mut planned: Vec<Case<'_>> = Vec::new();
    for b in &backends {
        if !gguf_weights.is_empty() {
            for w in &gguf_weights {
                for kernel in for_backend(b.kind()).filter(|k| k.op.name() == w.op.name()) {
                    for &mode in &modes {
                        let weights = Some(Rc::clone(w));
                        planned.push(Case {
                            backend: b.as_ref(),
                            kernel,
                            dims: w.dims.clone(),
                            mode,
                            weights,
                            streamed_span_bytes: span,
                        });
                    }
                }
            }
            continue;
        }
        for op in &selected {
            for kernel in for_backend(b.kind()).filter(|k| k.op.name() == op.name()) {
                for dims in op.bench_dims() {
                    for &mode in &modes {
                        planned.push(Case {
                            backend: b.as_ref(),
                            kernel,
                            dims: dims.clone(),
                            mode,
                            weights: None,
                            streamed_span_bytes: span,
                        });
                    }
                }
            }
            // Each bar of the op is measured against its peer in this run.
            for (peer_op, peer_dims) in bars::peers_of(op.name()) {
                let Some(peer) = ops::by_name(peer_op) else { continue };
                let Some(dims) = peer.bench_dims().into_iter().find(|d| d.to_string() == peer_dims) else { continue };
                for kernel in for_backend(b.kind()).filter(|k| k.op.name() == peer_op) {
                    for &mode in &modes {
                        let already = planned.iter().any(|c| {
                            c.backend.kind() == b.kind()
                                && std::ptr::eq(c.kernel, kernel)
                                && c.dims == dims
                                && c.mode == mode
                        });
                        if !already {
                            planned.push(Case {
                                backend: b.as_ref(),
                                kernel,
                                dims: dims.clone(),
                                mode,
                                weights: None,
                                streamed_span_bytes: span,
                            });
                        }
                    }
                }
            }
        }
    }
    let pb = ProgressBar::new(planned.len() as u64);
    pb.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}").expect("valid template"));
    let mut wrong = 0;
    let mut failed: Vec<String> = Vec::new();
    let problems = Problems::default();
    for b in &backends {
        if matches!(b.kind(), BackendKind::Reference | BackendKind::Ptxvm) {
            // An interpreter's "roofline" would measure the interpreter; it reports
            // thread-instructions per second instead.
            continue;
        }
        let roof = match calibrate(b.as_ref(), seed, &problems, &calibration_criteria, &mut report.cases, &pb) {
            Ok(roof) => roof,
            Err(e) => {
                // One broken kernel must not hide the others: say so, go on, fail at the end.
                say(&pb, format!("roofline {:<9} not measured: {e:#}", b.kind()));
                failed.push(format!("{e:#}"));
                None
            }
        };
        if let Some(roof) = roof {
            say(
                &pb,
                format!(
                    "roofline {:<9} streaming read {:.2} GB/s, copy (read + write) {:.2} GB/s, FMA {:.1} GFLOP/s{}",
                    roof.backend,
                    roof.read_bytes_per_s / 1e9,
                    roof.copy_bytes_per_s / 1e9,
                    roof.fma_flops_per_s / 1e9,
                    roof.mma_flops_per_s.map(|m| format!(", MMA {:.1} GFLOP/s", m / 1e9)).unwrap_or_default()
                ),
            );
            report.rooflines.push(roof);
        }
    }
    for case in &planned {
        pb.set_message(format!("{} on {} {}", case.kernel.id(), case.backend.kind(), case.dims));
        let roof = report.rooflines.iter().find(|r| r.backend == case.backend.kind().name()).cloned();
        let energy = energies.iter().find(|(k, _)| *k == case.backend.kind()).and_then(|(_, e)| e.as_ref());
        let r = match run_case(case, seed, &problems, &criteria, roof.as_ref(), energy)
            .with_context(|| format!("{} on {} at {}", case.kernel.id(), case.backend.kind(), case.dims))
        {
            Ok(r) => r,
            Err(e) => {
                say(&pb, format!("error: {e:#}"));
                failed.push(format!("{e:#}"));
                pb.inc(1);
                continue;
            }
        };
        say(&pb, output::case_row(&r));
        wrong += usize::from(!r.correct);
        report.cases.push(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let gpus: Vec<&str> =
        backends.iter().filter(|b| scope_of(b.as_ref()) == Scope::Gpu).map(|b| b.kind().name()).collect();
    report.bars = bars::evaluate(&report.cases, &gpus);
    for bar in &mut report.bars {
        match pair_bar(bar, &planned, seed, &problems, &criteria) {
            Ok(Some((ratio, pairs))) => bar.set_paired(ratio, pairs),
            Ok(None) => {}
            Err(e) => println!("bar {}: alternating pairs not measured: {e:#}", bar.name),
        }
        println!("{}", bars::line(bar));
    }
    if compression_suite {
        println!(
            "compression quality: {} methods x 3 vectors of {} coordinates ...",
            compression::methods(compression::QUALITY_N).len(),
            compression::QUALITY_N
        );
        let quality = compression::quality(seed, compression::QUALITY_N);
        let section = compression::CompressionReport {
            quality_n: compression::QUALITY_N as u64,
            quality_bars: compression::quality_bars(&quality),
            quality,
            throughput: compression::throughput(&report.cases, &report.rooflines),
        };
        for line in compression::lines(&section) {
            println!("{line}");
        }
        report.compression = Some(section);
    }
    if args.peers {
        let threads = rayon::current_num_threads();
        if let Some(p) = peer_gemv::compare(&report.cases, &report.rooflines, threads) {
            for line in peer_gemv::lines(&p) {
                println!("{line}");
            }
            report.gemv_peers = Some(p);
        }
        // candle's out-of-cache row rotates over as many copies as dfma's streamed cpu case.
        let cpu_span = backends
            .iter()
            .find(|b| b.kind() == BackendKind::Cpu)
            .map(|b| span.unwrap_or_else(|| super::timed::default_span_bytes(b.cache_bytes())));
        let copies = |bytes| cpu_span.map_or(1, |s| super::timed::streamed_copies(bytes, s));
        if let Some(p) = peer_gemv::compare_candle(&report.cases, &report.rooflines, threads, seed, &copies) {
            for line in peer_gemv::lines(&p) {
                println!("{line}");
            }
            report.gemv_candle = Some(p);
        }
    }
    if let Some(file) = &model_file {
        let section = bench_model::run(file, args, seed, &backends, &report.rooflines, &energies);
        for line in model_suite::lines(&section) {
            println!("{line}");
        }
        failed.extend(section.runs.iter().filter_map(|r| r.error.clone()));
        report.model = Some(section);
    }
    write_outputs(args, &report)?;
    if !failed.is_empty() {
        anyhow::bail!("{} case(s) could not run; first: {}", failed.len(), failed[0]);
    }
    if wrong > 0 {
        anyhow::bail!("{wrong} case(s) gave wrong results");
    }
    Ok(())
}
