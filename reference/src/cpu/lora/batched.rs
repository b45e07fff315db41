//! Fast CPU `bgmv` and `sgmv`: both reduce to "token t applies adapter idx[t]".
//!
//! Two parallel phases: the shrinks h_t = A_{idx[t]}·x_t over tokens, then each token's outputs
//! y_out[t] = y[t] + s·B_{idx[t]}·h_t in bands of rows. Both run eight rows at once against one
//! load of the vector ([`rows_dot`], [`expand_band`]), and the bands are a token's own rows, so no
//! output pays a division to find its token and row. Tokens that share an adapter read its
//! factors from cache; distinct adapters stream from memory, which is the cost the batched
//! formulation exists to keep at bandwidth.

use rayon::prelude::*;

use super::expand_band::{expand_band, rows_dot};
use super::expand_tokens;
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
    if rank > 0 {
        h.par_chunks_mut(rank).enumerate().for_each(|(t, ht)| {
            if idx[t] != NO_ADAPTER {
                rows_dot(&a[idx[t] as usize * rank * k..][..rank * k], &x[t * k..(t + 1) * k], ht);
            }
        });
    }
    expand_tokens(y_out, y, n, |t, first, band| {
        let i = idx[t];
        if i != NO_ADAPTER && rank > 0 {
            let bi = &b[i as usize * n * rank..][..n * rank];
            expand_band(bi, &h[t * rank..(t + 1) * rank], scales[i as usize], rank, first, 1, band);
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
