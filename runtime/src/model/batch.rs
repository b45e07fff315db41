//! Decoding several sequences at once: one new token for each of n sequences, every block's
//! products batched over the n token rows (the engine reads each weight matrix once for all of
//! them instead of once per sequence), attention per sequence over its own cache.
//!
//! Evaluation and self-generated answers decode many short sequences side by side (held-out
//! questions, several samples of each question); one token at a time they would stream the
//! weights once per sequence and step.

use rayon::prelude::*;

use super::adapter::Projection;
use super::error::ModelError;
use super::forward::{KvCache, Model, RopeAngles, attend_cached, on_the_pool, rms_norm, silu};
use super::train::tape::project;

/// RMSNorm of every `w.len()`-wide row of `x`.
fn norm_rows(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    x.chunks_exact(w.len()).flat_map(|row| rms_norm(row, w, eps)).collect()
}

fn add_in_place(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

impl Model<'_> {
    /// Feeds `tokens[i]` at the next position of `caches[i]`, for every i at once, and returns
    /// the logits for each sequence's next token, `[n, vocab]` row-major. Each row is what
    /// [`Model::forward`] gives for that sequence alone, to rounding (the products are batched,
    /// so their sums may round differently). A token outside the vocabulary or a full cache is
    /// refused before any cache changes.
    pub fn forward_batch(&self, tokens: &[u32], caches: &mut [&mut KvCache]) -> Result<Vec<f32>, ModelError> {
        on_the_pool(self.engine().backend(), || self.forward_batch_here(tokens, caches))
    }

    fn forward_batch_here(&self, tokens: &[u32], caches: &mut [&mut KvCache]) -> Result<Vec<f32>, ModelError> {
        let c = &self.config;
        let n = tokens.len();
        if caches.len() != n {
            return Err(ModelError::Request(format!("{n} tokens for {} caches", caches.len())));
        }
        if let Some(t) = tokens.iter().find(|&&t| t as usize >= c.vocab) {
            return Err(ModelError::Request(format!("token id {t} is outside the vocabulary of {}", c.vocab)));
        }
        if let Some(full) = caches.iter().find(|k| k.len() >= k.capacity()) {
            return Err(ModelError::Request(format!("context full: {} tokens", full.capacity())));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let positions: Vec<usize> = caches.iter().map(|k| k.len()).collect();
        let mut x = Vec::with_capacity(n * c.dim);
        for &t in tokens {
            x.extend(self.weights.token_embd.row_f32(self.file(), t as usize));
        }
        let (dim, kv) = (c.dim, c.kv_dim());
        let angles: Vec<RopeAngles> =
            positions.iter().map(|&pos| RopeAngles::at(c.head_dim, pos, c.rope_theta)).collect();
        for (l, layer) in self.weights.layers.iter().enumerate() {
            let h1 = norm_rows(&x, &layer.attn_norm, c.rms_eps);
            let mut q = project(self, None, (l, Projection::Q), &layer.q, &h1, n)?;
            let mut k = project(self, None, (l, Projection::K), &layer.k, &h1, n)?;
            let v = project(self, None, (l, Projection::V), &layer.v, &h1, n)?;
            for (i, cache) in caches.iter_mut().enumerate() {
                let pos = positions[i];
                angles[i].rotate(&mut q[i * dim..(i + 1) * dim]);
                angles[i].rotate(&mut k[i * kv..(i + 1) * kv]);
                cache.store(l, pos, &k[i * kv..(i + 1) * kv], &v[i * kv..(i + 1) * kv]);
            }
            let att: Vec<f32> = caches
                .par_iter()
                .enumerate()
                .flat_map_iter(|(i, cache)| attend_cached(c, &q[i * dim..(i + 1) * dim], cache, l, positions[i]))
                .collect();
            let o = project(self, None, (l, Projection::O), &layer.o, &att, n)?;
            add_in_place(&mut x, &o);
            let h2 = norm_rows(&x, &layer.ffn_norm, c.rms_eps);
            let gate = project(self, None, (l, Projection::Gate), &layer.gate, &h2, n)?;
            let up = project(self, None, (l, Projection::Up), &layer.up, &h2, n)?;
            let act: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| silu(g) * u).collect();
            let d = project(self, None, (l, Projection::Down), &layer.down, &act, n)?;
            add_in_place(&mut x, &d);
        }
        for cache in caches.iter_mut() {
            cache.advance();
        }
        let h = norm_rows(&x, &self.weights.output_norm, c.rms_eps);
        let mut logits = vec![0.0f32; n * c.vocab];
        self.engine().matmul(self.file(), self.weights.head(), &h, &mut logits, n)?;
        Ok(logits)
    }
}
