//! The row-band driver the quantized CPU GEMVs share: rayon tasks own bands of rows, a format's
//! row kernel computes one row against all `B` activation columns, and an optional epilogue
//! adds to a band's outputs while they are still in L1 — how `lora_fused` applies its adapters
//! without a second pass over y.

use rayon::prelude::*;

/// Rows one rayon task computes: big enough to amortize scheduling, small enough to balance.
const ROWS_PER_TASK: usize = 16;

/// One encoded row against `B` columns of x (`cols` apart): the B dot products.
pub type RowDot<const B: usize> = fn(&[u8], &[f32], usize) -> [f32; B];

/// Four encoded rows against one column: the batch-1 fast path (one load of x feeds four rows).
pub type FourRowsDot = fn([&[u8]; 4], &[f32]) -> [f32; 4];

/// Work added to a band's outputs right after its base products: called as
/// `epilogue(first_row, columns, out)` with `out` holding `out.len() / columns` consecutive rows
/// from `first_row`, each row's `columns` outputs together (column j of band row i at
/// `i·columns + j`). A whole band a call, so the epilogue can vectorize across rows and costs one
/// indirect call per band, not per row.
pub type Epilogue<'a> = &'a (dyn Fn(usize, usize, &mut [f32]) + Sync);

/// A format's row kernels for `B` columns.
#[derive(Clone, Copy)]
pub struct RowKernels<const B: usize> {
    /// Bytes of one encoded row.
    pub row_bytes: usize,
    /// One row, B columns.
    pub row_dot: RowDot<B>,
    /// Four rows, one column, where the CPU has a SIMD version.
    pub four_rows: Option<FourRowsDot>,
}

/// y[j·rows + r] = row r · x[j] (+ epilogue) for all rows, `B` columns of `cols` activations.
pub fn run<const B: usize>(
    kernels: RowKernels<B>,
    w: &[u8],
    x: &[f32],
    y: &mut [f32],
    rows: usize,
    cols: usize,
    epilogue: Option<Epilogue<'_>>,
) {
    let RowKernels { row_bytes, row_dot, four_rows } = kernels;
    assert_eq!(w.len(), rows * row_bytes, "row gemv: w length");
    // A kernel may append data of its own after the B columns (per-block sums of x).
    assert!(x.len() >= B * cols, "row gemv: x length");
    assert_eq!(y.len(), B * rows, "row gemv: y length");
    let row = |r: usize| &w[r * row_bytes..(r + 1) * row_bytes];
    if B == 1 {
        // y is exactly one column: tasks write their own rows in place, four rows at a time
        // where SIMD allows (four independent weight streams).
        y.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(|(t, ys)| {
            let first = t * ROWS_PER_TASK;
            let mut i = 0;
            if let Some(four) = four_rows {
                while i + 4 <= ys.len() {
                    let r = first + i;
                    ys[i..i + 4].copy_from_slice(&four([row(r), row(r + 1), row(r + 2), row(r + 3)], x));
                    i += 4;
                }
            }
            for (k, yr) in ys.iter_mut().enumerate().skip(i) {
                *yr = row_dot(row(first + k), x, cols)[0];
            }
            if let Some(ep) = epilogue {
                ep(first, 1, ys);
            }
        });
        return;
    }
    // Several columns: compute [rows][B] then transpose into y's [B][rows].
    let mut by_row = vec![0.0f32; rows * B];
    by_row.par_chunks_mut(ROWS_PER_TASK * B).enumerate().for_each(|(t, out)| {
        for (i, o) in out.chunks_exact_mut(B).enumerate() {
            o.copy_from_slice(&row_dot(row(t * ROWS_PER_TASK + i), x, cols));
        }
        if let Some(ep) = epilogue {
            ep(t * ROWS_PER_TASK, B, out);
        }
    });
    for r in 0..rows {
        for j in 0..B {
            y[j * rows + r] = by_row[r * B + j];
        }
    }
}

/// Calls `$f::<B>($args)` with the const `B` equal to `$batch` (1..=8).
macro_rules! for_batch {
    ($batch:expr, $f:ident ( $($arg:expr),* )) => {
        match $batch {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            b => panic!("batch {b} outside 1..=8"),
        }
    };
}
pub(crate) use for_batch;
