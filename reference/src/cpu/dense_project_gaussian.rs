//! Fast CPU `dense_project_gaussian` (s = R·g) and `dense_project_gaussian_t` (g' = Rᵀ·s), R's
//! N(0, 1/k) entries generated on the fly: one Philox block per 4 columns of a row, two
//! Box–Muller pairs from its words, as `kernels/SIGNALS.md` specifies.
//!
//! Entries are computed in f32 by [`box_muller`]
//! (polynomial logarithm, sine and cosine after an exact range reduction; within 1.44e-6 of
//! the exact value), which the PTX kernels repeat operation for operation, so cpu and PTX
//! entries are the same bits. Generating R is the whole cost (about 50 flops and a Philox block
//! per 4 entries against one FMA of g), so the loops are shaped for SIMD: [`LANES`] Philox
//! blocks side by side (32-bit multiplies widened to 64 bits vectorize as `vpmuludq`), then the
//! Box–Muller steps on those lanes, branch-free (the quarter-turn swap is a select).
//!
//! Forward: g is split into chunks of [`CHUNK`] columns, deinterleaved once per chunk into four
//! column classes (c mod 4) so each lane's entry meets its column with a contiguous load; every
//! row's partial sum over a chunk is computed in parallel, then partials are added in chunk
//! order, so the result does not depend on threads or scheduling. Transpose: tasks own
//! [`T_COLUMNS`] columns and add rows in row order with an FMA per entry, then scale — the order
//! the PTX transpose uses, so the two agree bit for bit.

use rayon::prelude::*;

use crate::signals::box_muller_f32::box_muller;
use crate::signals::derive::PURPOSE_DENSE_GAUSSIAN;
use crate::signals::philox::{M0, M1, ROUNDS, W0, W1};

/// Columns of g one forward task owns (4 KiB of f32, deinterleaved on the stack).
pub const CHUNK: usize = 1024;
/// Columns one transpose task owns.
pub const T_COLUMNS: usize = 256;
/// Philox blocks (4 columns each) evaluated side by side.
pub const LANES: usize = 8;

const CHUNK_GROUPS: usize = CHUNK / 4;
const T_GROUPS: usize = T_COLUMNS / 4;

/// Philox words of row `row`, column groups q0 .. q0 + LANES: counter (q mod 2^32, row,
/// q div 2^32, 2). Word-major: `w[i][l]` is word i of group q0 + l.
#[inline(always)]
fn philox_lanes(key: [u32; 2], row: u32, q0: u64) -> [[u32; LANES]; 4] {
    let lo = std::array::from_fn(|l| (q0 + l as u64) as u32);
    let hi = std::array::from_fn(|l| ((q0 + l as u64) >> 32) as u32);
    let mut c = [lo, [row; LANES], hi, [PURPOSE_DENSE_GAUSSIAN; LANES]];
    let mut k = key;
    for r in 0..ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let mut next = [[0u32; LANES]; 4];
        for l in 0..LANES {
            let p0 = u64::from(M0) * u64::from(c[0][l]);
            let p1 = u64::from(M1) * u64::from(c[2][l]);
            next[0][l] = (p1 >> 32) as u32 ^ c[1][l] ^ k[0];
            next[1][l] = p1 as u32;
            next[2][l] = (p0 >> 32) as u32 ^ c[3][l] ^ k[1];
            next[3][l] = p0 as u32;
        }
        c = next;
    }
    c
}

/// Unscaled f32 entries of row `row`, column groups q0 .. q0 + LANES: `z[i][l]` is column
/// 4(q0 + l) + i.
#[inline(always)]
fn entries_lanes(key: [u32; 2], row: u32, q0: u64) -> [[f32; LANES]; 4] {
    let w = philox_lanes(key, row, q0);
    let mut z = [[0.0f32; LANES]; 4];
    for l in 0..LANES {
        (z[0][l], z[1][l]) = box_muller(w[0][l], w[1][l]);
        (z[2][l], z[3][l]) = box_muller(w[2][l], w[3][l]);
    }
    z
}

/// Unscaled partial sums of every row over chunk `chunk` (columns `cols`).
#[inline(always)]
fn chunk_partials_generic(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    // Column 4p + i of the chunk at gd[i][p]; zero past the end, so the entries of columns past
    // n (computed anyway, whole lanes at a time) add nothing.
    let mut gd = [[0.0f32; CHUNK_GROUPS]; 4];
    for (c, &x) in cols.iter().enumerate() {
        gd[c % 4][c / 4] = x;
    }
    let groups = cols.len().div_ceil(4).next_multiple_of(LANES);
    let q_first = (chunk * CHUNK_GROUPS) as u64;
    // Plain loops, no closures: a closure is a function of its own, compiled without the
    // caller's target features (it would call a software FMA per entry).
    let mut partials = Vec::with_capacity(k);
    for j in 0..k {
        let mut acc = [[0.0f32; LANES]; 4];
        for p0 in (0..groups).step_by(LANES) {
            let z = entries_lanes(key, j as u32, q_first + p0 as u64);
            for i in 0..4 {
                for l in 0..LANES {
                    acc[i][l] = z[i][l].mul_add(gd[i][p0 + l], acc[i][l]);
                }
            }
        }
        let mut sum = 0.0f32;
        for a in &acc {
            for &v in a {
                sum += v;
            }
        }
        partials.push(sum);
    }
    partials
}

/// [`chunk_partials_generic`] compiled with AVX2 and FMA (same operations, same results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_partials_avx2(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    chunk_partials_generic(key, chunk, cols, k)
}

fn chunk_partials(key: [u32; 2], chunk: usize, cols: &[f32], k: usize) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA were detected.
        return unsafe { chunk_partials_avx2(key, chunk, cols, k) };
    }
    chunk_partials_generic(key, chunk, cols, k)
}

/// `s[j] = Σ_c R[j, c]·g[c]` for j in 0..s.len() (k = s.len()), R's entries z/√k.
pub fn dense_project_gaussian(key: [u32; 2], g: &[f32], s: &mut [f32]) {
    let k = s.len();
    let partials: Vec<Vec<f32>> =
        g.par_chunks(CHUNK).enumerate().map(|(chunk, cols)| chunk_partials(key, chunk, cols, k)).collect();
    let scale = 1.0 / (k as f32).sqrt();
    for (j, out) in s.iter_mut().enumerate() {
        *out = partials.iter().map(|p| p[j]).sum::<f32>() * scale;
    }
}

/// Columns `out` (the `task`-th run of [`T_COLUMNS`]) of Rᵀ·s: per column, an FMA per row in
/// row order, then the scale.
#[inline(always)]
fn transpose_columns_generic(key: [u32; 2], s: &[f32], task: usize, out: &mut [f32]) {
    let mut acc = [[0.0f32; T_GROUPS]; 4];
    let groups = out.len().div_ceil(4).next_multiple_of(LANES);
    let q_first = (task * T_GROUPS) as u64;
    for (j, &sj) in s.iter().enumerate() {
        for p0 in (0..groups).step_by(LANES) {
            let z = entries_lanes(key, j as u32, q_first + p0 as u64);
            for i in 0..4 {
                for l in 0..LANES {
                    acc[i][p0 + l] = z[i][l].mul_add(sj, acc[i][p0 + l]);
                }
            }
        }
    }
    let scale = 1.0 / (s.len() as f32).sqrt();
    for (c, o) in out.iter_mut().enumerate() {
        *o = acc[c % 4][c / 4] * scale;
    }
}

/// [`transpose_columns_generic`] compiled with AVX2 and FMA (same operations, same results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose_columns_avx2(key: [u32; 2], s: &[f32], task: usize, out: &mut [f32]) {
    transpose_columns_generic(key, s, task, out)
}

fn transpose_columns(key: [u32; 2], s: &[f32], task: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA were detected.
        return unsafe { transpose_columns_avx2(key, s, task, out) };
    }
    transpose_columns_generic(key, s, task, out)
}

/// `g[c] = Σ_j R[j, c]·s[j]` for c in 0..g.len() (k = s.len()), R's entries z/√k.
pub fn dense_project_gaussian_t(key: [u32; 2], s: &[f32], g: &mut [f32]) {
    g.par_chunks_mut(T_COLUMNS).enumerate().for_each(|(task, out)| transpose_columns(key, s, task, out));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::box_muller_f32;
    use crate::signals::derive::{dense_block, key_of_seed};

    #[test]
    fn lane_entries_are_the_scalar_f32_box_muller_of_each_block() {
        let key = key_of_seed(0xfeed_f00d_1234);
        for (row, q0) in [(0u32, 0u64), (5, 1000), (9, (1 << 32) - 3)] {
            let z = entries_lanes(key, row, q0);
            for (l, q) in (q0..q0 + LANES as u64).enumerate() {
                let w = dense_block(key, PURPOSE_DENSE_GAUSSIAN, row, q);
                let (a, b) = box_muller_f32::box_muller(w[0], w[1]);
                let (c, d) = box_muller_f32::box_muller(w[2], w[3]);
                let got = z.map(|zi| zi[l].to_bits());
                assert_eq!(got, [a, b, c, d].map(f32::to_bits), "row {row} group {q}");
            }
        }
    }

    #[test]
    fn simd_and_portable_paths_give_the_same_bits() {
        let key = key_of_seed(77);
        let g: Vec<f32> = (0..CHUNK - 5).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let portable = chunk_partials_generic(key, 3, &g, 7);
        let dispatched = chunk_partials(key, 3, &g, 7);
        assert_eq!(
            portable.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            dispatched.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let s = [0.5f32, -1.25, 2.0];
        let (mut a, mut b) = (vec![f32::NAN; 200], vec![f32::NAN; 200]);
        transpose_columns_generic(key, &s, 2, &mut a);
        transpose_columns(key, &s, 2, &mut b);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn both_directions_match_the_f64_reference_within_the_op_tolerance() {
        use crate::compare::compare_f32;
        use crate::op::Op;
        use crate::ops::dense_project::dims;
        use crate::ops::dense_project_gaussian::{DenseProjectGaussian, DenseProjectGaussianT};
        use crate::tensor::Tensor;

        let seed = [0x0bad_cafe, 0x1357_9bdf];
        let key = [seed[0], seed[1]];
        for (n, k) in [(1, 1), (2 * CHUNK + 7, 9), (T_COLUMNS + 3, 33)] {
            let g: Vec<f32> = (0..n).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 1001.0).collect();
            let s_in: Vec<f32> = (0..k).map(|j| ((j * 31 % 17) as f32 - 8.0) / 8.0).collect();
            let seed_t = Tensor::u32(vec![2], seed.to_vec());
            let want = DenseProjectGaussian.reference(&dims(n, k), &[Tensor::f32(vec![n], g.clone()), seed_t.clone()]);
            let mut got = vec![f32::NAN; k];
            dense_project_gaussian(key, &g, &mut got);
            let c = compare_f32(&got, want[0].as_f32().unwrap(), DenseProjectGaussian.tolerance());
            assert!(c.passed, "forward n {n} k {k}: {c}");
            let want = DenseProjectGaussianT.reference(&dims(n, k), &[Tensor::f32(vec![k], s_in.clone()), seed_t]);
            let mut got = vec![f32::NAN; n];
            dense_project_gaussian_t(key, &s_in, &mut got);
            let c = compare_f32(&got, want[0].as_f32().unwrap(), DenseProjectGaussianT.tolerance());
            assert!(c.passed, "transpose n {n} k {k}: {c}");
        }
    }
}
