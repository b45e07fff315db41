//! `dfma run experiment`: the DFMA experiment on the embedded model (see
//! `dfma_runtime::reasoning::experiment`), with a progress bar, a one-line summary per method,
//! `report.json` and three SVG plots in `--out`.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use dfma_kernels::{BackendKind, BackendOptions, open};
use dfma_reference::seed::seed_from_env;
use dfma_runtime::energy::{ProbeConfig, Scope, available_meters};
use dfma_runtime::federated::aggregate::Aggregation;
use dfma_runtime::federated::codec::Codec;
use dfma_runtime::federated::step::ServerStep;
use dfma_runtime::model::adapter::{Projection, file_sha256};
use dfma_runtime::model::tokenizer::Tokenizer;
use dfma_runtime::model::train::StepConfig;
use dfma_runtime::reasoning::experiment::carbon::learning_carbon;
use dfma_runtime::reasoning::experiment::{
    self, BadSignal, Checkpointing, ExperimentConfig, ExperimentReport, Method, RoundRecord, Runtime,
};
use dfma_runtime::reasoning::self_train::SelfTrainConfig;
use dfma_runtime::reasoning::tasks::TaskKind;
use dfma_runtime::schedule::{CarbonTrace, parse_electricity_maps_csv};
use indicatif::{ProgressBar, ProgressStyle};

use super::experiment_plots::write_plots;
use super::model_args::{load_model, model_error, model_path, parse_layers};
use crate::cli::{ExperimentArgs, RunExperimentArgs};
use crate::error::bad_input;

fn parse_tasks(spec: &str) -> Result<Vec<(TaskKind, u32)>> {
    spec.split(',')
        .map(|part| {
            let (k, d) = part.split_once(':').unwrap_or((part, "1"));
            let kind = TaskKind::parse(k.trim()).map_err(|e| bad_input(format!("--tasks: {e}")))?;
            let d: u32 = d
                .parse()
                .ok()
                .filter(|d| (1..=6).contains(d))
                .ok_or_else(|| bad_input(format!("--tasks {part}: difficulty must be 1..=6")))?;
            Ok((kind, d))
        })
        .collect()
}

fn parse_pair<T>(flag: &str, s: &str, second: impl Fn(&str) -> Option<T>) -> Result<(usize, T)> {
    let bad = || bad_input(format!("{flag} {s}: expected INSTANCE:VALUE"));
    let (i, v) = s.split_once(':').ok_or_else(bad)?;
    Ok((i.parse().map_err(|_| bad())?, second(v).ok_or_else(bad)?))
}

fn config(args: &ExperimentArgs, blocks: usize, seed: u64) -> Result<ExperimentConfig> {
    let methods = args
        .methods
        .split(',')
        .map(|m| Method::parse(m.trim()).map_err(|e| bad_input(format!("--methods: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let cfg = ExperimentConfig {
        instances: args.instances,
        rounds: args.rounds,
        kinds: parse_tasks(&args.tasks)?,
        kinds_per_instance: args.kinds_per_instance,
        questions: args.questions,
        held_out_per_kind: args.held_out,
        self_train: SelfTrainConfig {
            samples: args.samples,
            demos: args.demos,
            temperature: 1.0,
            max_answer_tokens: 10,
            epochs: args.epochs,
            step: StepConfig { batch: 4, max_grad_norm: 1.0 },
        },
        layers: parse_layers(&args.layers, blocks)?,
        projections: Projection::ALL.to_vec(),
        rank: args.rank,
        alpha: 2.0 * args.rank as f32,
        lr: args.lr,
        codec: Codec::parse(&args.compression).map_err(|e| bad_input(format!("--compression: {e}")))?,
        aggregation: Aggregation::parse(&args.robust).map_err(|e| bad_input(format!("--robust: {e}")))?,
        server_step: ServerStep::parse(&args.server_lr).map_err(|e| bad_input(format!("--server-lr: {e}")))?,
        clip_norm: args.clip,
        noise_multiplier: args.noise,
        epsilon_budget: args.epsilon,
        dropout: args.dropout,
        late_join: args.late_join.as_deref().map(|s| parse_pair("--late-join", s, |r| r.parse().ok())).transpose()?,
        bad: args
            .bad_instance
            .as_deref()
            .map(|s| {
                parse_pair("--bad-instance", s, |k| match k {
                    "scaled" => Some(BadSignal::Scaled),
                    "random" => Some(BadSignal::Random),
                    "silent" => Some(BadSignal::Silent),
                    _ => None,
                })
            })
            .transpose()?,
        methods,
        seed,
    };
    cfg.validate().map_err(|e| bad_input(format!("experiment: {e}")))?;
    Ok(cfg)
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    tmp.persist(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

/// The checkpoint of an in-process run, in its --out directory.
const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// The model's file and everything an experiment derives from it and its flags.
pub(super) struct Prepared {
    /// The GGUF.
    pub path: PathBuf,
    /// Its sha256, hex.
    pub base: String,
    /// Its sha256.
    pub base_hash: [u8; 32],
    /// The experiment.
    pub cfg: ExperimentConfig,
    /// What measures the learning's energy.
    pub energy: String,
}

/// Loads the model named by `args` and runs `f` with it, its tokenizer and meter, and the
/// experiment `args` describe (seed from `--seed`, else `DFMA_SEED`, else fresh).
pub(super) fn with_experiment<R>(
    args: &ExperimentArgs,
    f: impl FnOnce(&mut Runtime<'_, '_>, &Prepared) -> Result<R>,
) -> Result<R> {
    let seed = match args.seed {
        Some(s) => s,
        None => seed_from_env().map_err(bad_input)?,
    };
    let path = model_path(args.model.as_deref())?;
    let backend = open(BackendKind::Cpu, &BackendOptions::default()).map_err(|e| anyhow!("cpu: {e}"))?;
    let mut model = load_model(&path, backend.as_ref())?;
    let cfg = config(args, model.config.layers, seed)?;
    let tokenizer = Tokenizer::from_gguf(model.file()).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let base = file_sha256(&path).map_err(model_error)?;
    let mut base_hash = [0u8; 32];
    for (i, b) in base_hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(&base[2 * i..2 * i + 2], 16).expect("sha256 hex");
    }
    let meters = available_meters(&ProbeConfig { nvml: false, ..ProbeConfig::default() });
    let meter = meters.best(Scope::Cpu);
    let energy = match meter {
        Some(m) => format!("{} ({:?})", m.name(), m.kind()),
        None => format!("none: {}", meters.summary()),
    };
    let prepared = Prepared { path, base, base_hash, cfg, energy };
    let mut rt = Runtime { model: &mut model, tokenizer: &tokenizer, meter };
    f(&mut rt, &prepared)
}

pub fn run(run_args: &RunExperimentArgs) -> Result<()> {
    let args = &run_args.experiment;
    let grpc = match run_args.transport.as_str() {
        "in-process" => false,
        "grpc" => true,
        t => return Err(bad_input(format!("--transport {t}: unknown transport (have in-process, grpc)"))),
    };
    if grpc && run_args.resume {
        return Err(bad_input("--resume: checkpoints are kept by in-process runs only (--transport in-process)"));
    }
    let trace = match &args.carbon_trace {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| bad_input(format!("{}: {e}", p.display())))?;
            Some(parse_electricity_maps_csv(p, &text).map_err(|e| bad_input(e.to_string()))?)
        }
        None => None,
    };
    with_experiment(args, |rt, p| {
        std::fs::create_dir_all(&args.out).map_err(|e| bad_input(format!("--out {}: {e}", args.out.display())))?;
        report(rt, p, run_args, grpc, trace.as_ref())
    })
}

fn report(
    rt: &mut Runtime<'_, '_>,
    p: &Prepared,
    run_args: &RunExperimentArgs,
    grpc: bool,
    trace: Option<&CarbonTrace>,
) -> Result<()> {
    let (args, cfg, seed) = (&run_args.experiment, &p.cfg, p.cfg.seed);
    let checkpoint = args.out.join(CHECKPOINT_FILE);
    let resume_after = match run_args.resume && checkpoint.exists() {
        true => Some(experiment::checkpoint_round(&checkpoint, cfg, &p.base).map_err(|e| bad_input(e.to_string()))?),
        false => None,
    };
    eprintln!(
        "experiment: {} instances x {} rounds, methods {}; seed {seed}; model {}; {}; transport {}",
        cfg.instances,
        cfg.rounds,
        args.methods,
        p.path.display(),
        p.energy,
        run_args.transport
    );
    let pb = ProgressBar::new((1 + cfg.rounds * cfg.methods.len()) as u64);
    pb.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}").expect("valid template"));
    let on_round = |method: &str, r: &RoundRecord| {
        pb.inc(1);
        let acc: Vec<String> =
            r.accuracy.iter().map(|a| a.map_or("-".into(), |a| format!("{:.0}", 100.0 * a))).collect();
        let norms: Vec<String> = r.change_norm.iter().map(|n| n.map_or("-".into(), |n| format!("{n:.2}"))).collect();
        pb.suspend(|| {
            eprintln!(
                "{method:>10} round {}: accuracy % [{}], accepted {:?}, change norms [{}], {:.0} s",
                r.round,
                acc.join(" "),
                r.accepted,
                norms.join(" "),
                r.seconds
            )
        });
    };
    let records = if grpc {
        super::experiment_grpc::run(rt, args, p, on_round)?
    } else {
        if let Some(done) = resume_after {
            eprintln!("resuming after round {done} from {}", checkpoint.display());
        }
        let k = Checkpointing { path: &checkpoint, resume: run_args.resume };
        experiment::run_methods(rt, cfg, &cfg.methods, &p.base, p.base_hash, Some(k), on_round)
            .map_err(|e| anyhow!("experiment: {e}"))?
    };
    pb.finish_and_clear();
    let report = ExperimentReport {
        seed,
        model: p.path.display().to_string(),
        base_sha256: p.base.clone(),
        kinds: cfg.kinds.iter().map(|(k, d)| format!("{}:{d}", k.name())).collect(),
        instance_kinds: (0..cfg.instances)
            .map(|i| cfg.kinds_of(i).iter().map(|(k, _)| k.name().to_string()).collect())
            .collect(),
        config: serde_json::json!({
            "instances": cfg.instances, "rounds": cfg.rounds, "questions": cfg.questions,
            "held_out_per_kind": cfg.held_out_per_kind, "samples": cfg.self_train.samples,
            "demos": cfg.self_train.demos, "layers": cfg.layers, "rank": cfg.rank, "lr": cfg.lr,
            "epochs": cfg.self_train.epochs, "compression": cfg.codec.name(), "robust": args.robust,
            "server_lr": cfg.server_step.name(),
            "clip": cfg.clip_norm, "noise": cfg.noise_multiplier, "dropout": cfg.dropout,
            "late_join": args.late_join, "bad_instance": args.bad_instance,
        }),
        energy: p.energy.clone(),
        carbon: Vec::new(),
        methods: records,
    };
    let mut report = report;
    if let Some(trace) = trace {
        report.carbon = learning_carbon(&report.methods, trace, args.round_hours).map_err(bad_input)?;
    }
    let json = serde_json::to_vec_pretty(&report)?;
    write_atomically(&args.out.join("report.json"), &json)?;
    write_plots(&report, &args.out)?;
    // The report holds everything now; a finished run leaves no checkpoint to resume.
    if !grpc && checkpoint.exists() {
        std::fs::remove_file(&checkpoint).map_err(|e| anyhow!("{}: {e}", checkpoint.display()))?;
    }
    for m in &report.methods {
        println!(
            "{:>10}: held-out accuracy {:.1} % (seen kinds {:.1} %, unseen {:.1} %), {:.0} signal bytes an instance",
            m.method,
            100.0 * m.final_mean(|r| &r.accuracy),
            100.0 * m.final_mean(|r| &r.seen_accuracy),
            100.0 * m.final_mean(|r| &r.unseen_accuracy),
            m.mean_bytes()
        );
    }
    for c in &report.carbon {
        println!(
            "{:>10}: learning {:.4} kWh, {:.2} g CO2e at once, {:.2} g shifted into the cleanest hour of each round ({:.1} % less)",
            c.method,
            c.energy_kwh,
            c.at_once_g,
            c.shifted_g,
            100.0 * (1.0 - c.shifted_g / c.at_once_g)
        );
    }
    if let (Some(c), Some(f)) = (report.method("collective"), report.method("fedavg")) {
        println!("collective sends {:.1}x fewer bytes than fedavg", f.mean_bytes() / c.mean_bytes());
    }
    println!("report and plots in {}", args.out.display());
    Ok(())
}
