//! Cache-blocked, register-blocked f32 fast Walsh–Hadamard butterflies: the building blocks of
//! the CPU `srht` and `srht_t`.
//!
//! The transform of length 2^m is m levels; level h pairs element i with i + h inside every
//! 2h-block (u, v → u + v, u − v). Levels act on different index bits, so they commute and can
//! run in any order and in groups. Three groupings make the CPU fast:
//!
//! - **In a vector.** Levels 1, 2 and 4 pair elements of one 8-float vector: each is a lane
//!   shuffle and one fused multiply-add with a ±1 pattern (exact: the product is ±v, so the one
//!   rounding is that of u + v or u − v).
//! - **Register blocking.** Three levels at once ([`levels_from`]): 8 vectors at stride h are
//!   loaded once, pass through levels h, 2h and 4h in registers and are stored once.
//! - **Rows and columns.** A long transform is a matrix of rows (the low index bits) and columns
//!   (the high bits): the low levels run on each row in L1, the high levels on panels of a few
//!   columns gathered into a contiguous buffer, where a column level is simply a level with
//!   stride h·width of the flattened panel.
//!
//! The AVX2 path and the portable path add and subtract the same pairs in the same order, so
//! they give the same bits; every output is a fixed tree of f32 operations for a given length.

/// Floats in one vector of the butterflies (one AVX2 register).
pub const LANES: usize = 8;

/// The whole unnormalized transform of a cache-resident `z` (a power of two long), serially.
pub fn transform_local(z: &mut [f32]) {
    debug_assert!(z.len().is_power_of_two());
    #[cfg(target_arch = "x86_64")]
    if z.len() >= LANES && std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA were detected; the length is a power of two ≥ 8.
        unsafe {
            avx2::in_vector_levels(z);
            avx2::levels_from(z, LANES);
        }
        return;
    }
    portable::transform(z);
}

/// Levels h, 2h, 4h … z.len()/2 of `z` (a power of two long; `h` a power of two multiple of
/// [`LANES`]): the column levels of a row-major panel `width` wide are `levels_from(panel, width)`.
pub fn levels_from(z: &mut [f32], h: usize) {
    debug_assert!(z.len().is_power_of_two() && h.is_power_of_two() && h.is_multiple_of(LANES));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA were detected; h is a multiple of 8 and z a multiple of 2h long.
        unsafe { avx2::levels_from(z, h) };
        return;
    }
    portable::levels_from(z, h);
}

/// Runs `f` compiled with AVX2 where the CPU has it (else as is): for the plain loops around
/// the butterflies (applying signs, gathering panels), which the compiler vectorizes only when
/// it may use AVX2's per-lane shifts and wider registers. Same operations, same bits.
#[inline(always)]
pub fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were detected.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// How many levels the next register-blocked step does from level `h` of a `len`-long
/// transform: three while at least three remain, then what is left.
#[inline(always)]
fn step_levels(len: usize, h: usize) -> u32 {
    (len / h).trailing_zeros().min(3)
}

/// Plain Rust, the same operation order as the AVX2 path.
mod portable {
    use super::{LANES, step_levels};

    /// Levels h .. h·2^(levels−1) of every 2^levels·h-block, `LANES` columns at a time.
    fn block_levels(z: &mut [f32], h: usize, levels: u32) {
        let span = h << levels;
        for blk in z.chunks_exact_mut(span) {
            for off in (0..h).step_by(LANES) {
                let mut v = [[0.0f32; LANES]; 8];
                let count = 1usize << levels;
                for (t, vt) in v.iter_mut().enumerate().take(count) {
                    vt.copy_from_slice(&blk[off + t * h..off + t * h + LANES]);
                }
                for level in 0..levels {
                    let bit = 1usize << level;
                    for t in (0..count).filter(|t| t & bit == 0) {
                        let (u, w) = (v[t], v[t | bit]);
                        v[t] = std::array::from_fn(|l| u[l] + w[l]);
                        v[t | bit] = std::array::from_fn(|l| u[l] - w[l]);
                    }
                }
                for (t, vt) in v.iter().enumerate().take(count) {
                    blk[off + t * h..off + t * h + LANES].copy_from_slice(vt);
                }
            }
        }
    }

    pub(super) fn levels_from(z: &mut [f32], mut h: usize) {
        while h < z.len() {
            let levels = step_levels(z.len(), h);
            block_levels(z, h, levels);
            h <<= levels;
        }
    }

    pub(super) fn transform(z: &mut [f32]) {
        let mut h = 1;
        while h < z.len().min(LANES) {
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
        if z.len() > LANES {
            levels_from(z, LANES);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{LANES, step_levels};

    /// Levels 1, 2 and 4 of every 8-float vector: per level a lane shuffle brings each
    /// element's partner, and one FMA with ±1 lanes gives u + w in the lower and u − w in the
    /// upper element of each pair.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `z.len()` a multiple of 8.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn in_vector_levels(z: &mut [f32]) {
        let s1 = _mm256_setr_ps(1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0);
        let s2 = _mm256_setr_ps(1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0);
        let s4 = _mm256_setr_ps(1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0);
        for g in z.chunks_exact_mut(LANES) {
            let p = g.as_mut_ptr();
            // SAFETY: p points at 8 floats of `g`.
            let mut v = unsafe { _mm256_loadu_ps(p) };
            v = _mm256_fmadd_ps(v, s1, _mm256_permute_ps::<0xB1>(v));
            v = _mm256_fmadd_ps(v, s2, _mm256_permute_ps::<0x4E>(v));
            v = _mm256_fmadd_ps(v, s4, _mm256_permute2f128_ps::<1>(v, v));
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(p, v) };
        }
    }

    /// Levels h .. h·2^(LEVELS−1) of every block, 8 columns at a time, in registers.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_levels<const LEVELS: u32>(z: &mut [f32], h: usize) {
        let count = 1usize << LEVELS;
        for blk in z.chunks_exact_mut(h << LEVELS) {
            let b = blk.as_mut_ptr();
            for off in (0..h).step_by(LANES) {
                let mut v = [_mm256_setzero_ps(); 8];
                for (t, vt) in v.iter_mut().enumerate().take(count) {
                    // SAFETY: off + t·h + 8 ≤ count·h = blk.len() since off + 8 ≤ h.
                    *vt = unsafe { _mm256_loadu_ps(b.add(off + t * h)) };
                }
                for level in 0..LEVELS {
                    let bit = 1usize << level;
                    for t in 0..count {
                        if t & bit == 0 {
                            let (u, w) = (v[t], v[t | bit]);
                            v[t] = _mm256_add_ps(u, w);
                            v[t | bit] = _mm256_sub_ps(u, w);
                        }
                    }
                }
                for (t, vt) in v.iter().enumerate().take(count) {
                    // SAFETY: as for the loads.
                    unsafe { _mm256_storeu_ps(b.add(off + t * h), *vt) };
                }
            }
        }
    }

    /// # Safety
    /// AVX2 and FMA must be available; h a power of two multiple of 8, `z` a power of two long.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn levels_from(z: &mut [f32], mut h: usize) {
        while h < z.len() {
            let levels = step_levels(z.len(), h);
            // SAFETY: forwarded.
            unsafe {
                match levels {
                    1 => block_levels::<1>(z, h),
                    2 => block_levels::<2>(z, h),
                    _ => block_levels::<3>(z, h),
                }
            }
            h <<= levels;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: (H z)[s] = Σ_i (−1)^popcount(s & i) z[i], in f64.
    fn slow(z: &[f32]) -> Vec<f64> {
        (0..z.len())
            .map(|s| {
                z.iter()
                    .enumerate()
                    .map(|(i, &v)| if (s & i).count_ones() % 2 == 1 { -f64::from(v) } else { f64::from(v) })
                    .sum()
            })
            .collect()
    }

    fn input(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0).collect()
    }

    #[test]
    fn every_length_matches_the_definition() {
        for m in 0..=11 {
            let n = 1usize << m;
            let z = input(n);
            let mut fast = z.clone();
            transform_local(&mut fast);
            for (s, (&f, w)) in fast.iter().zip(slow(&z)).enumerate() {
                assert!((f64::from(f) - w).abs() <= 1e-4 * w.abs().max(1.0), "n {n} s {s}: {f} vs {w}");
            }
        }
    }

    #[test]
    fn the_vector_path_and_the_portable_path_give_the_same_bits() {
        for m in 0..=13 {
            let z = input(1 << m);
            let (mut a, mut b) = (z.clone(), z);
            transform_local(&mut a);
            portable::transform(&mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "n = 2^{m}");
        }
    }

    #[test]
    fn column_levels_of_a_panel_are_the_high_levels_of_the_whole() {
        // A 64 x 32 panel (rows x width): row transforms then column levels = the 2048-point
        // transform of the flattened panel.
        let (rows, width) = (64, 32);
        let z = input(rows * width);
        let mut whole = z.clone();
        transform_local(&mut whole);
        let mut split = z;
        for row in split.chunks_exact_mut(width) {
            transform_local(row);
        }
        levels_from(&mut split, width);
        for (i, (a, b)) in whole.iter().zip(&split).enumerate() {
            assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "{i}: {a} vs {b}");
        }
    }
}
