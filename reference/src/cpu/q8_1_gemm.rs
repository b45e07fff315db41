//! Fast CPU `q8_0_q8_1_gemm` and `q4_0_q8_1_gemm`: each token's Q8_1 blocks read into
//! [`Q8Activations`] (f32 scales, exact code sums), then the 8-bit-activation kernels of
//! [`super::q8_activations`] — AVX-512 VNNI, AVX2 or portable, the same bits on each — over bands
//! of 16 weight rows in parallel, each band's weights read from memory once for all tokens.

use super::q8_activations::{self, Q8Activations};
use crate::quant::format::BaseFormat;
use crate::quant::q8_1;

/// y[t·rows + r] = Σ_b d_w·d_x·Σ c_w·q_x over the `m` tokens of `xq`, W in `format` (Q8_0 or Q4_0).
pub fn q8_1_gemm(format: BaseFormat, w: &[u8], xq: &[u8], y: &mut [f32], rows: usize, cols: usize, m: usize) {
    let token_bytes = cols / q8_1::BLOCK_VALUES * q8_1::BLOCK_BYTES;
    assert_eq!(xq.len(), m * token_bytes, "{format:?} x Q8_1 product: xq length");
    let xs: Vec<Q8Activations> = xq.chunks_exact(token_bytes).map(Q8Activations::from_q8_1).collect();
    match format {
        BaseFormat::Q4_0 => q8_activations::q4_0_gemm(w, &xs, y, rows, cols),
        BaseFormat::Q8_0 => q8_activations::q8_0_gemm(w, &xs, y, rows, cols),
        other => panic!("no Q8_1-activation product for {other:?} weights"),
    }
}
