//! The transposed product dX = dY·W on the cpu, for any row-stored weight matrix. It is a GEMM
//! (tokens × rows by rows × cols), so it is built like one: each task owns a band of
//! [`COLUMNS_PER_TASK`] columns of dX for every token (more with few tokens), widens a few rows of its columns of W
//! to f32 at a time into a panel of [`PANEL_FLOATS`], and runs the panel through a tile of 4 tokens × 16 columns
//! of dX held in registers, one row after another. Rows are added to each dX element in order, a
//! multiply then an add (never fused), whatever the band, panel, tile, thread count or SIMD width,
//! so the result is the same bits on any machine: those of the plain loop
//! `for r { dx[t][c] += dy[t][r] * w[r][c] }` from zero.

use rayon::prelude::*;

use crate::quant::format::BaseFormat;

/// Columns of dX a task owns: whole 32-weight blocks, few enough that the task's dX (every
/// token) and its panel stay in L1 and L2, and many tasks for the threads. With few tokens the
/// widening dominates, and it costs less in longer runs of a row: [`columns_per_task`].
pub const COLUMNS_PER_TASK: usize = 64;
/// Columns a task owns below [`FEW_TOKENS`] tokens.
const COLUMNS_PER_TASK_FEW_TOKENS: usize = 1024;
/// Token count below which tasks own [`COLUMNS_PER_TASK_FEW_TOKENS`] columns.
const FEW_TOKENS: usize = 8;

/// Columns of dX one task owns at `tokens` tokens (a multiple of [`COLUMNS_PER_TASK`]). Only
/// the split of the work depends on it, never the bits.
pub fn columns_per_task(tokens: usize) -> usize {
    if tokens < FEW_TOKENS { COLUMNS_PER_TASK_FEW_TOKENS } else { COLUMNS_PER_TASK }
}
/// Floats of the f32 panel a task widens W's rows into (16 KiB, to stay in L1): 64 rows of 64
/// columns, 4 of 1024.
const PANEL_FLOATS: usize = 4096;
/// Columns of a register tile.
const TILE_COLUMNS: usize = 16;

/// `dx[t·cols + c] = Σ_r W[r][c]·dy[t·rows + r]`, with `widen(r, first, out)` writing row `r`'s
/// columns `first..first + out.len()` of W as f32 (`first` a multiple of [`COLUMNS_PER_TASK`]).
/// A task owns [`columns_per_task`] columns.
pub fn gemv_t_rows(
    rows: usize,
    cols: usize,
    tokens: usize,
    dy: &[f32],
    dx: &mut [f32],
    widen: impl Fn(usize, usize, &mut [f32]) + Sync,
) {
    assert_eq!((dy.len(), dx.len()), (tokens * rows, tokens * cols), "gemv_t: lengths");
    let per_task = columns_per_task(tokens);
    let bands: Vec<(usize, Vec<f32>)> = (0..cols.div_ceil(per_task))
        .into_par_iter()
        .map(|band| {
            let first = band * per_task;
            let width = per_task.min(cols - first);
            let mut acc = vec![0.0f32; tokens * width];
            let panel_rows = (PANEL_FLOATS / per_task).max(1);
            let mut panel = vec![0.0f32; panel_rows * width];
            for r0 in (0..rows).step_by(panel_rows) {
                let n = panel_rows.min(rows - r0);
                for (i, row) in panel.chunks_exact_mut(width).take(n).enumerate() {
                    widen(r0 + i, first, row);
                }
                accumulate(&mut acc, &panel[..n * width], dy, rows, r0, width);
            }
            (first, acc)
        })
        .collect();
    for (first, acc) in bands {
        let width = acc.len() / tokens.max(1);
        for (t, a) in acc.chunks_exact(width.max(1)).enumerate().take(tokens) {
            dx[t * cols + first..t * cols + first + width].copy_from_slice(a);
        }
    }
}

/// acc[t][c] += dy[t][r0 + i]·panel[i][c] for the panel's rows i in order: `acc` `[tokens,
/// width]`, `panel` `[n, width]`.
fn accumulate(acc: &mut [f32], panel: &[f32], dy: &[f32], rows: usize, r0: usize, width: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above).
            return unsafe { simd::accumulate_avx512(acc, panel, dy, rows, r0, width) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { simd::accumulate_avx2(acc, panel, dy, rows, r0, width) };
        }
    }
    accumulate_tiles(acc, panel, dy, rows, r0, width);
}

/// [`accumulate`] in tiles of 4 tokens (then single tokens) × [`TILE_COLUMNS`] columns (then
/// single columns), each tile's sums in locals across the panel's rows.
#[inline(always)]
fn accumulate_tiles(acc: &mut [f32], panel: &[f32], dy: &[f32], rows: usize, r0: usize, width: usize) {
    let tokens = acc.len() / width;
    let n = panel.len() / width;
    let mut t = 0;
    while t + 4 <= tokens {
        tile::<4>(acc, panel, dy, rows, r0, width, t, n);
        t += 4;
    }
    while t < tokens {
        tile::<1>(acc, panel, dy, rows, r0, width, t, n);
        t += 1;
    }
}

/// Tokens `t0..t0 + T` across every column: full [`TILE_COLUMNS`]-wide tiles, then the rest.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const T: usize>(
    acc: &mut [f32],
    panel: &[f32],
    dy: &[f32],
    rows: usize,
    r0: usize,
    width: usize,
    t0: usize,
    n: usize,
) {
    let mut c0 = 0;
    while c0 + TILE_COLUMNS <= width {
        let mut sums = [[0.0f32; TILE_COLUMNS]; T];
        for (j, s) in sums.iter_mut().enumerate() {
            s.copy_from_slice(&acc[(t0 + j) * width + c0..][..TILE_COLUMNS]);
        }
        for i in 0..n {
            let w: &[f32; TILE_COLUMNS] = panel[i * width + c0..][..TILE_COLUMNS].try_into().expect("a tile row");
            for (j, s) in sums.iter_mut().enumerate() {
                let d = dy[(t0 + j) * rows + r0 + i];
                for c in 0..TILE_COLUMNS {
                    s[c] += d * w[c];
                }
            }
        }
        for (j, s) in sums.iter().enumerate() {
            acc[(t0 + j) * width + c0..][..TILE_COLUMNS].copy_from_slice(s);
        }
        c0 += TILE_COLUMNS;
    }
    for c in c0..width {
        for j in 0..T {
            let mut s = acc[(t0 + j) * width + c];
            for i in 0..n {
                s += dy[(t0 + j) * rows + r0 + i] * panel[i * width + c];
            }
            acc[(t0 + j) * width + c] = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    /// [`super::accumulate_tiles`] compiled for AVX-512F: a 16-column tile row is one register.
    #[target_feature(enable = "avx512f")]
    pub(super) fn accumulate_avx512(acc: &mut [f32], panel: &[f32], dy: &[f32], rows: usize, r0: usize, width: usize) {
        super::accumulate_tiles(acc, panel, dy, rows, r0, width);
    }

    /// [`super::accumulate_tiles`] compiled for AVX2: two registers a tile row.
    #[target_feature(enable = "avx2")]
    pub(super) fn accumulate_avx2(acc: &mut [f32], panel: &[f32], dy: &[f32], rows: usize, r0: usize, width: usize) {
        super::accumulate_tiles(acc, panel, dy, rows, r0, width);
    }
}

/// The registered ops' cpu kernel: `w` u8 `[rows, row_bytes]` in `format`.
pub fn quant_gemv_t(format: BaseFormat, w: &[u8], dy: &[f32], dx: &mut [f32], rows: usize, cols: usize, tokens: usize) {
    let row_bytes = format.row_bytes(cols).expect("cols fits the format");
    assert_eq!(w.len(), rows * row_bytes, "gemv_t: weight bytes");
    gemv_t_rows(rows, cols, tokens, dy, dx, |r, first, out| {
        format.decode_columns_into(&w[r * row_bytes..(r + 1) * row_bytes], first, out);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the plain loop, bit for bit, on shapes off every tile, band and panel size.
    #[test]
    fn gives_the_plain_loop_s_bits() {
        let value = |i: usize, salt: usize| ((i * 2654435761 + salt) % 1013) as f32 / 506.0 - 1.0;
        for (rows, cols, tokens) in [(1, 1, 1), (33, 17, 3), (70, 200, 9), (5, 64, 4), (64, 129, 6)] {
            let w: Vec<f32> = (0..rows * cols).map(|i| value(i, 1)).collect();
            let dy: Vec<f32> = (0..tokens * rows).map(|i| value(i, 2)).collect();
            let mut dx = vec![f32::NAN; tokens * cols];
            gemv_t_rows(rows, cols, tokens, &dy, &mut dx, |r, first, out| {
                out.copy_from_slice(&w[r * cols + first..r * cols + first + out.len()]);
            });
            for t in 0..tokens {
                for c in 0..cols {
                    let mut want = 0.0f32;
                    for r in 0..rows {
                        want += dy[t * rows + r] * w[r * cols + c];
                    }
                    assert_eq!(dx[t * cols + c].to_bits(), want.to_bits(), "{rows}x{cols}x{tokens} t {t} c {c}");
                }
            }
        }
    }
}
