//! Fast CPU `q8_0_q8_1_gemm`: rayon over bands of 16 weight rows, int8 block dot products in
//! i32 (the compiler vectorizes the 32-wide loop), one f32 scaling per block.

use half::f16;
use rayon::prelude::*;

use crate::quant::{q8_0, q8_1};

const ROWS_PER_TASK: usize = 16;

/// y[t·rows + r] = Σ_b d_w·d_x·Σ q_w·q_x over `m` token rows.
pub fn q8_0_q8_1_gemm(w: &[u8], xq: &[u8], y: &mut [f32], rows: usize, cols: usize, m: usize) {
    let blocks = cols / q8_0::BLOCK_WEIGHTS;
    let (wrb, xrb) = (blocks * q8_0::BLOCK_BYTES, blocks * q8_1::BLOCK_BYTES);
    assert_eq!(w.len(), rows * wrb, "q8_0_q8_1_gemm: w length");
    assert_eq!(xq.len(), m * xrb, "q8_0_q8_1_gemm: xq length");
    assert_eq!(y.len(), m * rows, "q8_0_q8_1_gemm: y length");
    let bands: Vec<Vec<f32>> = (0..rows.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|band| {
            let r0 = band * ROWS_PER_TASK;
            let n = ROWS_PER_TASK.min(rows - r0);
            let mut ys = vec![0.0f32; m * n];
            for t in 0..m {
                let xt = &xq[t * xrb..(t + 1) * xrb];
                for i in 0..n {
                    let wr = &w[(r0 + i) * wrb..(r0 + i + 1) * wrb];
                    ys[t * n + i] = row_dot(wr, xt);
                }
            }
            ys
        })
        .collect();
    for (band, ys) in bands.iter().enumerate() {
        let r0 = band * ROWS_PER_TASK;
        let n = ROWS_PER_TASK.min(rows - r0);
        for t in 0..m {
            y[t * rows + r0..t * rows + r0 + n].copy_from_slice(&ys[t * n..(t + 1) * n]);
        }
    }
}

fn row_dot(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = 0.0f32;
    for (wb, xb) in w.chunks_exact(q8_0::BLOCK_BYTES).zip(x.chunks_exact(q8_1::BLOCK_BYTES)) {
        let dw = f16::from_le_bytes([wb[0], wb[1]]).to_f32();
        let dx = f16::from_le_bytes([xb[0], xb[1]]).to_f32();
        let dot: i32 = wb[2..].iter().zip(&xb[4..]).map(|(&a, &b)| i32::from(a as i8) * i32::from(b as i8)).sum();
        acc += (dw * dx) * dot as f32;
    }
    acc
}
