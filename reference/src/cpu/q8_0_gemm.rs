//! Fast CPU `q8_0_gemm` and `q4_0_gemm`: rayon over bands of 16 weight rows; each band is
//! dequantized once to
//! f32 (16·cols floats, in cache) and multiplied with every token row, so weight decoding is
//! amortized over m tokens and the inner loop is a plain f32 dot product the compiler vectorizes
//! (AVX2+FMA where the CPU has it, chosen at run time).

use half::f16;
use rayon::prelude::*;

use crate::quant::format::BaseFormat;
use crate::quant::{q4_0, q8_0};

/// Weight rows a rayon task owns.
const ROWS_PER_TASK: usize = 16;

/// y[t·rows + r] = Σ_c W[r][c]·x[t·cols + c] for `m` token rows, W in `format` (Q8_0 or Q4_0).
pub fn quant_gemm(format: BaseFormat, w: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize, m: usize) {
    let row_bytes = format.row_bytes(cols).expect("cols is whole blocks");
    assert_eq!(w.len(), rows * row_bytes, "{format:?} gemm: w length");
    assert_eq!(x.len(), m * cols, "{format:?} gemm: x length");
    assert_eq!(y.len(), m * rows, "{format:?} gemm: y length");
    let dot = select_dot();
    // Each task computes y for its rows and every token; results are scattered afterwards, since
    // y is token-major and a band's outputs are strided in it.
    let bands: Vec<Vec<f32>> = (0..rows.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|band| {
            let r0 = band * ROWS_PER_TASK;
            let n = ROWS_PER_TASK.min(rows - r0);
            let mut deq = vec![0.0f32; n * cols];
            for (i, out) in deq.chunks_exact_mut(cols).enumerate() {
                dequantize_row(format, &w[(r0 + i) * row_bytes..(r0 + i + 1) * row_bytes], out);
            }
            let mut ys = vec![0.0f32; m * n];
            for t in 0..m {
                let xt = &x[t * cols..(t + 1) * cols];
                for (i, wr) in deq.chunks_exact(cols).enumerate() {
                    ys[t * n + i] = dot(wr, xt);
                }
            }
            ys
        })
        .collect();
    for (band, ys) in bands.iter().enumerate() {
        let r0 = band * ROWS_PER_TASK;
        let n = ROWS_PER_TASK.min(rows - r0);
        for t in 0..m {
            y[t * rows + r0..t * rows + r0 + n].copy_from_slice(&ys[t * n..(t + 1) * n]);
        }
    }
}

/// One row's weights as f32, exactly as the format's dequantization gives them.
fn dequantize_row(format: BaseFormat, blocks: &[u8], out: &mut [f32]) {
    match format {
        BaseFormat::Q8_0 => {
            for (b, o) in blocks.chunks_exact(q8_0::BLOCK_BYTES).zip(out.chunks_exact_mut(q8_0::BLOCK_WEIGHTS)) {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                for (q, v) in b[2..].iter().zip(o) {
                    *v = d * f32::from(*q as i8);
                }
            }
        }
        BaseFormat::Q4_0 => {
            for (b, o) in blocks.chunks_exact(q4_0::BLOCK_BYTES).zip(out.chunks_exact_mut(q4_0::BLOCK_WEIGHTS)) {
                let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
                let (lo, hi) = o.split_at_mut(q4_0::BLOCK_WEIGHTS / 2);
                for ((n, l), h) in b[2..].iter().zip(lo).zip(hi) {
                    *l = d * f32::from(i16::from(n & 0x0F) - 8);
                    *h = d * f32::from(i16::from(n >> 4) - 8);
                }
            }
        }
        other => panic!("no prefill GEMM for {other:?} weights"),
    }
}

type Dot = fn(&[f32], &[f32]) -> f32;

fn select_dot() -> Dot {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return |a, b| {
            // SAFETY: AVX2 and FMA were detected on this CPU just above.
            unsafe { dot_avx2(a, b) }
        };
    }
    dot_portable
}

/// Eight independent partial sums, so the loop vectorizes and pipelines. `FMA` only where the
/// CPU has it: elsewhere `mul_add` would be a library call per element.
#[inline(always)]
fn dot_lanes<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let madd = |x: f32, y: f32, acc: f32| if FMA { x.mul_add(y, acc) } else { x * y + acc };
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for k in 0..8 {
            acc[k] = madd(x[k], y[k], acc[k]);
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ar.iter().zip(br) {
        s = madd(*x, *y, s);
    }
    s
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes::<false>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes::<true>(a, b)
}
