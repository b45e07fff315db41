//! `dfma generate --prompt "…"`: text from the embedded model (or any Llama GGUF) on dfma's
//! kernels, streamed as it is sampled, with prefill and decode tokens per second.
//!
//! `--backend cpu` multiplies on the CPU kernels over the mapped file; any other backend gets
//! the model's weights uploaded once at load, one registered GEMV per matrix, and moves only
//! activations per product. A backend that cannot run here is reported as `dfma op` reports
//! it ("error: wgpu: not available: …", exit 1).

use std::io::Write;

use anyhow::{Result, anyhow};
use dfma_kernels::{BackendOptions, open};
use dfma_reference::seed::seed_from_env;
use dfma_runtime::model::adapter::{Adapter, file_sha256};
use dfma_runtime::model::chat::{self, Message};
use dfma_runtime::model::generate::generate;
use dfma_runtime::model::sampler::{Sampler, SamplerConfig};
use dfma_runtime::model::tokenizer::Tokenizer;

use super::model_args::{load_model, model_error, model_path};
use super::parse_backend;
use crate::cli::GenerateArgs;
use crate::error::bad_input;

pub fn run(args: &GenerateArgs, opts: &BackendOptions) -> Result<()> {
    let kind = parse_backend(&args.backend)?;
    if !(args.top_p > 0.0 && args.top_p <= 1.0) || args.temperature < 0.0 || !args.temperature.is_finite() {
        return Err(bad_input("--temperature must be ≥ 0 and --top-p in (0, 1]"));
    }
    let path = model_path(args.model.as_deref())?;
    let backend = open(kind, opts).map_err(|e| anyhow!("{kind}: {e}"))?;
    let mut model = load_model(&path, backend.as_ref())?;
    if args.int8_activations {
        model.use_int8_activations().map_err(|e| bad_input(format!("--int8-activations: {e}")))?;
    }
    if !args.lora.is_empty() {
        let base = file_sha256(&path).map_err(model_error)?;
        for lora in &args.lora {
            let adapter = Adapter::load(lora, &model.config, &base).map_err(|e| bad_input(e.to_string()))?;
            model.attach(adapter).map_err(|e| bad_input(format!("{}: {e}", lora.display())))?;
        }
    }
    let tokenizer = Tokenizer::from_gguf(model.file()).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let text = match (args.raw, chat::template(&model.file().gguf)) {
        (false, Some(t)) => {
            let mut messages = Vec::new();
            if let Some(s) = &args.system {
                messages.push(Message { role: "system".into(), content: s.clone() });
            }
            messages.push(Message { role: "user".into(), content: args.prompt.clone() });
            chat::render(t, &messages).map_err(model_error)?
        }
        _ => args.prompt.clone(),
    };
    let ids = tokenizer.encode(&text, true).map_err(|e| anyhow::anyhow!("{e}"))?;
    let seed = match args.seed {
        Some(s) => s,
        None => seed_from_env().map_err(bad_input)?,
    };
    eprintln!(
        "model {} ({} layers, width {}), {} prompt tokens, seed {seed}, temperature {}",
        path.display(),
        model.config.layers,
        model.config.dim,
        ids.len(),
        args.temperature
    );
    eprintln!("matrix products on {}", model.engine().describe());
    let mut sampler =
        Sampler::new(SamplerConfig { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p, seed });
    let mut stdout = std::io::stdout();
    let (_, stats) = generate(&model, &tokenizer, &ids, args.max_tokens, &mut sampler, |piece| {
        let _ = stdout.write_all(piece.as_bytes());
        let _ = stdout.flush();
    })
    .map_err(model_error)?;
    println!();
    eprintln!(
        "prefill {} tokens at {:.1} tokens/s; decode {} tokens at {:.1} tokens/s on {kind} ({}; {} host threads){}",
        stats.prompt_tokens,
        stats.prefill_tokens_per_s(),
        stats.generated_tokens,
        stats.decode_tokens_per_s(),
        backend.device().name,
        rayon::current_num_threads(),
        if stats.stopped_at_end { "" } else { "; stopped at --max-tokens" }
    );
    Ok(())
}
