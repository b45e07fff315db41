//! `dfma bench --suite model`: which model file (or synthetic stand-in), checked before any
//! case runs, and one run of it per opened backend (see `model_suite.rs` for what is measured).

use std::path::PathBuf;

use anyhow::Result;
use dfma_kernels::{Backend, BackendKind};
use dfma_runtime::model::Model;
use dfma_runtime::model::tiny::TinyLlama;

use super::bench::Energy;
use super::model_args::model_path;
use crate::cli::BenchArgs;
use crate::error::bad_input;
use crate::model_suite::{self, ModelRun, ModelSuiteConfig, ModelSuiteReport, PeerModelRun, Variant};
use crate::peers::llama_cpp;
use crate::report::RooflineReport;

/// The model the suite runs, validated.
pub struct ModelFile {
    /// The GGUF file.
    path: PathBuf,
    /// What the report calls it.
    label: String,
    /// Random weights with the embedded model's shapes and formats.
    synthetic: bool,
    /// [`model_suite::architecture`] of the file.
    architecture: String,
    /// [`model_suite::decode_weight_bytes`] of the file.
    decode_weight_bytes: u64,
    /// Holds the synthetic file until the suite is done.
    _dir: Option<tempfile::TempDir>,
}

/// `--model`, `--synthetic-model` or the default model, loaded once on the CPU to check it (a
/// file that is not a Llama GGUF is bad input before anything is timed), and the lengths.
pub fn resolve(args: &BenchArgs, seed: u64) -> Result<ModelFile> {
    if args.prompt_tokens < 2 || args.decode_tokens == 0 || args.repeats == 0 {
        return Err(bad_input(format!(
            "--suite model needs --prompt-tokens >= 2, --decode-tokens >= 1 and --repeats >= 1 (got {}, {}, {})",
            args.prompt_tokens, args.decode_tokens, args.repeats
        )));
    }
    let (path, label, dir) = if args.synthetic_model {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("smollm2-135m-synthetic.gguf");
        TinyLlama::SMOLLM2_135M.write(&path, seed)?;
        (path, format!("synthetic SmolLM2-135M-Instruct shapes (seed {seed})"), Some(dir))
    } else {
        let path = model_path(args.model.as_deref())?;
        (path.clone(), path.display().to_string(), None)
    };
    let model = Model::load(&path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let context = model.config.context;
    if args.prompt_tokens + args.decode_tokens > context {
        return Err(bad_input(format!(
            "--prompt-tokens {} + --decode-tokens {} exceed the model's context of {context}",
            args.prompt_tokens, args.decode_tokens
        )));
    }
    Ok(ModelFile {
        architecture: model_suite::architecture(&model),
        decode_weight_bytes: model_suite::decode_weight_bytes(&model),
        path,
        label,
        synthetic: args.synthetic_model,
        _dir: dir,
    })
}

/// The model on every opened backend except the interpreters (`reference`, `ptxvm`), whose
/// speed says nothing about a device. A backend that fails is recorded and the others run.
pub fn run(
    file: &ModelFile,
    args: &BenchArgs,
    seed: u64,
    backends: &[Box<dyn Backend>],
    rooflines: &[RooflineReport],
    energies: &[(BackendKind, Option<Energy<'_>>)],
) -> ModelSuiteReport {
    let cfg = ModelSuiteConfig {
        prompt_tokens: args.prompt_tokens,
        decode_tokens: args.decode_tokens,
        repeats: args.repeats,
        adapter_rank: usize::from(args.adapter_rank),
        distinct_a: args.distinct_a,
    };
    let mut runs = Vec::new();
    for b in backends {
        let kind = b.kind();
        if matches!(kind, BackendKind::Reference | BackendKind::Ptxvm) {
            continue;
        }
        println!(
            "model {kind:<9} running {} (prompt {}, decode {}) ...",
            file.label, cfg.prompt_tokens, cfg.decode_tokens
        );
        let roof = rooflines.iter().find(|r| r.backend == kind.name());
        let meter = energies.iter().find(|(k, _)| *k == kind).and_then(|(_, e)| e.as_ref()).map(|e| e.meter);
        let int8_too = args.int8_activations && kind == BackendKind::Cpu;
        let adapter_counts = if args.adapters > 0 { vec![0, usize::from(args.adapters)] } else { vec![0] };
        for int8 in [false, true].into_iter().filter(|&i| !i || int8_too) {
            for &adapters in &adapter_counts {
                let variant = Variant { int8, adapters };
                let run =
                    model_suite::run_on(&file.path, b.as_ref(), cfg, seed, roof, meter, variant).unwrap_or_else(|e| {
                        ModelRun {
                            backend: kind.name().into(),
                            activations: if int8 { "int8" } else { "f32" }.into(),
                            adapters,
                            error: Some(format!("model on {kind}: {e:#}")),
                            ..ModelRun::default()
                        }
                    });
                runs.push(run);
            }
        }
    }
    let peers = if args.peers { vec![llama_bench(file, cfg, &runs)] } else { vec![] };
    ModelSuiteReport {
        model: file.label.clone(),
        synthetic: file.synthetic,
        architecture: file.architecture.clone(),
        prompt_tokens: cfg.prompt_tokens,
        decode_tokens: cfg.decode_tokens,
        repeats: cfg.repeats,
        decode_weight_bytes_per_token: file.decode_weight_bytes,
        runs,
        peers,
    }
}

/// llama.cpp's `llama-bench` on the same file, lengths, repeats and threads as the cpu run,
/// with dfma's cpu figures over its.
fn llama_bench(file: &ModelFile, cfg: ModelSuiteConfig, runs: &[ModelRun]) -> PeerModelRun {
    let threads = rayon::current_num_threads();
    let method = format!(
        "llama-bench -m FILE -p {} -n {} -t {threads} -r {} -o json (mean of repetitions; its decode starts from an empty context)",
        cfg.prompt_tokens, cfg.decode_tokens, cfg.repeats
    );
    let mut peer = PeerModelRun {
        peer: "llama.cpp (cpu)".into(),
        threads,
        dfma_run: None,
        prefill_tokens_per_s: None,
        decode_tokens_per_s: None,
        decode_ratio: None,
        prefill_ratio: None,
        method,
        not_run: None,
    };
    let tool = match llama_cpp::binaries() {
        Ok(t) => t,
        Err(why) => {
            peer.not_run = Some(why);
            return peer;
        }
    };
    if let Some(c) = tool.build_info.get("llama_cpp_commit") {
        peer.peer = format!("llama.cpp {} (cpu)", &c[..c.len().min(7)]);
    }
    if file.synthetic {
        peer.not_run =
            Some("not run: the synthetic model has placeholder tokens, which llama.cpp does not load".into());
        return peer;
    }
    match tool.decode_and_prefill(&file.path, cfg.prompt_tokens, cfg.decode_tokens, threads, cfg.repeats) {
        Ok(r) => {
            let cpu = runs
                .iter()
                .filter(|r| r.backend == "cpu" && r.adapters == 0 && r.error.is_none())
                .max_by(|a, b| a.decode_tokens_per_s.total_cmp(&b.decode_tokens_per_s));
            peer.dfma_run = cpu.map(|c| format!("cpu, {} activations", c.activations));
            peer.prefill_tokens_per_s = Some(r.prefill.avg_tokens_per_s);
            peer.decode_tokens_per_s = Some(r.decode.avg_tokens_per_s);
            peer.prefill_ratio = cpu.map(|c| c.prefill_tokens_per_s / r.prefill.avg_tokens_per_s);
            peer.decode_ratio = cpu.map(|c| c.decode_tokens_per_s / r.decode.avg_tokens_per_s);
        }
        Err(e) => peer.not_run = Some(format!("not run: {e:#}")),
    }
    peer
}
