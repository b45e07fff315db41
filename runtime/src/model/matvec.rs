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

/// dX = dY·W for `tokens` rows: `dy` `[tokens, rows]`, `dx` `[tokens, cols]` — the transposed
/// product the backward pass takes through a frozen weight matrix of any format, on the cpu
/// kernel the registered `*_gemv_t` ops share ([`cpu::quant_gemv_t::gemv_t_rows`]): tasks own
/// bands of dX's columns, widen W's rows of their band to f32 a panel at a time and add them to
/// each element in row order. No two tasks write one element and the result does not depend on
/// how the thread pool splits the work, so a training run reproduces bit for bit.
pub fn matvec_t(file: &GgufFile, m: &Matrix, dy: &[f32], dx: &mut [f32], tokens: usize) {
    assert_eq!((dy.len(), dx.len()), (tokens * m.rows, tokens * m.cols), "matvec_t {}: lengths", m.name);
    cpu::quant_gemv_t::gemv_t_rows(m.rows, m.cols, tokens, dy, dx, |r, first, out| {
        m.widen_row_range(file, r, first, out);
    });
}
