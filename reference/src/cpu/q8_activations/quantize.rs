//! The 8-bit quantization of an activation vector, block by block: a scalar definition and an
//! AVX2 version that gives the same codes, scales and sums (a decode step of a small model
//! quantizes a few hundred vectors, and the scalar rounding is a library call a value).

use super::{BLOCK, Q8Activations};

/// Quantizes `x` (a multiple of 32 values) in blocks of 32: `d = max|x|/127`, `q = round(x/d)`
/// (halves away from zero) clamped to ±127; an all-zero block gets `d = 0` and codes 0; a block
/// holding a NaN or an infinity gets `d = NaN` and codes 0, which makes every GEMV output NaN.
pub fn quantize(x: &[f32]) -> Q8Activations {
    assert_eq!(x.len() % BLOCK, 0, "q8 activations: length {} is not a multiple of 32", x.len());
    let blocks = x.len() / BLOCK;
    let mut out = Q8Activations { q: vec![0i8; x.len()], d: vec![0.0; blocks], sums: vec![0; blocks] };
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        for (b, (xb, qb)) in x.chunks_exact(BLOCK).zip(out.q.chunks_exact_mut(BLOCK)).enumerate() {
            // SAFETY: AVX2 was detected; both blocks hold 32 values.
            (out.d[b], out.sums[b]) = unsafe { avx2::block(xb, qb) };
        }
        return out;
    }
    for (b, (xb, qb)) in x.chunks_exact(BLOCK).zip(out.q.chunks_exact_mut(BLOCK)).enumerate() {
        (out.d[b], out.sums[b]) = block(xb, qb);
    }
    out
}

/// One block: its codes into `qb`, and (scale, sum of the codes).
fn block(xb: &[f32], qb: &mut [i8]) -> (f32, i32) {
    if !xb.iter().all(|v| v.is_finite()) {
        return (f32::NAN, 0);
    }
    let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = amax / 127.0;
    let mut sum = 0i32;
    if scale > 0.0 {
        for (c, &v) in qb.iter_mut().zip(xb) {
            *c = (v / scale).round().clamp(-127.0, 127.0) as i8;
            sum += i32::from(*c);
        }
    }
    (scale, sum)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2")
    }

    /// [`super::block`] in eight-lane steps: the same division, the same rounding (the integer
    /// part, plus one away from zero when the remainder reaches one half: exact, since every
    /// quotient here is below 2^23), the same clamp; the maximum and the integer sum are exact in
    /// any order.
    ///
    /// # Safety
    /// AVX2 must be available; `xb` and `qb` hold 32 values.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block(xb: &[f32], qb: &mut [i8]) -> (f32, i32) {
        assert!(xb.len() == 32 && qb.len() == 32);
        // SAFETY: 32 readable floats and 32 writable bytes, checked above.
        unsafe {
            let v: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(xb.as_ptr().add(8 * i)));
            let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
            let abs = v.map(|x| _mm256_and_ps(x, magnitude));
            // Finite: the magnitude's bits below those of infinity.
            let inf = _mm256_set1_epi32(0x7F80_0000);
            let finite = abs.iter().fold(_mm256_set1_epi32(-1), |all, &a| {
                _mm256_and_si256(all, _mm256_cmpgt_epi32(inf, _mm256_castps_si256(a)))
            });
            if _mm256_movemask_epi8(finite) != -1 {
                qb.fill(0);
                return (f32::NAN, 0);
            }
            let m = _mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3]));
            let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)));
            let scale = amax / 127.0;
            if scale <= 0.0 {
                qb.fill(0);
                return (scale, 0);
            }
            let s = _mm256_set1_ps(scale);
            let (half, one, limit) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0), _mm256_set1_ps(127.0));
            let sign = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
            let codes = v.map(|x| {
                let quotient = _mm256_div_ps(x, s);
                let whole = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(quotient);
                let rest = _mm256_and_ps(_mm256_sub_ps(quotient, whole), magnitude);
                let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(rest, half), one);
                let rounded = _mm256_add_ps(whole, _mm256_or_ps(up, _mm256_and_ps(quotient, sign)));
                _mm256_cvtps_epi32(_mm256_max_ps(
                    _mm256_min_ps(rounded, limit),
                    _mm256_sub_ps(_mm256_setzero_ps(), limit),
                ))
            });
            let sum = codes.iter().fold(_mm256_setzero_si256(), |a, &c| _mm256_add_epi32(a, c));
            let sum = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256::<1>(sum));
            let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b01_00_11_10>(sum));
            let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b10_11_00_01>(sum));
            // i32 → i16 → i8 with saturation (every code is within ±127), then the lane order
            // the packs interleave by 128-bit halves put back.
            let words = [_mm256_packs_epi32(codes[0], codes[1]), _mm256_packs_epi32(codes[2], codes[3])];
            let bytes = _mm256_packs_epi16(words[0], words[1]);
            let ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(qb.as_mut_ptr().cast(), ordered);
            (scale, _mm_cvtsi128_si32(sum))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;
    use rand::Rng;

    #[test]
    fn the_vector_quantizer_gives_the_scalar_codes_scales_and_sums() {
        let seed = 31;
        let mut rng = rng_for(seed, 0);
        let mut x: Vec<f32> =
            (0..32 * 400).map(|_| rng.random_range(-3.0f32..3.0) * 10f32.powi(rng.random_range(-3..3))).collect();
        // Exact halves: a block whose largest magnitude is 127 has scale 1, so k + 0.5 is a tie.
        for (i, v) in x[..32].iter_mut().enumerate() {
            *v = if i == 0 { 127.0 } else { (i as f32 - 16.0) + 0.5 };
        }
        x[32..64].fill(0.0);
        x[64 + 5] = f32::NAN;
        x[96 + 31] = f32::NEG_INFINITY;
        x[128..160].fill(-0.0);
        x[160 + 3] = f32::MIN_POSITIVE / 4.0;
        let got = quantize(&x);
        let mut want = Q8Activations { q: vec![0; x.len()], d: vec![0.0; x.len() / 32], sums: vec![0; x.len() / 32] };
        for (b, (xb, qb)) in x.chunks_exact(32).zip(want.q.chunks_exact_mut(32)).enumerate() {
            (want.d[b], want.sums[b]) = block(xb, qb);
        }
        assert_eq!(got.q, want.q, "codes (seed {seed})");
        assert_eq!(got.sums, want.sums, "sums (seed {seed})");
        let bits = |d: &[f32]| d.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.d), bits(&want.d), "scales (seed {seed})");
        // The ties rounded away from zero: 0.5 → 1, −0.5 → −1, 1.5 → 2.
        assert_eq!(&got.q[15..19], &[-1, 1, 2, 3]);
    }
}
