//! Fast CPU `dense_project` (s = R·g) and `dense_project_t` (g' = Rᵀ·s), R's signs generated on
//! the fly, one Philox block per 128 columns of a row, as `kernels/SIGNALS.md` specifies.
//!
//! The forward pass splits g into chunks of [`CHUNK`] columns (a chunk stays in L1 while all k
//! rows sweep it, so g is read from memory once), computes per-chunk partial sums for every row
//! in parallel, then adds the partials in chunk order: the result does not depend on the number
//! of threads or on scheduling. Signs are applied by xoring the sign bit, so the inner loop is
//! branch-free and vectorizes.

use rayon::prelude::*;

use crate::signals::derive::{PURPOSE_DENSE_RADEMACHER, SIGNS_PER_BLOCK, dense_block};

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

/// Unscaled partial sums of every row over one chunk of columns (`chunk` is its index).
#[inline(always)]
fn chunk_partials_generic(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    let first_block = (chunk * CHUNK / SIGNS_PER_BLOCK) as u64;
    (0..k)
        .map(|j| {
            let mut acc = [0.0f32; 8];
            for (b, blk) in cols.chunks(SIGNS_PER_BLOCK).enumerate() {
                let words = dense_block(key, PURPOSE_DENSE_RADEMACHER, j as u32, first_block + b as u64);
                for (w, part) in blk.chunks(32).enumerate() {
                    signed_add_32(&mut acc, words[w], part);
                }
            }
            acc.iter().sum()
        })
        .collect()
}

/// [`chunk_partials_generic`] compiled with AVX2 (same operations, same results; wider vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_partials_avx2(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    chunk_partials_generic(key, chunk, cols, k)
}

fn chunk_partials(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
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
        let mut acc = [0.0f32; SIGNS_PER_BLOCK];
        for (j, &sj) in s.iter().enumerate() {
            let words = dense_block(key, PURPOSE_DENSE_RADEMACHER, j as u32, b as u64);
            let bits = sj.to_bits();
            for (c, a) in acc.iter_mut().enumerate() {
                let m = u32::from(words[c / 32] & (1 << (c % 32)) != 0) << 31;
                *a += f32::from_bits(bits ^ m);
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = a * scale;
        }
    });
}
