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

use crate::cpu::row_gemv::Epilogue;
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

    /// Reads one token's GGML Q8_1 blocks (f16 d, f16 s, 32 int8): the scale widened to f32
    /// (exactly), the codes as they are, and their sum recomputed exactly (Q8_1's `s` is `d·Σq`
    /// rounded to f16, too coarse for Q4_0's −8·Σq term).
    pub fn from_q8_1(blocks: &[u8]) -> Self {
        use crate::quant::q8_1;
        assert_eq!(blocks.len() % q8_1::BLOCK_BYTES, 0, "Q8_1 activations: whole 36-byte blocks");
        let n = blocks.len() / q8_1::BLOCK_BYTES;
        let mut out =
            Q8Activations { q: Vec::with_capacity(n * BLOCK), d: Vec::with_capacity(n), sums: Vec::with_capacity(n) };
        for b in blocks.chunks_exact(q8_1::BLOCK_BYTES) {
            out.d.push(f16_at(b));
            let codes = &b[4..];
            out.q.extend(codes.iter().map(|&c| c as i8));
            out.sums.push(codes.iter().map(|&c| i32::from(c as i8)).sum());
        }
        out
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
    gemv::<Q4_0>(w, xq, y, rows, cols, Path::best(Q4_0));
}

/// y[r] = Σ_c W[r][c]·x̂[c] for Q4_1 `w` (`rows` rows of `cols/32` blocks) and quantized x̂.
pub fn q4_1_gemv(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize) {
    gemv::<Q4_1>(w, xq, y, rows, cols, Path::best(Q4_1));
}

/// y[r] = Σ_c W[r][c]·x̂[c] for Q8_0 `w` (`rows` rows of `cols/32` blocks) and quantized x̂.
pub fn q8_0_gemv(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize) {
    gemv::<Q8_0>(w, xq, y, rows, cols, Path::best(Q8_0));
}

/// [`q4_0_gemv`], then `epilogue` on each band of outputs while it is in L1 (see
/// [`crate::cpu::row_gemv::Epilogue`]; one column): how `lora_fused` adds its adapters.
pub fn q4_0_gemv_then(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize, epilogue: Epilogue<'_>) {
    gemv_then::<Q4_0>(w, xq, y, rows, cols, Path::best(Q4_0), Some(epilogue));
}

/// [`q4_1_gemv`], then `epilogue` on each band of outputs (as [`q4_0_gemv_then`]).
pub fn q4_1_gemv_then(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize, epilogue: Epilogue<'_>) {
    gemv_then::<Q4_1>(w, xq, y, rows, cols, Path::best(Q4_1), Some(epilogue));
}

/// [`q8_0_gemv`], then `epilogue` on each band of outputs (as [`q4_0_gemv_then`]).
pub fn q8_0_gemv_then(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize, epilogue: Epilogue<'_>) {
    gemv_then::<Q8_0>(w, xq, y, rows, cols, Path::best(Q8_0), Some(epilogue));
}

/// Y[t] = W·x̂[t] for each token of `xs` (Y row-major `[xs.len(), rows]`), Q4_0 `w`.
pub fn q4_0_gemm(w: &[u8], xs: &[Q8Activations], y: &mut [f32], rows: usize, cols: usize) {
    gemm::<Q4_0>(w, xs, y, rows, cols, Path::best(Q4_0));
}

/// Y[t] = W·x̂[t] for each token of `xs` (Y row-major `[xs.len(), rows]`), Q4_1 `w`.
pub fn q4_1_gemm(w: &[u8], xs: &[Q8Activations], y: &mut [f32], rows: usize, cols: usize) {
    gemm::<Q4_1>(w, xs, y, rows, cols, Path::best(Q4_1));
}

/// Y[t] = W·x̂[t] for each token of `xs` (Y row-major `[xs.len(), rows]`), Q8_0 `w`.
pub fn q8_0_gemm(w: &[u8], xs: &[Q8Activations], y: &mut [f32], rows: usize, cols: usize) {
    gemm::<Q8_0>(w, xs, y, rows, cols, Path::best(Q8_0));
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
    /// Q4_0 and Q8_0: a pair of blocks a step in 512-bit registers (AVX-512 VBMI and VNNI); the
    /// same integers and float operations in the same lanes, so the same bits.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Path {
    /// For Q4_0 and Q8_0 the AVX-512 kernel where the CPU has it; else AVX2 (with FMA and F16C) where
    /// the CPU has it, with VNNI where it has that too; else portable.
    fn best(format: u8) -> Self {
        #[cfg(target_arch = "x86_64")]
        if (format == Q4_0 || format == Q8_0) && avx512::available() {
            return Path::Avx512;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return if avx2::vnni_available() { Path::Avx2Vnni } else { Path::Avx2 };
        }
        Path::Portable
    }
}

fn gemv<const F: u8>(w: &[u8], xq: &Q8Activations, y: &mut [f32], rows: usize, cols: usize, path: Path) {
    gemv_then::<F>(w, xq, y, rows, cols, path, None);
}

fn gemv_then<const F: u8>(
    w: &[u8],
    xq: &Q8Activations,
    y: &mut [f32],
    rows: usize,
    cols: usize,
    path: Path,
    epilogue: Option<Epilogue<'_>>,
) {
    let row_bytes = check::<F>(w, std::slice::from_ref(xq), y, rows, cols);
    let x = Prepared::new::<F>(path, xq, cols / BLOCK);
    y.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(|(t, ys)| {
        let first = t * ROWS_PER_TASK;
        run_band::<F>(path, &w[first * row_bytes..(first + ys.len()) * row_bytes], &x, ys, row_bytes);
        if let Some(ep) = epilogue {
            ep(first, 1, ys);
        }
    });
}

/// Several tokens: bands of rows in parallel, each band's weights (16 rows, a few KiB) read from
/// memory once and from cache for every further token; where the CPU has it, a row at a time
/// against four tokens at a time ([`avx2_tokens`]), each weight block unpacked once for them.
fn gemm<const F: u8>(w: &[u8], xs: &[Q8Activations], y: &mut [f32], rows: usize, cols: usize, path: Path) {
    if let [xq] = xs {
        return gemv::<F>(w, xq, y, rows, cols, path);
    }
    let row_bytes = check::<F>(w, xs, y, rows, cols);
    let tokens_kernel = TokensKernel::for_path(path, F);
    let prepared: Vec<Prepared> = match tokens_kernel {
        Some(_) => Vec::new(),
        None => xs.iter().map(|xq| Prepared::new::<F>(path, xq, cols / BLOCK)).collect(),
    };
    let bands: Vec<Vec<f32>> = (0..rows.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|band| {
            let r0 = band * ROWS_PER_TASK;
            let n = ROWS_PER_TASK.min(rows - r0);
            let mut ys = vec![0.0f32; xs.len() * n];
            let band_w = &w[r0 * row_bytes..(r0 + n) * row_bytes];
            match tokens_kernel {
                #[cfg(target_arch = "x86_64")]
                Some(TokensKernel::Avx2 { vnni }) => {
                    let mut outs: Vec<&mut [f32]> = ys.chunks_exact_mut(n).collect();
                    if vnni {
                        avx2_tokens::band::<F, true>(band_w, xs, &mut outs, row_bytes);
                    } else {
                        avx2_tokens::band::<F, false>(band_w, xs, &mut outs, row_bytes);
                    }
                }
                _ => {
                    for (x, yt) in prepared.iter().zip(ys.chunks_exact_mut(n)) {
                        run_band::<F>(path, band_w, x, yt, row_bytes);
                    }
                }
            }
            ys
        })
        .collect();
    for (band, ys) in bands.iter().enumerate() {
        let r0 = band * ROWS_PER_TASK;
        let n = ROWS_PER_TASK.min(rows - r0);
        for (t, yt) in ys.chunks_exact(n).enumerate() {
            y[t * rows + r0..t * rows + r0 + n].copy_from_slice(yt);
        }
    }
}

/// Checks the operands' sizes; returns the bytes of a weight row.
fn check<const F: u8>(w: &[u8], xs: &[Q8Activations], y: &[f32], rows: usize, cols: usize) -> usize {
    assert_eq!(cols % BLOCK, 0, "q8-activation gemv: cols {cols} is not a multiple of 32");
    let blocks = cols / BLOCK;
    for xq in xs {
        assert_eq!(xq.q.len(), cols, "q8-activation gemv: x length");
        assert_eq!(xq.d.len(), blocks, "q8-activation gemv: x scales");
        assert_eq!(xq.sums.len(), blocks, "q8-activation gemv: x sums");
    }
    let row_bytes = blocks * block_bytes(F);
    assert_eq!(w.len(), rows * row_bytes, "q8-activation gemv: w length");
    assert_eq!(y.len(), xs.len() * rows, "q8-activation gemv: y length");
    row_bytes
}

/// The kernel that takes several tokens a step (each weight block unpacked once for all of
/// them), where the CPU has one: the same bits as every path's GEMV.
#[derive(Clone, Copy)]
enum TokensKernel {
    /// [`avx2_tokens`], with VNNI's byte dots or without.
    #[cfg(target_arch = "x86_64")]
    Avx2 { vnni: bool },
}

impl TokensKernel {
    /// Where the format's GEMV takes `path`. Not for Q4_0 on AVX-512, whose pair-of-blocks
    /// kernel stays ahead token by token (4096×4096 × 64 tokens: 14.5 against 15.2 ms; Q4_1
    /// 17.2 → 14.3 ms and Q8_0 15.5 → 13.0 ms with this kernel, on a 2-core Sapphire Rapids).
    fn for_path(path: Path, format: u8) -> Option<Self> {
        match path {
            Path::Portable => None,
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 if format == Q4_0 => None,
            #[cfg(target_arch = "x86_64")]
            _ => Some(TokensKernel::Avx2 { vnni: avx2::vnni_available() }),
        }
    }
}

/// One token's activations as the chosen path reads them.
struct Prepared<'a> {
    xq: &'a Q8Activations,
    #[cfg(target_arch = "x86_64")]
    pairs: Option<avx512::XPairs>,
}

impl<'a> Prepared<'a> {
    fn new<const F: u8>(path: Path, xq: &'a Q8Activations, blocks: usize) -> Self {
        #[cfg(target_arch = "x86_64")]
        let pairs = (path == Path::Avx512).then(|| avx512::XPairs::new::<F>(xq, blocks));
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (path, blocks);
        Prepared {
            xq,
            #[cfg(target_arch = "x86_64")]
            pairs,
        }
    }
}

/// A band of whole rows against one token on `path`.
fn run_band<const F: u8>(path: Path, band: &[u8], x: &Prepared, ys: &mut [f32], row_bytes: usize) {
    match path {
        Path::Portable => portable::band::<F>(band, x.xq, ys, row_bytes),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => avx2::band::<F, false>(band, x.xq, ys, row_bytes),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2Vnni => avx2::band::<F, true>(band, x.xq, ys, row_bytes),
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => avx512::band::<F>(band, x.pairs.as_ref().expect("laid out for this path"), ys, row_bytes),
    }
}

/// The f16 at `p[0..2]` as f32.
fn f16_at(p: &[u8]) -> f32 {
    f16::from_le_bytes([p[0], p[1]]).to_f32()
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_tokens;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

#[cfg(test)]
mod tests;
