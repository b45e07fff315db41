//! The AVX-512 kernel for Q4_0 weights: a pair of blocks a step in one 512-bit register.
//!
//! Per row and pair of blocks: one masked load of the pair's 36 bytes, one byte permute
//! (`vpermb`, AVX-512 VBMI) that lays out both blocks' 16 code bytes twice, one variable shift
//! and a mask that leave low nibbles in the first copy and high nibbles in the second (weight
//! order), one `vpdpbusd` against the pair's 64 activation codes starting from the bias −8·s_x,
//! one word permute and conversion for the two f16 scales, and one fused multiply-add. The AVX2
//! kernel needs about twice the instructions for the same two blocks. Blocks land where the
//! AVX2 and portable kernels put them (even blocks in lanes 0..8, odd blocks in 8..16), so all
//! three give the same bits.

use std::arch::x86_64::*;

use super::{BLOCK, Q8Activations};
use crate::cpu::x86::hsum;
use crate::quant::q4_0;

/// Whether the CPU has what this kernel is compiled for.
pub(super) fn available() -> bool {
    super::avx2::available()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vbmi")
        && is_x86_feature_detected!("avx512vnni")
}

/// Byte indices into a pair of Q4_0 blocks (18 bytes each: f16 scale, 16 code bytes) that lay
/// out block 0's code bytes in 128-bit lanes 0 and 1 and block 1's in lanes 2 and 3.
static CODE_BYTES: [u8; 64] = {
    let mut idx = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        let block = i / 32;
        idx[i] = (block * q4_0::BLOCK_BYTES + 2 + i % 16) as u8;
        i += 1;
    }
    idx
};

/// Word indices into a pair of blocks: block 0's scale (word 0) in words 0..8, block 1's (word 9)
/// in words 8..16; the upper half is unused.
static SCALE_WORDS: [u16; 32] = {
    let mut idx = [0u16; 32];
    let mut i = 8;
    while i < 16 {
        idx[i] = (q4_0::BLOCK_BYTES / 2) as u16;
        i += 1;
    }
    idx
};

/// The activations laid out for this kernel, once per product: per pair of blocks the 64
/// codes, the start of the integer dot (−8·s_x in lanes 0 and 8) and the two scales broadcast to
/// their halves. A lone last block gets a pair whose second half is zeros.
pub(super) struct XPairs {
    codes: Vec<[i8; 2 * BLOCK]>,
    bias: Vec<[i32; 16]>,
    scales: Vec<[f32; 16]>,
}

impl XPairs {
    /// Lays out the first `blocks` blocks of `xq`.
    pub(super) fn new(xq: &Q8Activations, blocks: usize) -> Self {
        assert!(xq.q.len() >= blocks * BLOCK && xq.d.len() >= blocks && xq.sums.len() >= blocks, "x too short");
        let pairs = blocks.div_ceil(2);
        let mut out =
            XPairs { codes: vec![[0; 2 * BLOCK]; pairs], bias: vec![[0; 16]; pairs], scales: vec![[0.0; 16]; pairs] };
        for b in 0..blocks {
            let (j, half) = (b / 2, b % 2);
            out.codes[j][half * BLOCK..][..BLOCK].copy_from_slice(&xq.q[b * BLOCK..][..BLOCK]);
            out.bias[j][half * 8] = -8 * xq.sums[b];
            out.scales[j][half * 8..][..8].fill(xq.d[b]);
        }
        out
    }
}

/// Safe entry for a band of whole Q4_0 rows: four rows per step, then the remaining one to three.
pub(super) fn band_q4_0(band: &[u8], x: &XPairs, ys: &mut [f32], row_bytes: usize) {
    assert!(available(), "AVX-512 F, BW, VL, VBMI and VNNI (and AVX2, FMA, F16C) are required");
    let blocks = row_bytes / q4_0::BLOCK_BYTES;
    assert_eq!(row_bytes, blocks * q4_0::BLOCK_BYTES, "whole blocks per row");
    assert_eq!(band.len(), ys.len() * row_bytes, "band holds one row per output");
    assert_eq!(x.codes.len(), blocks.div_ceil(2), "x laid out for this row length");
    let row = |i: usize| band[i * row_bytes..].as_ptr();
    // Each weight is prefetched where the next group of four rows will read it.
    let ahead = 4 * row_bytes;
    let mut i = 0;
    // SAFETY (all calls): the CPU features were checked above; each pointer starts a row of
    // `blocks` whole blocks inside `band`, and x holds `blocks` blocks (both checked above).
    while i + 4 <= ys.len() {
        let out = unsafe { rows::<4>([row(i), row(i + 1), row(i + 2), row(i + 3)], x, blocks, ahead) };
        ys[i..i + 4].copy_from_slice(&out);
        i += 4;
    }
    match ys.len() - i {
        3 => ys[i..].copy_from_slice(&unsafe { rows::<3>([row(i), row(i + 1), row(i + 2)], x, blocks, ahead) }),
        2 => ys[i..].copy_from_slice(&unsafe { rows::<2>([row(i), row(i + 1)], x, blocks, ahead) }),
        1 => ys[i..].copy_from_slice(&unsafe { rows::<1>([row(i)], x, blocks, ahead) }),
        _ => {}
    }
}

/// `R` Q4_0 rows (each `blocks` blocks at `rows[k]`) against x; one load of each pair of x
/// blocks feeds all `R` rows.
///
/// # Safety
/// The CPU has the features of [`available`]; each `rows[k]` points at `blocks` readable
/// blocks; x holds `blocks` blocks.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
unsafe fn rows<const R: usize>(rows: [*const u8; R], x: &XPairs, blocks: usize, ahead: usize) -> [f32; R] {
    // SAFETY: the whole body: the features are enabled and the pointers valid as documented;
    // the masked loads touch only the bytes of the blocks that exist.
    unsafe {
        let code_bytes = _mm512_loadu_si512(CODE_BYTES.as_ptr().cast());
        let scale_words = _mm512_loadu_si512(SCALE_WORDS.as_ptr().cast());
        // Low nibbles stay in qwords 0, 1 (lane 0) and 4, 5 (lane 2); high nibbles come down by 4.
        let shifts = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
        let low4 = _mm512_set1_epi8(0x0F);
        let mut acc = [_mm512_setzero_ps(); R];
        let mut step = |j: usize, w_mask: __mmask64| {
            let xv = _mm512_loadu_si512(x.codes.as_ptr().add(j).cast());
            let bias = _mm512_loadu_si512(x.bias.as_ptr().add(j).cast());
            let dx = _mm512_loadu_ps(x.scales.as_ptr().add(j).cast());
            for (a, &row) in acc.iter_mut().zip(&rows) {
                let p = row.add(j * 2 * q4_0::BLOCK_BYTES);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(ahead).cast());
                let v = _mm512_maskz_loadu_epi8(w_mask, p.cast());
                let codes = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi8(code_bytes, v), shifts), low4);
                let dot = _mm512_dpbusd_epi32(bias, codes, xv);
                let dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(scale_words, v)));
                *a = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(dot), *a);
            }
        };
        let pairs = blocks / 2;
        for j in 0..pairs {
            step(j, (1 << (2 * q4_0::BLOCK_BYTES)) - 1);
        }
        // A lone last block: its partner's bytes load as zeros, and x's second half is zeros,
        // which add exactly +0 to the odd lanes.
        if blocks % 2 == 1 {
            step(pairs, (1 << q4_0::BLOCK_BYTES) - 1);
        }
        let mut out = [0.0f32; R];
        for k in 0..R {
            let even = _mm512_castps512_ps256(acc[k]);
            let odd = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc[k])));
            out[k] = hsum(_mm256_add_ps(even, odd));
        }
        out
    }
}
