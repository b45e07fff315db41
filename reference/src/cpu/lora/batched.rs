//! Fast CPU `bgmv` and `sgmv`: both reduce to "token t applies adapter idx[t]".
//!
//! Two parallel phases: the shrinks h_t = A_{idx[t]}·x_t over tokens, then every output
//! y_out[t][o] = y[t][o] + s·B_{idx[t]}[o]·h_t in chunks. Tokens that share an adapter read its
//! factors from cache; distinct adapters stream from memory, which is the cost the batched
//! formulation exists to keep at bandwidth.

use rayon::prelude::*;

use super::{OUTPUTS_PER_TASK, dot};
use crate::ops::lora::NO_ADAPTER;

/// A stack of adapters: `a` `[adapters, rank, k]`, `b` `[adapters, n, rank]`, `scales` `[adapters]`.
#[derive(Clone, Copy)]
pub struct Stack<'a> {
    /// Stacked shrinks.
    pub a: &'a [f32],
    /// Stacked expands.
    pub b: &'a [f32],
    /// One scale per adapter.
    pub scales: &'a [f32],
    /// Common rank.
    pub rank: usize,
    /// Input width.
    pub k: usize,
    /// Output width.
    pub n: usize,
}

/// y_out[t] = y[t] + s_i·B_i·(A_i·x_t) with i = idx[t] (or y[t] where idx[t] = NO_ADAPTER).
pub fn bgmv(stack: Stack<'_>, x: &[f32], idx: &[u32], y: &[f32], y_out: &mut [f32]) {
    let Stack { a, b, scales, rank, k, n } = stack;
    let tokens = idx.len();
    assert_eq!((x.len(), y.len(), y_out.len()), (tokens * k, tokens * n, tokens * n), "bgmv: lengths");
    let mut h = vec![0.0f32; tokens * rank];
    h.par_chunks_mut(rank).enumerate().for_each(|(t, ht)| {
        if idx[t] == NO_ADAPTER {
            return;
        }
        let ai = &a[idx[t] as usize * rank * k..][..rank * k];
        for (v, row) in ht.iter_mut().zip(ai.chunks_exact(k)) {
            *v = dot(row, &x[t * k..(t + 1) * k]);
        }
    });
    y_out.par_chunks_mut(OUTPUTS_PER_TASK).enumerate().for_each(|(c, out)| {
        for (e, o) in out.iter_mut().enumerate() {
            let flat = c * OUTPUTS_PER_TASK + e;
            let (t, row) = (flat / n, flat % n);
            *o = match idx[t] {
                NO_ADAPTER => y[flat],
                i => {
                    let bi = &b[(i as usize * n + row) * rank..][..rank];
                    y[flat] + scales[i as usize] * dot(bi, &h[t * rank..(t + 1) * rank])
                }
            };
        }
    });
}

/// `sgmv`: the segment table spelled out per token, then [`bgmv`].
pub fn sgmv(stack: Stack<'_>, x: &[f32], starts: &[u32], seg_adapter: &[u32], y: &[f32], y_out: &mut [f32]) {
    let tokens = x.len() / stack.k;
    let mut idx = vec![NO_ADAPTER; tokens];
    for (g, &i) in seg_adapter.iter().enumerate() {
        idx[starts[g] as usize..starts[g + 1] as usize].fill(i);
    }
    bgmv(stack, x, &idx, y, y_out);
}
