//! The model answering tasks: greedy for evaluation, sampled for self-generated training data,
//! and the training examples made from accepted answers.
//!
//! Answers are decoded until the first newline (the task format ends an answer there), an
//! end-of-text token, or `max_tokens`. Many answers decode side by side, one token each per
//! step ([`Model::forward_batch`]), so the weights stream once per step for all of them. Several
//! samples of one question share its prefill: the prompt is fed once and the key/value cache
//! cloned per sample.

use crate::model::KvCache;
use crate::model::error::ModelError;
use crate::model::forward::Model;
use crate::model::sampler::{Sampler, SamplerConfig, argmax};
use crate::model::tokenizer::Tokenizer;
use crate::model::train::Example;

use super::tasks::Task;

/// Tokens a question may take after a shared prefix.
const QUESTION_ROOM: usize = 64;

/// A model and its tokenizer, answering tasks.
pub struct Solver<'m, 'b> {
    /// The model, with the adapters that should act attached.
    pub model: &'m Model<'b>,
    /// Its tokenizer.
    pub tokenizer: &'m Tokenizer,
    /// Longest answer, in tokens.
    pub max_tokens: usize,
}

/// A sequence being decoded: its cache, the logits for its next token (empty once it has
/// ended), what it produced, and the token it is fed this step.
struct Decoding {
    cache: KvCache,
    logits: Vec<f32>,
    ids: Vec<u32>,
    text: String,
    feed: Option<u32>,
}

/// The seed of sample `j` of question `q` (SplitMix64 finalizer over the three).
fn sample_seed(seed: u64, q: usize, j: usize) -> u64 {
    let mut z = seed ^ ((q as u64) << 32 | j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One answer: the tokens the model produced after the prompt and their text.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Generated token ids, up to and including the newline that ended the answer.
    pub ids: Vec<u32>,
    /// Their text.
    pub text: String,
}

impl Solver<'_, '_> {
    fn prompt_ids(&self, task: &Task) -> Result<Vec<u32>, ModelError> {
        Ok(self.tokenizer.encode(&task.prompt(), false)?)
    }

    /// Decodes every sequence (a prefilled cache and the logits after it) until each ends,
    /// feeding the unfinished ones one token each per step through
    /// [`Model::forward_batch`]; `pick(i, logits)` chooses sequence i's next token.
    fn decode_all(
        &self,
        started: Vec<(KvCache, Vec<f32>)>,
        mut pick: impl FnMut(usize, &[f32]) -> u32,
    ) -> Result<Vec<Answer>, ModelError> {
        let eos = self.tokenizer.eos();
        let vocab = self.model.config.vocab;
        let mut seqs: Vec<Decoding> = started
            .into_iter()
            .map(|(cache, logits)| Decoding { cache, logits, ids: Vec::new(), text: String::new(), feed: None })
            .collect();
        loop {
            for (i, s) in seqs.iter_mut().enumerate() {
                s.feed = None;
                if s.logits.is_empty() || s.ids.len() >= self.max_tokens {
                    continue;
                }
                let next = pick(i, &s.logits);
                if Some(next) == eos {
                    s.logits.clear();
                    continue;
                }
                s.ids.push(next);
                s.text = self.tokenizer.decode(&s.ids)?;
                if s.text.contains('\n') || s.ids.len() == self.max_tokens {
                    s.logits.clear();
                    continue;
                }
                s.feed = Some(next);
            }
            let tokens: Vec<u32> = seqs.iter().filter_map(|s| s.feed).collect();
            if tokens.is_empty() {
                break;
            }
            let mut caches: Vec<&mut KvCache> =
                seqs.iter_mut().filter(|s| s.feed.is_some()).map(|s| &mut s.cache).collect();
            let logits = self.model.forward_batch(&tokens, &mut caches)?;
            let mut rows = logits.chunks_exact(vocab);
            for s in seqs.iter_mut().filter(|s| s.feed.is_some()) {
                s.logits.clear();
                s.logits.extend_from_slice(rows.next().expect("one row a fed sequence"));
            }
        }
        Ok(seqs.into_iter().map(|s| Answer { ids: s.ids, text: s.text }).collect())
    }

    /// The greedy answers to `tasks`, decoded side by side.
    pub fn greedy_all(&self, tasks: &[Task]) -> Result<Vec<Answer>, ModelError> {
        let started = tasks
            .iter()
            .map(|task| {
                let ids = self.prompt_ids(task)?;
                let mut cache = self.model.new_cache(ids.len() + self.max_tokens);
                let logits = self.model.prefill(&ids, &mut cache)?;
                Ok((cache, logits))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        self.decode_all(started, |_, l| argmax(l))
    }

    /// The greedy answer to `task`.
    pub fn greedy(&self, task: &Task) -> Result<Answer, ModelError> {
        Ok(self.greedy_all(std::slice::from_ref(task))?.remove(0))
    }

    /// The key/value cache after `demos` (solved questions, in the task format): the shared
    /// start of every sampled prompt of a kind, prefilled once and cloned per question, with
    /// room for a question and its answer after it.
    pub fn demo_prefix(&self, demos: &[Task]) -> Result<KvCache, ModelError> {
        let mut ids = Vec::new();
        for d in demos {
            ids.extend(self.tokenizer.encode(&format!("{}{}", d.prompt(), d.completion()), false)?);
        }
        let mut cache = self.model.new_cache(ids.len() + QUESTION_ROOM + self.max_tokens);
        if !ids.is_empty() {
            self.model.prefill(&ids, &mut cache)?;
        }
        Ok(cache)
    }

    /// `k` sampled answers to each question, every question after its worked examples (a
    /// cache from [`Solver::demo_prefix`]); each question is prefilled once and its k samples,
    /// and every question's, decode side by side. Sample j of question q draws from its own
    /// generator, seeded from `sampling.seed`, q and j, so an answer does not depend on how
    /// many others are decoded with it.
    pub fn sample_all(
        &self,
        questions: &[(&Task, &KvCache)],
        k: usize,
        sampling: SamplerConfig,
    ) -> Result<Vec<Vec<Answer>>, ModelError> {
        let mut started = Vec::with_capacity(questions.len() * k);
        let mut samplers = Vec::with_capacity(questions.len() * k);
        for (q, (task, prefix)) in questions.iter().enumerate() {
            let ids = self.prompt_ids(task)?;
            let mut cache = (*prefix).clone();
            let logits = self.model.prefill(&ids, &mut cache)?;
            for j in 0..k {
                started.push((cache.clone(), logits.clone()));
                samplers.push(Sampler::new(SamplerConfig { seed: sample_seed(sampling.seed, q, j), ..sampling }));
            }
        }
        let mut answers = self.decode_all(started, |i, l| samplers[i].sample(l))?.into_iter();
        Ok(questions.iter().map(|_| answers.by_ref().take(k).collect()).collect())
    }

    /// Fraction of `tasks` answered correctly, greedy.
    pub fn accuracy(&self, tasks: &[Task]) -> Result<f64, ModelError> {
        let answers = self.greedy_all(tasks)?;
        let right = tasks.iter().zip(&answers).filter(|(t, a)| t.check(&a.text)).count();
        Ok(right as f64 / tasks.len().max(1) as f64)
    }

    /// A training example: the prompt's tokens, then `answer`'s; the loss on the answer only.
    pub fn example(&self, task: &Task, answer: &Answer) -> Result<Example, ModelError> {
        let mut tokens = self.prompt_ids(task)?;
        let from = tokens.len();
        tokens.extend(&answer.ids);
        Example::new(tokens, from)
    }

    /// The example of the reference answer (for the pooled upper bound's checks and tests).
    pub fn reference_example(&self, task: &Task) -> Result<Example, ModelError> {
        let ids = self.tokenizer.encode(&task.completion(), false)?;
        let text = task.completion();
        self.example(task, &Answer { ids, text })
    }
}
