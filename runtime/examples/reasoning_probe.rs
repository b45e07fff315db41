//! The base model on every task kind and difficulty: greedy accuracy, the fraction of sampled
//! answers the checker accepts, and seconds per question — what the experiment's defaults
//! (difficulty, samples per question) are chosen from.
//!
//! `cargo run --release -p dfma-runtime --example reasoning_probe -- [QUESTIONS] [SAMPLES] [SHOTS] [KIND,…]`
//! (the model from DFMA_MODEL_GGUF).

use std::time::Instant;

use dfma_runtime::model::Model;
use dfma_runtime::model::sampler::SamplerConfig;
use dfma_runtime::model::tokenizer::Tokenizer;
use dfma_runtime::reasoning::solver::Solver;
use dfma_runtime::reasoning::tasks::TaskKind;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() {
    let mut args = std::env::args().skip(1);
    let questions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let shots: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let only: Option<String> = args.next();
    let path = std::env::var("DFMA_MODEL_GGUF").expect("DFMA_MODEL_GGUF names the model");
    let model = Model::load(std::path::Path::new(&path)).expect("model loads");
    let tokenizer = Tokenizer::from_gguf(model.file()).expect("tokenizer");
    let solver = Solver { model: &model, tokenizer: &tokenizer, max_tokens: 12 };
    let sampling = SamplerConfig { temperature: 1.0, top_k: 40, top_p: 0.95, seed: 1 };
    for kind in
        TaskKind::ALL.into_iter().filter(|k| only.as_deref().is_none_or(|o| o.split(',').any(|n| n == k.name())))
    {
        for difficulty in 1..=3 {
            let mut rng = StdRng::seed_from_u64(7);
            let tasks: Vec<_> = (0..questions).map(|_| kind.generate(difficulty, &mut rng)).collect();
            let t0 = Instant::now();
            let acc = solver.accuracy(&tasks).unwrap();
            let greedy_s = t0.elapsed().as_secs_f64() / questions as f64;
            let t1 = Instant::now();
            let demos: Vec<_> = (0..shots).map(|_| kind.generate(difficulty, &mut rng)).collect();
            let prefix = solver.demo_prefix(&demos).unwrap();
            let asks: Vec<_> = tasks.iter().map(|t| (t, &prefix)).collect();
            let answers = solver.sample_all(&asks, samples, sampling).unwrap();
            let accepted: usize =
                tasks.iter().zip(&answers).map(|(t, a)| a.iter().filter(|a| t.check(&a.text)).count()).sum();
            let sample_s = t1.elapsed().as_secs_f64() / questions as f64;
            println!(
                "{:8} d{difficulty}: greedy {:5.1} %, sampled accepted {:5.1} % ({samples}/question, {shots} worked examples); {greedy_s:.2} s greedy, {sample_s:.2} s sampling a question",
                kind.name(),
                100.0 * acc,
                100.0 * accepted as f64 / (questions * samples) as f64
            );
        }
    }
}
