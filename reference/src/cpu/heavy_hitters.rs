//! Heavy-hitter recovery from a count sketch, as FetchSGD (Rothchild et al., ICML 2020) decodes
//! the collective's summed sketch: estimate every coordinate by `count_unsketch` (median of the
//! rows), then keep the k estimates of largest magnitude by `topk`. A host-side composition of
//! the two ops, not an op of its own: a GPU backend runs the same two registered kernels one
//! after the other, and the result depends only on the sketch, the seed, n and k — both steps
//! are bit-exact on every backend.
//!
//! Why median then top-k: a coordinate much larger than the sketch's noise (the sum of the other
//! coordinates sharing its bucket) keeps its value in most rows, so the median returns it nearly
//! exactly while a lone collision in one row cannot move it; the small coordinates decode to
//! about their bucket noise and rank below every heavy hitter.

use super::count_unsketch::count_unsketch;
use super::topk::topk;

/// The k coordinates of largest decoded magnitude, as `(indices, values)` in `topk`'s order
/// (magnitude descending, ties by smaller index), from a sketch of r rows × `c` buckets of an
/// n-coordinate signal under `key`. `values` are the decoded estimates, not the signal.
pub fn heavy_hitters(key: [u32; 2], sketch: &[f32], c: usize, n: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    assert!(k >= 1 && k <= n, "heavy_hitters: k = {k} of n = {n}");
    let mut estimate = vec![0.0f32; n];
    count_unsketch(key, sketch, c, &mut estimate);
    let (mut indices, mut values) = (vec![0u32; k], vec![0.0f32; k]);
    topk(&estimate, &mut indices, &mut values);
    (indices, values)
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;
    use crate::cpu::count_sketch::count_sketch;
    use crate::seed::rng_for;
    use crate::signals::derive::key_of_seed;

    #[test]
    fn a_few_large_spikes_in_small_noise_are_recovered_by_index_and_order() {
        let (n, r, c, k) = (100_000usize, 5usize, 1024usize, 10usize);
        let mut rng = rng_for(2024, 0);
        let mut g: Vec<f32> = (0..n).map(|_| rng.random_range(-0.01f32..0.01)).collect();
        // Ten spikes of distinct magnitudes 10, 15, .., 55 with alternating signs, at distinct
        // random places; the bucket noise (about 100 terms of ±0.01) is near 0.06.
        let mut spikes: Vec<usize> = Vec::new();
        while spikes.len() < k {
            let i = rng.random_range(0..n);
            if !spikes.contains(&i) {
                spikes.push(i);
            }
        }
        for (j, &i) in spikes.iter().enumerate() {
            g[i] = (10.0 + 5.0 * j as f32) * if j % 2 == 0 { 1.0 } else { -1.0 };
        }
        let key = key_of_seed(0xFEED_5EED);
        let mut sketch = vec![0.0f32; r * c];
        count_sketch(key, &g, c, &mut sketch);
        let (indices, values) = heavy_hitters(key, &sketch, c, n, k);
        // Largest magnitude first: the spikes in reverse order of placement.
        let want: Vec<u32> = spikes.iter().rev().map(|&i| i as u32).collect();
        assert_eq!(indices, want);
        for (&i, &v) in indices.iter().zip(&values) {
            let truth = g[i as usize];
            assert!((v - truth).abs() < 0.5, "coordinate {i}: decoded {v}, signal {truth}");
        }
    }
}
