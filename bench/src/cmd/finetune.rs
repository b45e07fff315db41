//! `dfma finetune --text FILE`: a LoRA adapter trained on a text through the frozen model.
//!
//! The text is tokenized, cut into windows of `--seq-len` tokens, and every
//! `--held-out-every`-th window is held out. The held-out loss (nats per token) is measured
//! before training (the adapter starts with B = 0, so it is the base model's) and after every
//! epoch; the adapter is written as safetensors bound to the base model's SHA-256, through a
//! temporary file. The forward pass's products run on `--backend`; the backward's on the CPU.

use anyhow::{Result, anyhow};
use dfma_kernels::{BackendOptions, open};
use dfma_reference::seed::seed_from_env;
use dfma_runtime::model::adapter::{Adapter, file_sha256};
use dfma_runtime::model::tokenizer::Tokenizer;
use dfma_runtime::model::train::{AdamW, LossSum, StepConfig, evaluate, split_every, train_epoch, windows};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::model_args::{load_model, model_error, model_path, parse_layers, parse_projections};
use super::parse_backend;
use crate::cli::FinetuneArgs;
use crate::error::bad_input;

fn check_args(args: &FinetuneArgs) -> Result<()> {
    let problem = if args.seq_len < 2 {
        Some("--seq-len must be at least 2")
    } else if args.batch == 0 || args.epochs == 0 {
        Some("--batch and --epochs must be at least 1")
    } else if args.held_out_every < 2 {
        Some("--held-out-every must be at least 2 (something has to be trained on)")
    } else if !(args.lr > 0.0 && args.lr.is_finite() && args.weight_decay >= 0.0 && args.weight_decay.is_finite()) {
        Some("--lr must be positive and --weight-decay non-negative")
    } else if !(args.alpha.is_finite() && args.alpha > 0.0) {
        Some("--alpha must be positive")
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(bad_input(p)))
}

fn per_token(l: LossSum) -> String {
    format!("{:.4} nats/token (perplexity {:.2})", l.mean(), l.mean().exp())
}

pub fn run(args: &FinetuneArgs, opts: &BackendOptions) -> Result<()> {
    check_args(args)?;
    let kind = parse_backend(&args.backend)?;
    let text = std::fs::read_to_string(&args.text).map_err(|e| bad_input(format!("{}: {e}", args.text.display())))?;
    let path = model_path(args.model.as_deref())?;
    let backend = open(kind, opts).map_err(|e| anyhow!("{kind}: {e}"))?;
    let model = load_model(&path, backend.as_ref())?;
    let tokenizer = Tokenizer::from_gguf(model.file()).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let ids = tokenizer.encode(&text, false).map_err(|e| anyhow!("{}: {e}", args.text.display()))?;
    let all = windows(&ids, args.seq_len.min(model.config.context));
    let count = all.len();
    let (train, held) = split_every(all, args.held_out_every);
    if train.is_empty() || held.is_empty() {
        return Err(bad_input(format!(
            "{}: {} tokens make {count} windows of {}; need at least {} for one held-out window",
            args.text.display(),
            ids.len(),
            args.seq_len,
            args.held_out_every
        )));
    }
    let layers = parse_layers(&args.layers, model.config.layers)?;
    let projections = parse_projections(&args.projections)?;
    let seed = match args.seed {
        Some(s) => s,
        None => seed_from_env().map_err(bad_input)?,
    };
    let base = file_sha256(&path).map_err(model_error)?;
    let mut adapter = Adapter::init(&model.config, &base, &layers, &projections, args.rank, args.alpha, seed)
        .map_err(|e| bad_input(format!("--rank {}: {e}", args.rank)))?;
    let params: usize = adapter.factors.values().map(|f| f.a.len() + f.b.len()).sum();
    eprintln!(
        "model {} ({} blocks); adapter rank {} on {} projections of blocks {:?} ({params} parameters); seed {seed}",
        path.display(),
        model.config.layers,
        args.rank,
        projections.len(),
        layers
    );
    eprintln!(
        "{}: {} tokens, {} training and {} held-out windows of {} tokens; forward on {}",
        args.text.display(),
        ids.len(),
        train.len(),
        held.len(),
        args.seq_len,
        model.engine().describe()
    );
    let before = evaluate(&model, Some(&adapter), &held).map_err(model_error)?;
    eprintln!("held-out loss before: {}", per_token(before));
    let mut opt = AdamW::new(args.lr, args.weight_decay);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005e_ed0f_0de5);
    let cfg = StepConfig { batch: args.batch, max_grad_norm: 1.0 };
    let pb = ProgressBar::new((args.epochs * train.len().div_ceil(args.batch)) as u64);
    pb.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} steps {elapsed} {msg}").expect("valid template"));
    let mut after = before;
    for epoch in 1..=args.epochs {
        let t0 = std::time::Instant::now();
        let trained = train_epoch(&model, &mut adapter, &mut opt, &train, cfg, &mut rng, |s| {
            pb.inc(1);
            pb.set_message(format!("loss {:.3}, |grad| {:.3}", s.loss.mean(), s.grad_norm));
        })
        .map_err(model_error)?;
        let secs = t0.elapsed().as_secs_f64();
        after = evaluate(&model, Some(&adapter), &held).map_err(model_error)?;
        pb.suspend(|| {
            eprintln!(
                "epoch {epoch}: training loss {:.4}, held-out {}; {:.1} training tokens/s",
                trained.mean(),
                per_token(after),
                trained.tokens as f64 / secs
            )
        });
    }
    pb.finish_and_clear();
    adapter.save(&args.out).map_err(model_error)?;
    println!(
        "held-out loss {:.4} -> {:.4} nats/token ({:+.1} %) after {} steps; adapter written to {}",
        before.mean(),
        after.mean(),
        100.0 * (after.mean() / before.mean() - 1.0),
        opt.steps(),
        args.out.display()
    );
    Ok(())
}
