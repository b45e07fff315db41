//! The adapter expand over one band of base-GEMV rows: out[i][j] += s·B[first + i]·t_j.
//!
//! `lora_fused` adds this to each band of the base product while its outputs are still in L1.
//! Per row it is a rank-long dot product (16 multiply-adds at rank 16), so a dot product per
//! row with its own horizontal sum costs more than the arithmetic: the AVX2 path instead takes
//! eight rows at once, eight accumulators against one load of t, and reduces them together into
//! one register holding the eight rows' sums.

use super::dot;

/// out[i·columns + j] += s·(B[first + i] · t[j]) for the `out.len() / columns` rows of a band:
/// `b` `[n, rank]` (all rows), `t` `[columns, rank]`.
pub fn expand_band(b: &[f32], t: &[f32], s: f32, rank: usize, first: usize, columns: usize, out: &mut [f32]) {
    let rows = out.len() / columns;
    assert_eq!(out.len(), rows * columns, "expand_band: out length");
    assert_eq!(t.len(), columns * rank, "expand_band: t length");
    let band = &b[first * rank..(first + rows) * rank];
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if rank.is_multiple_of(8)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        done = unsafe { avx2::eights(band, t, s, rank, columns, out) };
    }
    for i in done..rows {
        let br = &band[i * rank..(i + 1) * rank];
        for j in 0..columns {
            out[i * columns + j] += s * dot(br, &t[j * rank..(j + 1) * rank]);
        }
    }
}

/// out[i] = rows[i] · v for the `out.len()` rows of `rows` (each `v.len()` long, consecutive):
/// the same eight-rows-at-once kernel, for a shrink's rows against one token's activations.
pub fn rows_dot(rows: &[f32], v: &[f32], out: &mut [f32]) {
    let len = v.len();
    assert_eq!(rows.len(), out.len() * len, "rows_dot: rows length");
    if len == 0 {
        out.fill(0.0);
        return;
    }
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if len.is_multiple_of(8)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        let groups = out.len() / 8;
        for g in 0..groups {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the eight rows lie in `rows`.
            let sums = unsafe { avx2::dot8_lanes(&rows[g * 8 * len..(g + 1) * 8 * len], v, len) };
            out[g * 8..(g + 1) * 8].copy_from_slice(&sums);
        }
        done = groups * 8;
    }
    for (i, o) in out.iter_mut().enumerate().skip(done) {
        *o = dot(&rows[i * len..(i + 1) * len], v);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The band's rows in groups of eight (rank a multiple of 8); returns how many rows it did.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn eights(
        band: &[f32],
        t: &[f32],
        s: f32,
        rank: usize,
        columns: usize,
        out: &mut [f32],
    ) -> usize {
        let rows = band.len() / rank / 8 * 8;
        for first in (0..rows).step_by(8) {
            let rows8 = &band[first * rank..(first + 8) * rank];
            for j in 0..columns {
                let lanes = dot8_lanes(rows8, &t[j * rank..(j + 1) * rank], rank);
                for (i, v) in lanes.iter().enumerate() {
                    out[(first + i) * columns + j] += s * v;
                }
            }
        }
        rows
    }

    /// [`dot8`]'s eight sums as an array.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot8_lanes(rows8: &[f32], t: &[f32], rank: usize) -> [f32; 8] {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds eight f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), dot8(rows8, t, rank)) };
        lanes
    }

    /// The eight dot products rows8[i]·t (rows `rank` apart), lane i holding row i's.
    #[target_feature(enable = "avx2,fma")]
    fn dot8(rows8: &[f32], t: &[f32], rank: usize) -> __m256 {
        assert!(rows8.len() == 8 * rank && t.len() == rank && rank.is_multiple_of(8));
        let mut acc = [_mm256_setzero_ps(); 8];
        for c in (0..rank).step_by(8) {
            // SAFETY: c + 8 <= rank = t.len(), and row i's c + 8 <= rank lies inside rows8 (asserted).
            unsafe {
                let tv = _mm256_loadu_ps(t.as_ptr().add(c));
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_loadu_ps(rows8.as_ptr().add(i * rank + c)), tv, *a);
                }
            }
        }
        // Pairwise adds leave, in each 128-bit half, the four rows' partial sums over that half's
        // lanes (rows 0..4 in h0123, 4..8 in h4567); the halves' sums are then the rows' sums.
        let h01 = _mm256_hadd_ps(acc[0], acc[1]);
        let h23 = _mm256_hadd_ps(acc[2], acc[3]);
        let h45 = _mm256_hadd_ps(acc[4], acc[5]);
        let h67 = _mm256_hadd_ps(acc[6], acc[7]);
        let h0123 = _mm256_hadd_ps(h01, h23);
        let h4567 = _mm256_hadd_ps(h45, h67);
        let low = _mm256_permute2f128_ps::<0x20>(h0123, h4567);
        let high = _mm256_permute2f128_ps::<0x31>(h0123, h4567);
        _mm256_add_ps(low, high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against f64 dot products, for row counts off a multiple of 8 and lengths with and without
    /// the SIMD path.
    #[test]
    fn rows_dot_matches_per_row_dots() {
        let value = |i: usize, salt: usize| ((i * 2654435761 + salt) % 1009) as f32 / 504.0 - 1.0;
        for len in [0, 4, 8, 40, 4096] {
            for rows in [1, 7, 8, 17] {
                let m: Vec<f32> = (0..rows * len).map(|i| value(i, 5)).collect();
                let v: Vec<f32> = (0..len).map(|i| value(i, 6)).collect();
                let mut out = vec![f32::NAN; rows];
                rows_dot(&m, &v, &mut out);
                for (i, got) in out.iter().enumerate() {
                    let want: f64 = (0..len).map(|c| f64::from(m[i * len + c]) * f64::from(v[c])).sum();
                    let scale: f64 = (0..len).map(|c| f64::from(m[i * len + c] * v[c]).abs()).sum();
                    assert!(
                        (f64::from(*got) - want).abs() <= 1e-6 * (1.0 + scale),
                        "len {len} row {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// Against the plain per-row dot products, on ragged bands (rows not a multiple of 8), one
    /// and several columns, ranks with and without the SIMD path.
    #[test]
    fn matches_per_row_dots() {
        let value = |i: usize, salt: usize| ((i * 2654435761 + salt) % 1009) as f32 / 504.0 - 1.0;
        for rank in [4, 8, 16, 24, 64] {
            for columns in [1, 3] {
                for rows in [1, 7, 8, 13, 16] {
                    let (n, first) = (rows + 5, 3);
                    let b: Vec<f32> = (0..n * rank).map(|i| value(i, 1)).collect();
                    let t: Vec<f32> = (0..columns * rank).map(|i| value(i, 2)).collect();
                    let start: Vec<f32> = (0..rows * columns).map(|i| value(i, 3)).collect();
                    let mut out = start.clone();
                    expand_band(&b, &t, 0.75, rank, first, columns, &mut out);
                    for i in 0..rows {
                        for j in 0..columns {
                            let want: f64 = (0..rank)
                                .map(|c| f64::from(b[(first + i) * rank + c]) * f64::from(t[j * rank + c]))
                                .sum::<f64>()
                                * 0.75
                                + f64::from(start[i * columns + j]);
                            let got = f64::from(out[i * columns + j]);
                            assert!(
                                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                "rank {rank} row {i} col {j}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
