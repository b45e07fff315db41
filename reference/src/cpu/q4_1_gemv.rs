//! Fast CPU `q4_1_gemv` on GGML Q4_1 bytes as they are, through the shared row-band driver.
//!
//! Per block and column: `d·Σ q_c·x_c + m·Σ x_c` — the 32 codes unpacked to f32 once and reused
//! for every column, the offset folded into one sum of the block's activations. AVX2 + FMA where
//! the CPU has them (nibbles split with a mask and a shift, widened to f32 lanes), portable
//! 8-lane code elsewhere. Activations stay in f32, so the result matches the reference to f32
//! rounding.

use super::row_gemv::{self, Epilogue, RowKernels, for_batch};
use crate::quant::q4_1::{BLOCK_BYTES, BLOCK_WEIGHTS, block_codes, scale_and_min};

/// y[j·rows + r] = Σ_c W[r][c]·x[j·cols + c] for `batch` ∈ 1..=8 columns.
///
/// `w` holds `rows` rows of `cols/32` Q4_1 blocks; `y` has `batch·rows` elements.
pub fn q4_1_gemv(w: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize, batch: usize) {
    q4_1_gemv_then(w, x, y, rows, cols, batch, None);
}

/// [`q4_1_gemv`], then `epilogue` on each row's outputs inside the same row band.
pub fn q4_1_gemv_then(
    w: &[u8],
    x: &[f32],
    y: &mut [f32],
    rows: usize,
    cols: usize,
    batch: usize,
    epilogue: Option<Epilogue<'_>>,
) {
    for_batch!(batch, run(w, x, y, rows, cols, epilogue))
}

fn run<const B: usize>(w: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize, ep: Option<Epilogue<'_>>) {
    let row_bytes = cols / BLOCK_WEIGHTS * BLOCK_BYTES;
    #[cfg(target_arch = "x86_64")]
    if B > 1 && avx2::available() {
        assert_eq!(x.len(), B * cols, "q4_1 gemv: x length");
        // Every row multiplies the same columns, so m·Σx needs each column's block sums once
        // per call, not once per row: they follow the B columns in the buffer the kernel reads.
        let mut xs = Vec::with_capacity(B * cols + B * cols / BLOCK_WEIGHTS);
        xs.extend_from_slice(x);
        xs.extend(x.chunks_exact(BLOCK_WEIGHTS).map(|blk| blk.iter().sum::<f32>()));
        let row_dot = if avx2::wide_available() { avx2::row_dot_summed_wide::<B> } else { avx2::row_dot_summed::<B> };
        let kernels = RowKernels { row_bytes, row_dot, four_rows: None };
        row_gemv::run::<B>(kernels, w, &xs, y, rows, cols, ep);
        return;
    }
    assert_eq!(x.len(), B * cols, "q4_1 gemv: x length");
    let kernels = RowKernels { row_bytes, row_dot: select_row_dot::<B>(), four_rows: None };
    row_gemv::run::<B>(kernels, w, x, y, rows, cols, ep);
}

fn select_row_dot<const B: usize>() -> row_gemv::RowDot<B> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        return avx2::row_dot::<B>;
    }
    row_dot_portable::<B>
}

/// One row against `B` columns, portable: per block an f32 partial Σq·x and Σx per column.
fn row_dot_portable<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
    let mut acc = [0.0f32; B];
    for (b, blk) in row.chunks_exact(BLOCK_BYTES).enumerate() {
        let (d, m) = scale_and_min(blk);
        let q = block_codes(&blk[4..]).map(f32::from);
        for (j, a) in acc.iter_mut().enumerate() {
            let xb = &x[j * cols + b * BLOCK_WEIGHTS..][..BLOCK_WEIGHTS];
            let (mut qx, mut sx) = ([0.0f32; 8], [0.0f32; 8]);
            for (qc, xc) in q.chunks_exact(8).zip(xb.chunks_exact(8)) {
                for l in 0..8 {
                    qx[l] += qc[l] * xc[l];
                    sx[l] += xc[l];
                }
            }
            *a += d * qx.iter().sum::<f32>() + m * sx.iter().sum::<f32>();
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::cpu::x86::{hsum, prefetch_ahead};

    use super::{BLOCK_BYTES, BLOCK_WEIGHTS};

    /// Whether the CPU has what these kernels need.
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    }

    /// Whether the CPU also has AVX-512 with VL: the same 256-bit instructions then have 32
    /// registers instead of 16.
    pub(super) fn wide_available() -> bool {
        available() && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl")
    }

    /// Safe entry of [`row_dot_summed_avx2`]: `x` holds the B columns, then each column's
    /// per-block sums (B · cols/32 values). Only selected after [`available`].
    pub(super) fn row_dot_summed<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        let blocks = row.len() / BLOCK_BYTES;
        assert!(blocks * BLOCK_WEIGHTS == cols && x.len() == B * cols + B * blocks, "x without its block sums");
        // SAFETY: selected only when the CPU has AVX2, FMA and F16C; lengths checked above.
        unsafe { row_dot_summed_avx2::<B>(row, x, cols) }
    }

    /// [`row_dot_summed`] compiled with AVX-512 VL as well: the same instructions and bits, but
    /// the B accumulators, the four scaled code vectors and the loads fit in registers (with
    /// 16, B = 8 spilled to the stack, and how much depended on the compiler's mood). Only
    /// selected after [`wide_available`].
    pub(super) fn row_dot_summed_wide<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        let blocks = row.len() / BLOCK_BYTES;
        assert!(blocks * BLOCK_WEIGHTS == cols && x.len() == B * cols + B * blocks, "x without its block sums");
        assert!(wide_available(), "AVX-512 VL is required");
        // SAFETY: the features were checked above (once per row: a cached flag), lengths too.
        unsafe { row_dot_summed_avx512::<B>(row, x, cols) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn row_dot_summed_avx2<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        // SAFETY: forwarded.
        unsafe { summed_body::<B>(row, x, cols) }
    }

    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
    unsafe fn row_dot_summed_avx512<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        // SAFETY: forwarded.
        unsafe { summed_body::<B>(row, x, cols) }
    }

    /// One row against B columns whose block sums are known: per block the codes are widened
    /// and scaled by d once (d·q), then each column takes four FMAs; m·Σx is one scalar
    /// multiply-add per block and column.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C (the callers are compiled with them); x holds B columns
    /// of `cols` values, then their block sums.
    #[inline(always)]
    unsafe fn summed_body<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        // SAFETY: the whole body: the callers are compiled with the features and guarantee x,
        // as documented above.
        unsafe {
            let blocks = cols / BLOCK_WEIGHTS;
            let sums = &x[B * cols..];
            let mut acc = [_mm256_setzero_ps(); B];
            let mut acc_m = [0.0f32; B];
            let mask = _mm_set1_epi8(0x0F);
            for (b, blk) in row.chunks_exact(BLOCK_BYTES).enumerate() {
                // A block is 20 bytes: 4 header bytes, then 16 nibble bytes.
                let bits = blk.as_ptr().cast::<i32>().read_unaligned();
                let (dm, v) = (_mm_cvtph_ps(_mm_cvtsi32_si128(bits)), _mm_loadu_si128(blk.as_ptr().add(4).cast()));
                let dv = _mm256_broadcastss_ps(dm);
                let m = _mm_cvtss_f32(_mm_movehdup_ps(dm));
                let lo = _mm_and_si128(v, mask);
                let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
                let dq = [
                    _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo))),
                    _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(lo)))),
                    _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi))),
                    _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(hi)))),
                ];
                for j in 0..B {
                    // x holds B columns of `cols` values (checked by the safe entry).
                    let xb = x.as_ptr().add(j * cols + b * BLOCK_WEIGHTS);
                    let a = _mm256_fmadd_ps(dq[0], _mm256_loadu_ps(xb), acc[j]);
                    let a = _mm256_fmadd_ps(dq[1], _mm256_loadu_ps(xb.add(8)), a);
                    let a = _mm256_fmadd_ps(dq[2], _mm256_loadu_ps(xb.add(16)), a);
                    acc[j] = _mm256_fmadd_ps(dq[3], _mm256_loadu_ps(xb.add(24)), a);
                    acc_m[j] = m.mul_add(sums[j * blocks + b], acc_m[j]);
                }
            }
            let mut out = [0.0f32; B];
            for j in 0..B {
                out[j] = hsum(acc[j]) + acc_m[j];
            }
            out
        }
    }

    /// Safe entry: only selected after `avx2`, `fma` and `f16c` were detected at run time.
    pub(super) fn row_dot<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        assert!(x.len() >= (B - 1) * cols + row.len() / BLOCK_BYTES * BLOCK_WEIGHTS, "x shorter than B rows");
        // SAFETY: `select_row_dot` returns this function only when the CPU has AVX2, FMA and
        // F16C; the length of x is checked above.
        unsafe { row_dot_avx2::<B>(row, x, cols) }
    }

    /// d and m of the block at `p`, broadcast: one F16C conversion of the 4 header bytes.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale_and_min(p: *const u8) -> (__m256, __m256) {
        // SAFETY: the caller guarantees 4 readable bytes at `p`.
        let bits = unsafe { p.cast::<i32>().read_unaligned() };
        let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
        (_mm256_broadcastss_ps(dm), _mm256_broadcastss_ps(_mm_movehdup_ps(dm)))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn row_dot_avx2<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        // Two accumulators a column (d·Σq·x and m·Σx), each fed once a block from short trees,
        // so consecutive blocks overlap instead of waiting on one FMA chain.
        let mut acc_q = [_mm256_setzero_ps(); B];
        let mut acc_m = [_mm256_setzero_ps(); B];
        let mask = _mm_set1_epi8(0x0F);
        for (b, blk) in row.chunks_exact(BLOCK_BYTES).enumerate() {
            prefetch_ahead(blk.as_ptr());
            // SAFETY: a block is 20 bytes: 4 header bytes, then 16 nibble bytes.
            let ((dv, mv), v) = unsafe { (scale_and_min(blk.as_ptr()), _mm_loadu_si128(blk.as_ptr().add(4).cast())) };
            let lo = _mm_and_si128(v, mask);
            let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
            let q = [
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)),
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(lo))),
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)),
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(hi))),
            ];
            for j in 0..B {
                // SAFETY: x holds B columns of `cols` values (checked by the safe entry).
                unsafe {
                    let xb = x.as_ptr().add(j * cols + b * BLOCK_WEIGHTS);
                    let xs = [
                        _mm256_loadu_ps(xb),
                        _mm256_loadu_ps(xb.add(8)),
                        _mm256_loadu_ps(xb.add(16)),
                        _mm256_loadu_ps(xb.add(24)),
                    ];
                    let qx01 = _mm256_fmadd_ps(q[1], xs[1], _mm256_mul_ps(q[0], xs[0]));
                    let qx23 = _mm256_fmadd_ps(q[3], xs[3], _mm256_mul_ps(q[2], xs[2]));
                    let sx = _mm256_add_ps(_mm256_add_ps(xs[0], xs[1]), _mm256_add_ps(xs[2], xs[3]));
                    acc_q[j] = _mm256_fmadd_ps(dv, _mm256_add_ps(qx01, qx23), acc_q[j]);
                    acc_m[j] = _mm256_fmadd_ps(mv, sx, acc_m[j]);
                }
            }
        }
        let mut out = [0.0f32; B];
        for j in 0..B {
            out[j] = hsum(_mm256_add_ps(acc_q[j], acc_m[j]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q4_1;

    #[test]
    fn the_portable_and_simd_paths_agree_with_the_reference() {
        let (rows, cols) = (7, 96);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 211) as f32 - 100.0) / 37.0).collect();
        let wq = q4_1::quantize(&w, cols);
        let deq = q4_1::dequantize(&wq);
        // Every batch: one column (the single-row kernels), more (the block-sum kernel).
        for batch in 1..=8 {
            let x: Vec<f32> = (0..batch * cols).map(|i| ((i * 104_729 % 97) as f32 - 48.0) / 11.0).collect();
            let mut y = vec![f32::NAN; batch * rows];
            q4_1_gemv(&wq, &x, &mut y, rows, cols, batch);
            for j in 0..batch {
                for r in 0..rows {
                    let want: f64 = (0..cols).map(|c| f64::from(deq[r * cols + c]) * f64::from(x[j * cols + c])).sum();
                    let got = y[j * rows + r];
                    assert!(
                        (f64::from(got) - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "batch {batch}: y[{j}][{r}] {got} vs {want}"
                    );
                    let row = &wq[r * 60..(r + 1) * 60];
                    let portable = for_each_batch_portable(batch, row, &x, cols)[j];
                    assert!((portable - got).abs() < 1e-4 * (1.0 + got.abs()), "portable {portable} vs {got}");
                }
            }
        }
    }

    fn for_each_batch_portable(batch: usize, row: &[u8], x: &[f32], cols: usize) -> Vec<f32> {
        fn one<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> Vec<f32> {
            row_dot_portable::<B>(row, x, cols).to_vec()
        }
        for_batch!(batch, one(row, x, cols))
    }
}
