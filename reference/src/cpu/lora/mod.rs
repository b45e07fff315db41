//! Fast CPU adapter kernels: rayon across tokens or output rows, 8-lane f32 accumulators
//! within a row (the shape the compiler vectorizes), f32 accumulation throughout.

pub mod backward;
pub mod batched;
pub mod expand_band;
pub mod fused;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

/// Outputs one rayon task computes in the element-parallel loops.
const OUTPUTS_PER_TASK: usize = 512;

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
    t.par_chunks_mut(rank).zip(x.par_chunks(k)).for_each(|(tj, xj)| {
        for (i, v) in tj.iter_mut().enumerate() {
            *v = dot(&a[i * k..(i + 1) * k], xj);
        }
    });
}

/// y_out[j][o] = y[j][o] + s·B_o · t_j: `b` `[n, rank]`, `t` `[tokens, rank]`, `y`, `y_out`
/// `[tokens, n]`.
pub fn lora_expand(b: &[f32], t: &[f32], y: &[f32], s: f32, y_out: &mut [f32], n: usize, rank: usize) {
    assert_eq!((b.len(), y.len(), y_out.len(), t.len() / rank), (n * rank, y_out.len(), y.len(), y.len() / n));
    y_out.par_chunks_mut(OUTPUTS_PER_TASK).enumerate().for_each(|(c, out)| {
        for (e, o) in out.iter_mut().enumerate() {
            let idx = c * OUTPUTS_PER_TASK + e;
            let (j, row) = (idx / n, idx % n);
            *o = y[idx] + s * dot(&b[row * rank..(row + 1) * rank], &t[j * rank..(j + 1) * rank]);
        }
    });
}
