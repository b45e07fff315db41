//! Row-wise RMSNorm over a sequence and its backward.

use crate::model::forward::rms_norm;

/// RMSNorm of every `w.len()`-wide row of `x`.
pub(super) fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    x.chunks_exact(w.len()).flat_map(|row| rms_norm(row, w, eps)).collect()
}

/// dx for y = w ⊙ x·ρ, ρ = (mean(x²) + ε)^(−½), row by row:
/// dx = ρ·(w ⊙ dy) − x·ρ³·⟨w ⊙ dy, x⟩ / n.
pub(super) fn rms_norm_backward_rows(x: &[f32], w: &[f32], eps: f32, dy: &[f32]) -> Vec<f32> {
    let n = w.len();
    let mut dx = vec![0.0f32; x.len()];
    for ((xr, dyr), dxr) in x.chunks_exact(n).zip(dy.chunks_exact(n)).zip(dx.chunks_exact_mut(n)) {
        let ms = xr.iter().map(|v| v * v).sum::<f32>() / n as f32;
        let rho = 1.0 / (ms + eps).sqrt();
        let wdy_x: f32 = xr.iter().zip(dyr).zip(w).map(|((x, d), g)| x * d * g).sum();
        let c = rho * rho * rho * wdy_x / n as f32;
        for (((o, x), d), g) in dxr.iter_mut().zip(xr).zip(dyr).zip(w) {
            *o = rho * g * d - x * c;
        }
    }
    dx
}
