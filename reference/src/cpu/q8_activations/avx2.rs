//! The AVX2 kernel (with AVX-512 VNNI's byte dots where present): four rows a step.

use std::arch::x86_64::*;

use crate::cpu::x86::hsum;

use super::{BLOCK, Q4_0, Q4_1, Q8_0, Q8Activations, block_bytes};

/// Whether the CPU has what the kernels here are compiled for.
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
}

/// Whether the CPU also has AVX-512 VNNI (with VL, for its 256-bit form).
pub(super) fn vnni_available() -> bool {
    is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl")
}

/// Safe entry for a band of whole rows: four rows per step, then the remaining one to three.
pub(super) fn band<const F: u8, const VNNI: bool>(band: &[u8], xq: &Q8Activations, ys: &mut [f32], row_bytes: usize) {
    assert!(available(), "AVX2, FMA and F16C are required");
    assert!(!VNNI || vnni_available(), "AVX-512 VNNI and VL are required");
    let blocks = row_bytes / block_bytes(F);
    assert_eq!(row_bytes, blocks * block_bytes(F), "whole blocks per row");
    assert_eq!(band.len(), ys.len() * row_bytes, "band holds one row per output");
    assert!(xq.q.len() >= blocks * BLOCK && xq.d.len() >= blocks && xq.sums.len() >= blocks, "x too short");
    let row = |i: usize| band[i * row_bytes..].as_ptr();
    let mut i = 0;
    // SAFETY (all calls): the CPU features were checked above; each pointer starts a row of
    // `blocks` whole blocks inside `band`, and x has `blocks` blocks (both checked above).
    while i + 4 <= ys.len() {
        let out =
            unsafe { rows::<F, 4, VNNI>([row(i), row(i + 1), row(i + 2), row(i + 3)], xq, blocks, 4 * row_bytes) };
        ys[i..i + 4].copy_from_slice(&out);
        i += 4;
    }
    match ys.len() - i {
        3 => ys[i..].copy_from_slice(&unsafe {
            rows::<F, 3, VNNI>([row(i), row(i + 1), row(i + 2)], xq, blocks, 4 * row_bytes)
        }),
        2 => ys[i..].copy_from_slice(&unsafe { rows::<F, 2, VNNI>([row(i), row(i + 1)], xq, blocks, 4 * row_bytes) }),
        1 => ys[i..].copy_from_slice(&unsafe { rows::<F, 1, VNNI>([row(i)], xq, blocks, 4 * row_bytes) }),
        _ => {}
    }
}

/// [`rows_body`] compiled for AVX2 alone, or with VNNI.
///
/// # Safety
/// As [`rows_body`], and the CPU has VNNI and VL when `VNNI`.
#[inline]
unsafe fn rows<const F: u8, const R: usize, const VNNI: bool>(
    rows: [*const u8; R],
    xq: &Q8Activations,
    blocks: usize,
    ahead: usize,
) -> [f32; R] {
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn plain<const F: u8, const R: usize>(
        rows: [*const u8; R],
        xq: &Q8Activations,
        blocks: usize,
        ahead: usize,
    ) -> [f32; R] {
        // SAFETY: forwarded.
        unsafe { rows_body::<F, R, false>(rows, xq, blocks, ahead) }
    }
    #[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
    unsafe fn vnni<const F: u8, const R: usize>(
        rows: [*const u8; R],
        xq: &Q8Activations,
        blocks: usize,
        ahead: usize,
    ) -> [f32; R] {
        // SAFETY: forwarded.
        unsafe { rows_body::<F, R, true>(rows, xq, blocks, ahead) }
    }
    // SAFETY: forwarded; the features were checked by `band`.
    unsafe { if VNNI { vnni::<F, R>(rows, xq, blocks, ahead) } else { plain::<F, R>(rows, xq, blocks, ahead) } }
}

/// Σ over each group of four of u[i]·s[i] (u unsigned, s signed bytes) into eight i32 lanes:
/// `vpdpbusd` with VNNI, else `vpmaddubsw` (pairs into i16; no pair here can saturate:
/// |u| ≤ 128, |s| ≤ 127) and `vpmaddwd` by ones. The same integers either way.
#[inline(always)]
pub(super) unsafe fn byte_dots<const VNNI: bool>(u: __m256i, s: __m256i) -> __m256i {
    // SAFETY: the callers are compiled with AVX2, and with VNNI and VL when VNNI.
    unsafe {
        if VNNI {
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
        } else {
            _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
        }
    }
}

/// The f16 at `p` as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: the caller guarantees 2 readable bytes at `p`.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// The 32 nibbles of the 16 bytes at `p` as bytes 0..=15 in weight order (low nibbles are
/// weights 0..16, high nibbles 16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    let v = unsafe { _mm_loadu_si128(p.cast()) };
    let mask = _mm_set1_epi8(0x0F);
    _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16::<4>(v), mask), _mm_and_si128(v, mask))
}

/// `R` rows (each `blocks` blocks of format `F` at `rows[k]`) against x; one load of each x
/// block feeds all `R` rows. Even blocks accumulate into one set of lanes, odd blocks into
/// another (the order of the AVX-512 kernel, which holds a pair of blocks in one register).
///
/// # Safety
/// The CPU has AVX2, FMA and F16C; each `rows[k]` points at `blocks` readable blocks; x has
/// at least `blocks` blocks.
#[inline(always)]
unsafe fn rows_body<const F: u8, const R: usize, const VNNI: bool>(
    rows: [*const u8; R],
    xq: &Q8Activations,
    blocks: usize,
    ahead: usize,
) -> [f32; R] {
    // SAFETY: the whole body: the callers are compiled with AVX2, FMA and F16C (and VNNI and
    // VL when VNNI) and guarantee the pointers, as documented above; every block index passed
    // to `block_step` is below `blocks`.
    unsafe {
        let mut even = [_mm256_setzero_ps(); R];
        let mut odd = [_mm256_setzero_ps(); R];
        // Q4_1's offset terms m·d_x·s_x, accumulated in lane 1.
        let mut offset = [_mm_setzero_ps(); R];
        let mut b = 0;
        while b + 2 <= blocks {
            block_step::<F, R, VNNI>(&mut even, &mut offset, &rows, xq, b, ahead);
            block_step::<F, R, VNNI>(&mut odd, &mut offset, &rows, xq, b + 1, ahead);
            b += 2;
        }
        if b < blocks {
            block_step::<F, R, VNNI>(&mut even, &mut offset, &rows, xq, b, ahead);
        }
        // A loop, not a closure: a closure would not be compiled with the caller's features.
        let mut out = [0.0f32; R];
        for k in 0..R {
            out[k] = hsum(_mm256_add_ps(even[k], odd[k])) + _mm_cvtss_f32(_mm_movehdup_ps(offset[k]));
        }
        out
    }
}

/// Block `b` of each of the `R` rows against x block `b`, into `acc` (and Q4_1's `offset`).
///
/// # Safety
/// As [`rows_body`], and `b` is below the rows' block count.
#[inline(always)]
unsafe fn block_step<const F: u8, const R: usize, const VNNI: bool>(
    acc: &mut [__m256; R],
    offset: &mut [__m128; R],
    rows: &[*const u8; R],
    xq: &Q8Activations,
    b: usize,
    ahead: usize,
) {
    // SAFETY: as documented above.
    unsafe {
        let bb = block_bytes(F);
        let x = _mm256_loadu_si256(xq.q.as_ptr().add(b * BLOCK).cast());
        let dx = *xq.d.get_unchecked(b);
        let sx = *xq.sums.get_unchecked(b);
        // Q4_0's bias, the start of lane 0 of the integer dot.
        let bias = _mm256_setr_epi32(-8 * sx, 0, 0, 0, 0, 0, 0, 0);
        // Q4_1: [d_w, m] · d_x · [·, s_x] gives the offset term in lane 1.
        let dx4 = _mm_set1_ps(dx);
        let sum_lane1 = _mm_setr_ps(0.0, sx as f32, 0.0, 0.0);
        for ((a, o), &row) in acc.iter_mut().zip(offset.iter_mut()).zip(rows) {
            let p = row.add(b * bb);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(ahead).cast());
            let dot = match F {
                Q8_0 => {
                    // vpmaddubsw wants one unsigned side: |w| (−128 → 128 as u8) against
                    // x carrying w's sign (|x| ≤ 127, so negating it cannot overflow).
                    let w = _mm256_loadu_si256(p.add(2).cast());
                    byte_dots::<VNNI>(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w))
                }
                Q4_0 => _mm256_add_epi32(byte_dots::<VNNI>(nibbles(p.add(2)), x), bias),
                _ => byte_dots::<VNNI>(nibbles(p.add(4)), x),
            };
            if F == Q4_1 {
                let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned()));
                let dmx = _mm_mul_ps(dm, dx4);
                *a = _mm256_fmadd_ps(_mm256_broadcastss_ps(dmx), _mm256_cvtepi32_ps(dot), *a);
                *o = _mm_fmadd_ps(dmx, sum_lane1, *o);
            } else {
                *a = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(p) * dx), _mm256_cvtepi32_ps(dot), *a);
            }
        }
    }
}
