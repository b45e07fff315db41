//! Fast CPU `stochastic_quantize` and `stochastic_dequantize`: blocks of 256 coordinates in
//! parallel (rayon), each exactly the f32 steps `ops::stochastic_quantize` specifies, so the
//! codes and scales are the reference's bit for bit. One Philox call dithers four coordinates.

use rayon::prelude::*;

use crate::ops::stochastic_quantize::{BLOCK, block_scale, code_of, half_levels, quantized};
use crate::signals::derive::PURPOSE_QUANTIZE_DITHER;
use crate::signals::philox::philox4x32_10;

/// Quantizes `x` at `bits` bits into `codes` (⌈n·b/32⌉ words) and `scales` (⌈n/256⌉).
pub fn stochastic_quantize(key: [u32; 2], x: &[f32], bits: usize, codes: &mut [u32], scales: &mut [f32]) {
    let words_per_block = BLOCK * bits / 32;
    let (h, top) = (half_levels(bits), (1u32 << bits) - 1);
    codes.par_chunks_mut(words_per_block).zip(scales.par_iter_mut()).zip(x.par_chunks(BLOCK)).enumerate().for_each(
        |(beta, ((words, scale), block))| {
            words.fill(0);
            let m = block_scale(block);
            *scale = m;
            if !quantized(m) {
                return;
            }
            let q = h / m;
            for (j4, quad) in block.chunks(4).enumerate() {
                let i4 = ((beta * BLOCK) / 4 + j4) as u64;
                let w = philox4x32_10([i4 as u32, (i4 >> 32) as u32, 0, PURPOSE_QUANTIZE_DITHER], key);
                for (l, &v) in quad.iter().enumerate() {
                    let j = 4 * j4 + l;
                    words[j * bits / 32] |= code_of(v, m, q, w[l], top) << (j * bits % 32);
                }
            }
        },
    );
}

/// x[i] = scale · (2·code − (L − 1)) / (L − 1), in f32.
pub fn stochastic_dequantize(codes: &[u32], scales: &[f32], bits: usize, x: &mut [f32]) {
    let words_per_block = BLOCK * bits / 32;
    let levels = ((1u32 << bits) - 1) as f32;
    let mask = (1u32 << bits) - 1;
    x.par_chunks_mut(BLOCK).zip(codes.par_chunks(words_per_block)).zip(scales.par_iter()).for_each(
        |((out, words), &s)| {
            for (j, o) in out.iter_mut().enumerate() {
                let code = (words[j * bits / 32] >> (j * bits % 32)) & mask;
                *o = s * ((2 * code) as f32 - levels) / levels;
            }
        },
    );
}
