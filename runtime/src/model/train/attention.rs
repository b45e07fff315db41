//! Causal grouped-query attention over a whole sequence, and its backward. Query head h reads
//! key/value head h / (heads / kv_heads), as in the cached forward pass.

use dfma_reference::cpu::lora::{axpy, dot};
use rayon::prelude::*;

use crate::model::config::LlamaConfig;

/// Keys and values of the positions before a sequence (a cache's), each `[start, kv_dim]`.
pub(crate) struct Prefix<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub start: usize,
}

/// Output `[n, dim]` and the attention probabilities `[heads, n, start + n]` (zero beyond
/// each query's position) for roped `q` `[n, dim]`, `k` and `v` `[n, kv_dim]` at positions
/// start.., attending to `prefix`'s positions 0..start and to the sequence's own up to itself.
pub(super) fn forward(
    c: &LlamaConfig,
    (q, k, v): (&[f32], &[f32], &[f32]),
    prefix: &Prefix<'_>,
    n: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (hd, kv, group) = (c.head_dim, c.kv_dim(), c.heads / c.kv_heads);
    let scale = 1.0 / (hd as f32).sqrt();
    let start = prefix.start;
    let width = start + n;
    let key = |j: usize, kvh: usize| {
        if j < start { &prefix.k[j * kv + kvh * hd..][..hd] } else { &k[(j - start) * kv + kvh * hd..][..hd] }
    };
    let val = |j: usize, kvh: usize| {
        if j < start { &prefix.v[j * kv + kvh * hd..][..hd] } else { &v[(j - start) * kv + kvh * hd..][..hd] }
    };
    let heads: Vec<(Vec<f32>, Vec<f32>)> = (0..c.heads)
        .into_par_iter()
        .map(|h| {
            let kvh = h / group;
            let (mut p, mut out) = (vec![0.0f32; n * width], vec![0.0f32; n * hd]);
            for i in 0..n {
                let qi = &q[i * c.dim + h * hd..][..hd];
                let row = &mut p[i * width..i * width + start + i + 1];
                for (j, s) in row.iter_mut().enumerate() {
                    *s = scale * dot(qi, key(j, kvh));
                }
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for s in row.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                for (j, s) in row.iter_mut().enumerate() {
                    *s /= sum;
                    axpy(&mut out[i * hd..(i + 1) * hd], *s, val(j, kvh));
                }
            }
            (out, p)
        })
        .collect();
    let mut out = vec![0.0f32; n * c.dim];
    let mut probs = Vec::with_capacity(c.heads * n * width);
    for (h, (oh, ph)) in heads.into_iter().enumerate() {
        for i in 0..n {
            out[i * c.dim + h * hd..][..hd].copy_from_slice(&oh[i * hd..(i + 1) * hd]);
        }
        probs.extend(ph);
    }
    (out, probs)
}

/// One key/value head's dK `[n, head_dim]`, dV, and the dQ of each query head sharing it.
type KvHeadGradients = (Vec<f32>, Vec<f32>, Vec<Vec<f32>>);

/// Gradients for roped q, k and for v, given the forward's inputs, its probabilities `p` (of a
/// sequence starting at position 0) and `d_out` = ∂L/∂(attention output) `[n, dim]`. Parallel over key/value heads: each owns its
/// dK, dV and its query heads' dQ.
pub(super) fn backward(
    c: &LlamaConfig,
    (q, k, v): (&[f32], &[f32], &[f32]),
    p: &[f32],
    d_out: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (hd, kv, group) = (c.head_dim, c.kv_dim(), c.heads / c.kv_heads);
    let scale = 1.0 / (hd as f32).sqrt();
    let parts: Vec<KvHeadGradients> = (0..c.kv_heads)
        .into_par_iter()
        .map(|kvh| {
            let (mut dk, mut dv) = (vec![0.0f32; n * hd], vec![0.0f32; n * hd]);
            let key = |j: usize| &k[j * kv + kvh * hd..][..hd];
            let val = |j: usize| &v[j * kv + kvh * hd..][..hd];
            let dqs = (kvh * group..(kvh + 1) * group)
                .map(|h| {
                    let mut dq = vec![0.0f32; n * hd];
                    let mut dp = vec![0.0f32; n];
                    for i in 0..n {
                        let do_i = &d_out[i * c.dim + h * hd..][..hd];
                        let q_i = &q[i * c.dim + h * hd..][..hd];
                        let p_i = &p[(h * n + i) * n..][..=i];
                        for (j, (d, &pij)) in dp.iter_mut().zip(p_i).enumerate() {
                            *d = dot(do_i, val(j));
                            axpy(&mut dv[j * hd..(j + 1) * hd], pij, do_i);
                        }
                        let rowdot: f32 = p_i.iter().zip(&dp).map(|(a, b)| a * b).sum();
                        for (j, &pij) in p_i.iter().enumerate() {
                            let ds = scale * pij * (dp[j] - rowdot);
                            axpy(&mut dq[i * hd..(i + 1) * hd], ds, key(j));
                            axpy(&mut dk[j * hd..(j + 1) * hd], ds, q_i);
                        }
                    }
                    dq
                })
                .collect();
            (dk, dv, dqs)
        })
        .collect();
    let (mut dq, mut dk, mut dv) = (vec![0.0f32; n * c.dim], vec![0.0f32; n * kv], vec![0.0f32; n * kv]);
    for (kvh, (dkh, dvh, dqs)) in parts.into_iter().enumerate() {
        for i in 0..n {
            dk[i * kv + kvh * hd..][..hd].copy_from_slice(&dkh[i * hd..(i + 1) * hd]);
            dv[i * kv + kvh * hd..][..hd].copy_from_slice(&dvh[i * hd..(i + 1) * hd]);
            for (g, dqh) in dqs.iter().enumerate() {
                let h = kvh * group + g;
                dq[i * c.dim + h * hd..][..hd].copy_from_slice(&dqh[i * hd..(i + 1) * hd]);
            }
        }
    }
    (dq, dk, dv)
}
