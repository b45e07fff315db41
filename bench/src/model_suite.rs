//! `dfma bench --suite model`: a whole model's prefill and decode speed on each backend, in
//! tokens per second, tokens per joule and the fraction of the memory roofline, where the
//! microbenchmarks of the other suites cannot answer: what a user of a personal instance gets.
//!
//! - **Prefill**: a prompt of `prompt_tokens` seeded random token ids fed at once
//!   ([`Model::prefill`]: every block's products batched over the prompt) into an empty cache.
//! - **Decode**: then `decode_tokens` greedy steps ([`Model::forward`], one token each), each
//!   step reading every weight matrix of the forward pass once.
//! - **Roofline**: decode reads the model's product weights per token (the blocks' seven
//!   matrices and the head, as stored in the file); weight bytes × tokens/s is the achieved
//!   read rate, divided by the backend's streaming-read peak measured in the same run. The KV
//!   cache and activations are left out of the bytes (under 1 % at these lengths for the
//!   embedded model), so the fraction slightly understates the true one.
//! - **Energy**: after the timed repeats, decode steps run back to back from the prefilled
//!   cache for the meter's minimum window; joules per decoded token from the backend's meter,
//!   "measured" or "estimated" as the meter says.
//!
//! - **Adapters** (`--adapters 1|2`): each backend runs again with that many seeded random
//!   adapters (rank `--adapter-rank`) attached on every projection of every block — a personal
//!   instance decodes with its own adapter and the collective one — and the terminal shows the
//!   adapted run's time over the bare one's from the same run. Two adapters share their A
//!   factors as DFMA's personal and collective adapters do (the forward pass then applies them
//!   as one: `dfma_runtime::model::Model::applied_adapters`), or not with `--distinct-a`. The
//!   factors read count in that run's bytes per token.
//!
//! Medians over `repeats` runs; every sample is in the report. The peer figures (llama.cpp on
//! the same file and threads) sit next to these in the same report when asked for.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use dfma_kernels::Backend;
use dfma_runtime::energy::{EnergyMeter, EnergyWindow, recommended_min_window};
use dfma_runtime::model::adapter::{Adapter, Projection};
use dfma_runtime::model::sampler::argmax;
use dfma_runtime::model::{KvCache, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::report::RooflineReport;
use crate::stats::summarize;

/// How much of the model to run.
#[derive(Clone, Copy, Debug)]
pub struct ModelSuiteConfig {
    /// Prompt length of the prefill.
    pub prompt_tokens: usize,
    /// Greedy decode steps after it.
    pub decode_tokens: usize,
    /// Timed prefill + decode runs per backend.
    pub repeats: usize,
    /// Rank of the adapters of the adapted runs ([`Variant::adapters`]).
    pub adapter_rank: usize,
    /// Whether those adapters get distinct A factors (by default they share one, as DFMA's
    /// personal and collective adapters do, and the forward pass applies them as one).
    pub distinct_a: bool,
}

/// One run's configuration of a backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct Variant {
    /// The cpu engine's 8-bit activations in the quantized products (decode and prefill).
    pub int8: bool,
    /// Seeded random adapters attached on every projection of every block (0..=2).
    pub adapters: usize,
}

/// `--suite model`: the model, what was run, and one run per backend.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSuiteReport {
    /// The GGUF file, or what the synthetic stand-in is.
    pub model: String,
    /// Whether the weights are random stand-ins with the real model's shapes and formats.
    pub synthetic: bool,
    /// Blocks, width, heads, vocabulary and tensor formats, as read from the file.
    pub architecture: String,
    /// Prompt length of each prefill.
    pub prompt_tokens: usize,
    /// Greedy steps of each decode.
    pub decode_tokens: usize,
    /// Timed runs per backend.
    pub repeats: usize,
    /// Bytes of product weights one decode step reads (as stored in the file).
    pub decode_weight_bytes_per_token: u64,
    /// One entry per backend that was asked for.
    pub runs: Vec<ModelRun>,
    /// The same model on peer implementations, same run and threads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerModelRun>,
}

/// The model on one backend.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModelRun {
    /// Backend name.
    pub backend: String,
    /// Activations of the quantized products: `f32` (exact) or `int8` (the cpu engine's 8-bit
    /// option; in reports before 2026-12-05 it covered decode only, prefill ran in f32). Absent
    /// in reports written before the option existed: f32.
    #[serde(default = "f32_name")]
    pub activations: String,
    /// Adapters attached on every projection of every block (0: the bare model). Absent in
    /// reports written before adapted runs existed: 0.
    #[serde(default)]
    pub adapters: usize,
    /// Their rank (0 when none).
    #[serde(default)]
    pub adapter_rank: usize,
    /// Whether they share their A factors (then they are applied as one adapter).
    #[serde(default)]
    pub adapters_share_a: bool,
    /// Bytes of the f32 factors (A and B) one decode step reads, on top of the model's product
    /// weights (adapters sharing A read once); counted in this run's bytes per second and
    /// roofline fraction.
    #[serde(default)]
    pub adapter_bytes_per_token: u64,
    /// How the products run ([`dfma_runtime::model::MatmulEngine::describe`]).
    pub engine: String,
    /// CPU threads of the rayon pool (the cpu backend's parallelism).
    pub threads: usize,
    /// Seconds to load the model onto the backend (mapping, layouts, uploads).
    pub load_s: f64,
    /// Median prefill tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Median decode tokens per second.
    pub decode_tokens_per_s: f64,
    /// Every prefill's seconds.
    pub prefill_samples_s: Vec<f64>,
    /// Every decode's seconds (all `decode_tokens` steps).
    pub decode_samples_s: Vec<f64>,
    /// Weight bytes per token × median decode tokens per second.
    pub decode_weight_bytes_per_s: f64,
    /// That rate over the backend's streaming-read peak from the same run.
    pub decode_fraction_of_read: Option<f64>,
    /// Joules per decoded token over the energy window.
    pub decode_joules_per_token: Option<f64>,
    /// Decoded tokens per joule.
    pub decode_tokens_per_j: Option<f64>,
    /// Meter name and "measured" or "estimated"; or why no energy was measured.
    pub energy: Option<String>,
    /// Why the run failed, when it did (the other backends still run).
    pub error: Option<String>,
}

/// A peer implementation's figures for the same model, threads and lengths.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerModelRun {
    /// Peer and version, e.g. `llama.cpp b1234 (cpu)`.
    pub peer: String,
    /// Threads it ran with.
    pub threads: usize,
    /// The dfma run the ratios use: the fastest cpu decode (`cpu, f32 activations` or
    /// `cpu, int8 activations`).
    #[serde(default)]
    pub dfma_run: Option<String>,
    /// Its prefill tokens per second, as it reports them (mean).
    pub prefill_tokens_per_s: Option<f64>,
    /// Its decode tokens per second, as it reports them (mean).
    pub decode_tokens_per_s: Option<f64>,
    /// dfma's cpu decode tokens/s over the peer's.
    pub decode_ratio: Option<f64>,
    /// dfma's cpu prefill tokens/s over the peer's.
    pub prefill_ratio: Option<f64>,
    /// How the peer measured (its command line, what its tests mean).
    pub method: String,
    /// "not run: <reason>" when it could not run.
    pub not_run: Option<String>,
}

fn f32_name() -> String {
    "f32".into()
}

/// Seeded prompt token ids in `0..vocab`.
fn prompt(seed: u64, n: usize, vocab: usize) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d6f_6465_6c73);
    (0..n).map(|_| rng.random_range(0..vocab as u32)).collect()
}

/// `steps` greedy decode steps from `logits`, continuing `cache`.
fn decode(model: &Model<'_>, cache: &mut KvCache, mut logits: Vec<f32>, steps: usize) -> Result<()> {
    for _ in 0..steps {
        logits = model.forward(argmax(&logits), cache)?;
    }
    Ok(())
}

/// The architecture line of a loaded model.
pub fn architecture(model: &Model<'_>) -> String {
    let c = &model.config;
    let mut formats: Vec<String> = model.weights.products().map(|m| format!("{:?}", m.format)).collect();
    formats.sort();
    formats.dedup();
    format!(
        "{} blocks, width {}, SwiGLU {}, {} query / {} key-value heads, {} tokens; products in {}",
        c.layers,
        c.dim,
        c.ffn_dim,
        c.heads,
        c.kv_heads,
        c.vocab,
        formats.join(", ")
    )
}

/// Bytes of product weights one decode step reads.
pub fn decode_weight_bytes(model: &Model<'_>) -> u64 {
    model.weights.products().map(|m| m.bytes(model.file()).len() as u64).sum()
}

/// Runs the model from `path` on `backend`: timed prefill + decode repeats, then the energy
/// window when a meter is given.
pub fn run_on(
    path: &Path,
    backend: &dyn Backend,
    cfg: ModelSuiteConfig,
    seed: u64,
    roof: Option<&RooflineReport>,
    meter: Option<&dyn EnergyMeter>,
    variant: Variant,
) -> Result<ModelRun> {
    let t0 = Instant::now();
    let mut model = Model::load_on(path, backend).with_context(|| format!("loading {}", path.display()))?;
    if variant.int8 {
        model.use_int8_activations()?;
    }
    for i in 0..variant.adapters as u64 {
        let a_seed = if cfg.distinct_a { seed ^ (0xADA0 + i) } else { seed ^ 0xADA0 };
        model.attach(random_adapter(&model, cfg.adapter_rank, a_seed, seed ^ (0xB0 + i))?)?;
    }
    let load_s = t0.elapsed().as_secs_f64();
    let tokens = prompt(seed, cfg.prompt_tokens, model.config.vocab);
    let capacity = cfg.prompt_tokens + cfg.decode_tokens + 1;
    let mut run = ModelRun {
        backend: backend.kind().name().into(),
        activations: if variant.int8 { "int8" } else { "f32" }.into(),
        adapters: variant.adapters,
        adapter_rank: if variant.adapters > 0 { cfg.adapter_rank } else { 0 },
        adapters_share_a: variant.adapters > 1 && !cfg.distinct_a,
        adapter_bytes_per_token: adapter_bytes(&model),
        engine: model.engine().describe(),
        threads: rayon::current_num_threads(),
        load_s,
        ..ModelRun::default()
    };
    let mut prefilled = None;
    for _ in 0..cfg.repeats.max(1) {
        let mut cache = model.new_cache(capacity);
        let t = Instant::now();
        let logits = model.prefill(&tokens, &mut cache)?;
        run.prefill_samples_s.push(t.elapsed().as_secs_f64());
        prefilled = Some((cache.clone(), logits.clone()));
        let t = Instant::now();
        decode(&model, &mut cache, logits, cfg.decode_tokens)?;
        run.decode_samples_s.push(t.elapsed().as_secs_f64());
    }
    let per_s = |samples: &[f64], n: usize| n as f64 / summarize(samples).median_s;
    run.prefill_tokens_per_s = per_s(&run.prefill_samples_s, cfg.prompt_tokens);
    run.decode_tokens_per_s = per_s(&run.decode_samples_s, cfg.decode_tokens);
    run.decode_weight_bytes_per_s =
        (decode_weight_bytes(&model) + run.adapter_bytes_per_token) as f64 * run.decode_tokens_per_s;
    run.decode_fraction_of_read = roof.map(|r| run.decode_weight_bytes_per_s / r.read_bytes_per_s);
    if let (Some(meter), Some((cache, logits))) = (meter, prefilled) {
        let window = EnergyWindow::start(meter)?;
        let start = Instant::now();
        let mut steps = 0u64;
        while steps == 0 || start.elapsed() < recommended_min_window(meter) {
            decode(&model, &mut cache.clone(), logits.clone(), cfg.decode_tokens)?;
            steps += cfg.decode_tokens as u64;
        }
        let w = window.stop()?;
        match w.energy_per_launch_j(steps) {
            Some(j) if j > 0.0 => {
                run.decode_joules_per_token = Some(j);
                run.decode_tokens_per_j = Some(1.0 / j);
                run.energy = Some(format!("{} ({})", w.meter, w.kind));
            }
            _ => run.energy = Some(format!("not measured: {w}")),
        }
    }
    Ok(run)
}

/// Bytes of the factors a forward pass reads: the applied adapters' (those sharing A merged).
fn adapter_bytes(model: &Model<'_>) -> u64 {
    let floats: usize =
        model.applied_adapters().iter().flat_map(|a| a.factors.values()).map(|f| f.a.len() + f.b.len()).sum();
    4 * floats as u64
}

/// An adapter of `rank` on every projection of every block, A and B both seeded uniform
/// (B nonzero, unlike a fresh adapter's, so the timed products are never multiplications by
/// zero), scaled small enough to leave the model's outputs finite. Adapters drawn with one
/// `a_seed` share A, as DFMA's personal and collective adapters do.
fn random_adapter(model: &Model<'_>, rank: usize, a_seed: u64, b_seed: u64) -> Result<Adapter> {
    let layers: Vec<usize> = (0..model.config.layers).collect();
    let mut adapter = Adapter::init(&model.config, "", &layers, &Projection::ALL, rank, rank as f32, a_seed)?;
    let mut rng = StdRng::seed_from_u64(b_seed);
    let b: Vec<f32> = (0..adapter.b_len()).map(|_| rng.random_range(-0.01f32..0.01)).collect();
    adapter.set_b(&b)?;
    Ok(adapter)
}

/// The report's lines for the terminal.
pub fn lines(r: &ModelSuiteReport) -> Vec<String> {
    let mut out = vec![format!(
        "model {}{}: {}; prompt {} tokens, decode {} tokens, {} repeats; {:.1} MB of weights per decoded token",
        r.model,
        if r.synthetic { " (synthetic weights)" } else { "" },
        r.architecture,
        r.prompt_tokens,
        r.decode_tokens,
        r.repeats,
        r.decode_weight_bytes_per_token as f64 / 1e6
    )];
    for run in &r.runs {
        if let Some(e) = &run.error {
            out.push(format!("model {:<9} failed: {e}", run.backend));
            continue;
        }
        let frac = run.decode_fraction_of_read.map(|f| format!(" ({f:.2} of read)")).unwrap_or_default();
        let energy = match (run.decode_tokens_per_j, &run.energy) {
            (Some(t), Some(m)) => format!(", {t:.2} tokens/J [{m}]"),
            (None, Some(m)) => format!(", energy {m}"),
            _ => String::new(),
        };
        let adapted = match run.adapters {
            0 => String::new(),
            n => format!(" +{n}x r{}{}", run.adapter_rank, if run.adapters_share_a { " one A" } else { "" }),
        };
        out.push(format!(
            "model {:<9} {:<4}{adapted} prefill {:8.1} tokens/s  decode {:7.1} tokens/s  {:7.2} GB/s{frac}{energy}  ({} threads; {})",
            run.backend,
            run.activations,
            run.prefill_tokens_per_s,
            run.decode_tokens_per_s,
            run.decode_weight_bytes_per_s / 1e9,
            run.threads,
            run.engine
        ));
    }
    for run in r.runs.iter().filter(|run| run.adapters > 0 && run.error.is_none()) {
        let bare = r.runs.iter().find(|b| {
            b.adapters == 0 && b.error.is_none() && b.backend == run.backend && b.activations == run.activations
        });
        if let Some(bare) = bare {
            out.push(format!(
                "model {:<9} {:<4} {} rank-{} adapters{} on every projection: decode {:.3}x, prefill {:.3}x the bare model's time",
                run.backend,
                run.activations,
                run.adapters,
                run.adapter_rank,
                if run.adapters_share_a { " sharing A" } else { "" },
                bare.decode_tokens_per_s / run.decode_tokens_per_s,
                bare.prefill_tokens_per_s / run.prefill_tokens_per_s
            ));
        }
    }
    for p in &r.peers {
        match &p.not_run {
            Some(why) => out.push(format!("peer  {}: {why}", p.peer)),
            None => out.push(format!(
                "peer  {} ({} threads): prefill {} tokens/s, decode {} tokens/s; dfma ({}) / peer: prefill {}, decode {}",
                p.peer,
                p.threads,
                opt(p.prefill_tokens_per_s, 1),
                opt(p.decode_tokens_per_s, 1),
                p.dfma_run.as_deref().unwrap_or("-"),
                opt(p.prefill_ratio, 2),
                opt(p.decode_ratio, 2)
            )),
        }
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "-".into())
}
