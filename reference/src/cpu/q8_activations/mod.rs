//! CPU GEMVs for GGML Q4_0 / Q4_1 / Q8_0 weights against an activation vector quantized once
//! to 8 bits, with integer dot products inside each block.
//!
//! # Why
//!
//! The f32-activation kernels ([`super::q4_0_gemv`], [`super::q4_1_gemv`], [`super::q8_0_gemv`])
//! widen every weight code to f32 and multiply it by an f32 activation: per 32 weights that is
//! eight 8-lane FMAs plus the widening (four conversions, four sign extensions), and the core
//! runs out of issue slots before the memory bus runs out of bytes. Quantizing x once per
//! product ([`quantize`]: per 32 values a scale `d = max|x|/127` and codes `q = round(x/d)` in
//! −127..=127) turns each block's dot product into 32 byte × byte products summed in integers —
//! one `vpmaddubsw` (32 products, pairwise sums to i16) and one `vpmaddwd` (pairs to i32) on
//! AVX2 — followed by a single float FMA with the product of the two block scales. Quantizing x
//! costs O(cols), once, against O(rows·cols) for the product, and each loaded x block feeds four
//! weight rows in the inner loop.
//!
//! Per block `b` of row `r` (x block scale `d_x`, code sum `s_x = Σ q_x`, kept in
//! [`Q8Activations::sums`]):
//!
//! - Q8_0: `d_w·d_x · Σ q_w·q_x`.
//! - Q4_0: `d_w·d_x · (Σ n·q_x − 8·s_x)` with `n` the raw nibble (0..=15): the bias 8 is removed
//!   in integers through the precomputed sum, so the nibbles enter the unsigned side of
//!   `vpmaddubsw` as they are.
//! - Q4_1: `d_w·d_x · Σ n·q_x + m·d_x·s_x`.
//!
//! The integer sums are exact (|Σ| ≤ 32·128·127 < 2²⁴, so even their f32 conversion is exact);
//! the AVX2 and portable paths compute the same integers and the same float operations in the
//! same order, so they agree bit for bit.
//!
//! # What accuracy is lost
//!
//! Only the activations are approximated: each x is replaced by `q·d`, within `d/2 =
//! max|x_block|/254` of it (a relative error of at most 1/254 of the block's largest magnitude;
//! about 0.6 % RMS of the block's values for Gaussian x). The result is the *exact* product of
//! the weights with those quantized activations, up to f32 accumulation. The scale is kept in
//! f32 (GGML's Q8_0 rounds it to f16), so nothing else is lost.
//!
//! # Non-finite activations
//!
//! A block of x holding a NaN or an infinity cannot be scaled; [`quantize`] gives it scale NaN
//! (codes 0, sum 0). Every block contributes `d_w·d_x·…` to every row, and `NaN·0` is NaN, so
//! then *every* output is NaN — never a silently finite result. (The f32 kernels give NaN or ±∞
//! there; this path does not distinguish ±∞ from NaN.)

use half::f16;
use rayon::prelude::*;

use crate::quant::{q4_0, q4_1, q8_0};

/// Values per activation block (and per weight block of every format here).
pub const BLOCK: usize = 32;

/// Rows one rayon task computes.
const ROWS_PER_TASK: usize = 16;

/// An activation vector quantized in blocks of 32: `x[i] ≈ q[i]·d[i/32]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Activations {
    /// Codes in −127..=127, one per value.
    pub q: Vec<i8>,
    /// Scale per block: `max|x|/127`, 0 for an all-zero block, NaN for a non-finite block.
    pub d: Vec<f32>,
    /// Sum of the block's codes (for the Q4_0 bias and the Q4_1 offset).
    pub sums: Vec<i32>,
}

impl Q8Activations {
    /// Values represented (`q.len()`).
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether no values are represented.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// The quantized values `q·d` as f32.
    pub fn dequantize(&self) -> Vec<f32> {
        self.q.chunks_exact(BLOCK).zip(&self.d).flat_map(|(qb, &d)| qb.iter().map(move |&q| f32::from(q) * d)).collect()
    }
}

mod quantize;

pub use quantize::quantize;

/// y[r] = Σ_c W[r][c]·x̂[c] for Q4_0 `w` (`rows` rows of `cols/32` blocks) and quantized x̂.
pub fn q4_0_gemv(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize) {
    gemv::<Q4_0>(w, xq, y, rows, cols, Path::best());
}

/// y[r] = Σ_c W[r][c]·x̂[c] for Q4_1 `w` (`rows` rows of `cols/32` blocks) and quantized x̂.
pub fn q4_1_gemv(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize) {
    gemv::<Q4_1>(w, xq, y, rows, cols, Path::best());
}

/// y[r] = Σ_c W[r][c]·x̂[c] for Q8_0 `w` (`rows` rows of `cols/32` blocks) and quantized x̂.
pub fn q8_0_gemv(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize) {
    gemv::<Q8_0>(w, xq, y, rows, cols, Path::best());
}

/// Weight formats, as const-generic tags (branches on them fold away at compile time).
const Q4_0: u8 = 0;
const Q4_1: u8 = 1;
const Q8_0: u8 = 2;

const fn block_bytes(format: u8) -> usize {
    match format {
        Q4_0 => q4_0::BLOCK_BYTES,
        Q4_1 => q4_1::BLOCK_BYTES,
        _ => q8_0::BLOCK_BYTES,
    }
}

/// Which inner kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX2 with AVX-512 VNNI's `vpdpbusd` for the byte dots (one instruction where AVX2 needs
    /// `vpmaddubsw` + `vpmaddwd`; the same integers, so the same bits).
    #[cfg(target_arch = "x86_64")]
    Avx2Vnni,
}

impl Path {
    /// AVX2 (with FMA and F16C) where the CPU has it, with VNNI where it has that too, else
    /// portable.
    fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return if avx2::vnni_available() { Path::Avx2Vnni } else { Path::Avx2 };
        }
        Path::Portable
    }
}

fn gemv<const F: u8>(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize, path: Path) {
    assert_eq!(cols % BLOCK, 0, "q8-activation gemv: cols {cols} is not a multiple of 32");
    let blocks = cols / BLOCK;
    assert_eq!(xq.q.len(), cols, "q8-activation gemv: x length");
    assert_eq!(xq.d.len(), blocks, "q8-activation gemv: x scales");
    assert_eq!(xq.sums.len(), blocks, "q8-activation gemv: x sums");
    let row_bytes = blocks * block_bytes(F);
    assert_eq!(w.len(), rows * row_bytes, "q8-activation gemv: w length");
    assert_eq!(y.len(), rows, "q8-activation gemv: y length");
    y.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(|(t, ys)| {
        let first = t * ROWS_PER_TASK;
        let band = &w[first * row_bytes..(first + ys.len()) * row_bytes];
        match path {
            Path::Portable => band_portable::<F>(band, xq, ys, row_bytes),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => avx2::band::<F, false>(band, xq, ys, row_bytes),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2Vnni => avx2::band::<F, true>(band, xq, ys, row_bytes),
        }
    });
}

/// The f16 at `p[0..2]` as f32.
fn f16_at(p: &[u8]) -> f32 {
    f16::from_le_bytes([p[0], p[1]]).to_f32()
}

/// Portable rows, the same arithmetic as the AVX2 kernel in the same order (so the two agree
/// bit for bit where `mul_add` is a fused multiply-add, as it always is): per block eight exact
/// integer partial dots (lane `l` covers values `4l..4l+4`, as `vpmaddubsw` + `vpmaddwd` pair
/// them), each scaled into its own f32 lane with one fused multiply-add; the lanes are summed at
/// the end of the row, plus Q4_1's offset terms accumulated apart.
fn band_portable<const F: u8>(band: &[u8], xq: &Q8Activations, ys: &mut [f32], row_bytes: usize) {
    for (row, y) in band.chunks_exact(row_bytes).zip(ys.iter_mut()) {
        let mut acc = [0.0f32; 8];
        let mut offset = 0.0f32;
        for (b, blk) in row.chunks_exact(block_bytes(F)).enumerate() {
            let x = &xq.q[b * BLOCK..][..BLOCK];
            let (dx, sx) = (xq.d[b], xq.sums[b]);
            let code = |i: usize| -> i32 {
                match F {
                    Q8_0 => i32::from(blk[2 + i] as i8),
                    _ => {
                        let n = blk[if F == Q4_0 { 2 } else { 4 } + i % (BLOCK / 2)];
                        i32::from(if i < BLOCK / 2 { n & 0x0F } else { n >> 4 })
                    }
                }
            };
            let mut dots = [0i32; 8];
            for (i, &v) in x.iter().enumerate() {
                dots[i / 4] += code(i) * i32::from(v);
            }
            if F == Q4_0 {
                dots[0] -= 8 * sx;
            }
            let s = f16_at(blk) * dx;
            for (a, &d) in acc.iter_mut().zip(&dots) {
                *a = s.mul_add(d as f32, *a);
            }
            if F == Q4_1 {
                offset = (f16_at(&blk[2..]) * dx).mul_add(sx as f32, offset);
            }
        }
        // The AVX2 kernel's horizontal sum order, then Q4_1's offset term (0 otherwise).
        let h: [f32; 4] = std::array::from_fn(|l| acc[l] + acc[l + 4]);
        *y = (h[0] + h[2]) + (h[1] + h[3]) + offset;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::cpu::x86::{hsum, prefetch_ahead};

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
    pub(super) fn band<const F: u8, const VNNI: bool>(
        band: &[u8],
        xq: &Q8Activations,
        ys: &mut [f32],
        row_bytes: usize,
    ) {
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
            let out = unsafe { rows::<F, 4, VNNI>([row(i), row(i + 1), row(i + 2), row(i + 3)], xq, blocks) };
            ys[i..i + 4].copy_from_slice(&out);
            i += 4;
        }
        match ys.len() - i {
            3 => ys[i..].copy_from_slice(&unsafe { rows::<F, 3, VNNI>([row(i), row(i + 1), row(i + 2)], xq, blocks) }),
            2 => ys[i..].copy_from_slice(&unsafe { rows::<F, 2, VNNI>([row(i), row(i + 1)], xq, blocks) }),
            1 => ys[i..].copy_from_slice(&unsafe { rows::<F, 1, VNNI>([row(i)], xq, blocks) }),
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
    ) -> [f32; R] {
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn plain<const F: u8, const R: usize>(
            rows: [*const u8; R],
            xq: &Q8Activations,
            blocks: usize,
        ) -> [f32; R] {
            // SAFETY: forwarded.
            unsafe { rows_body::<F, R, false>(rows, xq, blocks) }
        }
        #[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
        unsafe fn vnni<const F: u8, const R: usize>(
            rows: [*const u8; R],
            xq: &Q8Activations,
            blocks: usize,
        ) -> [f32; R] {
            // SAFETY: forwarded.
            unsafe { rows_body::<F, R, true>(rows, xq, blocks) }
        }
        // SAFETY: forwarded; the features were checked by `band`.
        unsafe { if VNNI { vnni::<F, R>(rows, xq, blocks) } else { plain::<F, R>(rows, xq, blocks) } }
    }

    /// Σ over each group of four of u[i]·s[i] (u unsigned, s signed bytes) into eight i32 lanes:
    /// `vpdpbusd` with VNNI, else `vpmaddubsw` (pairs into i16; no pair here can saturate:
    /// |u| ≤ 128, |s| ≤ 127) and `vpmaddwd` by ones. The same integers either way.
    #[inline(always)]
    unsafe fn byte_dots<const VNNI: bool>(u: __m256i, s: __m256i) -> __m256i {
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
    unsafe fn f16_at(p: *const u8) -> f32 {
        // SAFETY: the caller guarantees 2 readable bytes at `p`.
        let bits = unsafe { p.cast::<u16>().read_unaligned() };
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// The 32 nibbles of the 16 bytes at `p` as bytes 0..=15 in weight order (low nibbles are
    /// weights 0..16, high nibbles 16..32).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 16 readable bytes at `p`.
        let v = unsafe { _mm_loadu_si128(p.cast()) };
        let mask = _mm_set1_epi8(0x0F);
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16::<4>(v), mask), _mm_and_si128(v, mask))
    }

    /// `R` rows (each `blocks` blocks of format `F` at `rows[k]`) against x; one load of each x
    /// block feeds all `R` rows.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C; each `rows[k]` points at `blocks` readable blocks; x has
    /// at least `blocks` blocks.
    #[inline(always)]
    unsafe fn rows_body<const F: u8, const R: usize, const VNNI: bool>(
        rows: [*const u8; R],
        xq: &Q8Activations,
        blocks: usize,
    ) -> [f32; R] {
        // SAFETY: the whole body: the callers are compiled with AVX2, FMA and F16C (and VNNI and
        // VL when VNNI) and guarantee the pointers, as documented above.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); R];
            // Q4_1's offset terms m·d_x·s_x, accumulated in lane 1.
            let mut offset = [_mm_setzero_ps(); R];
            let bb = block_bytes(F);
            for b in 0..blocks {
                // b < blocks, so x block b and block b of every row are in bounds.
                {
                    let x = _mm256_loadu_si256(xq.q.as_ptr().add(b * BLOCK).cast());
                    let dx = *xq.d.get_unchecked(b);
                    let sx = *xq.sums.get_unchecked(b);
                    // Q4_0's bias, added to lane 0 of the integer dot.
                    let bias = _mm256_setr_epi32(-8 * sx, 0, 0, 0, 0, 0, 0, 0);
                    // Q4_1: [d_w, m] · d_x · [·, s_x] gives the offset term in lane 1.
                    let dx4 = _mm_set1_ps(dx);
                    let sum_lane1 = _mm_setr_ps(0.0, sx as f32, 0.0, 0.0);
                    for ((a, o), &row) in acc.iter_mut().zip(offset.iter_mut()).zip(&rows) {
                        let p = row.add(b * bb);
                        prefetch_ahead(p);
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
            // A loop, not a closure: a closure would not be compiled with the caller's features.
            let mut out = [0.0f32; R];
            for k in 0..R {
                out[k] = hsum(acc[k]) + _mm_cvtss_f32(_mm_movehdup_ps(offset[k]));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;
    use rand::Rng;
    use rand::rngs::StdRng;

    const FORMATS: [u8; 3] = [Q4_0, Q4_1, Q8_0];

    /// The vector paths this CPU can run.
    fn simd_paths() -> Vec<Path> {
        #[allow(unused_mut)]
        let mut paths = Vec::new();
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            paths.push(Path::Avx2);
            if avx2::vnni_available() {
                paths.push(Path::Avx2Vnni);
            }
        }
        println!("vector paths compared: {paths:?}");
        paths
    }

    fn name(f: u8) -> &'static str {
        ["q4_0", "q4_1", "q8_0"][usize::from(f)]
    }

    fn gaussian(rng: &mut StdRng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                let u2: f64 = rng.random::<f64>();
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect()
    }

    /// Random weights of format `f` (rows with scales over two decades) and their dequantization.
    fn weights(f: u8, rng: &mut StdRng, rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
        let mut wf = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            let s = 10f32.powf(rng.random_range(-1.0..1.0));
            wf.extend((0..cols).map(|_| s * rng.random_range(-1.0f32..1.0)));
        }
        match f {
            Q4_0 => {
                let w = q4_0::quantize(&wf, cols);
                let deq = q4_0::dequantize(&w);
                (w, deq)
            }
            Q4_1 => {
                let w = q4_1::quantize(&wf, cols);
                let deq = q4_1::dequantize(&w);
                (w, deq)
            }
            _ => {
                let w = q8_0::quantize(&wf, cols);
                let deq = q8_0::dequantize(&w);
                (w, deq)
            }
        }
    }

    fn run(f: u8, w: &[u8], xq: &Q8Activations, rows: usize, cols: usize, path: Path) -> Vec<f32> {
        let mut y = vec![f32::NAN; rows];
        match f {
            Q4_0 => gemv::<Q4_0>(w, xq, &mut y, rows, cols, path),
            Q4_1 => gemv::<Q4_1>(w, xq, &mut y, rows, cols, path),
            _ => gemv::<Q8_0>(w, xq, &mut y, rows, cols, path),
        }
        y
    }

    fn exact(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f64> {
        (0..rows)
            .map(|r| w[r * cols..(r + 1) * cols].iter().zip(x).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum())
            .collect()
    }

    fn rel_l2(got: &[f32], want: &[f64]) -> f64 {
        assert_eq!(got.len(), want.len());
        let err: f64 = got.iter().zip(want).map(|(&g, &w)| (f64::from(g) - w).powi(2)).sum();
        let norm: f64 = want.iter().map(|w| w * w).sum();
        (err / norm).sqrt()
    }

    const SHAPES: [(usize, usize); 9] =
        [(1, 32), (7, 32), (33, 32), (1, 96), (7, 96), (33, 96), (1, 4160), (7, 4160), (33, 4160)];

    #[test]
    fn quantize_scales_rounds_and_sums() {
        let mut x = vec![0.0f32; 64];
        x[0] = -127.0;
        x[1] = 2.4;
        x[2] = -2.5; // rounds away from zero
        x[3] = 126.6;
        let xq = quantize(&x);
        assert_eq!(xq.d, vec![1.0, 0.0]);
        assert_eq!(&xq.q[..4], &[-127, 2, -3, 127]);
        assert!(xq.q[32..].iter().all(|&q| q == 0));
        assert_eq!(xq.sums, vec![-1, 0]);
        // Every value within half a step.
        let x = gaussian(&mut rng_for(11, 0), 4160);
        let xq = quantize(&x);
        for ((xb, db), qb) in x.chunks(32).zip(&xq.d).zip(xq.dequantize().chunks(32)) {
            assert!(xb.iter().zip(qb).all(|(a, b)| (a - b).abs() <= db * 0.5 * (1.0 + 1e-5)));
        }
        for (qb, &s) in xq.q.chunks(32).zip(&xq.sums) {
            assert_eq!(qb.iter().map(|&q| i32::from(q)).sum::<i32>(), s);
        }
    }

    #[test]
    fn simd_and_portable_paths_agree() {
        #[cfg(target_arch = "x86_64")]
        {
            if !avx2::available() {
                eprintln!("no AVX2/FMA/F16C: nothing to compare");
                return;
            }
            for f in FORMATS {
                for (k, &(rows, cols)) in SHAPES.iter().enumerate() {
                    let mut rng = rng_for(21, 100 * u64::from(f) + k as u64);
                    let (w, _) = weights(f, &mut rng, rows, cols);
                    let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                    let xq = quantize(&x);
                    let portable = run(f, &w, &xq, rows, cols, Path::Portable);
                    for path in simd_paths() {
                        let simd = run(f, &w, &xq, rows, cols, path);
                        let want: Vec<f64> = portable.iter().map(|&v| f64::from(v)).collect();
                        let e = rel_l2(&simd, &want);
                        assert!(e < 1e-6, "{path:?} {} {rows}x{cols}: rel L2 {e:e}", name(f));
                        // Same integers, same fused multiply-adds, same order: the same bits.
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&simd), bits(&portable), "{path:?} {} {rows}x{cols}", name(f));
                    }
                }
            }
        }
    }

    #[test]
    fn integer_dots_are_exact_against_the_quantized_activations() {
        let mut paths = vec![Path::Portable];
        paths.extend(simd_paths());
        for f in FORMATS {
            for (k, &(rows, cols)) in SHAPES.iter().enumerate() {
                let mut rng = rng_for(22, 100 * u64::from(f) + k as u64);
                let (mut w, mut wd) = weights(f, &mut rng, rows, cols);
                if f == Q8_0 {
                    // Code −128 (never produced by the quantizer, legal in the format) stays exact.
                    w[2] = 0x80;
                    wd = q8_0::dequantize(&w);
                }
                let x = gaussian(&mut rng, cols);
                let xq = quantize(&x);
                let want = exact(&wd, &xq.dequantize(), rows, cols);
                for &p in &paths {
                    let e = rel_l2(&run(f, &w, &xq, rows, cols, p), &want);
                    assert!(e < 1e-5, "{} {rows}x{cols} {p:?}: rel L2 {e:e}", name(f));
                }
            }
        }
    }

    #[test]
    fn error_against_f32_activations_is_small() {
        for f in FORMATS {
            let (rows, cols) = (64, 4096);
            let mut rng = rng_for(23, u64::from(f));
            let (w, wd) = weights(f, &mut rng, rows, cols);
            let x = gaussian(&mut rng, cols);
            let mut y = vec![0.0; rows];
            match f {
                Q4_0 => q4_0_gemv(&w, &quantize(&x), &mut y, rows, cols),
                Q4_1 => q4_1_gemv(&w, &quantize(&x), &mut y, rows, cols),
                _ => q8_0_gemv(&w, &quantize(&x), &mut y, rows, cols),
            }
            let e = rel_l2(&y, &exact(&wd, &x, rows, cols));
            assert!(e < 1e-2, "{}: rel L2 {e:e} against f32 activations", name(f));
        }
    }

    #[test]
    fn non_finite_activations_make_every_output_nan() {
        let mut paths = vec![Path::Portable];
        paths.extend(simd_paths());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for f in FORMATS {
                let (rows, cols) = (7, 96);
                let mut rng = rng_for(24, u64::from(f));
                let (mut w, _) = weights(f, &mut rng, rows, cols);
                // A row of zero weights (scale 0, min 0) must not hide the NaN either.
                w[..block_bytes(f) * cols / BLOCK].fill(0);
                let mut x = gaussian(&mut rng, cols);
                x[40] = bad;
                let xq = quantize(&x);
                assert!(xq.d[1].is_nan() && xq.d[0].is_finite() && xq.d[2].is_finite());
                assert!(xq.q[32..64].iter().all(|&q| q == 0) && xq.sums[1] == 0);
                for &p in &paths {
                    let y = run(f, &w, &xq, rows, cols, p);
                    assert!(y.iter().all(|v| v.is_nan()), "{} {bad} {p:?}: {y:?}", name(f));
                }
            }
        }
    }

    /// Median seconds of `n` runs of `f`.
    fn median_secs(n: usize, mut f: impl FnMut()) -> f64 {
        f();
        let mut t: Vec<f64> = (0..n)
            .map(|_| {
                let s = std::time::Instant::now();
                f();
                s.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[n / 2]
    }

    /// Timing against the f32-activation kernels; run with
    /// `cargo test --release -p dfma-reference q8_activations -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, not a check; run in release"]
    fn speed_against_f32_activations() {
        for (rows, cols) in [(4096, 4096), (4096, 14336)] {
            let mut rng = rng_for(25, cols as u64);
            let wf: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let x = gaussian(&mut rng, cols);
            let mut y = vec![0.0f32; rows];
            for f in FORMATS {
                let w = match f {
                    Q4_0 => q4_0::quantize(&wf, cols),
                    Q4_1 => q4_1::quantize(&wf, cols),
                    _ => q8_0::quantize(&wf, cols),
                };
                let old = median_secs(20, || match f {
                    Q4_0 => crate::cpu::q4_0_gemv::q4_0_gemv(&w, &x, &mut y, rows, cols, 1),
                    Q4_1 => crate::cpu::q4_1_gemv::q4_1_gemv(&w, &x, &mut y, rows, cols, 1),
                    _ => crate::cpu::q8_0_gemv::q8_0_gemv(&w, &x, &mut y, rows, cols, 1),
                });
                let new = median_secs(20, || {
                    let xq = quantize(&x);
                    match f {
                        Q4_0 => q4_0_gemv(&w, &xq, &mut y, rows, cols),
                        Q4_1 => q4_1_gemv(&w, &xq, &mut y, rows, cols),
                        _ => q8_0_gemv(&w, &xq, &mut y, rows, cols),
                    }
                });
                let xq = quantize(&x);
                let kernel_only = median_secs(20, || match f {
                    Q4_0 => q4_0_gemv(&w, &xq, &mut y, rows, cols),
                    Q4_1 => q4_1_gemv(&w, &xq, &mut y, rows, cols),
                    _ => q8_0_gemv(&w, &xq, &mut y, rows, cols),
                });
                let quant_only = median_secs(20, || {
                    std::hint::black_box(quantize(std::hint::black_box(&x)));
                });
                let gbs = |t: f64| w.len() as f64 / t / 1e9;
                println!(
                    "{} {rows}x{cols} ({:.1} MB): f32-x {:.3} ms {:.1} GB/s | quantize+q8-x {:.3} ms {:.1} GB/s \
                     (kernel {:.3} ms, quantize {:.1} us) | speedup {:.2}x",
                    name(f),
                    w.len() as f64 / 1e6,
                    old * 1e3,
                    gbs(old),
                    new * 1e3,
                    gbs(new),
                    kernel_only * 1e3,
                    quant_only * 1e6,
                    old / new
                );
            }
        }
    }
}
