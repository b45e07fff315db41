//! AVX2 butterflies: 8-float vectors, three levels a register-blocked step.

use std::arch::x86_64::*;

use super::LANES;

/// Levels 1, 2 and 4 of the 8-float vector `v`: per level a lane shuffle brings each element's
/// partner, and one FMA with ±1 lanes gives u + w in the lower and u − w in the upper element
/// of each pair.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn in_vector(mut v: __m256) -> __m256 {
    let s1 = _mm256_setr_ps(1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0);
    let s2 = _mm256_setr_ps(1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0);
    let s4 = _mm256_setr_ps(1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0);
    v = _mm256_fmadd_ps(v, s1, _mm256_permute_ps::<0xB1>(v));
    v = _mm256_fmadd_ps(v, s2, _mm256_permute_ps::<0x4E>(v));
    _mm256_fmadd_ps(v, s4, _mm256_permute2f128_ps::<1>(v, v))
}

/// Sign bits 31 of the 8 coordinates from `i` (a multiple of 8): bit i mod 32 of word i / 32.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn sign_bits(signs: &[u32], i: usize) -> __m256i {
    let word = _mm256_set1_epi32(signs[i / 32] as i32);
    let shift = _mm256_sub_epi32(_mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24), _mm256_set1_epi32((i % 32) as i32));
    _mm256_and_si256(_mm256_sllv_epi32(word, shift), _mm256_set1_epi32(i32::MIN))
}

/// Levels 1, 2 and 4 of every 8-float vector of `z`.
///
/// # Safety
/// AVX2 and FMA must be available; `z.len()` a multiple of 8.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn in_vector_levels(z: &mut [f32]) {
    for g in z.chunks_exact_mut(LANES) {
        let p = g.as_mut_ptr();
        // SAFETY: p points at 8 floats of `g`.
        unsafe { _mm256_storeu_ps(p, in_vector(_mm256_loadu_ps(p))) };
    }
}

/// z = D·src (zero past src's end), then levels 1, 2 and 4 of every vector: the signs applied
/// on the way in, so the signal is read once.
///
/// # Safety
/// AVX2 and FMA must be available; `z.len()` a multiple of 8, ≥ src.len(); `signs` covers src.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn signed_in_vector_levels(z: &mut [f32], src: &[f32], signs: &[u32]) {
    let full = src.len() / LANES;
    for (c, out) in z.chunks_exact_mut(LANES).enumerate() {
        let i = c * LANES;
        let v = if c < full {
            // SAFETY: 8 floats of src from i.
            unsafe { _mm256_loadu_ps(src.as_ptr().add(i)) }
        } else if i < src.len() {
            let mut tail = [0.0f32; LANES];
            tail[..src.len() - i].copy_from_slice(&src[i..]);
            // SAFETY: a local array of 8 floats.
            unsafe { _mm256_loadu_ps(tail.as_ptr()) }
        } else {
            // SAFETY: 8 floats of `out`.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), _mm256_setzero_ps()) };
            continue;
        };
        let signed = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(v), sign_bits(signs, i)));
        // SAFETY: 8 floats of `out`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), in_vector(signed)) };
    }
}

/// dst[i] = ±src[i] with the sign bits of `signs`.
///
/// # Safety
/// AVX2 and FMA must be available; `signs` covers src; dst as long as src.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn apply_signs(src: &[f32], dst: &mut [f32], signs: &[u32]) {
    let full = src.len() / LANES * LANES;
    for i in (0..full).step_by(LANES) {
        // SAFETY: 8 floats of src and dst from i.
        unsafe {
            let v = _mm256_castps_si256(_mm256_loadu_ps(src.as_ptr().add(i)));
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_castsi256_ps(_mm256_xor_si256(v, sign_bits(signs, i))));
        }
    }
    for i in full..src.len() {
        dst[i] = super::sign_of(src[i], signs, i);
    }
}

/// Levels h .. h·2^(LEVELS−1) of every block, 8 columns at a time, in registers.
///
/// # Safety
/// AVX2 and FMA must be available; h a multiple of 8; `z` a multiple of h·2^LEVELS long.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn block_levels<const LEVELS: u32>(z: &mut [f32], h: usize) {
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

/// Levels h, 2h, … z.len()/2, three at a time.
///
/// # Safety
/// AVX2 and FMA must be available; h a power of two multiple of 8, `z` a power of two long.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn levels_from(z: &mut [f32], mut h: usize) {
    while h < z.len() {
        let levels = (z.len() / h).trailing_zeros().min(3);
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
