//! Fast CPU `topk`: an exact radix select on the magnitude keys (f32 bits without the sign),
//! then a gather and a sort of the k winners.
//!
//! 1. Four passes of 8-bit digits, most significant first: each pass builds a 256-bin histogram
//!    (rayon, one per chunk, added in chunk order) of the keys that match the digits chosen so
//!    far, and picks the digit holding the k-th largest key. After four passes the threshold key
//!    T is exact, with `take` = how many keys equal to T belong to the answer.
//! 2. Gather: every key > T, and the `take` smallest indices whose key is T (chunk quotas from
//!    a parallel count, so the lowest indices win as the tie rule says).
//! 3. Sort the k winners by (key descending, index ascending) — unique keys, so the result is
//!    the reference's bit for bit whatever the thread count.

use rayon::prelude::*;

use crate::ops::topk::magnitude_key;

/// Coordinates one rayon task scans.
const CHUNK: usize = 1 << 16;

/// 256-bin histogram of digit `(key >> shift) & 255` over keys with `key & mask == prefix`.
fn histogram(g: &[f32], mask: u32, prefix: u32, shift: u32) -> [u64; 256] {
    g.par_chunks(CHUNK)
        .map(|c| {
            let mut h = [0u64; 256];
            for &x in c {
                let key = magnitude_key(x);
                if key & mask == prefix {
                    h[((key >> shift) & 255) as usize] += 1;
                }
            }
            h
        })
        .collect::<Vec<_>>()
        .iter()
        .fold([0u64; 256], |mut a, h| {
            a.iter_mut().zip(h).for_each(|(x, y)| *x += y);
            a
        })
}

/// The exact threshold key T (the k-th largest) and how many keys equal to T are in the top k.
pub fn threshold(g: &[f32], k: usize) -> (u32, usize) {
    let (mut prefix, mut mask, mut remaining) = (0u32, 0u32, k as u64);
    for shift in [24u32, 16, 8, 0] {
        let h = histogram(g, mask, prefix, shift);
        let mut digit = 255usize;
        loop {
            if h[digit] >= remaining {
                break;
            }
            remaining -= h[digit];
            digit -= 1;
        }
        prefix |= (digit as u32) << shift;
        mask |= 255 << shift;
    }
    (prefix, remaining as usize)
}

/// indices[..k], values[..k] = the k largest |g| (k = indices.len()), ordered as `topk` says.
pub fn topk(g: &[f32], indices: &mut [u32], values: &mut [f32]) {
    let k = indices.len();
    assert!(k >= 1 && k <= g.len() && values.len() == k, "topk: k {k} of {}", g.len());
    let (t, take) = threshold(g, k);
    // Quotas of ties per chunk: the lowest indices first.
    let ties: Vec<usize> = g.par_chunks(CHUNK).map(|c| c.iter().filter(|&&x| magnitude_key(x) == t).count()).collect();
    let mut left = take;
    let quotas: Vec<usize> = ties
        .iter()
        .map(|&c| {
            let q = c.min(left);
            left -= q;
            q
        })
        .collect();
    let mut winners: Vec<(u32, u32)> = g
        .par_chunks(CHUNK)
        .zip(quotas.par_iter())
        .enumerate()
        .flat_map_iter(|(ci, (c, &quota))| {
            let mut tied = 0usize;
            let mut out = Vec::new();
            for (j, &x) in c.iter().enumerate() {
                let key = magnitude_key(x);
                if key > t || (key == t && tied < quota) {
                    tied += usize::from(key == t);
                    out.push((key, (ci * CHUNK + j) as u32));
                }
            }
            out
        })
        .collect();
    assert_eq!(winners.len(), k, "topk: gathered {} of {k}", winners.len());
    winners.par_sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for ((i, v), &(_, idx)) in indices.iter_mut().zip(values.iter_mut()).zip(&winners) {
        *i = idx;
        *v = g[idx as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_across_chunks_go_to_the_lowest_indices() {
        let mut g = vec![1.0f32; 3 * CHUNK];
        g[5] = -2.0;
        g[2 * CHUNK + 1] = 2.0;
        let (mut idx, mut val) = (vec![0u32; 4], vec![0.0f32; 4]);
        topk(&g, &mut idx, &mut val);
        assert_eq!(idx, vec![5, 2 * CHUNK as u32 + 1, 0, 1]);
        assert_eq!(val, vec![-2.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn nan_is_the_largest_magnitude_as_in_the_reference() {
        let g = [0.5f32, f32::NAN, f32::INFINITY, -7.0];
        let (mut idx, mut val) = (vec![0u32; 3], vec![0.0f32; 3]);
        topk(&g, &mut idx, &mut val);
        assert_eq!(idx, vec![1, 2, 3]);
        assert!(val[0].is_nan());
    }

    #[test]
    fn all_of_a_constant_vector_is_returned_in_index_order() {
        let g = vec![-0.0f32; 1000];
        let (mut idx, mut val) = (vec![0u32; 1000], vec![1.0f32; 1000]);
        topk(&g, &mut idx, &mut val);
        assert_eq!(idx, (0..1000).collect::<Vec<u32>>());
        assert!(val.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()));
    }
}
