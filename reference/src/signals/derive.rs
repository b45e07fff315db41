//! From (seed, purpose, indices) to random values, exactly as `kernels/SIGNALS.md` specifies.
//!
//! Each use of randomness has its own purpose id in counter word 3, so no two uses ever share a
//! counter: a sketch's signs and its buckets are independent even under one seed, and adding a
//! new use never changes the bits of an old one.

use super::philox::philox4x32_10;

/// Purpose id (counter word 3) of `dense_project`'s Rademacher entries.
pub const PURPOSE_DENSE_RADEMACHER: u32 = 1;
/// Purpose id of `dense_project_gaussian`'s entries.
pub const PURPOSE_DENSE_GAUSSIAN: u32 = 2;
/// Purpose id of `count_sketch`'s bucket and sign hashes.
pub const PURPOSE_COUNT_SKETCH: u32 = 3;
/// Purpose id of `stochastic_quantize`'s rounding uniforms (one per coordinate).
pub const PURPOSE_QUANTIZE_DITHER: u32 = 4;
/// Purpose id of `srht`'s diagonal signs D.
pub const PURPOSE_SRHT_SIGNS: u32 = 5;
/// Purpose id of `srht`'s coordinate sample (the partial Fisher–Yates draws).
pub const PURPOSE_SRHT_SAMPLE: u32 = 6;

/// Columns of one dense-projection row whose signs one Philox block supplies (4 words × 32 bits).
pub const SIGNS_PER_BLOCK: usize = 128;

/// The Philox key of a 64-bit seed: word 0 = low 32 bits, word 1 = high 32 bits.
pub fn key_of_seed(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The 64-bit seed of a seed tensor `[lo, hi]` (the layout ops take seeds in).
pub fn seed_of_words(words: [u32; 2]) -> u64 {
    u64::from(words[0]) | u64::from(words[1]) << 32
}

/// The four Philox words covering columns `128·b .. 128·b+128` of row `row` of a dense
/// projection: counter (b mod 2^32, row, b div 2^32, purpose).
pub fn dense_block(key: [u32; 2], purpose: u32, row: u32, b: u64) -> [u32; 4] {
    philox4x32_10([b as u32, row, (b >> 32) as u32, purpose], key)
}

/// Whether entry (row, col) of the Rademacher projection is negative: bit (col mod 32) of word
/// ((col mod 128) div 32) of [`dense_block`]; a set bit means −1.
pub fn rademacher_negative(key: [u32; 2], row: u32, col: u64) -> bool {
    let w = dense_block(key, PURPOSE_DENSE_RADEMACHER, row, col / SIGNS_PER_BLOCK as u64);
    let word = w[(col % SIGNS_PER_BLOCK as u64 / 32) as usize];
    (word >> (col % 32)) & 1 == 1
}

/// The uniform in [0, 1) of a word: its top 24 bits times 2^-24 (exact in f32 and f64).
pub fn uniform(word: u32) -> f64 {
    f64::from(word >> 8) * (1.0 / 16_777_216.0)
}

/// The uniform in (0, 1] of a word: (top 24 bits + 1) · 2^-24, safe as a logarithm's argument.
pub fn uniform_open0(word: u32) -> f64 {
    f64::from((word >> 8) + 1) * (1.0 / 16_777_216.0)
}

/// Box–Muller on two words: (√(−2 ln u1) cos(2π u2), √(−2 ln u1) sin(2π u2)) with
/// u1 = [`uniform_open0`](w_a) and u2 = [`uniform`](w_b). Computed in f64 here; f32 kernels
/// differ by rounding of the transcendental functions, which SIGNALS.md bounds.
pub fn box_muller(w_a: u32, w_b: u32) -> (f64, f64) {
    let r = (-2.0 * uniform_open0(w_a).ln()).sqrt();
    let t = 2.0 * std::f64::consts::PI * uniform(w_b);
    (r * t.cos(), r * t.sin())
}

/// Entry (row, col) of the Gaussian projection before the 1/√k scale: block b = col div 4,
/// words 0,1 give columns 4b and 4b+1 (cos, sin), words 2,3 give 4b+2 and 4b+3.
pub fn gaussian_entry(key: [u32; 2], row: u32, col: u64) -> f64 {
    let w = dense_block(key, PURPOSE_DENSE_GAUSSIAN, row, col / 4);
    let j = (col % 4) as usize;
    let (c, s) = box_muller(w[j & 2], w[(j & 2) + 1]);
    if j & 1 == 0 { c } else { s }
}

/// Lemire's multiply-shift: ⌊word · c / 2^32⌋, a bucket in [0, c) for c ≤ 2^32.
pub fn bucket(word: u32, c: u32) -> u32 {
    ((u64::from(word) * u64::from(c)) >> 32) as u32
}

/// Count-sketch hash of coordinate `i` in row `r` of `c` buckets: (bucket, negative).
/// Counter (i mod 2^32, i div 2^32, r, purpose); bucket from word 0, sign from bit 31 of word 1.
pub fn count_sketch_hash(key: [u32; 2], r: u32, i: u64, c: u32) -> (u32, bool) {
    let w = philox4x32_10([i as u32, (i >> 32) as u32, r, PURPOSE_COUNT_SKETCH], key);
    (bucket(w[0], c), w[1] >> 31 == 1)
}

/// The word that dithers coordinate `i` of `stochastic_quantize`: word (i mod 4) of
/// Philox((q mod 2^32, q div 2^32, 0, 4), K) with q = i div 4. Its uniform is [`uniform`].
pub fn quantize_dither_word(key: [u32; 2], i: u64) -> u32 {
    let q = i / 4;
    philox4x32_10([q as u32, (q >> 32) as u32, 0, PURPOSE_QUANTIZE_DITHER], key)[(i % 4) as usize]
}

/// Whether the SRHT's diagonal sign D[i] is −1: bit (i mod 32) of word ((i mod 128) div 32) of
/// Philox((b mod 2^32, b div 2^32, 0, 5), K) with b = i div 128 (a set bit means −1).
pub fn srht_negative(key: [u32; 2], i: u64) -> bool {
    let b = i / SIGNS_PER_BLOCK as u64;
    let w = philox4x32_10([b as u32, (b >> 32) as u32, 0, PURPOSE_SRHT_SIGNS], key);
    (w[(i % SIGNS_PER_BLOCK as u64 / 32) as usize] >> (i % 32)) & 1 == 1
}

/// The SRHT's k sampled coordinates of 0..n_pad, in draw order: a partial Fisher–Yates shuffle
/// of the identity permutation P. Step t = 0..k−1 draws w = word 0 of
/// Philox((t, 0, 0, 6), K), picks j = t + [`bucket`](w, n_pad − t), swaps P[t] and P[j], and
/// samples P[t]. Distinct coordinates; `n_pad` ≤ 2^32, `k` ≤ `n_pad`. The virtual permutation
/// is kept as a map of its moved entries, so the cost is O(k) whatever `n_pad` is.
pub fn srht_sample(key: [u32; 2], n_pad: u64, k: usize) -> Vec<u32> {
    assert!(n_pad <= 1 << 32 && k as u64 <= n_pad, "srht_sample: k {k} of n_pad {n_pad}");
    let mut moved = std::collections::HashMap::<u64, u64>::new();
    (0..k as u64)
        .map(|t| {
            let w = philox4x32_10([t as u32, 0, 0, PURPOSE_SRHT_SAMPLE], key)[0];
            let j = t + u64::from(bucket(w, (n_pad - t) as u32));
            let (pt, pj) = (*moved.get(&t).unwrap_or(&t), *moved.get(&j).unwrap_or(&j));
            moved.insert(j, pt);
            moved.insert(t, pj);
            pj as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_split_into_low_then_high_key_words() {
        assert_eq!(key_of_seed(0x0123_4567_89ab_cdef), [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(seed_of_words([0x89ab_cdef, 0x0123_4567]), 0x0123_4567_89ab_cdef);
    }

    #[test]
    fn rademacher_signs_are_balanced_and_differ_between_rows() {
        let key = key_of_seed(42);
        let neg = (0..4096u64).filter(|&c| rademacher_negative(key, 0, c)).count();
        assert!((1900..2200).contains(&neg), "{neg} of 4096 negative");
        let same = (0..4096u64).filter(|&c| rademacher_negative(key, 0, c) == rademacher_negative(key, 1, c)).count();
        assert!((1900..2200).contains(&same), "rows agree on {same} of 4096");
    }

    #[test]
    fn uniforms_span_zero_to_one_exclusive_and_open_variant_excludes_zero() {
        assert_eq!(uniform(0), 0.0);
        assert_eq!(uniform(u32::MAX), 1.0 - 1.0 / 16_777_216.0);
        assert_eq!(uniform_open0(0), 1.0 / 16_777_216.0);
        assert_eq!(uniform_open0(u32::MAX), 1.0);
    }

    #[test]
    fn gaussian_entries_have_zero_mean_and_unit_variance() {
        let key = key_of_seed(7);
        let n = 40_000u64;
        let (mut s1, mut s2) = (0.0, 0.0);
        for c in 0..n {
            let z = gaussian_entry(key, 3, c);
            s1 += z;
            s2 += z * z;
        }
        let (mean, var) = (s1 / n as f64, s2 / n as f64);
        // Standard errors: 0.005 for the mean, 0.007 for the variance; 5σ bounds, fixed seed.
        assert!(mean.abs() < 0.025, "mean {mean}");
        assert!((var - 1.0).abs() < 0.035, "variance {var}");
    }

    #[test]
    fn buckets_cover_the_range_without_overflow() {
        assert_eq!(bucket(0, 7), 0);
        assert_eq!(bucket(u32::MAX, 7), 6);
        assert_eq!(bucket(u32::MAX, u32::MAX), u32::MAX - 1);
    }

    #[test]
    fn a_full_srht_sample_is_a_permutation() {
        let mut s = srht_sample(key_of_seed(3), 64, 64);
        s.sort_unstable();
        assert_eq!(s, (0..64).collect::<Vec<u32>>());
    }

    #[test]
    fn srht_samples_are_distinct_and_spread_over_the_range() {
        let s = srht_sample(key_of_seed(4), 1 << 20, 1000);
        let mut d = s.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 1000);
        let below_half = s.iter().filter(|&&i| i < 1 << 19).count();
        assert!((420..580).contains(&below_half), "{below_half} of 1000 in the lower half");
    }

    #[test]
    fn the_dither_word_is_word_i_mod_4_of_block_i_div_4() {
        let key = key_of_seed(9);
        let w = philox4x32_10([2, 0, 0, PURPOSE_QUANTIZE_DITHER], key);
        assert_eq!([8, 9, 10, 11].map(|i| quantize_dither_word(key, i)), w);
    }
}
