//! The model answering tasks: greedy for evaluation, sampled for self-generated training data,
//! and the training examples made from accepted answers.
//!
//! Answers are decoded until the first newline (the task format ends an answer there), an
//! end-of-text token, or `max_tokens`. Several samples of one question share its prefill: the
//! prompt is fed once and the key/value cache cloned per sample.

use crate::model::KvCache;
use crate::model::error::ModelError;
use crate::model::forward::Model;
use crate::model::sampler::{Sampler, argmax};
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

    /// Continues from `logits` and `cache` with `pick` choosing each token.
    fn decode(
        &self,
        mut logits: Vec<f32>,
        cache: &mut KvCache,
        mut pick: impl FnMut(&[f32]) -> u32,
    ) -> Result<Answer, ModelError> {
        let eos = self.tokenizer.eos();
        let mut ids = Vec::new();
        let mut text = String::new();
        while ids.len() < self.max_tokens {
            let next = pick(&logits);
            if Some(next) == eos {
                break;
            }
            ids.push(next);
            text = self.tokenizer.decode(&ids)?;
            if text.contains('\n') || ids.len() == self.max_tokens {
                break;
            }
            logits = self.model.forward(next, cache)?;
        }
        Ok(Answer { ids, text })
    }

    /// The greedy answer to `task`.
    pub fn greedy(&self, task: &Task) -> Result<Answer, ModelError> {
        let ids = self.prompt_ids(task)?;
        let mut cache = self.model.new_cache(ids.len() + self.max_tokens);
        let logits = self.model.prefill(&ids, &mut cache)?;
        self.decode(logits, &mut cache, argmax)
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

    /// `k` sampled answers to `task` after the worked examples in `prefix` (from
    /// [`Solver::demo_prefix`]), sharing one prefill of the question.
    pub fn sample(
        &self,
        task: &Task,
        prefix: &KvCache,
        k: usize,
        sampler: &mut Sampler,
    ) -> Result<Vec<Answer>, ModelError> {
        let ids = self.prompt_ids(task)?;
        let mut cache = prefix.clone();
        let logits = self.model.prefill(&ids, &mut cache)?;
        (0..k).map(|_| self.decode(logits.clone(), &mut cache.clone(), |l| sampler.sample(l))).collect()
    }

    /// Fraction of `tasks` answered correctly, greedy.
    pub fn accuracy(&self, tasks: &[Task]) -> Result<f64, ModelError> {
        let mut right = 0;
        for t in tasks {
            right += usize::from(t.check(&self.greedy(t)?.text));
        }
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
