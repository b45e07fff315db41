//! Fine-tuning an adapter on examples: mini-batches of summed gradients, the mean over the
//! batch's target tokens, global-norm clipping, one AdamW step per batch; and held-out
//! evaluation. The loop `dfma finetune` runs on text windows and a personal instance runs on
//! its accepted answers.

use rand::Rng;
use rand::rngs::StdRng;

use super::adamw::AdamW;
use super::backward::{loss, loss_and_gradients};
use super::example::{Example, LossSum};
use super::gradients::Gradients;
use crate::model::adapter::Adapter;
use crate::model::error::ModelError;
use crate::model::forward::Model;

/// Consecutive, non-overlapping windows of `len` tokens over `tokens` (the last, shorter one
/// kept when it has at least two tokens), each predicting every token after its first.
pub fn windows(tokens: &[u32], len: usize) -> Vec<Example> {
    tokens.chunks(len.max(2)).filter(|w| w.len() >= 2).map(|w| Example { tokens: w.to_vec(), loss_from: 1 }).collect()
}

/// Every `every`-th example (from the `every`-th on) held out, the rest for training: a split
/// spread over the whole text, the same for every run.
pub fn split_every(examples: Vec<Example>, every: usize) -> (Vec<Example>, Vec<Example>) {
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, e) in examples.into_iter().enumerate() {
        if every > 0 && (i + 1) % every == 0 { held.push(e) } else { train.push(e) }
    }
    (train, held)
}

/// The summed loss of `examples` under the model (its attached adapters) plus `adapter`.
pub fn evaluate(model: &Model<'_>, adapter: Option<&Adapter>, examples: &[Example]) -> Result<LossSum, ModelError> {
    let mut sum = LossSum::default();
    for e in examples {
        sum.add(loss(model, adapter, e)?);
    }
    Ok(sum)
}

/// How an epoch steps.
#[derive(Clone, Copy, Debug)]
pub struct StepConfig {
    /// Examples per optimizer step.
    pub batch: usize,
    /// Largest global L2 norm of a step's mean gradient; larger ones are scaled down to it.
    pub max_grad_norm: f64,
}

/// What one optimizer step saw.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// The batch's summed training loss (before the step).
    pub loss: LossSum,
    /// Norm of the mean gradient before clipping.
    pub grad_norm: f64,
}

/// One pass over `examples` in an order shuffled by `rng`, one AdamW step per `batch`;
/// `on_step` sees each step. Returns the summed training loss.
pub fn train_epoch(
    model: &Model<'_>,
    adapter: &mut Adapter,
    opt: &mut AdamW,
    examples: &[Example],
    cfg: StepConfig,
    rng: &mut StdRng,
    mut on_step: impl FnMut(StepReport),
) -> Result<LossSum, ModelError> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut total = LossSum::default();
    for batch in order.chunks(cfg.batch.max(1)) {
        let mut grads = Gradients::zeros_like(adapter);
        let mut sum = LossSum::default();
        for &i in batch {
            let (l, g) = loss_and_gradients(model, adapter, &examples[i])?;
            sum.add(l);
            grads.add(&g);
        }
        grads.scale(1.0 / sum.tokens as f32);
        let grad_norm = grads.norm();
        if grad_norm > cfg.max_grad_norm {
            grads.scale((cfg.max_grad_norm / grad_norm) as f32);
        }
        opt.step(adapter, &grads);
        total.add(sum);
        on_step(StepReport { loss: sum, grad_norm });
    }
    Ok(total)
}
