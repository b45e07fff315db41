//! The loss of an example and its gradients with respect to a trainable adapter.

use std::iter::once;

use dfma_reference::cpu::lora::backward::{BackwardShape, lora_backward, lora_backward_dx};
use rayon::prelude::*;

use super::attention;
use super::example::{Example, LossSum};
use super::gradients::Gradients;
use super::norm::{rms_norm_backward_rows, rms_norm_rows};
use super::tape::{self, LayerTape};
use crate::model::adapter::{Adapter, Projection};
use crate::model::error::ModelError;
use crate::model::forward::{Model, on_the_pool, rope_backward};
use crate::model::weights::Matrix;

/// The logits rows that predict targets (rows loss_from−1 .. n−1) of the final stream.
fn head_inputs(model: &Model<'_>, ex: &Example, x: &[f32]) -> Vec<f32> {
    let dim = model.config.dim;
    let rows = &x[(ex.loss_from - 1) * dim..(ex.tokens.len() - 1) * dim];
    rms_norm_rows(rows, &model.weights.output_norm, model.config.rms_eps)
}

/// Summed cross-entropy of the targets, and (when `grad`) softmax − one-hot per row. The rows'
/// losses are summed in row order, not by the thread pool's split, so the sum is reproducible.
fn cross_entropy(ex: &Example, logits: &mut [f32], vocab: usize, grad: bool) -> LossSum {
    let targets = &ex.tokens[ex.loss_from..];
    let nll: f64 = logits
        .par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
            let log_z = f64::from(max) + sum.ln();
            let nll = log_z - f64::from(row[t as usize]);
            if grad {
                for z in row.iter_mut() {
                    *z = (f64::from(*z) - log_z).exp() as f32;
                }
                row[t as usize] -= 1.0;
            }
            nll
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    LossSum { nll, tokens: targets.len() }
}

fn validate(model: &Model<'_>, ex: &Example) -> Result<(), ModelError> {
    Example::new(ex.tokens.clone(), ex.loss_from).map(|_| ())?;
    if let Some(&t) = ex.tokens.iter().find(|&&t| t as usize >= model.config.vocab) {
        return Err(ModelError::Request(format!("token id {t} is outside the vocabulary of {}", model.config.vocab)));
    }
    Ok(())
}

/// The summed loss of `ex` under the model with its attached adapters and, when given,
/// `trainable` on top — a forward pass only, for evaluation and gradient checks.
pub fn loss(model: &Model<'_>, trainable: Option<&Adapter>, ex: &Example) -> Result<LossSum, ModelError> {
    on_the_pool(model.engine().backend(), || loss_here(model, trainable, ex))
}

fn loss_here(model: &Model<'_>, trainable: Option<&Adapter>, ex: &Example) -> Result<LossSum, ModelError> {
    validate(model, ex)?;
    let (_, x) = tape::forward(model, trainable, &ex.tokens, model.config.layers)?;
    let h = head_inputs(model, ex, &x);
    let head = model.weights.head();
    let mut logits = vec![0.0f32; ex.targets() * head.rows];
    model.engine().matmul(model.file(), head, &h, &mut logits, ex.targets())?;
    Ok(cross_entropy(ex, &mut logits, head.rows, false))
}

/// The summed loss of `ex` and its gradients with respect to every factor of `trainable`
/// (not averaged: divide by the batch's target count). The model's attached adapters stay
/// fixed. See the module docs for the formulas.
pub fn loss_and_gradients(
    model: &Model<'_>,
    trainable: &Adapter,
    ex: &Example,
) -> Result<(LossSum, Gradients), ModelError> {
    on_the_pool(model.engine().backend(), || loss_and_gradients_here(model, trainable, ex))
}

fn loss_and_gradients_here(
    model: &Model<'_>,
    trainable: &Adapter,
    ex: &Example,
) -> Result<(LossSum, Gradients), ModelError> {
    validate(model, ex)?;
    let lowest = trainable
        .factors
        .keys()
        .map(|&(l, _)| l)
        .min()
        .ok_or_else(|| ModelError::Request("the trained adapter has no factors".into()))?;
    let c = &model.config;
    let n = ex.tokens.len();
    let (tapes, x) = tape::forward(model, Some(trainable), &ex.tokens, lowest)?;

    let h = head_inputs(model, ex, &x);
    let head = model.weights.head();
    let mut dlogits = vec![0.0f32; ex.targets() * head.rows];
    model.engine().matmul(model.file(), head, &h, &mut dlogits, ex.targets())?;
    let loss = cross_entropy(ex, &mut dlogits, head.rows, true);
    let mut dh = vec![0.0f32; n * c.dim];
    model.engine().matmul_t(
        model.file(),
        head,
        &dlogits,
        &mut dh[(ex.loss_from - 1) * c.dim..(n - 1) * c.dim],
        ex.targets(),
    )?;
    let mut dx = rms_norm_backward_rows(&x, &model.weights.output_norm, c.rms_eps, &dh);

    let mut grads = Gradients::zeros_like(trainable);
    let back = Backward { model, trainable, n };
    for (i, t) in tapes.iter().enumerate().rev() {
        let l = lowest + i;
        dx = back.block(l, t, dx, &mut grads, l > lowest)?;
    }
    Ok((loss, grads))
}

/// What every step of the backward pass reads.
struct Backward<'m, 'b> {
    model: &'m Model<'b>,
    trainable: &'m Adapter,
    n: usize,
}

impl Backward<'_, '_> {
    /// Through block `l`: from ∂L/∂(block output) to ∂L/∂(block input), accumulating the
    /// trainable factors' gradients. Below the lowest trained block nothing needs ∂L/∂x, so
    /// with `need_dx` false the q, k, v products' transposes are skipped.
    fn block(
        &self,
        l: usize,
        t: &LayerTape,
        dx: Vec<f32>,
        grads: &mut Gradients,
        need_dx: bool,
    ) -> Result<Vec<f32>, ModelError> {
        let c = &self.model.config;
        let layer = &self.model.weights.layers[l];
        // Down, SwiGLU, gate and up.
        let dact = self.projection((l, Projection::Down), &layer.down, &t.act, &dx, grads, true)?.unwrap_or_default();
        let mut dgate = vec![0.0f32; dact.len()];
        let mut dup = vec![0.0f32; dact.len()];
        for i in 0..dact.len() {
            let (g, u) = (t.gate[i], t.up[i]);
            let sig = 1.0 / (1.0 + (-g).exp());
            dup[i] = dact[i] * g * sig;
            dgate[i] = dact[i] * u * sig * (1.0 + g * (1.0 - sig));
        }
        let dh2_gate = self.projection((l, Projection::Gate), &layer.gate, &t.h2, &dgate, grads, true)?;
        let dh2_up = self.projection((l, Projection::Up), &layer.up, &t.h2, &dup, grads, true)?;
        let dh2: Vec<f32> = dh2_gate.iter().flatten().zip(dh2_up.iter().flatten()).map(|(a, b)| a + b).collect();
        let dn2 = rms_norm_backward_rows(&t.x2, &layer.ffn_norm, c.rms_eps, &dh2);
        let dx2: Vec<f32> = dx.iter().zip(&dn2).map(|(a, b)| a + b).collect();
        // Attention.
        let datt = self.projection((l, Projection::O), &layer.o, &t.att, &dx2, grads, true)?.unwrap_or_default();
        let (mut dq, mut dk, dv) = attention::backward(c, (&t.q, &t.k, &t.v), &t.p, &datt, self.n);
        for (pos, (dqt, dkt)) in dq.chunks_exact_mut(c.dim).zip(dk.chunks_exact_mut(c.kv_dim())).enumerate() {
            rope_backward(dqt, c.head_dim, pos, c.rope_theta);
            rope_backward(dkt, c.head_dim, pos, c.rope_theta);
        }
        let parts = [
            self.projection((l, Projection::Q), &layer.q, &t.h1, &dq, grads, need_dx)?,
            self.projection((l, Projection::K), &layer.k, &t.h1, &dk, grads, need_dx)?,
            self.projection((l, Projection::V), &layer.v, &t.h1, &dv, grads, need_dx)?,
        ];
        if !need_dx {
            return Ok(dx2);
        }
        let mut dh1 = vec![0.0f32; self.n * c.dim];
        for part in parts.iter().flatten() {
            dh1.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        let dn1 = rms_norm_backward_rows(&t.x, &layer.attn_norm, c.rms_eps, &dh1);
        Ok(dx2.iter().zip(&dn1).map(|(a, b)| a + b).collect())
    }

    /// Through y = W·x + Σ s·B(A·x) on (l, p): accumulates the trainable adapter's dA, dB and,
    /// when `need_dx`, returns dx = Wᵀ·dy (on the model's engine) + Σ s·Aᵀ(Bᵀ·dy) over every
    /// acting adapter.
    fn projection(
        &self,
        key: (usize, Projection),
        m: &Matrix,
        x: &[f32],
        dy: &[f32],
        grads: &mut Gradients,
        need_dx: bool,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        let shape =
            |ad: &Adapter| BackwardShape { tokens: self.n, k: m.cols, n: m.rows, rank: ad.rank, scale: ad.scale() };
        if let Some(f) = self.trainable.factors.get(&key) {
            let (mut da, mut db) = (vec![0.0f32; f.a.len()], vec![0.0f32; f.b.len()]);
            lora_backward(shape(self.trainable), x, dy, &f.a, &f.b, &mut da, &mut db);
            grads.accumulate(key, &da, &db);
        }
        if !need_dx {
            return Ok(None);
        }
        let mut dx = vec![0.0f32; self.n * m.cols];
        self.model.engine().matmul_t(self.model.file(), m, dy, &mut dx, self.n)?;
        let mut part = vec![0.0f32; dx.len()];
        for ad in self.model.applied_adapters().iter().chain(once(self.trainable)) {
            let Some(f) = ad.factors.get(&key) else { continue };
            lora_backward_dx(shape(ad), dy, &f.a, &f.b, &mut part);
            dx.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
        }
        Ok(Some(dx))
    }
}
