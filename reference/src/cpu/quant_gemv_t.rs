//! The transposed product dX = dY·W on the cpu, for any row-stored weight matrix: the rows are
//! cut into [`ROW_GROUPS`] contiguous runs, one task a run; each task widens its rows to f32 once
//! and adds `dy[t][r]`·row into its own partial dX, and the partials are added in run order. The
//! cut does not depend on the thread count, so the result is the same bits on any machine.

use rayon::prelude::*;

use crate::quant::format::BaseFormat;

/// Runs of rows the work is cut into (a fixed number: the bits must not depend on the pool).
pub const ROW_GROUPS: usize = 16;

/// `dx[t·cols + c] = Σ_r W[r][c]·dy[t·rows + r]` with row `r` of W written into a `cols`-long
/// slice by `row_f32(r, out)`.
pub fn gemv_t_rows(
    rows: usize,
    cols: usize,
    tokens: usize,
    dy: &[f32],
    dx: &mut [f32],
    row_f32: impl Fn(usize, &mut [f32]) + Sync,
) {
    assert_eq!((dy.len(), dx.len()), (tokens * rows, tokens * cols), "gemv_t: lengths");
    let per_group = rows.div_ceil(ROW_GROUPS).max(1);
    let partials: Vec<Vec<f32>> = (0..rows.div_ceil(per_group))
        .into_par_iter()
        .map(|g| {
            let mut acc = vec![0.0f32; tokens * cols];
            let mut row = vec![0.0f32; cols];
            for r in g * per_group..((g + 1) * per_group).min(rows) {
                row_f32(r, &mut row);
                for (t, acc_t) in acc.chunks_exact_mut(cols).enumerate() {
                    super::lora::axpy(acc_t, dy[t * rows + r], &row);
                }
            }
            acc
        })
        .collect();
    dx.fill(0.0);
    for p in &partials {
        dx.iter_mut().zip(p).for_each(|(x, y)| *x += y);
    }
}

/// The registered ops' cpu kernel: `w` u8 `[rows, row_bytes]` in `format`.
pub fn quant_gemv_t(format: BaseFormat, w: &[u8], dy: &[f32], dx: &mut [f32], rows: usize, cols: usize, tokens: usize) {
    let row_bytes = format.row_bytes(cols).expect("cols fits the format");
    assert_eq!(w.len(), rows * row_bytes, "gemv_t: weight bytes");
    gemv_t_rows(rows, cols, tokens, dy, dx, |r, out| {
        out.copy_from_slice(&format.decode(&w[r * row_bytes..(r + 1) * row_bytes]));
    });
}
