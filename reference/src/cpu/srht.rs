//! Fast CPU `srht` and `srht_t`: an in-place f32 fast Walsh–Hadamard transform (rayon), the
//! signs drawn one Philox block per 128 coordinates and the sample from
//! [`srht_sample`] exactly as `kernels/SIGNALS.md` specifies.
//!
//! The butterflies of the first log2([`CHUNK`]) levels run inside each chunk (the chunk stays in
//! L1/L2); each higher level is one parallel pass pairing the two halves of every 2h-block.
//! Each output is a fixed tree of f32 adds and subtracts, whatever the thread count, so the
//! result is reproducible run to run.

use rayon::prelude::*;

use crate::signals::derive::{PURPOSE_SRHT_SIGNS, SIGNS_PER_BLOCK, srht_sample};
use crate::signals::philox::philox4x32_10;

/// Coordinates whose butterflies run together in one task (64 KiB of f32).
pub const CHUNK: usize = 1 << 14;

/// Unnormalized Walsh–Hadamard levels 1, 2, 4 .. z.len()/2 of one slice, serially.
fn fwht_serial(z: &mut [f32]) {
    let mut h = 1;
    while h < z.len() {
        for blk in z.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (u, v) = (*x, *y);
                *x = u + v;
                *y = u - v;
            }
        }
        h *= 2;
    }
}

/// The unnormalized Walsh–Hadamard transform of `z` in place (z.len() a power of two).
pub fn fwht(z: &mut [f32]) {
    let n = z.len();
    assert!(n.is_power_of_two(), "fwht: length {n} is not a power of two");
    let c = CHUNK.min(n);
    z.par_chunks_mut(c).for_each(fwht_serial);
    let mut h = c;
    while h < n {
        z.par_chunks_mut(2 * h).for_each(|blk| {
            let (a, b) = blk.split_at_mut(h);
            a.par_chunks_mut(CHUNK).zip(b.par_chunks_mut(CHUNK)).for_each(|(a, b)| {
                for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                    let (u, v) = (*x, *y);
                    *x = u + v;
                    *y = u - v;
                }
            });
        });
        h *= 2;
    }
}

/// out[i] = ±v[i] with D's signs (bit i mod 32 of word (i mod 128)/32 of block i/128 set: −).
fn apply_signs(key: [u32; 2], v: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(SIGNS_PER_BLOCK).zip(v.par_chunks(SIGNS_PER_BLOCK)).enumerate().for_each(|(b, (o, v))| {
        let b = b as u64;
        let w = philox4x32_10([b as u32, (b >> 32) as u32, 0, PURPOSE_SRHT_SIGNS], key);
        for (c, (o, &x)) in o.iter_mut().zip(v).enumerate() {
            *o = f32::from_bits(x.to_bits() ^ (((w[c / 32] >> (c % 32)) & 1) << 31));
        }
    });
}

/// y = (1/√k)·(H_unnormalized D g)[sample], k = y.len(); `z` is n_pad scratch.
pub fn srht(key: [u32; 2], g: &[f32], y: &mut [f32], z: &mut Vec<f32>) {
    let n_pad = g.len().next_power_of_two();
    z.clear();
    z.resize(n_pad, 0.0);
    apply_signs(key, g, &mut z[..g.len()]);
    fwht(z);
    let scale = 1.0 / (y.len() as f32).sqrt();
    let sample = srht_sample(key, n_pad as u64, y.len());
    for (o, &s) in y.iter_mut().zip(&sample) {
        *o = z[s as usize] * scale;
    }
}

/// g = (1/√k)·D·(H_unnormalized Sᵀ y) truncated to g.len(); `z` is n_pad scratch.
pub fn srht_t(key: [u32; 2], y: &[f32], g: &mut [f32], z: &mut Vec<f32>) {
    let n_pad = g.len().next_power_of_two();
    z.clear();
    z.resize(n_pad, 0.0);
    let scale = 1.0 / (y.len() as f32).sqrt();
    for (&v, &s) in y.iter().zip(&srht_sample(key, n_pad as u64, y.len())) {
        z[s as usize] = v * scale;
    }
    fwht(z);
    apply_signs(key, &z[..g.len()], g);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwht_of_a_spike_is_a_row_of_hadamard_signs_across_chunk_boundaries() {
        let n = 4 * CHUNK;
        let mut z = vec![0.0f32; n];
        z[5] = 1.0;
        fwht(&mut z);
        for (i, &v) in z.iter().enumerate() {
            let want = if (5 & i).count_ones() % 2 == 1 { -1.0 } else { 1.0 };
            assert_eq!(v, want, "coordinate {i}");
        }
    }

    #[test]
    fn fwht_twice_is_n_times_the_identity() {
        let mut z: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let orig = z.clone();
        fwht(&mut z);
        fwht(&mut z);
        for (a, b) in z.iter().zip(&orig) {
            assert!((a / 64.0 - b).abs() < 1e-5);
        }
    }
}
