//! y = W·x for a model matrix in any of its formats, on the fast CPU kernels of
//! `dfma_reference::cpu` (the registry's cpu kernels of the quantized GEMV ops).

use dfma_reference::cpu;
use dfma_reference::gguf::GgufFile;
use rayon::prelude::*;

use super::weights::{Matrix, WeightFormat};

/// Most token columns one GEMV call of the quantized kernels takes.
const MAX_COLUMNS: usize = 8;

/// y[t] = W·x[t] for `tokens` token rows: `x` `[tokens, cols]`, `y` `[tokens, rows]`.
pub fn matvec(file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32], tokens: usize) {
    assert_eq!((x.len(), y.len()), (tokens * m.cols, tokens * m.rows), "matvec {}: lengths", m.name);
    let w = m.bytes(file);
    for (xc, yc) in x.chunks(MAX_COLUMNS * m.cols).zip(y.chunks_mut(MAX_COLUMNS * m.rows)) {
        let batch = xc.len() / m.cols;
        match m.format {
            WeightFormat::Q4_0 => cpu::q4_0_gemv::q4_0_gemv(w, xc, yc, m.rows, m.cols, batch),
            WeightFormat::Q4_1 => cpu::q4_1_gemv::q4_1_gemv(w, xc, yc, m.rows, m.cols, batch),
            WeightFormat::Q8_0 => cpu::q8_0_gemv::q8_0_gemv(w, xc, yc, m.rows, m.cols, batch),
            WeightFormat::F32 | WeightFormat::F16 => dense(m, w, xc, yc, batch),
        }
    }
}

/// The unquantized formats: a row widened to f32, then one dot per token.
fn dense(m: &Matrix, w: &[u8], x: &[f32], y: &mut [f32], batch: usize) {
    let rb = m.row_bytes();
    let mut by_row = vec![0.0f32; m.rows * batch];
    by_row.par_chunks_mut(batch).enumerate().for_each(|(r, out)| {
        let b = &w[r * rb..(r + 1) * rb];
        let row: Vec<f32> = match m.format {
            WeightFormat::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            _ => b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        };
        for (t, o) in out.iter_mut().enumerate() {
            *o = cpu::lora::dot(&row, &x[t * m.cols..(t + 1) * m.cols]);
        }
    });
    for r in 0..m.rows {
        for t in 0..batch {
            y[t * m.rows + r] = by_row[r * batch + t];
        }
    }
}

/// Runs of W's rows [`matvec_t`] accumulates separately: a constant, not the thread count, so
/// the order every element of dX is summed in (and so its bits) is the same on any machine.
const ROW_GROUPS: usize = 16;

/// dX = dY·W for `tokens` rows: `dy` `[tokens, rows]`, `dx` `[tokens, cols]` — the transposed
/// product the backward pass takes through a frozen weight matrix of any format. W's rows are
/// cut into [`ROW_GROUPS`] contiguous runs; each task widens its run's rows to f32 once and adds
/// dy[t][r]·W[r] into its own partial dX in row order; the partials are then summed in group
/// order. No two tasks write one element and the result does not depend on how the thread pool
/// splits the work, so a training run reproduces bit for bit.
pub fn matvec_t(file: &GgufFile, m: &Matrix, dy: &[f32], dx: &mut [f32], tokens: usize) {
    assert_eq!((dy.len(), dx.len()), (tokens * m.rows, tokens * m.cols), "matvec_t {}: lengths", m.name);
    let n = tokens * m.cols;
    let per_group = m.rows.div_ceil(ROW_GROUPS).max(1);
    let partials: Vec<Vec<f32>> = (0..m.rows.div_ceil(per_group))
        .into_par_iter()
        .map(|g| {
            let mut acc = vec![0.0f32; n];
            for r in g * per_group..((g + 1) * per_group).min(m.rows) {
                let row = m.row_f32(file, r);
                for (t, acc_t) in acc.chunks_exact_mut(m.cols).enumerate() {
                    cpu::lora::axpy(acc_t, dy[t * m.rows + r], &row);
                }
            }
            acc
        })
        .collect();
    dx.fill(0.0);
    for p in &partials {
        dx.iter_mut().zip(p).for_each(|(x, y)| *x += y);
    }
}
