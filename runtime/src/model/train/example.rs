//! A training example (tokens and where the loss starts) and a summed loss.

use crate::model::error::ModelError;

/// A token sequence whose tokens from `loss_from` on are the targets: the model is trained to
/// predict each of them from the tokens before it. A plain text window has `loss_from` = 1; a
/// prompt/answer pair starts the loss at the answer, so the prompt is context only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Token ids, at positions 0, 1, ….
    pub tokens: Vec<u32>,
    /// First target position, in 1..tokens.len().
    pub loss_from: usize,
}

impl Example {
    /// Checks that at least one target exists and every target has context before it.
    pub fn new(tokens: Vec<u32>, loss_from: usize) -> Result<Example, ModelError> {
        if loss_from == 0 || loss_from >= tokens.len() {
            return Err(ModelError::Request(format!(
                "training example of {} tokens: the loss must start in 1..{} (got {loss_from})",
                tokens.len(),
                tokens.len()
            )));
        }
        Ok(Example { tokens, loss_from })
    }

    /// How many tokens are predicted.
    pub fn targets(&self) -> usize {
        self.tokens.len() - self.loss_from
    }
}

/// Summed negative log-likelihood (nats) over `tokens` predicted tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSum {
    /// Σ −ln p(target).
    pub nll: f64,
    /// Targets summed over.
    pub tokens: usize,
}

impl LossSum {
    /// Mean loss per token (nats); NaN when empty.
    pub fn mean(&self) -> f64 {
        self.nll / self.tokens as f64
    }

    /// Adds another sum.
    pub fn add(&mut self, o: LossSum) {
        self.nll += o.nll;
        self.tokens += o.tokens;
    }
}
