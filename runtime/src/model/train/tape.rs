//! The training forward pass: a whole sequence through every block at once, keeping per block
//! what the backward pass reads.

use dfma_reference::cpu::lora::{lora_expand, lora_shrink};

use super::attention;
use super::norm::rms_norm_rows;
use crate::model::adapter::{Adapter, Projection};
use crate::model::error::ModelError;
use crate::model::forward::{KvCache, Model, acting_on, rope, silu};
use crate::model::weights::{Layer, Matrix};

/// One block's saved activations, each `[n, width]` row-major (`p` is `[heads, n, n]`).
pub(crate) struct LayerTape {
    /// Block input (the residual stream).
    pub x: Vec<f32>,
    /// RMSNorm(x), the input of q, k, v.
    pub h1: Vec<f32>,
    /// Queries after RoPE.
    pub q: Vec<f32>,
    /// Keys after RoPE.
    pub k: Vec<f32>,
    /// Values.
    pub v: Vec<f32>,
    /// Attention probabilities.
    pub p: Vec<f32>,
    /// Attention output, the input of O.
    pub att: Vec<f32>,
    /// Residual after attention.
    pub x2: Vec<f32>,
    /// RMSNorm(x2), the input of gate and up.
    pub h2: Vec<f32>,
    /// Gate pre-activation.
    pub gate: Vec<f32>,
    /// Up projection.
    pub up: Vec<f32>,
    /// silu(gate) ⊙ up, the input of down.
    pub act: Vec<f32>,
}

/// The adapters that act on every projection: the model's attached ones (as applied, those
/// sharing A merged), then the trainable.
pub(super) fn acting<'a>(model: &'a Model<'_>, trainable: Option<&'a Adapter>) -> impl Iterator<Item = &'a Adapter> {
    model.applied_adapters().iter().chain(trainable)
}

/// Y = X·Wᵀ + Σ s·(X·Aᵀ)·Bᵀ over the acting adapters on (l, p), for `n` token rows.
pub(crate) fn project(
    model: &Model<'_>,
    trainable: Option<&Adapter>,
    (l, p): (usize, Projection),
    m: &Matrix,
    x: &[f32],
    n: usize,
) -> Result<Vec<f32>, ModelError> {
    let [y] = project_group(model, trainable, l, [(p, m)], x, n)?;
    Ok(y)
}

/// [`project`] for products of block `l` that read the same `x` (q, k, v; gate, up): those the
/// engine does not fuse with their adapters run as one group ([`MatmulEngine::matmul_group`]:
/// one round trip a token on a device engine, whose stacks hold them as one matrix), then
/// their adapters.
///
/// [`MatmulEngine::matmul_group`]: crate::model::MatmulEngine::matmul_group
pub(crate) fn project_group<const N: usize>(
    model: &Model<'_>,
    trainable: Option<&Adapter>,
    l: usize,
    parts: [(Projection, &Matrix); N],
    x: &[f32],
    n: usize,
) -> Result<[Vec<f32>; N], ModelError> {
    let mut ys = parts.map(|(_, m)| vec![0.0f32; n * m.rows]);
    let mut plain = Vec::with_capacity(N);
    for (i, ((p, m), y)) in parts.iter().zip(ys.iter_mut()).enumerate() {
        let fused = acting_on(acting(model, trainable), (l, *p));
        if fused.is_empty() || !model.engine().fused(model.file(), m, x, y, n, &fused)? {
            plain.push(i);
        }
    }
    let ms: Vec<&Matrix> = plain.iter().map(|&i| parts[i].1).collect();
    let mut outs: Vec<&mut [f32]> =
        ys.iter_mut().enumerate().filter(|(i, _)| plain.contains(i)).map(|(_, y)| y.as_mut_slice()).collect();
    model.engine().matmul_group(model.file(), &ms, x, &mut outs, n)?;
    for &i in &plain {
        let (p, _) = parts[i];
        for ad in acting(model, trainable) {
            let Some(f) = ad.factors.get(&(l, p)) else { continue };
            let mut t = vec![0.0f32; n * ad.rank];
            lora_shrink(&f.a, x, &mut t, ad.rank, f.cols);
            let mut out = vec![0.0f32; ys[i].len()];
            lora_expand(&f.b, &t, &ys[i], ad.scale(), &mut out, f.rows, ad.rank);
            ys[i] = out;
        }
    }
    Ok(ys)
}

fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Runs block `l` on `x` (`[n, dim]`, positions `prefix.start`..); returns its tape and its
/// output.
fn block(
    model: &Model<'_>,
    trainable: Option<&Adapter>,
    (l, layer): (usize, &Layer),
    x: Vec<f32>,
    prefix: &attention::Prefix<'_>,
    n: usize,
) -> Result<(LayerTape, Vec<f32>), ModelError> {
    let c = &model.config;
    let h1 = rms_norm_rows(&x, &layer.attn_norm, c.rms_eps);
    let qkv = [(Projection::Q, &layer.q), (Projection::K, &layer.k), (Projection::V, &layer.v)];
    let [mut q, mut k, v] = project_group(model, trainable, l, qkv, &h1, n)?;
    for (pos, (qt, kt)) in q.chunks_exact_mut(c.dim).zip(k.chunks_exact_mut(c.kv_dim())).enumerate() {
        rope(qt, c.head_dim, prefix.start + pos, c.rope_theta);
        rope(kt, c.head_dim, prefix.start + pos, c.rope_theta);
    }
    let (att, p) = attention::forward(c, (&q, &k, &v), prefix, n);
    let o = project(model, trainable, (l, Projection::O), &layer.o, &att, n)?;
    let x2 = add(&x, &o);
    let h2 = rms_norm_rows(&x2, &layer.ffn_norm, c.rms_eps);
    let [gate, up] =
        project_group(model, trainable, l, [(Projection::Gate, &layer.gate), (Projection::Up, &layer.up)], &h2, n)?;
    let act: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| silu(g) * u).collect();
    let d = project(model, trainable, (l, Projection::Down), &layer.down, &act, n)?;
    let out = add(&x2, &d);
    Ok((LayerTape { x, h1, q, k, v, p, att, x2, h2, gate, up, act }, out))
}

/// The sequence `tokens` through every block: the tapes of blocks `tape_from..` and the final
/// residual stream `[n, dim]` (before the output norm).
pub(super) fn forward(
    model: &Model<'_>,
    trainable: Option<&Adapter>,
    tokens: &[u32],
    tape_from: usize,
) -> Result<(Vec<LayerTape>, Vec<f32>), ModelError> {
    let mut tapes = Vec::new();
    let x = forward_with(model, trainable, tokens, None, |l, tape| {
        if l >= tape_from {
            tapes.push(tape);
        }
    })?;
    Ok((tapes, x))
}

/// As [`forward`], handing each block's tape to `on_block` (block index, tape) instead of
/// keeping it: what a prefill needs (its keys and values) without holding every block's. With
/// `cache`, the tokens continue the sequence the cache holds (positions cache.len()..,
/// attending to its keys and values).
pub(crate) fn forward_with(
    model: &Model<'_>,
    trainable: Option<&Adapter>,
    tokens: &[u32],
    cache: Option<&KvCache>,
    mut on_block: impl FnMut(usize, LayerTape),
) -> Result<Vec<f32>, ModelError> {
    let c = &model.config;
    if tokens.len() + cache.map_or(0, KvCache::len) > c.context {
        return Err(ModelError::Request(format!(
            "training sequence of {} tokens is longer than the context of {}",
            tokens.len(),
            c.context
        )));
    }
    let mut x = Vec::with_capacity(tokens.len() * c.dim);
    for &t in tokens {
        if t as usize >= c.vocab {
            return Err(ModelError::Request(format!("token id {t} is outside the vocabulary of {}", c.vocab)));
        }
        x.extend(model.weights.token_embd.row_f32(model.file(), t as usize));
    }
    for (l, layer) in model.weights.layers.iter().enumerate() {
        let prefix = match cache {
            Some(cache) => {
                let (k, v) = cache.layer(l);
                attention::Prefix { k, v, start: cache.len() }
            }
            None => attention::Prefix { k: &[], v: &[], start: 0 },
        };
        let (tape, out) = block(model, trainable, (l, layer), x, &prefix, tokens.len())?;
        on_block(l, tape);
        x = out;
    }
    Ok(x)
}
