//! Fast CPU `lora_fused_*`: the base GEMV's row bands with the two adapters as an epilogue.
//!
//! The shrinks t_p = A_p·x and t_c = A_c·x come first (r_p + r_c dot products of length k per
//! token, split evenly over the pool, the A factors read once); then the base streams W band by
//! band, and each band's outputs get
//! s_p·B_p[r]·t_p + s_c·B_c[r]·t_c for its rows r while they are still in L1
//! ([`super::expand_band`]), so y is written once.

use super::dot;
use super::expand_band::expand_band;
use crate::cpu::q8_activations::{self, Q8Activations};
use crate::cpu::row_gemv::{self, Epilogue, RowKernels, for_batch};
use crate::cpu::{q4_0_gemv, q4_1_gemv, q8_0_gemv};
use crate::ops::lora::fused::BaseFormat;
use rayon::prelude::*;

/// One adapter's factors: `a` `[rank, k]`, `b` `[n, rank]`, scale `s`.
#[derive(Clone, Copy)]
pub struct Adapter<'a> {
    /// The shrink, `[rank, k]`.
    pub a: &'a [f32],
    /// The expand, `[n, rank]`.
    pub b: &'a [f32],
    /// Its rank (0: absent).
    pub rank: usize,
    /// Its scale.
    pub s: f32,
}

/// y = W·x + s_p·B_p(A_p·x) + s_c·B_c(A_c·x) for 1..=8 tokens; `w` in `format`, `n` rows of `k`.
pub fn lora_fused(
    format: BaseFormat,
    w: &[u8],
    x: &[f32],
    y: &mut [f32],
    n: usize,
    k: usize,
    adapters: [Adapter<'_>; 2],
) {
    let tokens = x.len() / k;
    let shrunk = shrink_all(&adapters, x, k);
    let epilogue = |first: usize, columns: usize, out: &mut [f32]| expand_all(&adapters, &shrunk, first, columns, out);
    let ep: Epilogue<'_> = &epilogue;
    match format {
        BaseFormat::Q4_0 => q4_0_gemv::q4_0_gemv_then(w, x, y, n, k, tokens, Some(ep)),
        BaseFormat::Q4_1 => q4_1_gemv::q4_1_gemv_then(w, x, y, n, k, tokens, Some(ep)),
        BaseFormat::Q8_0 => q8_0_gemv::q8_0_gemv_then(w, x, y, n, k, tokens, Some(ep)),
        BaseFormat::F16 => for_batch!(tokens, f16_run(w, x, y, n, k, ep)),
    }
}

/// One token's y = W·x̂ + s_p·B_p(A_p·x) + s_c·B_c(A_c·x) with the base product on 8-bit
/// activations: `xq` is x quantized by [`q8_activations::quantize`], which the base multiplies
/// with integer dot products ([`q8_activations`]), while the adapters shrink the exact f32 `x`.
/// Still one pass over W, with y written once. An f16 base has no 8-bit kernel and runs
/// [`lora_fused`] on x.
#[allow(clippy::too_many_arguments)]
pub fn lora_fused_int8(
    format: BaseFormat,
    w: &[u8],
    x: &[f32],
    xq: &Q8Activations,
    y: &mut [f32],
    n: usize,
    k: usize,
    adapters: [Adapter<'_>; 2],
) {
    assert_eq!((x.len(), xq.len()), (k, k), "lora_fused_int8: one token of k activations");
    let shrunk = shrink_all(&adapters, x, k);
    let epilogue = |first: usize, columns: usize, out: &mut [f32]| expand_all(&adapters, &shrunk, first, columns, out);
    match format {
        BaseFormat::Q4_0 => q8_activations::q4_0_gemv_then(w, xq, y, n, k, &epilogue),
        BaseFormat::Q4_1 => q8_activations::q4_1_gemv_then(w, xq, y, n, k, &epilogue),
        BaseFormat::Q8_0 => q8_activations::q8_0_gemv_then(w, xq, y, n, k, &epilogue),
        BaseFormat::F16 => lora_fused(format, w, x, y, n, k, adapters),
    }
}

/// t = A·x for each adapter (`[tokens, rank]`; empty for an absent one). Both adapters'
/// outputs are split evenly over the pool in one parallel pass: at decode the shrink streams
/// every A factor once, and on a small model those bytes are a good part of the base's.
fn shrink_all(adapters: &[Adapter<'_>; 2], x: &[f32], k: usize) -> [Vec<f32>; 2] {
    let tokens = x.len() / k;
    let first_len = tokens * adapters[0].rank;
    let mut flat = vec![0.0f32; first_len + tokens * adapters[1].rank];
    let one = |idx: usize| {
        let (ad, i) = if idx < first_len { (&adapters[0], idx) } else { (&adapters[1], idx - first_len) };
        let (j, r) = (i / ad.rank, i % ad.rank);
        dot(&ad.a[r * k..(r + 1) * k], &x[j * k..(j + 1) * k])
    };
    let per_task = flat.len().div_ceil(rayon::current_num_threads()).max(1);
    flat.par_chunks_mut(per_task).enumerate().for_each(|(c, ts)| {
        for (e, v) in ts.iter_mut().enumerate() {
            *v = one(c * per_task + e);
        }
    });
    let second = flat.split_off(first_len);
    [flat, second]
}

/// The band epilogue: each present adapter's s·B·t added to the band's outputs.
fn expand_all(adapters: &[Adapter<'_>; 2], shrunk: &[Vec<f32>; 2], first: usize, columns: usize, out: &mut [f32]) {
    for (ad, t) in adapters.iter().zip(shrunk) {
        if ad.rank > 0 {
            expand_band(ad.b, t, ad.s, ad.rank, first, columns, out);
        }
    }
}

fn f16_run<const B: usize>(w: &[u8], x: &[f32], y: &mut [f32], rows: usize, cols: usize, ep: Epilogue<'_>) {
    let kernels = RowKernels { row_bytes: 2 * cols, row_dot: f16_row_dot::<B>, four_rows: None };
    row_gemv::run::<B>(kernels, w, x, y, rows, cols, Some(ep));
}

/// Weights an f16 row is widened in at a time (stays in L1).
const F16_CHUNK: usize = 256;

/// One little-endian f16 row against B columns: widen a chunk to f32 (F16C where the CPU has
/// it, through `half`), then an 8-lane dot per column.
fn f16_row_dot<const B: usize>(row: &[u8], x: &[f32], cols: usize) -> [f32; B] {
    // Rows start at even offsets of a heap buffer, so the cast holds in practice; copy if not.
    let copied: Vec<half::f16>;
    let halves: &[half::f16] = match bytemuck::try_cast_slice(row) {
        Ok(h) => h,
        Err(_) => {
            copied = row.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]])).collect();
            &copied
        }
    };
    let mut wide = [0.0f32; F16_CHUNK];
    let mut acc = [0.0f32; B];
    for (c, chunk) in halves.chunks(F16_CHUNK).enumerate() {
        let wide = &mut wide[..chunk.len()];
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(chunk, wide);
        for (j, a) in acc.iter_mut().enumerate() {
            let xs = &x[j * cols + c * F16_CHUNK..][..chunk.len()];
            *a += dot(wide, xs);
        }
    }
    acc
}
