//! Fast CPU `dense_project` (s = R·g) and `dense_project_t` (g' = Rᵀ·s), R's signs generated on
//! the fly, one Philox block per 128 columns of a row, as `kernels/SIGNALS.md` specifies.
//!
//! The forward pass splits g into chunks of [`CHUNK`] columns (a chunk stays in L1 while all k
//! rows sweep it, so g is read from memory once), computes per-chunk partial sums for every row
//! in parallel, then adds the partials in chunk order: the result does not depend on the number
//! of threads or on scheduling. Signs are applied by xoring the sign bit, so the inner loop is
//! branch-free and vectorizes.

use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use seq_macro::seq;

use crate::signals::derive::{PURPOSE_DENSE_RADEMACHER, SIGNS_PER_BLOCK};
use crate::signals::philox::philox4x32_10_x16;

/// Columns of g one task owns (16 KiB of f32: fits L1 with room for the sign words).
pub const CHUNK: usize = 4096;

/// Adds the 32 entries of `g` with the signs of `word` (bit b set: −g[b]) into 8 lanes. The
/// sign masks come from a compare against constant per-lane bits, which vectorizes without
/// per-lane shifts (SSE2 has none).
#[inline(always)]
fn signed_add_32(acc: &mut [f32; 8], word: u32, g: &[f32]) {
    if let Ok(g) = <&[f32; 32]>::try_from(g) {
        for q in 0..4 {
            for (l, a) in acc.iter_mut().enumerate() {
                let b = 8 * q + l;
                let m = u32::from(word & (1 << b) != 0) << 31;
                *a += f32::from_bits(g[b].to_bits() ^ m);
            }
        }
    } else {
        for (b, &v) in g.iter().enumerate() {
            acc[b % 8] += f32::from_bits(v.to_bits() ^ (((word >> b) & 1) << 31));
        }
    }
}

/// Unscaled partial sums of every row over one chunk of columns (`chunk` is its index). A row's
/// sign blocks are drawn sixteen at a time ([`philox4x32_10_x16`]); the additions are those of
/// one block after another, as before.
#[inline(always)]
fn chunk_partials_generic(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    let first_block = (chunk * CHUNK / SIGNS_PER_BLOCK) as u64;
    let blocks: Vec<&[f32]> = cols.chunks(SIGNS_PER_BLOCK).collect();
    (0..k)
        .map(|j| {
            let mut acc = [0.0f32; 8];
            for (g, group) in blocks.chunks(16).enumerate() {
                let b0 = first_block + 16 * g as u64;
                let words = dense_blocks_x16(key, PURPOSE_DENSE_RADEMACHER, j as u32, b0);
                for (l, blk) in group.iter().enumerate() {
                    for (w, part) in blk.chunks(32).enumerate() {
                        signed_add_32(&mut acc, words[w][l], part);
                    }
                }
            }
            acc.iter().sum()
        })
        .collect()
}

/// [`dense_block`](crate::signals::derive::dense_block) of blocks b0 … b0 + 15 of one row: `words[w][l]` is word w of block b0 + l.
#[inline(always)]
fn dense_blocks_x16(key: [u32; 2], purpose: u32, row: u32, b0: u64) -> [[u32; 16]; 4] {
    let b = |l: usize| b0 + l as u64;
    philox4x32_10_x16(
        [std::array::from_fn(|l| b(l) as u32), [row; 16], std::array::from_fn(|l| (b(l) >> 32) as u32), [purpose; 16]],
        key,
    )
}

/// [`chunk_partials_generic`] compiled with AVX2 (same operations, same results; wider vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_partials_avx2(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    chunk_partials_generic(key, chunk, cols, k)
}

/// [`chunk_partials_generic`] in AVX-512: sixteen columns a step, the sign of each lane a bit
/// of the Philox word used directly as a lane mask, and four independent accumulators (the
/// generic path's eight-lane accumulator is one serial chain of additions). The same signed
/// terms, summed in another fixed order: results agree with the generic path to rounding and
/// do not depend on threads or scheduling.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::erasing_op, clippy::identity_op, clippy::eq_op)] // seq! writes 16 · 0, 2 / 2, …
unsafe fn chunk_partials_avx512(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    use std::arch::x86_64::*;
    let first_block = (chunk * CHUNK / SIGNS_PER_BLOCK) as u64;
    let sign = _mm512_set1_epi32(i32::MIN);
    let groups = cols.len().div_ceil(16 * SIGNS_PER_BLOCK);
    (0..k)
        .map(|j| {
            let mut acc = [_mm512_setzero_ps(); 4];
            for grp in 0..groups {
                let words = dense_blocks_x16(key, PURPOSE_DENSE_RADEMACHER, j as u32, first_block + 16 * grp as u64);
                let first = grp * 16 * SIGNS_PER_BLOCK;
                for (l, blk) in cols[first..].chunks(SIGNS_PER_BLOCK).take(16).enumerate() {
                    // Step i of a block: sixteen columns, half i % 2 of word i / 2; accumulator
                    // i % 4 (constant indices once unrolled, so the four stay in registers).
                    seq!(I in 0..8 {
                        let at = 16 * I;
                        if at < blk.len() {
                            let lanes = (((1u32 << (blk.len() - at).min(16)) - 1) & 0xFFFF) as __mmask16;
                            let negative = (words[I / 2][l] >> (16 * (I % 2))) as __mmask16;
                            // SAFETY: the mask keeps the load inside blk.
                            let v = _mm512_castps_si512(unsafe { _mm512_maskz_loadu_ps(lanes, blk.as_ptr().add(at)) });
                            let signed = _mm512_castsi512_ps(_mm512_mask_xor_epi32(v, negative, v, sign));
                            acc[I % 4] = _mm512_add_ps(acc[I % 4], signed);
                        }
                    });
                }
            }
            let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            _mm512_reduce_add_ps(sum)
        })
        .collect()
}

fn chunk_partials(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected.
        return unsafe { chunk_partials_avx512(key, chunk, cols, k) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected.
        return unsafe { chunk_partials_avx2(key, chunk, cols, k) };
    }
    chunk_partials_generic(key, chunk, cols, k)
}

/// s[j] = (1/√k) Σ_c ±g[c] for j in 0..s.len() (k = s.len()).
pub fn dense_project(key: [u32; 2], g: &[f32], s: &mut [f32]) {
    let k = s.len();
    let partials: Vec<Vec<f32>> =
        g.par_chunks(CHUNK).enumerate().map(|(chunk, cols)| chunk_partials(key, chunk, cols, k)).collect();
    let scale = 1.0 / (k as f32).sqrt();
    for (j, out) in s.iter_mut().enumerate() {
        *out = partials.iter().map(|p| p[j]).sum::<f32>() * scale;
    }
}

/// g[c] = (1/√k) Σ_j ±s[j] for c in 0..g.len() (k = s.len()).
pub fn dense_project_t(key: [u32; 2], s: &[f32], g: &mut [f32]) {
    let scale = 1.0 / (s.len() as f32).sqrt();
    g.par_chunks_mut(SIGNS_PER_BLOCK).enumerate().for_each(|(b, out)| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected.
            return unsafe { block_t_avx512(key, b as u64, s, scale, out) };
        }
        block_t_generic(key, b as u64, s, scale, out);
    });
}

/// Block b (128 columns) of [`dense_project_t`]: each column's sum over the rows in ascending
/// order, the rows' sign words drawn sixteen rows at a time.
fn block_t_generic(key: [u32; 2], b: u64, s: &[f32], scale: f32, out: &mut [f32]) {
    let mut acc = [0.0f32; SIGNS_PER_BLOCK];
    for (r, rows) in s.chunks(16).enumerate() {
        let words = rows_x16(key, b, 16 * r);
        for (l, &sj) in rows.iter().enumerate() {
            let bits = sj.to_bits();
            for (c, a) in acc.iter_mut().enumerate() {
                let m = u32::from(words[c / 32][l] & (1 << (c % 32)) != 0) << 31;
                *a += f32::from_bits(bits ^ m);
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = a * scale;
    }
}

/// Block b of rows r0 … r0 + 15: `words[w][l]` is word w of row r0 + l's block.
#[inline(always)]
fn rows_x16(key: [u32; 2], b: u64, r0: usize) -> [[u32; 16]; 4] {
    philox4x32_10_x16(
        [
            [b as u32; 16],
            std::array::from_fn(|l| (r0 + l) as u32),
            [(b >> 32) as u32; 16],
            [PURPOSE_DENSE_RADEMACHER; 16],
        ],
        key,
    )
}

/// [`block_t_generic`] in AVX-512: the 128 column sums in eight registers, each row's ±s[j]
/// added to sixteen columns at a time with its sign bits as a lane mask. The same additions in
/// the same order, so the same bits.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_t_avx512(key: [u32; 2], b: u64, s: &[f32], scale: f32, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let sign = _mm512_set1_epi32(i32::MIN);
    let mut acc = [_mm512_setzero_ps(); 8];
    for (r, rows) in s.chunks(16).enumerate() {
        let words = rows_x16(key, b, 16 * r);
        for (l, &sj) in rows.iter().enumerate() {
            let v = _mm512_set1_epi32(sj.to_bits() as i32);
            for (q, a) in acc.iter_mut().enumerate() {
                let negative = (words[q / 2][l] >> (16 * (q % 2))) as __mmask16;
                *a = _mm512_add_ps(*a, _mm512_castsi512_ps(_mm512_mask_xor_epi32(v, negative, v, sign)));
            }
        }
    }
    let mut sums = [0.0f32; SIGNS_PER_BLOCK];
    for (q, a) in acc.iter().enumerate() {
        // SAFETY: 16 floats of `sums` from 16q.
        unsafe { _mm512_storeu_ps(sums.as_mut_ptr().add(16 * q), *a) };
    }
    for (o, a) in out.iter_mut().zip(&sums) {
        *o = a * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::derive::{dense_block, key_of_seed, rademacher_negative};

    #[test]
    fn sixteen_blocks_at_once_are_the_single_blocks_even_across_the_counters_high_word() {
        let key = key_of_seed(0x5eed_0123);
        for (row, b0) in [(0u32, 0u64), (7, 1000), (255, (1 << 32) - 5)] {
            let words = dense_blocks_x16(key, PURPOSE_DENSE_RADEMACHER, row, b0);
            for l in 0..16 {
                let one = dense_block(key, PURPOSE_DENSE_RADEMACHER, row, b0 + l as u64);
                assert_eq!(words.map(|w| w[l]), one, "row {row} block {}", b0 + l as u64);
            }
        }
    }

    #[test]
    fn the_dispatched_partials_agree_with_the_generic_ones() {
        let key = key_of_seed(3);
        for len in [CHUNK, CHUNK - 5, 33, 1] {
            let g: Vec<f32> = (0..len).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let (generic, fast) = (chunk_partials_generic(key, 2, &g, 9), chunk_partials(key, 2, &g, 9));
            for (j, (a, b)) in generic.iter().zip(&fast).enumerate() {
                assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "len {len} row {j}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_transpose_blocks_give_the_generic_bits() {
        let key = key_of_seed(5);
        let s: Vec<f32> = (0..37).map(|i| ((i * 13 % 29) as f32 - 14.0) / 7.0).collect();
        for b in [0u64, 9, (1 << 32) + 1] {
            let (mut want, mut got) = ([f32::NAN; SIGNS_PER_BLOCK], [f32::NAN; SIGNS_PER_BLOCK]);
            block_t_generic(key, b, &s, 0.5, &mut want);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F was detected.
                unsafe { block_t_avx512(key, b, &s, 0.5, &mut got) };
            } else {
                block_t_generic(key, b, &s, 0.5, &mut got);
            }
            #[cfg(not(target_arch = "x86_64"))]
            block_t_generic(key, b, &s, 0.5, &mut got);
            assert_eq!(want.map(f32::to_bits), got.map(f32::to_bits), "block {b}");
        }
    }

    #[test]
    fn both_directions_match_the_definition_on_ragged_sizes() {
        let key = key_of_seed(99);
        let (n, k) = (2 * CHUNK + 300, 19);
        let g: Vec<f32> = (0..n).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 500.0).collect();
        let scale = 1.0 / (k as f64).sqrt();
        let sign = |j: usize, c: usize| if rademacher_negative(key, j as u32, c as u64) { -1.0 } else { 1.0 };
        let mut s = vec![f32::NAN; k];
        dense_project(key, &g, &mut s);
        for (j, &got) in s.iter().enumerate() {
            let want: f64 = g.iter().enumerate().map(|(c, &v)| sign(j, c) * f64::from(v)).sum::<f64>() * scale;
            assert!((f64::from(got) - want).abs() <= 1e-4 * want.abs().max(1.0), "s[{j}]: {got} vs {want}");
        }
        let mut gt = vec![f32::NAN; n];
        dense_project_t(key, &s, &mut gt);
        for (c, &got) in gt.iter().enumerate().step_by(97) {
            let want: f64 = s.iter().enumerate().map(|(j, &v)| sign(j, c) * f64::from(v)).sum::<f64>() * scale;
            assert!((f64::from(got) - want).abs() <= 1e-4 * want.abs().max(1.0), "g'[{c}]: {got} vs {want}");
        }
    }
}
