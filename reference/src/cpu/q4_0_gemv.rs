//! Fast CPU `q4_0_gemv` on GGML Q4_0 bytes as they are (no repacking).
//!
//! The same plan as [`super::q8_0_gemv`]: each rayon task owns a band of rows, a row is read
//! once, and per block the 32 codes are unpacked to f32 once and reused for every activation
//! column. Unpacking is the extra work Q4_0 adds: one 16-byte load, a mask and a shift split
//! the low nibbles (weights 0..16) from the high ones (weights 16..32), a byte subtract removes
//! the bias 8, and the bytes widen to f32 like Q8_0 codes. Activations stay in f32 (no
//! requantization as GGML's CPU path does), so the result matches the reference to f32 rounding.

use super::row_gemv::{self, Epilogue, FourRowsDot, RowDot, RowKernels, for_batch};
use crate::quant::q4_0::{BLOCK_BYTES, BLOCK_WEIGHTS, block_codes};

/// y[j·rows + r] = Σ_c W[r][c]·x[j·cols + c] for `batch` ∈ 1..=8 columns.
///
/// `w` holds `rows` rows of `cols/32` Q4_0 blocks; `y` has `batch·rows` elements.
pub fn q4_0_gemv(w: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize, batch: usize) {
    q4_0_gemv_then(w, x, y, rows, cols, batch, None);
}

/// [`q4_0_gemv`], then `epilogue` on each row's outputs inside the same row band.
pub fn q4_0_gemv_then(
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
    let kernels = RowKernels {
        row_bytes: cols / BLOCK_WEIGHTS * BLOCK_BYTES,
        row_dot: select_row_dot::<B>(),
        four_rows: select_four_rows_dot(),
    };
    row_gemv::run::<B>(kernels, w, x, y, rows, cols, ep);
}

fn select_row_dot<const B: usize>() -> RowDot<B> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        return avx2::row_dot::<B>;
    }
    row_dot_portable::<B>
}

fn select_four_rows_dot() -> Option<FourRowsDot> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        return Some(avx2::four_rows_dot);
    }
    None
}

/// One row against `B` columns, portable: per block an f32 partial per column, then `acc += d·partial`.
fn row_dot_portable<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
    let mut acc = [0.0f32; B];
    for (b, blk) in row.chunks_exact(BLOCK_BYTES).enumerate() {
        let d = half::f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        let q = block_codes(&blk[2..]).map(f32::from);
        for (j, a) in acc.iter_mut().enumerate() {
            let xb = &x[j * cols + b * BLOCK_WEIGHTS..][..BLOCK_WEIGHTS];
            let mut lanes = [0.0f32; 8];
            for (qc, xc) in q.chunks_exact(8).zip(xb.chunks_exact(8)) {
                for l in 0..8 {
                    lanes[l] = qc[l].mul_add(xc[l], lanes[l]);
                }
            }
            *a = d.mul_add(lanes.iter().sum::<f32>(), *a);
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::cpu::x86::{hsum, prefetch_at};

    use super::{BLOCK_BYTES, BLOCK_WEIGHTS};

    /// Safe entry: only selected after `avx2`, `fma` and `f16c` were detected at run time.
    pub(super) fn row_dot<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        assert!(x.len() >= (B - 1) * cols + row.len() / BLOCK_BYTES * BLOCK_WEIGHTS, "x shorter than B rows");
        // SAFETY: `select_row_dot` returns this function only when the CPU has AVX2, FMA and
        // F16C; the length of x is checked above.
        unsafe { row_dot_avx2::<B>(row, x, cols) }
    }

    /// Safe entry: only selected after `avx2`, `fma` and `f16c` were detected at run time.
    pub(super) fn four_rows_dot(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        for r in &rows[1..] {
            assert_eq!(r.len(), rows[0].len(), "rows of one matrix have one length");
        }
        assert!(x.len() >= rows[0].len() / BLOCK_BYTES * BLOCK_WEIGHTS, "x shorter than a row");
        // SAFETY: AVX2, FMA and F16C were detected; lengths are checked above.
        unsafe { four_rows_dot_avx2(rows, x) }
    }

    /// Unpacks the 16 nibble bytes at `p` to the block's 32 codes minus 8, as four f32 vectors
    /// in weight order (low nibbles are weights 0..16, high nibbles 16..32).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn unpack(p: *const u8) -> [__m256; 4] {
        // SAFETY: the caller guarantees 16 readable bytes at `p`.
        let v = unsafe { _mm_loadu_si128(p.cast()) };
        let mask = _mm_set1_epi8(0x0F);
        let eight = _mm_set1_epi8(8);
        let lo = _mm_sub_epi8(_mm_and_si128(v, mask), eight);
        let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16::<4>(v), mask), eight);
        [
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(lo))),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(hi))),
        ]
    }

    /// The f16 scale at `p`, broadcast.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale(p: *const u8) -> __m256 {
        // SAFETY: the caller guarantees 2 readable bytes at `p`.
        let bits = unsafe { u16::from_le_bytes([*p, *p.add(1)]) };
        _mm256_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits)))))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn four_rows_dot_avx2(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        let blocks = rows[0].len() / BLOCK_BYTES;
        let mut acc = [_mm256_setzero_ps(); 4];
        // The four rows are consecutive: each weight is prefetched where the next group of four
        // rows will read it (2 KiB ahead would land in the next row, already being read).
        let group_bytes = 4 * rows[0].len();
        for b in 0..blocks {
            for r in &rows {
                prefetch_at(r.as_ptr().wrapping_add(group_bytes + b * BLOCK_BYTES));
            }
            // SAFETY: block b lies inside every row and x[b·32 .. b·32+32] inside x (checked by
            // the safe entry).
            unsafe {
                let xb = x.as_ptr().add(b * BLOCK_WEIGHTS);
                let xs = [
                    _mm256_loadu_ps(xb),
                    _mm256_loadu_ps(xb.add(8)),
                    _mm256_loadu_ps(xb.add(16)),
                    _mm256_loadu_ps(xb.add(24)),
                ];
                for (a, row) in acc.iter_mut().zip(rows) {
                    let bp = row.as_ptr().add(b * BLOCK_BYTES);
                    let q = unpack(bp.add(2));
                    let mut t = _mm256_mul_ps(q[0], xs[0]);
                    t = _mm256_fmadd_ps(q[1], xs[1], t);
                    t = _mm256_fmadd_ps(q[2], xs[2], t);
                    t = _mm256_fmadd_ps(q[3], xs[3], t);
                    *a = _mm256_fmadd_ps(scale(bp), t, *a);
                }
            }
        }
        acc.map(|a| hsum(a))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn row_dot_avx2<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        let blocks = row.len() / BLOCK_BYTES;
        let mut acc = [_mm256_setzero_ps(); B];
        let rp = row.as_ptr();
        let xp = x.as_ptr();
        for b in 0..blocks {
            // SAFETY: block b spans bytes [b·18, b·18+18) of `row`, and x[j·cols + b·32 .. +32]
            // lies inside `x` for j < B (checked by the safe entry).
            unsafe {
                let bp = rp.add(b * BLOCK_BYTES);
                let d = scale(bp);
                let [q0, q1, q2, q3] = unpack(bp.add(2));
                for (j, a) in acc.iter_mut().enumerate() {
                    let xb = xp.add(j * cols + b * BLOCK_WEIGHTS);
                    let mut t = _mm256_mul_ps(q0, _mm256_loadu_ps(xb));
                    t = _mm256_fmadd_ps(q1, _mm256_loadu_ps(xb.add(8)), t);
                    t = _mm256_fmadd_ps(q2, _mm256_loadu_ps(xb.add(16)), t);
                    t = _mm256_fmadd_ps(q3, _mm256_loadu_ps(xb.add(24)), t);
                    *a = _mm256_fmadd_ps(d, t, *a);
                }
            }
        }
        acc.map(|a| hsum(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare_f32;
    use crate::op::Op;
    use crate::ops::q4_0_gemv::{Q4_0Gemv, dims};
    use crate::seed::rng_for;

    fn transpose(by_row: &[f32], rows: usize, batch: usize) -> Vec<f32> {
        let mut t = vec![0.0; rows * batch];
        for r in 0..rows {
            for j in 0..batch {
                t[j * rows + r] = by_row[r * batch + j];
            }
        }
        t
    }

    #[test]
    fn the_portable_and_simd_paths_agree_with_the_reference() {
        for (rows, cols, batch) in [(19, 96, 3), (37, 160, 1), (5, 32, 8)] {
            let d = dims(rows, cols, batch);
            let inputs = Q4_0Gemv.random_inputs(&d, &mut rng_for(7, 0));
            let want = Q4_0Gemv.reference(&d, &inputs);
            let want = want[0].as_f32().unwrap();
            let (w, x) = (inputs[0].as_u8().unwrap(), inputs[1].as_f32().unwrap());
            let row_bytes = cols / 32 * BLOCK_BYTES;
            let portable: Vec<f32> = (0..rows)
                .flat_map(|r| match batch {
                    1 => row_dot_portable::<1>(&w[r * row_bytes..(r + 1) * row_bytes], x, cols).to_vec(),
                    3 => row_dot_portable::<3>(&w[r * row_bytes..(r + 1) * row_bytes], x, cols).to_vec(),
                    _ => row_dot_portable::<8>(&w[r * row_bytes..(r + 1) * row_bytes], x, cols).to_vec(),
                })
                .collect();
            let mut fast = vec![f32::NAN; batch * rows];
            q4_0_gemv(w, x, &mut fast, rows, cols, batch);
            let tol = Q4_0Gemv.tolerance();
            assert!(
                compare_f32(&transpose(&portable, rows, batch), want, tol).passed,
                "portable {rows}x{cols}x{batch}"
            );
            assert!(compare_f32(&fast, want, tol).passed, "fast {rows}x{cols}x{batch}");
        }
    }
}
