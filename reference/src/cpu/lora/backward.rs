//! Fast CPU adapter backward: the formulas of [`crate::ops::lora::backward`] as rayon loops
//! over the dimension each output is written along, so no two tasks write one element.

use rayon::prelude::*;

use super::{axpy, dot};

/// Shapes of one adapter's backward problem.
#[derive(Clone, Copy, Debug)]
pub struct BackwardShape {
    /// Tokens T.
    pub tokens: usize,
    /// Input width k.
    pub k: usize,
    /// Output width n.
    pub n: usize,
    /// Adapter rank r.
    pub rank: usize,
    /// The adapter's scale s.
    pub scale: f32,
}

/// U = G·B `[T, r]`: per token, Σ_o G[t][o]·B[o].
fn u_of(sh: BackwardShape, g: &[f32], b: &[f32]) -> Vec<f32> {
    let BackwardShape { n, rank, .. } = sh;
    let mut u = vec![0.0f32; sh.tokens * rank];
    u.par_chunks_mut(rank).enumerate().for_each(|(t, ut)| {
        for (o, brow) in b.chunks_exact(rank).enumerate() {
            axpy(ut, g[t * n + o], brow);
        }
    });
    u
}

/// dA = s·Uᵀ·X `[r, k]` and dB = s·Gᵀ·H `[n, r]` with H = X·Aᵀ.
pub fn lora_backward(sh: BackwardShape, x: &[f32], g: &[f32], a: &[f32], b: &[f32], da: &mut [f32], db: &mut [f32]) {
    let BackwardShape { tokens, k, n, rank, scale: s } = sh;
    let mut h = vec![0.0f32; tokens * rank];
    h.par_chunks_mut(rank).enumerate().for_each(|(t, ht)| {
        for (v, arow) in ht.iter_mut().zip(a.chunks_exact(k)) {
            *v = dot(arow, &x[t * k..(t + 1) * k]);
        }
    });
    let u = u_of(sh, g, b);
    da.par_chunks_mut(k).enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for t in 0..tokens {
            axpy(row, u[t * rank + i], &x[t * k..(t + 1) * k]);
        }
        row.iter_mut().for_each(|v| *v *= s);
    });
    db.par_chunks_mut(rank).enumerate().for_each(|(o, row)| {
        row.fill(0.0);
        for t in 0..tokens {
            axpy(row, g[t * n + o], &h[t * rank..(t + 1) * rank]);
        }
        row.iter_mut().for_each(|v| *v *= s);
    });
}

/// dX = s·U·A `[T, k]` with U = G·B.
pub fn lora_backward_dx(sh: BackwardShape, g: &[f32], a: &[f32], b: &[f32], dx: &mut [f32]) {
    let BackwardShape { k, rank, scale: s, .. } = sh;
    let u = u_of(sh, g, b);
    dx.par_chunks_mut(k).enumerate().for_each(|(t, row)| {
        row.fill(0.0);
        for (i, arow) in a.chunks_exact(k).enumerate() {
            axpy(row, s * u[t * rank + i], arow);
        }
    });
}
