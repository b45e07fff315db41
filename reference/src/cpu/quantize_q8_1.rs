//! Fast CPU `quantize_q8_1`: rows in parallel, each row's blocks through
//! [`crate::quant::q8_1::quantize_row`] (AVX2 where present; the same bytes as the scalar
//! definition).

use rayon::prelude::*;

use crate::quant::q8_1::{BLOCK_BYTES, BLOCK_VALUES, quantize_row};

/// `xq` = Q8_1 blocks of the `m` rows of `x` (`cols` values each).
pub fn quantize_q8_1(x: &[f32], xq: &mut [u8], cols: usize) {
    let row_bytes = cols / BLOCK_VALUES * BLOCK_BYTES;
    assert_eq!(x.len() / cols * row_bytes, xq.len(), "quantize_q8_1: output length");
    xq.par_chunks_mut(row_bytes).zip(x.par_chunks(cols)).for_each(|(out, row)| quantize_row(row, out));
}
