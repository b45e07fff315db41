//! One round of an instance learning from its own reasoning: it answers its private questions
//! several times (sampled, with worked examples of the task in context), keeps the answers its
//! checker accepts, and trains its personal adapter on them — the question asked plainly, the
//! accepted answer as the target — so it learns to answer without the worked examples.
//! Nothing of this leaves the instance.

use rand::rngs::StdRng;

use crate::model::adapter::Adapter;
use crate::model::error::ModelError;
use crate::model::forward::Model;
use crate::model::sampler::SamplerConfig;
use crate::model::tokenizer::Tokenizer;
use crate::model::train::{AdamW, Example, LossSum, StepConfig, train_epoch};

use super::solver::Solver;
use super::tasks::Task;

/// How an instance generates and learns from its data each round.
#[derive(Clone, Copy, Debug)]
pub struct SelfTrainConfig {
    /// Answers sampled per question.
    pub samples: usize,
    /// Worked examples of the same kind placed before a question when sampling.
    pub demos: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Longest answer, in tokens.
    pub max_answer_tokens: usize,
    /// Passes over the round's accepted examples.
    pub epochs: usize,
    /// Optimizer steps.
    pub step: StepConfig,
}

/// What a round of self-training did.
#[derive(Clone, Debug, Default)]
pub struct SelfTrainReport {
    /// Questions asked.
    pub questions: usize,
    /// Answers sampled.
    pub sampled: usize,
    /// Answers the checker accepted (distinct per question).
    pub accepted: usize,
    /// The accepted examples (kept by the instance; the pooled baseline gathers them).
    pub examples: Vec<Example>,
    /// Training loss over the round.
    pub loss: LossSum,
}

/// Samples answers to `questions` with `model` (its attached adapters acting, `personal` on
/// top), keeps the accepted ones as examples. Questions with the same worked examples share
/// one prefill of them.
pub fn gather(
    model: &mut Model<'_>,
    tokenizer: &Tokenizer,
    personal: &Adapter,
    questions: &[(Task, Vec<Task>)],
    cfg: &SelfTrainConfig,
    sampling_seed: u64,
) -> Result<SelfTrainReport, ModelError> {
    model.attach(personal.clone())?;
    let result = sample_and_check(model, tokenizer, questions, cfg, sampling_seed);
    model.pop_adapter();
    result
}

fn sample_and_check(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    questions: &[(Task, Vec<Task>)],
    cfg: &SelfTrainConfig,
    sampling_seed: u64,
) -> Result<SelfTrainReport, ModelError> {
    let solver = Solver { model, tokenizer, max_tokens: cfg.max_answer_tokens };
    let sampling = SamplerConfig { temperature: cfg.temperature, top_k: 40, top_p: 0.95, seed: sampling_seed };
    let mut report = SelfTrainReport { questions: questions.len(), ..Default::default() };
    // One prefill of each distinct set of worked examples, shared by its questions.
    let mut prefixes: Vec<(&[Task], crate::model::KvCache)> = Vec::new();
    for (_, demos) in questions {
        let demos = &demos[..cfg.demos.min(demos.len())];
        if !prefixes.iter().any(|(d, _)| *d == demos) {
            prefixes.push((demos, solver.demo_prefix(demos)?));
        }
    }
    let asks: Vec<(&Task, &crate::model::KvCache)> = questions
        .iter()
        .map(|(task, demos)| {
            let demos = &demos[..cfg.demos.min(demos.len())];
            (task, &prefixes.iter().find(|(d, _)| *d == demos).expect("prefilled above").1)
        })
        .collect();
    let answers = solver.sample_all(&asks, cfg.samples, sampling)?;
    for ((task, _), answers) in questions.iter().zip(answers) {
        report.sampled += answers.len();
        let mut kept: Vec<Vec<u32>> = Vec::new();
        for a in answers.iter().filter(|a| task.check(&a.text)) {
            if !kept.contains(&a.ids) {
                kept.push(a.ids.clone());
                report.examples.push(solver.example(task, a)?);
            }
        }
        report.accepted += kept.len();
    }
    Ok(report)
}

/// Trains `personal` on `examples` through `model` (its attached adapters frozen).
pub fn learn(
    model: &Model<'_>,
    personal: &mut Adapter,
    opt: &mut AdamW,
    examples: &[Example],
    cfg: &SelfTrainConfig,
    rng: &mut StdRng,
) -> Result<LossSum, ModelError> {
    let mut loss = LossSum::default();
    if examples.is_empty() {
        return Ok(loss);
    }
    for _ in 0..cfg.epochs {
        loss.add(train_epoch(model, personal, opt, examples, cfg.step, rng, |_| {})?);
    }
    Ok(loss)
}

/// Greedy accuracy on `tasks` of `model` with `personal` on top of its attached adapters.
pub fn accuracy(
    model: &mut Model<'_>,
    tokenizer: &Tokenizer,
    personal: Option<&Adapter>,
    tasks: &[Task],
    max_answer_tokens: usize,
) -> Result<Vec<bool>, ModelError> {
    if let Some(p) = personal {
        model.attach(p.clone())?;
    }
    let solver = Solver { model, tokenizer, max_tokens: max_answer_tokens };
    let result =
        solver.greedy_all(tasks).map(|answers| tasks.iter().zip(&answers).map(|(t, a)| t.check(&a.text)).collect());
    if personal.is_some() {
        model.pop_adapter();
    }
    result
}
