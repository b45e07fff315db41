//! Fast CPU `srht` and `srht_t`: the subsampled randomized Hadamard transform with one pass over
//! memory, the signs drawn one Philox block per 128 coordinates and the sample exactly as
//! `kernels/SIGNALS.md` specifies (the same coordinates as `derive::srht_sample`, drawn faster).
//!
//! The Walsh–Hadamard matrix factors over index bits: with `B` = [`BLOCK`] and coordinates split
//! as s = s_hi·B + s_lo, i = q·B + i_lo,
//!
//! ```text
//! (H z)[s] = Σ_q (−1)^popcount(s_hi & q) · (H_B z_q)[s_lo]
//! ```
//!
//! where z_q is block q of z. So `srht` transforms one cache-sized block at a time and keeps only
//! what the k samples need from it (k values a block), adding the blocks with their ±1 signs;
//! the signal is read from memory once and nothing signal-sized is written. `srht_t` runs it
//! backwards: for each block q' it folds the k samples into one sparse block
//! w[s_lo] = Σ ±y, transforms it in cache and writes g's block once.
//!
//! Inside a block (see [`super::fwht`]): a matrix of rows of [`ROW`] floats; each row is signed
//! as it streams in from memory and its levels run in L1, then the column levels on panels of a
//! few columns gathered into a contiguous buffer, the first four while gathering.
//!
//! Two ways to spread the work over cores, each giving the same bits whatever the thread
//! count or instruction set:
//!
//! - **Lanes of blocks** (several blocks, k ≤ n_pad / 16): the blocks are dealt round-robin
//!   to [`BLOCK_LANES`] lanes; a lane transforms its blocks one after another on one core and
//!   keeps its own k sums, and the lanes' sums are added in lane order at the end. The cores
//!   never wait for one another inside a block, and while one core is in a block's
//!   memory-bound rows the other is often in its cache-bound panels, so the two overlap.
//! - **Within a block** (one block, or k too large for a lane's sums): the blocks follow one
//!   another, each block's rows and then its panels shared between the cores.

use rayon::prelude::*;

use super::fwht;
use super::huge_scratch::HugeScratch;
use crate::signals::derive::{PURPOSE_SRHT_SIGNS, SIGNS_PER_BLOCK};
use crate::signals::philox::philox4x32_10_x16;

/// Floats in one row of a block (32 KiB: a row stays in L1 while its levels run; with AVX-512
/// its 13 levels are three passes, the first 8 fused with the signs as the signal streams in.
/// 16 KiB rows measured slower on a 2-core EPYC: their narrower column panels gather in
/// shorter runs).
pub const ROW: usize = 1 << 13;

/// Floats from one row of a block's scratch to the next: a row and one cache line, so that
/// the 16 rows a column step loads at once fall in different cache sets (at a stride of a
/// power of two kilobytes they would all compete for one set's 8 ways).
const ROW_STRIDE: usize = ROW + 16;

/// Floats in one block (4 MiB: the block stays in the last-level cache between its row and
/// column passes, with room for the other core's streams; larger blocks measured no faster on
/// a 2-core EPYC, and the k·n/BLOCK block-combination work grows as blocks shrink).
pub const BLOCK: usize = 1 << 20;

/// Floats a column panel aims at (128 KiB: it stays in L2 while its column levels run).
const PANEL_FLOATS: usize = 1 << 15;

/// Lanes a multi-block `srht` deals its blocks to (eight: enough to keep eight cores busy on
/// a 2^24-coordinate signal, while the lanes' sums, 8·k floats, stay small next to the
/// signal). The number is fixed, not the thread count, so the sums are added in the same
/// order on every machine.
const BLOCK_LANES: usize = 8;

/// Runs `$body` compiled for AVX2 and FMA where the CPU has them, else as is: for the loops
/// around [`philox4x32_10_x16`] (which picks its AVX-512 path itself), whose lane-wise steps
/// become vector instructions only where the compiler may use AVX2 (a closure would not
/// inherit the feature). Same operations, same bits.
macro_rules! with_avx2 {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            if fwht::has_avx2() {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                // SAFETY: AVX2 and FMA were detected.
                return unsafe { avx2($($arg),*) };
            }
            body($($arg),*)
        }
    };
}

mod panels;
mod sample;

use panels::{ByPanel, Shape, block_signed};
pub use sample::sample;

/// Philox blocks one [`sign_words`] step draws at once (16 lanes: one AVX-512 register, two
/// AVX2 ones).
const SIGN_BLOCKS_PER_STEP: usize = 16;

with_avx2! {
    /// D's sign words for coordinates `first..first + 32·words.len()` (`first` a multiple of
    /// 128): word j holds coordinates first + 32j … + 31, bit i mod 32 set for − (the words of
    /// block i/128 in order, so coordinate i is bit i mod 32 of word i/32 counted from
    /// `first`). The blocks are drawn 16 at a time ([`philox4x32_10_x16`]).
    fn sign_words(key: [u32; 2], first: usize, words: &mut [u32]) {
        const WORDS_PER_STEP: usize = SIGN_BLOCKS_PER_STEP * SIGNS_PER_BLOCK / 32;
        for (g, out) in words.chunks_mut(WORDS_PER_STEP).enumerate() {
            let b0 = (first / SIGNS_PER_BLOCK + SIGN_BLOCKS_PER_STEP * g) as u64;
            let ctr = [
                std::array::from_fn(|l| (b0 + l as u64) as u32),
                std::array::from_fn(|l| ((b0 + l as u64) >> 32) as u32),
                [0; SIGN_BLOCKS_PER_STEP],
                [PURPOSE_SRHT_SIGNS; SIGN_BLOCKS_PER_STEP],
            ];
            let w = philox4x32_10_x16(ctr, key);
            for (j, o) in out.iter_mut().enumerate() {
                *o = w[j % 4][j / 4];
            }
        }
    }
}

/// Sign words of one row.
type RowSigns = [u32; ROW / 32];

/// row = the transform of D·g over coordinates `first..first + ROW` (zero past g's end), hinting
/// the row at `next` (the one this core transforms next) towards the cache meanwhile.
#[inline(always)]
fn signed_row(key: [u32; 2], g: &[f32], first: usize, row: &mut [f32], next: usize) {
    let rest = g.get(first..).unwrap_or(&[]);
    let src = &rest[..rest.len().min(row.len())];
    let mut words: RowSigns = [0; ROW / 32];
    let words = &mut words[..row.len().div_ceil(32)];
    sign_words(key, first, words);
    let ahead = g.get(next..).unwrap_or(&[]);
    fwht::signed_transform_local_prefetching(row, src, words, &ahead[..ahead.len().min(row.len())]);
}

/// Block q's rows, transformed into `z` (rows at [`ROW_STRIDE`]) one after another; the last
/// hints the first row of block `next_block`.
fn block_rows(key: [u32; 2], g: &[f32], shape: Shape, q: usize, next_block: usize, z: &mut [f32]) {
    let first = q * shape.block;
    for (r, row) in z.chunks_mut(ROW_STRIDE).enumerate() {
        let next = if r + 1 < shape.rows { first + (r + 1) * ROW } else { next_block * shape.block };
        signed_row(key, g, first + r * ROW, &mut row[..ROW], next);
    }
}

/// Panel p of the block in `z`: its columns gathered into `buf` (rows × width) and every
/// column level run on them.
fn column_panel(buf: &mut [f32], z: &[f32], shape: Shape, p: usize) {
    let levels = shape.rows.trailing_zeros();
    let done = levels.min(fwht::GATHER_LEVELS);
    fwht::gather_column_levels(buf, z, ROW_STRIDE, p * shape.width, shape.width, done);
    if done < levels {
        fwht::levels_from(buf, shape.width << done);
    }
}

/// out = D·v for coordinates `first..first + v.len()`.
fn apply_signs(key: [u32; 2], first: usize, v: &[f32], out: &mut [f32]) {
    let mut words = vec![0u32; v.len().div_ceil(32)];
    sign_words(key, first, &mut words);
    fwht::apply_signs(v, out, &words);
}

thread_local! {
    /// [`srht`]'s buffers.
    static SRHT_SCRATCH: std::cell::RefCell<SrhtScratch> = std::cell::RefCell::new(SrhtScratch::default());
    /// One block's rows between the row and column passes, kept between calls so its pages are
    /// not faulted in again.
    static BLOCK_SCRATCH: std::cell::RefCell<(HugeScratch, Vec<f32>)> = std::cell::RefCell::new(Default::default());
    /// A worker's column panel (or gathered row), kept for the same reason.
    static PANEL_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's block scratch of `len` floats. The buffer is taken out of the
/// thread-local for the call, so a nested call (a rayon worker that steals another transform
/// while it waits) gets a fresh buffer instead of a borrow conflict.
fn with_block_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let (mut huge, mut fallback) = BLOCK_SCRATCH.take();
    let out = f(huge.floats(len, &mut fallback));
    BLOCK_SCRATCH.set((huge, fallback));
    out
}

/// [`srht`]'s buffers, kept between calls (fresh ones would be fresh pages to fault in).
#[derive(Default)]
struct SrhtScratch {
    drawn: Vec<u32>,
    by: ByPanel,
    sums: Vec<f32>,
}

/// y = (1/√k)·(H_unnormalized D g)[sample], k = y.len().
pub fn srht(key: [u32; 2], g: &[f32], y: &mut [f32]) {
    let n_pad = g.len().next_power_of_two();
    let k = y.len();
    let scale = 1.0 / (k as f32).sqrt();
    if n_pad <= ROW {
        let sampled = sample(key, n_pad as u64, k);
        let mut local = vec![0.0f32; n_pad];
        signed_row(key, g, 0, &mut local, n_pad);
        for (o, &s) in y.iter_mut().zip(&sampled) {
            *o = local[s as usize] * scale;
        }
        return;
    }
    let shape = Shape::of(n_pad);
    let blocks = n_pad / shape.block;
    let lanes = BLOCK_LANES.min(blocks);
    let mut scratch = SRHT_SCRATCH.take();
    let SrhtScratch { drawn, by, sums } = &mut scratch;
    sums.clear();
    if lanes >= 2 && k <= n_pad / 16 {
        sample::sample_into(key, n_pad as u64, k, drawn);
        by.fill(shape, drawn);
        sums.resize(lanes * k, 0.0);
        sums.par_chunks_mut(k).enumerate().for_each(|(lane, acc)| by_lane(key, g, shape, lanes, lane, by, acc));
    } else {
        sums.resize(k, 0.0);
        within_blocks(key, g, shape, drawn, by, sums);
    }
    // The lanes' sums, added in lane order (in parallel over hits), then scattered to y.
    let (total, later) = sums.split_at_mut(k);
    total.par_chunks_mut(4096).enumerate().for_each(|(c, out)| {
        for lane in later.chunks_exact(k) {
            for (o, &v) in out.iter_mut().zip(&lane[c * 4096..]) {
                *o += v;
            }
        }
    });
    for (&sum, &t) in total.iter().zip(&by.t) {
        y[t as usize] = sum * scale;
    }
    SRHT_SCRATCH.set(scratch);
}

/// One lane of [`srht`]: blocks lane, lane + lanes, … transformed one after another on this
/// core, each panel's sampled values added to `acc` (in `by`'s hit order).
fn by_lane(key: [u32; 2], g: &[f32], shape: Shape, lanes: usize, lane: usize, by: &ByPanel, acc: &mut [f32]) {
    let blocks = g.len().next_power_of_two() / shape.block;
    with_block_scratch(shape.rows * ROW_STRIDE, |z| {
        PANEL_SCRATCH.with_borrow_mut(|buf| {
            buf.resize(shape.panel_len(), 0.0);
            for q in (lane..blocks).step_by(lanes) {
                block_rows(key, g, shape, q, q + lanes, z);
                for p in 0..shape.panels() {
                    let hits = by.range(p);
                    if !hits.is_empty() {
                        column_panel(buf, z, shape, p);
                        panels::add_hits(&mut acc[hits.clone()], buf, &by.offset[hits.clone()], &by.s_hi[hits], q);
                    }
                }
            }
        })
    });
}

/// [`srht`] block after block, each block's rows and then its panels shared between the cores;
/// the sample is drawn while the first block's rows transform. `sums` gets one sum a hit.
fn within_blocks(key: [u32; 2], g: &[f32], shape: Shape, drawn: &mut Vec<u32>, by: &mut ByPanel, sums: &mut [f32]) {
    let n_pad = g.len().next_power_of_two();
    with_block_scratch(shape.rows * ROW_STRIDE, |z| {
        for q in 0..n_pad / shape.block {
            let first = q * shape.block;
            let rows = |z: &mut [f32]| {
                z.par_chunks_mut(ROW_STRIDE).enumerate().for_each(|(r, row)| {
                    signed_row(key, g, first + r * ROW, &mut row[..ROW], first + (r + 1) * ROW);
                })
            };
            if q == 0 {
                rayon::join(
                    || {
                        sample::sample_into(key, n_pad as u64, sums.len(), drawn);
                        by.fill(shape, drawn);
                    },
                    || rows(z),
                );
            } else {
                rows(z);
            }
            let z = &*z;
            let by = &*by;
            let mut per_panel = Vec::with_capacity(shape.panels());
            let mut rest = &mut *sums;
            for p in 0..shape.panels() {
                let (acc, tail) = rest.split_at_mut(by.range(p).len());
                per_panel.push((p, acc));
                rest = tail;
            }
            per_panel.into_par_iter().for_each(|(p, acc)| {
                let hits = by.range(p);
                if hits.is_empty() {
                    return;
                }
                PANEL_SCRATCH.with_borrow_mut(|buf| {
                    buf.resize(shape.panel_len(), 0.0);
                    column_panel(buf, z, shape, p);
                    panels::add_hits(acc, buf, &by.offset[hits.clone()], &by.s_hi[hits], q);
                })
            });
        }
    });
}

/// g = (1/√k)·D·(H_unnormalized Sᵀ y) truncated to g.len().
pub fn srht_t(key: [u32; 2], y: &[f32], g: &mut [f32]) {
    let n_pad = g.len().next_power_of_two();
    let scale = 1.0 / (y.len() as f32).sqrt();
    let sampled = sample(key, n_pad as u64, y.len());
    if n_pad <= ROW {
        let mut local = vec![0.0f32; n_pad];
        for (&v, &s) in y.iter().zip(&sampled) {
            local[s as usize] = v * scale;
        }
        fwht::transform_local(&mut local);
        let n = g.len();
        apply_signs(key, 0, &local[..n], g);
        return;
    }
    let shape = Shape::of(n_pad);
    let mut by = ByPanel::default();
    by.fill(shape, &sampled);
    let by = &by;
    with_block_scratch(shape.block, |z| {
        for (q, g_block) in g.chunks_mut(shape.block).enumerate() {
            // Column pass: z holds the panels one after another (panel-major), rows × width.
            z.par_chunks_mut(shape.panel_len()).enumerate().for_each(|(p, panel)| {
                panel.fill(0.0);
                let hits = by.range(p);
                for i in hits.clone() {
                    panel[by.offset[i] as usize] += block_signed(y[by.t[i] as usize] * scale, by.s_hi[i], q);
                }
                if !hits.is_empty() {
                    fwht::levels_from(panel, shape.width);
                }
            });
            // Row pass: gather each row from the panels, transform it, sign it into g.
            let z = &*z;
            let first = q * shape.block;
            g_block.par_chunks_mut(ROW).enumerate().for_each(|(r, out)| {
                PANEL_SCRATCH.with_borrow_mut(|row| {
                    row.resize(ROW, 0.0);
                    let row = &mut row[..ROW];
                    for (p, dst) in row.chunks_exact_mut(shape.width).enumerate() {
                        dst.copy_from_slice(&z[p * shape.rows * shape.width + r * shape.width..][..shape.width]);
                    }
                    fwht::transform_local(row);
                    let n = out.len();
                    apply_signs(key, first + r * ROW, &row[..n], out);
                })
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::derive::{key_of_seed, srht_negative, srht_sample};

    #[test]
    fn the_fast_sample_is_the_specified_one() {
        let key = key_of_seed(0x5eed);
        // Few shared steps, many (a partner drawn twice is likely), every step shared.
        for (n_pad, k) in
            [(1u64, 1usize), (8, 8), (1 << 20, 5000), (1 << 32, 3000), (4096, 4096), (1 << 17, 1 << 16), (1000, 999)]
        {
            assert_eq!(sample(key, n_pad, k), srht_sample(key, n_pad, k), "n_pad {n_pad} k {k}");
        }
    }

    /// The definition in f64: y[t] = (1/√k) Σ_i (−1)^popcount(s_t & i) D[i] g[i].
    fn slow(key: [u32; 2], g: &[f32], k: usize) -> Vec<f64> {
        let n_pad = g.len().next_power_of_two() as u64;
        let dg: Vec<f64> = g
            .iter()
            .enumerate()
            .map(|(i, &v)| if srht_negative(key, i as u64) { -f64::from(v) } else { f64::from(v) })
            .collect();
        srht_sample(key, n_pad, k)
            .iter()
            .map(|&s| {
                let sum: f64 = dg
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| if (s as usize & i).count_ones() % 2 == 1 { -v } else { v })
                    .sum();
                sum / (k as f64).sqrt()
            })
            .collect()
    }

    fn input(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 500.0).collect()
    }

    #[test]
    fn srht_matches_the_definition_within_a_block_and_across_blocks() {
        let key = key_of_seed(7);
        // Three rows of one block, ragged; then three blocks, ragged.
        for (n, k) in [(2 * ROW + 1234, 64), (2 * BLOCK + 999, 24)] {
            let g = input(n);
            let mut y = vec![f32::NAN; k];
            srht(key, &g, &mut y);
            for (t, (&a, b)) in y.iter().zip(slow(key, &g, k)).enumerate() {
                assert!((f64::from(a) - b).abs() <= 1e-3 * b.abs().max(1.0), "n {n} t {t}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn srht_t_is_the_adjoint_of_srht_within_a_block_and_across_blocks() {
        let key = key_of_seed(11);
        // One block; lanes of blocks; blocks one after another (k too large for lanes).
        for (n, k) in [(4 * ROW + 77, 300), (2 * BLOCK + 5, 5000), (2 * BLOCK + 5, 1 << 19)] {
            let g = input(n);
            let yv: Vec<f32> = (0..k).map(|i| ((i * 17 % 101) as f32 - 50.0) / 30.0).collect();
            let (mut y, mut gt) = (vec![f32::NAN; k], vec![f32::NAN; n]);
            srht(key, &g, &mut y);
            srht_t(key, &yv, &mut gt);
            let lhs: f64 = y.iter().zip(&yv).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            let rhs: f64 = g.iter().zip(&gt).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            assert!((lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0), "n {n}: <Sg, y> {lhs} vs <g, S^T y> {rhs}");
        }
    }

    #[test]
    fn srht_gives_the_same_bits_on_any_number_of_threads() {
        let key = key_of_seed(13);
        // Lanes of blocks (three blocks), and one block shared between the threads.
        for (n, k) in [(3 * BLOCK + 77, 64), (BLOCK - 5, 1 << 16)] {
            let g = input(n);
            let on = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
                let mut y = vec![f32::NAN; k];
                pool.install(|| srht(key, &g, &mut y));
                y.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
            };
            let one = on(1);
            assert!(one.iter().all(|&b| f32::from_bits(b).is_finite()), "n {n}: non-finite output");
            assert_eq!(one, on(3), "n {n} k {k}: 1 thread vs 3");
        }
    }
}
