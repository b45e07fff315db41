//! Fast CPU adapter kernels: rayon across tokens or output rows, 8-lane f32 accumulators
//! within a row (the shape the compiler vectorizes), f32 accumulation throughout.

pub mod backward;
pub mod batched;
pub mod expand_band;
pub mod fused;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

/// Rows of one token's outputs a rayon task computes in the expands (a multiple of 8, for the
/// eight-row kernel).
const ROWS_PER_TASK: usize = 512;

/// Σ a[i]·b[i] in f32 with eight independent partial sums.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths");
    let split = a.len() / 8 * 8;
    let mut lanes = [0.0f32; 8];
    for (p, q) in a[..split].chunks_exact(8).zip(b[..split].chunks_exact(8)) {
        for l in 0..8 {
            lanes[l] += p[l] * q[l];
        }
    }
    let tail: f32 = a[split..].iter().zip(&b[split..]).map(|(p, q)| p * q).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `acc[i] += s·v[i]`.
pub fn axpy(acc: &mut [f32], s: f32, v: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a += s * x;
    }
}

/// t[j][i] = A_i · x_j: `a` `[rank, k]`, `x` `[tokens, k]`, `t` `[tokens, rank]`.
pub fn lora_shrink(a: &[f32], x: &[f32], t: &mut [f32], rank: usize, k: usize) {
    let tokens = x.len() / k;
    assert_eq!((a.len(), t.len()), (rank * k, tokens * rank), "lora_shrink: lengths");
    if rank == 0 {
        return;
    }
    t.par_chunks_mut(rank).zip(x.par_chunks(k)).for_each(|(tj, xj)| expand_band::rows_dot(a, xj, tj));
}

/// y_out[j][o] = y[j][o] + s·B_o · t_j: `b` `[n, rank]`, `t` `[tokens, rank]`, `y`, `y_out`
/// `[tokens, n]`.
pub fn lora_expand(b: &[f32], t: &[f32], y: &[f32], s: f32, y_out: &mut [f32], n: usize, rank: usize) {
    assert_eq!((b.len(), y.len(), y_out.len(), t.len() / rank), (n * rank, y_out.len(), y.len(), y.len() / n));
    expand_tokens(y_out, y, n, |j, first, band| {
        expand_band::expand_band(b, &t[j * rank..(j + 1) * rank], s, rank, first, 1, band);
    });
}

/// y_out = y, then `expand(token, first_row, band)` adds to each band of a token's outputs: rayon
/// over tokens and bands of [`ROWS_PER_TASK`] rows, so no output pays a division to find its
/// token and row. The expands of `lora_expand`, `bgmv` and `sgmv`.
pub(crate) fn expand_tokens(y_out: &mut [f32], y: &[f32], n: usize, expand: impl Fn(usize, usize, &mut [f32]) + Sync) {
    if n == 0 {
        return;
    }
    y_out.par_chunks_mut(n).zip(y.par_chunks(n)).enumerate().for_each(|(t, (out, yt))| {
        out.par_chunks_mut(ROWS_PER_TASK).zip(yt.par_chunks(ROWS_PER_TASK)).enumerate().for_each(|(c, (o, yb))| {
            o.copy_from_slice(yb);
            expand(t, c * ROWS_PER_TASK, o);
        });
    });
}
