//! The AVX2 kernel for several tokens (a prompt's products): one row a step against up to four
//! tokens, so each weight block is loaded and unpacked once for all of them.
//!
//! Per (row, token) it performs the same integer dots and the same float operations in the same
//! order as the four-rows kernel of [`super::avx2`] (even and odd blocks in separate
//! accumulators, the same final sum), so each token's outputs are the bits of its own GEMV.

use std::arch::x86_64::*;

use crate::cpu::x86::hsum;

use super::avx2::{available, byte_dots, f16_at, nibbles, vnni_available};
use super::{BLOCK, Q4_0, Q4_1, Q8_0, Q8Activations, block_bytes};

/// Tokens one step takes.
pub(super) const TOKENS: usize = 4;

/// `ys[t][i]` = row i of `band` · token t of `xs` for every row of the band (`ys` one slice of
/// `band rows` outputs per token), four tokens a step, then the remaining one to three.
pub(super) fn band<const F: u8, const VNNI: bool>(
    band: &[u8],
    xs: &[Q8Activations],
    ys: &mut [&mut [f32]],
    row_bytes: usize,
) {
    assert!(available(), "AVX2, FMA and F16C are required");
    assert!(!VNNI || vnni_available(), "AVX-512 VNNI and VL are required");
    let blocks = row_bytes / block_bytes(F);
    assert_eq!(row_bytes, blocks * block_bytes(F), "whole blocks per row");
    assert_eq!(xs.len(), ys.len(), "one output slice per token");
    let rows = band.len() / row_bytes;
    assert_eq!(band.len(), rows * row_bytes, "whole rows");
    for (xq, y) in xs.iter().zip(ys.iter()) {
        assert!(xq.q.len() >= blocks * BLOCK && xq.d.len() >= blocks && xq.sums.len() >= blocks, "x too short");
        assert_eq!(y.len(), rows, "one output per row");
    }
    for i in 0..rows {
        let row = band[i * row_bytes..].as_ptr();
        let mut t = 0;
        // SAFETY (all calls): the CPU features were checked above; `row` starts a row of
        // `blocks` whole blocks inside `band`, and every token has `blocks` blocks.
        while t + TOKENS <= xs.len() {
            let x = [&xs[t], &xs[t + 1], &xs[t + 2], &xs[t + 3]];
            let out = unsafe { tokens::<F, 4, VNNI>(row, x, blocks, row_bytes) };
            for (k, v) in out.into_iter().enumerate() {
                ys[t + k][i] = v;
            }
            t += TOKENS;
        }
        // The last one to three tokens, into a fixed array (no allocation per row).
        let mut out = [0.0f32; TOKENS];
        let rest = xs.len() - t;
        match rest {
            3 => out[..3].copy_from_slice(&unsafe {
                tokens::<F, 3, VNNI>(row, [&xs[t], &xs[t + 1], &xs[t + 2]], blocks, row_bytes)
            }),
            2 => {
                out[..2].copy_from_slice(&unsafe { tokens::<F, 2, VNNI>(row, [&xs[t], &xs[t + 1]], blocks, row_bytes) })
            }
            1 => out[..1].copy_from_slice(&unsafe { tokens::<F, 1, VNNI>(row, [&xs[t]], blocks, row_bytes) }),
            _ => {}
        }
        for (k, &v) in out[..rest].iter().enumerate() {
            ys[t + k][i] = v;
        }
    }
}

/// [`tokens_body`] compiled for AVX2 alone, or with VNNI.
///
/// # Safety
/// As [`tokens_body`], and the CPU has VNNI and VL when `VNNI`.
#[inline]
unsafe fn tokens<const F: u8, const T: usize, const VNNI: bool>(
    row: *const u8,
    xs: [&Q8Activations; T],
    blocks: usize,
    ahead: usize,
) -> [f32; T] {
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn plain<const F: u8, const T: usize>(
        row: *const u8,
        xs: [&Q8Activations; T],
        blocks: usize,
        ahead: usize,
    ) -> [f32; T] {
        // SAFETY: forwarded.
        unsafe { tokens_body::<F, T, false>(row, xs, blocks, ahead) }
    }
    #[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
    unsafe fn vnni<const F: u8, const T: usize>(
        row: *const u8,
        xs: [&Q8Activations; T],
        blocks: usize,
        ahead: usize,
    ) -> [f32; T] {
        // SAFETY: forwarded.
        unsafe { tokens_body::<F, T, true>(row, xs, blocks, ahead) }
    }
    // SAFETY: forwarded; the features were checked by `band`.
    unsafe { if VNNI { vnni::<F, T>(row, xs, blocks, ahead) } else { plain::<F, T>(row, xs, blocks, ahead) } }
}

/// One row (`blocks` blocks of format `F` at `row`) against `T` tokens.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C; `row` points at `blocks` readable blocks; every token has at
/// least `blocks` blocks.
#[inline(always)]
unsafe fn tokens_body<const F: u8, const T: usize, const VNNI: bool>(
    row: *const u8,
    xs: [&Q8Activations; T],
    blocks: usize,
    ahead: usize,
) -> [f32; T] {
    // SAFETY: the whole body, as documented above; every block index is below `blocks`.
    unsafe {
        let mut even = [_mm256_setzero_ps(); T];
        let mut odd = [_mm256_setzero_ps(); T];
        let mut offset = [_mm_setzero_ps(); T];
        let mut b = 0;
        while b + 2 <= blocks {
            block_step::<F, T, VNNI>(&mut even, &mut offset, row, &xs, b, ahead);
            block_step::<F, T, VNNI>(&mut odd, &mut offset, row, &xs, b + 1, ahead);
            b += 2;
        }
        if b < blocks {
            block_step::<F, T, VNNI>(&mut even, &mut offset, row, &xs, b, ahead);
        }
        let mut out = [0.0f32; T];
        for k in 0..T {
            out[k] = hsum(_mm256_add_ps(even[k], odd[k])) + _mm_cvtss_f32(_mm_movehdup_ps(offset[k]));
        }
        out
    }
}

/// Block `b` of the row, unpacked once, against block `b` of each token.
///
/// # Safety
/// As [`tokens_body`], and `b` is below the row's block count.
#[inline(always)]
unsafe fn block_step<const F: u8, const T: usize, const VNNI: bool>(
    acc: &mut [__m256; T],
    offset: &mut [__m128; T],
    row: *const u8,
    xs: &[&Q8Activations; T],
    b: usize,
    ahead: usize,
) {
    // SAFETY: as documented above.
    unsafe {
        let p = row.add(b * block_bytes(F));
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(ahead).cast());
        // The weights, once: Q8_0's codes (made unsigned for the byte dot), Q4's nibbles.
        let w = match F {
            Q8_0 => _mm256_loadu_si256(p.add(2).cast()),
            Q4_0 => nibbles(p.add(2)),
            _ => nibbles(p.add(4)),
        };
        // Q8_0's |w| for the unsigned side of the byte dot (x takes w's sign per token).
        let w_abs = if F == Q8_0 { _mm256_abs_epi8(w) } else { w };
        let dm = if F == Q4_1 {
            _mm_cvtph_ps(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned()))
        } else {
            _mm_setzero_ps()
        };
        let dw = if F == Q4_1 { 0.0 } else { f16_at(p) };
        for k in 0..T {
            let xq = xs[k];
            let x = _mm256_loadu_si256(xq.q.as_ptr().add(b * BLOCK).cast());
            let dx = *xq.d.get_unchecked(b);
            let sx = *xq.sums.get_unchecked(b);
            let dot = match F {
                Q8_0 => byte_dots::<VNNI>(w_abs, _mm256_sign_epi8(x, w)),
                Q4_0 => _mm256_add_epi32(byte_dots::<VNNI>(w, x), _mm256_setr_epi32(-8 * sx, 0, 0, 0, 0, 0, 0, 0)),
                _ => byte_dots::<VNNI>(w, x),
            };
            if F == Q4_1 {
                let dmx = _mm_mul_ps(dm, _mm_set1_ps(dx));
                acc[k] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dmx), _mm256_cvtepi32_ps(dot), acc[k]);
                offset[k] = _mm_fmadd_ps(dmx, _mm_setr_ps(0.0, sx as f32, 0.0, 0.0), offset[k]);
            } else {
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx), _mm256_cvtepi32_ps(dot), acc[k]);
            }
        }
    }
}
