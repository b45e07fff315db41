//! Fast CPU `int4_g128_gemv` on the packed format as it is (no repacking).
//!
//! Each rayon task owns a band of rows; a row's codes and scale/zero words are read once and
//! each group's 128 codes are turned into `q − z` once and reused for every activation column.
//! With AVX2 one u32 of codes is broadcast to eight lanes and shifted by 0, 4, …, 28 (variable
//! shift), so lane i holds weight 8k + i directly: the packing order makes unpacking one shift,
//! one mask and one conversion per eight weights, no shuffles.

use rayon::prelude::*;

use crate::quant::int4_g128::{GROUP, GROUP_CODE_BYTES, GROUP_SZ_BYTES, code, scale_zero};

/// Rows one rayon task computes.
const ROWS_PER_TASK: usize = 16;

/// y[j·rows + r] = Σ_c W[r][c]·x[j·cols + c] for `batch` ∈ 1..=8 columns.
pub fn int4_g128_gemv(w: &[u8], sz: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize, batch: usize) {
    assert_eq!(cols % GROUP, 0, "int4_g128_gemv: cols");
    assert_eq!(w.len(), rows * cols / 2, "int4_g128_gemv: w length");
    assert_eq!(sz.len(), rows * cols / GROUP * GROUP_SZ_BYTES, "int4_g128_gemv: sz length");
    assert_eq!(x.len(), batch * cols, "int4_g128_gemv: x length");
    assert_eq!(y.len(), batch * rows, "int4_g128_gemv: y length");
    match batch {
        1 => run::<1>(w, sz, x, y, rows, cols),
        2 => run::<2>(w, sz, x, y, rows, cols),
        3 => run::<3>(w, sz, x, y, rows, cols),
        4 => run::<4>(w, sz, x, y, rows, cols),
        5 => run::<5>(w, sz, x, y, rows, cols),
        6 => run::<6>(w, sz, x, y, rows, cols),
        7 => run::<7>(w, sz, x, y, rows, cols),
        8 => run::<8>(w, sz, x, y, rows, cols),
        _ => panic!("int4_g128_gemv: batch {batch} outside 1..=8"),
    }
}

fn run<const B: usize>(w: &[u8], sz: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize) {
    let (wb, sb) = (cols / 2, cols / GROUP * GROUP_SZ_BYTES);
    let row_dot = select_row_dot::<B>();
    let mut by_row = vec![0.0f32; rows * B];
    by_row.par_chunks_mut(ROWS_PER_TASK * B).enumerate().for_each(|(t, out)| {
        for (i, o) in out.chunks_exact_mut(B).enumerate() {
            let r = t * ROWS_PER_TASK + i;
            o.copy_from_slice(&row_dot(&w[r * wb..(r + 1) * wb], &sz[r * sb..(r + 1) * sb], x, cols));
        }
    });
    for r in 0..rows {
        for j in 0..B {
            y[j * rows + r] = by_row[r * B + j];
        }
    }
}

type RowDot<const B: usize> = fn(&[u8], &[u8], &[f32], usize) -> [f32; B];

fn select_row_dot<const B: usize>() -> RowDot<B> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return avx2::row_dot::<B>;
    }
    row_dot_portable::<B>
}

/// One row against `B` columns, portable: per group an f32 partial Σ(q − z)·x per column, then
/// `acc += s·partial`.
fn row_dot_portable<const B: usize>(codes: &[u8], sz: &[u8], x: &[f32], cols: usize) -> [f32; B] {
    let mut acc = [0.0f32; B];
    for g in 0..codes.len() / GROUP_CODE_BYTES {
        let (s, z) = scale_zero(sz, g);
        let gc = &codes[g * GROUP_CODE_BYTES..][..GROUP_CODE_BYTES];
        let q: [f32; GROUP] = std::array::from_fn(|i| f32::from(code(gc, i)) - z);
        for (j, a) in acc.iter_mut().enumerate() {
            let xg = &x[j * cols + g * GROUP..][..GROUP];
            let mut lanes = [0.0f32; 8];
            for (qc, xc) in q.chunks_exact(8).zip(xg.chunks_exact(8)) {
                for l in 0..8 {
                    lanes[l] = qc[l].mul_add(xc[l], lanes[l]);
                }
            }
            *a = s.mul_add(lanes.iter().sum::<f32>(), *a);
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::cpu::x86::hsum;

    use super::{GROUP, GROUP_CODE_BYTES, scale_zero};

    /// Safe entry: only selected after `avx2` and `fma` were detected at run time.
    pub(super) fn row_dot<const B: usize>(codes: &[u8], sz: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        assert!(x.len() >= (B - 1) * cols + codes.len() * 2, "x shorter than B rows");
        assert_eq!(codes.len() % GROUP_CODE_BYTES, 0, "whole groups");
        assert!(sz.len() >= codes.len() / GROUP_CODE_BYTES * 4, "one scale/zero word per group");
        // SAFETY: AVX2 and FMA were detected; lengths are checked above.
        unsafe { row_dot_avx2::<B>(codes, sz, x, cols) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_dot_avx2<const B: usize>(codes: &[u8], sz: &[u8], x: &[f32], cols: usize) -> [f32; B] {
        let groups = codes.len() / GROUP_CODE_BYTES;
        let shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
        let mask = _mm256_set1_epi32(0xF);
        let mut acc = [_mm256_setzero_ps(); B];
        let (cp, xp) = (codes.as_ptr(), x.as_ptr());
        for g in 0..groups {
            let (s, z) = scale_zero(sz, g);
            let zv = _mm256_set1_ps(z);
            let mut part = [_mm256_setzero_ps(); B];
            for k in 0..GROUP / 8 {
                // SAFETY: word k of group g lies inside `codes`; x[j·cols + g·128 + 8k .. +8] inside
                // `x` for j < B (checked by the safe entry).
                unsafe {
                    let word = cp.add(g * GROUP_CODE_BYTES + 4 * k).cast::<i32>().read_unaligned();
                    let q = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(word), shifts), mask);
                    let qz = _mm256_sub_ps(_mm256_cvtepi32_ps(q), zv);
                    for (j, p) in part.iter_mut().enumerate() {
                        *p = _mm256_fmadd_ps(qz, _mm256_loadu_ps(xp.add(j * cols + g * GROUP + 8 * k)), *p);
                    }
                }
            }
            let sv = _mm256_set1_ps(s);
            for (a, p) in acc.iter_mut().zip(part) {
                *a = _mm256_fmadd_ps(sv, p, *a);
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
    use crate::ops::int4_g128_gemv::{Int4G128Gemv, dims};
    use crate::seed::rng_for;

    #[test]
    fn the_portable_and_simd_paths_agree_with_the_reference() {
        for (rows, cols, batch) in [(19, 384, 3), (5, 128, 1)] {
            let d = dims(rows, cols, batch);
            let inputs = Int4G128Gemv.random_inputs(&d, &mut rng_for(7, 0));
            let want = Int4G128Gemv.reference(&d, &inputs);
            let want = want[0].as_f32().unwrap();
            let (w, sz, x) = (inputs[0].as_u8().unwrap(), inputs[1].as_u8().unwrap(), inputs[2].as_f32().unwrap());
            let (wb, sb) = (cols / 2, cols / 32);
            let mut portable = vec![0.0; rows * batch];
            for r in 0..rows {
                let (wr, sr) = (&w[r * wb..(r + 1) * wb], &sz[r * sb..(r + 1) * sb]);
                let v: Vec<f32> = match batch {
                    1 => row_dot_portable::<1>(wr, sr, x, cols).to_vec(),
                    _ => row_dot_portable::<3>(wr, sr, x, cols).to_vec(),
                };
                for (j, vj) in v.into_iter().enumerate() {
                    portable[j * rows + r] = vj;
                }
            }
            let mut fast = vec![f32::NAN; batch * rows];
            int4_g128_gemv(w, sz, x, &mut fast, rows, cols, batch);
            let tol = Int4G128Gemv.tolerance();
            assert!(compare_f32(&portable, want, tol).passed, "portable {rows}x{cols}x{batch}");
            assert!(compare_f32(&fast, want, tol).passed, "fast {rows}x{cols}x{batch}");
        }
    }
}
