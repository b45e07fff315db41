//! The AVX-512 kernel for Q4_0 and Q8_0 weights: a pair of blocks a step in one 512-bit
//! register.
//!
//! Q4_0, per row and pair of blocks: one masked load of the pair's 36 bytes, one byte permute
//! (`vpermb`, AVX-512 VBMI) that lays out both blocks' 16 code bytes twice, one variable shift
//! and a mask that leave low nibbles in the first copy and high nibbles in the second (weight
//! order), one `vpdpbusd` against the pair's 64 activation codes starting from the bias −8·s_x,
//! one word permute and conversion for the two f16 scales, and one fused multiply-add.
//!
//! Q8_0: the two blocks' 32 code bytes each (two loads into one register), flipped to unsigned
//! by their sign bit (c + 128, since `vpdpbusd` multiplies unsigned by signed bytes), one
//! `vpdpbusd` starting from −128 times each lane's code sum, which takes the 128 back out
//! exactly (lane by lane, so each lane's integer is the portable kernel's), and the two scales
//! from one masked load and a word permute.
//!
//! The AVX2 kernel needs about twice the instructions for the same two blocks. Blocks land where
//! the AVX2 and portable kernels put them (even blocks in lanes 0..8, odd blocks in 8..16), so all
//! three give the same bits.

use std::arch::x86_64::*;

use super::{BLOCK, Q4_0, Q8_0, Q8Activations, block_bytes};
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

/// Word indices into a pair of blocks of `block_bytes` bytes: block 0's scale (word 0) in words
/// 0..8, block 1's in words 8..16; the upper half is unused.
const fn scale_words(block_bytes: usize) -> [u16; 32] {
    let mut idx = [0u16; 32];
    let mut i = 8;
    while i < 16 {
        idx[i] = (block_bytes / 2) as u16;
        i += 1;
    }
    idx
}

static SCALE_WORDS_Q4_0: [u16; 32] = scale_words(q4_0::BLOCK_BYTES);
static SCALE_WORDS_Q8_0: [u16; 32] = scale_words(block_bytes(Q8_0));

/// The activations laid out for this kernel, once per product: per pair of blocks the 64
/// codes, the start of the integer dot (Q4_0: −8·s_x in lanes 0 and 8; Q8_0: in each lane −128
/// times the sum of its four codes) and the two scales broadcast to their halves. A lone last block gets a pair whose second half
/// is zeros.
pub(super) struct XPairs {
    codes: Vec<[i8; 2 * BLOCK]>,
    bias: Vec<[i32; 16]>,
    scales: Vec<[f32; 16]>,
}

impl XPairs {
    /// Lays out the first `blocks` blocks of `xq` for weights of format `F`.
    pub(super) fn new<const F: u8>(xq: &Q8Activations, blocks: usize) -> Self {
        assert!(xq.q.len() >= blocks * BLOCK && xq.d.len() >= blocks && xq.sums.len() >= blocks, "x too short");
        let pairs = blocks.div_ceil(2);
        let mut out =
            XPairs { codes: vec![[0; 2 * BLOCK]; pairs], bias: vec![[0; 16]; pairs], scales: vec![[0.0; 16]; pairs] };
        for b in 0..blocks {
            let (j, half) = (b / 2, b % 2);
            out.codes[j][half * BLOCK..][..BLOCK].copy_from_slice(&xq.q[b * BLOCK..][..BLOCK]);
            if F == Q4_0 {
                out.bias[j][half * 8] = -8 * xq.sums[b];
            } else {
                // Per lane: each lane's dot must be the portable kernel's (Σ of its four c·q), so
                // each lane takes back its own 128·Σq.
                for (l, group) in xq.q[b * BLOCK..][..BLOCK].chunks_exact(4).enumerate() {
                    out.bias[j][half * 8 + l] = -128 * group.iter().map(|&q| i32::from(q)).sum::<i32>();
                }
            }
            out.scales[j][half * 8..][..8].fill(xq.d[b]);
        }
        out
    }
}

/// Safe entry for a band of whole rows of format `F` (Q4_0 or Q8_0): four rows per step, then
/// the remaining one to three.
pub(super) fn band<const F: u8>(band: &[u8], x: &XPairs, ys: &mut [f32], row_bytes: usize) {
    assert!(available(), "AVX-512 F, BW, VL, VBMI and VNNI (and AVX2, FMA, F16C) are required");
    assert!(F == Q4_0 || F == Q8_0, "the AVX-512 kernel is for Q4_0 and Q8_0 weights");
    let blocks = row_bytes / block_bytes(F);
    assert_eq!(row_bytes, blocks * block_bytes(F), "whole blocks per row");
    assert_eq!(band.len(), ys.len() * row_bytes, "band holds one row per output");
    assert_eq!(x.codes.len(), blocks.div_ceil(2), "x laid out for this row length");
    let row = |i: usize| band[i * row_bytes..].as_ptr();
    // Each weight is prefetched where the next group of four rows will read it.
    let ahead = 4 * row_bytes;
    let mut i = 0;
    // SAFETY (all calls): the CPU features were checked above; each pointer starts a row of
    // `blocks` whole blocks inside `band`, and x holds `blocks` blocks (both checked above).
    while i + 4 <= ys.len() {
        let out = unsafe { rows::<F, 4>([row(i), row(i + 1), row(i + 2), row(i + 3)], x, blocks, ahead) };
        ys[i..i + 4].copy_from_slice(&out);
        i += 4;
    }
    match ys.len() - i {
        3 => ys[i..].copy_from_slice(&unsafe { rows::<F, 3>([row(i), row(i + 1), row(i + 2)], x, blocks, ahead) }),
        2 => ys[i..].copy_from_slice(&unsafe { rows::<F, 2>([row(i), row(i + 1)], x, blocks, ahead) }),
        1 => ys[i..].copy_from_slice(&unsafe { rows::<F, 1>([row(i)], x, blocks, ahead) }),
        _ => {}
    }
}

/// `R` rows of format `F` (each `blocks` blocks at `rows[k]`) against x; one load of each pair
/// of x blocks feeds all `R` rows.
///
/// # Safety
/// The CPU has the features of [`available`]; each `rows[k]` points at `blocks` readable
/// blocks; x holds `blocks` blocks.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
unsafe fn rows<const F: u8, const R: usize>(rows: [*const u8; R], x: &XPairs, blocks: usize, ahead: usize) -> [f32; R] {
    // SAFETY: the whole body: the features are enabled and the pointers valid as documented;
    // the masked loads touch only the bytes of the blocks that exist.
    unsafe {
        let code_bytes = _mm512_loadu_si512(CODE_BYTES.as_ptr().cast());
        let scale_words =
            _mm512_loadu_si512(if F == Q4_0 { SCALE_WORDS_Q4_0.as_ptr() } else { SCALE_WORDS_Q8_0.as_ptr() }.cast());
        // Low nibbles stay in qwords 0, 1 (lane 0) and 4, 5 (lane 2); high nibbles come down by 4.
        let shifts = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
        let low4 = _mm512_set1_epi8(0x0F);
        let sign_bits = _mm512_set1_epi8(i8::MIN);
        let bb = block_bytes(F);
        let mut acc = [_mm512_setzero_ps(); R];
        // One pair of blocks (or, with `PAIR` false, a lone last block: its partner's bytes,
        // codes and scales are zeros, which add exactly +0 to the odd lanes).
        let mut step = |j: usize, pair: bool| {
            let xv = _mm512_loadu_si512(x.codes.as_ptr().add(j).cast());
            let bias = _mm512_loadu_si512(x.bias.as_ptr().add(j).cast());
            let dx = _mm512_loadu_ps(x.scales.as_ptr().add(j).cast());
            for (a, &row) in acc.iter_mut().zip(&rows) {
                let p = row.add(j * 2 * bb);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(ahead).cast());
                let (codes, scales) = if F == Q4_0 {
                    let mask: __mmask64 = if pair { (1 << (2 * bb)) - 1 } else { (1 << bb) - 1 };
                    let v = _mm512_maskz_loadu_epi8(mask, p.cast());
                    let nibbles = _mm512_srlv_epi64(_mm512_permutexvar_epi8(code_bytes, v), shifts);
                    (_mm512_and_si512(nibbles, low4), v)
                } else {
                    let first = _mm256_loadu_si256(p.add(2).cast());
                    let second = if pair { _mm256_loadu_si256(p.add(bb + 2).cast()) } else { _mm256_setzero_si256() };
                    let signed = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(first), second);
                    // Words 0 and bb/2: the two scales.
                    let mask: __mmask32 = if pair { 1 | (1 << (bb / 2)) } else { 1 };
                    (_mm512_xor_si512(signed, sign_bits), _mm512_maskz_loadu_epi16(mask, p.cast()))
                };
                let dot = _mm512_dpbusd_epi32(bias, codes, xv);
                let dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(scale_words, scales)));
                *a = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(dot), *a);
            }
        };
        let pairs = blocks / 2;
        for j in 0..pairs {
            step(j, true);
        }
        if blocks % 2 == 1 {
            step(pairs, false);
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
