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

/// How far ahead of a GEMV's current weight block the weights are prefetched: they stream once,
/// and on short rows (a small model's 576-wide matrices) the hardware prefetcher falls behind.
pub(crate) const PREFETCH_BYTES: usize = 2048;

/// Asks for the cache line at `p`: a hint that never faults, so `p` may lie past the end of the
/// weights.
#[inline(always)]
pub(crate) fn prefetch_at(p: *const u8) {
    // SAFETY: a prefetch reads nothing architecturally and cannot fault, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

/// Asks for the cache line `PREFETCH_BYTES` past `p`, the weights the next rows will read. A
/// prefetch is a hint that never faults, so the address may run past the end of the weights
/// (hence the wrapping arithmetic).
#[inline(always)]
pub(crate) fn prefetch_ahead(p: *const u8) {
    // SAFETY: a prefetch reads nothing architecturally and cannot fault, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH_BYTES).cast()) }
}
