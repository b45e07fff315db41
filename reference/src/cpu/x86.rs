//! AVX helpers the x86-64 kernels share.

use std::arch::x86_64::*;

/// Horizontal sum of eight f32 lanes: the two 128-bit halves, then pairs, then the last two —
/// one fixed order, so every kernel that ends its dot products here rounds the same way.
#[inline]
#[target_feature(enable = "avx")]
pub(crate) fn hsum(a: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}
