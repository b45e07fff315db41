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
//! as it streams in from memory and its levels run in L1 (in parallel over rows), then the
//! column levels on panels of a few columns gathered into a contiguous buffer, the first four
//! while gathering (in parallel over panels). Blocks follow one another, so the result is the
//! same fixed tree of f32 operations whatever the thread count or instruction set.

use rayon::prelude::*;

use super::fwht;
use crate::signals::derive::{PURPOSE_SRHT_SAMPLE, PURPOSE_SRHT_SIGNS, SIGNS_PER_BLOCK, bucket};
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

/// The sampled coordinates of 0..n_pad in draw order — the partial Fisher–Yates shuffle of
/// `derive::srht_sample`, drawn mostly in parallel.
///
/// Step t swaps positions t and j_t ≥ t of a virtual permutation and draws the value that lands
/// on t. With k ≪ n_pad nearly every step is alone: its partner j_t was nobody else's partner,
/// and its own position t was nobody's partner, so both positions still hold themselves and
/// the step draws j_t. Only the steps that share a position — a partner drawn twice, a
/// partner below k (a position some step t also reads), a step whose own position was an
/// earlier partner — see one another's swaps. Those (a few percent, found with two hashed
/// bitmaps, which may flag a few more steps than needed but never fewer) replay the shuffle
/// serially, in order, on a small table of moved positions; every other step draws its
/// partner, in parallel. The steps that replay touch only positions no other step reads or
/// writes, so the result is the serial shuffle's exactly.
pub fn sample(key: [u32; 2], n_pad: u64, k: usize) -> Vec<u32> {
    assert!(n_pad <= 1 << 32 && k as u64 <= n_pad, "srht sample: k {k} of n_pad {n_pad}");
    // The buffers are reused between calls: fresh ones would be fresh pages to fault in.
    let mut scratch = SAMPLE_SCRATCH.take();
    let partners = &mut scratch.partners;
    partners.resize(k, 0);
    partners.par_chunks_mut(1024).enumerate().for_each(|(c, out)| draw_partners(key, n_pad, c * 1024, out));
    let flagged = &mut scratch.flagged;
    flag_shared_steps(partners, k, &mut scratch.seen, &mut scratch.twice, flagged);
    // Unflagged steps draw their partner; flagged ones start from their own position's
    // identity value, which the replay reads.
    let mut drawn = vec![0u32; k];
    drawn.par_chunks_mut(4096).zip(partners.par_chunks(4096)).enumerate().for_each(|(c, (out, js))| {
        for (i, (d, &j)) in out.iter_mut().zip(js).enumerate() {
            let t = c * 4096 + i;
            *d = if flagged[t / 64] >> (t % 64) & 1 == 1 { t as u32 } else { j as u32 };
        }
    });
    let mut replayed = Vec::new();
    for (w, &word) in flagged.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            replayed.push(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    let mut moved = MovedEntries::with_room_for(replayed.len(), std::mem::take(&mut scratch.slots));
    for &t in &replayed {
        let (pt, j) = (drawn[t], partners[t]);
        let pj = if j < k as u64 {
            // j ≥ t: a position not drawn yet (j = t leaves it as it is).
            std::mem::replace(&mut drawn[j as usize], pt)
        } else {
            let (pj, slot_j) = moved.get(j);
            moved.set(slot_j, j, u64::from(pt));
            pj as u32
        };
        // Position t is never read again (later steps read positions > t), so its entry
        // takes the draw.
        drawn[t] = pj;
    }
    scratch.slots = moved.slots;
    SAMPLE_SCRATCH.set(scratch);
    drawn
}

/// Sets bit t of `flagged` (one bit a step) for every step of the shuffle that may share a
/// position with another: its partner's hash was hit twice (`seen`, `twice`: bitmaps of 16 to
/// 32 bits a step, so a partner drawn once is flagged by a hash collision with probability
/// under 1/16), its partner is below k, or some step's partner is its own position t. The
/// partners' flags are set serially, the collisions read back in parallel.
fn flag_shared_steps(partners: &[u64], k: usize, seen: &mut Vec<u64>, twice: &mut Vec<u64>, flagged: &mut Vec<u64>) {
    let bits = (16 * k).next_power_of_two().max(64);
    let shift = 64 - bits.trailing_zeros();
    let hash = |j: u64| (j.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
    for map in [&mut *seen, &mut *twice] {
        map.clear();
        map.resize(bits / 64, 0);
    }
    flagged.clear();
    flagged.resize(k.div_ceil(64), 0);
    for (t, &j) in partners.iter().enumerate() {
        let h = hash(j);
        let (w, b) = (h / 64, 1u64 << (h % 64));
        twice[w] |= seen[w] & b;
        seen[w] |= b;
        if j < k as u64 {
            // Steps t and j both replay: t writes position j, which step j reads.
            flagged[t / 64] |= 1 << (t % 64);
            flagged[j as usize / 64] |= 1 << (j % 64);
        }
    }
    let twice = &*twice;
    flagged.par_chunks_mut(64).zip(partners.par_chunks(64 * 64)).for_each(|(words, js)| {
        for (word, js) in words.iter_mut().zip(js.chunks(64)) {
            for (i, &j) in js.iter().enumerate() {
                let h = hash(j);
                *word |= (twice[h / 64] >> (h % 64) & 1) << i;
            }
        }
    });
}

/// [`sample`]'s buffers, kept between calls.
#[derive(Default)]
struct SampleScratch {
    partners: Vec<u64>,
    seen: Vec<u64>,
    twice: Vec<u64>,
    flagged: Vec<u64>,
    slots: Vec<u64>,
}

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

with_avx2! {
    /// out[i] = the swap partner j of step t = first + i of the shuffle: t + bucket(word 0 of
    /// Philox((t, 0, 0, purpose)), n_pad − t).
    fn draw_partners(key: [u32; 2], n_pad: u64, first: usize, out: &mut [u64]) {
        const L: usize = 16;
        for (g, lanes) in out.chunks_mut(L).enumerate() {
            let t0 = (first + L * g) as u32;
            let w = philox4x32_10_x16(
                [std::array::from_fn(|l| t0 + l as u32), [0; L], [0; L], [PURPOSE_SRHT_SAMPLE; L]],
                key,
            );
            for (l, j) in lanes.iter_mut().enumerate() {
                let t = u64::from(t0) + l as u64;
                *j = t + u64::from(bucket(w[0][l], (n_pad - t) as u32));
            }
        }
    }
}

/// The moved entries of a virtual permutation of 0..2^32: position → value, identity when
/// absent. Open addressing with linear probing on one u64 a slot (position in the high half,
/// value in the low); the all-ones slot is empty, which would only collide with the entry
/// 2^32 − 1 → 2^32 − 1, an identity entry that reads back correctly as absent.
struct MovedEntries {
    slots: Vec<u64>,
    mask: usize,
}

impl MovedEntries {
    const EMPTY: u64 = u64::MAX;

    /// An empty table for `entries` entries in `slots`' memory.
    fn with_room_for(entries: usize, mut slots: Vec<u64>) -> Self {
        let len = (2 * entries.max(1)).next_power_of_two();
        slots.clear();
        slots.resize(len, Self::EMPTY);
        Self { slots, mask: len - 1 }
    }

    #[inline(always)]
    fn home(&self, pos: u64) -> usize {
        (pos.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    /// The slot holding `pos`, or the empty slot where it would go.
    #[inline(always)]
    fn slot(&self, pos: u64) -> usize {
        let mut i = self.home(pos);
        loop {
            let s = self.slots[i];
            if s == Self::EMPTY || s >> 32 == pos {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The value at `pos` and its slot (so the write that follows needs no second probe).
    #[inline(always)]
    fn get(&self, pos: u64) -> (u64, usize) {
        let i = self.slot(pos);
        let s = self.slots[i];
        (if s == Self::EMPTY { pos } else { s & 0xFFFF_FFFF }, i)
    }

    #[inline(always)]
    fn set(&mut self, slot: usize, pos: u64, value: u64) {
        self.slots[slot] = (pos << 32) | value;
    }
}

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

/// row = the transform of D·g over coordinates `first..first + ROW` (zero past g's end).
#[inline(always)]
fn signed_row(key: [u32; 2], g: &[f32], first: usize, row: &mut [f32]) {
    let rest = g.get(first..).unwrap_or(&[]);
    let src = &rest[..rest.len().min(row.len())];
    let mut words: RowSigns = [0; ROW / 32];
    let words = &mut words[..row.len().div_ceil(32)];
    sign_words(key, first, words);
    let after = &rest[src.len()..];
    fwht::signed_transform_local_prefetching(row, src, words, &after[..after.len().min(row.len())]);
}

/// out = D·v for coordinates `first..first + v.len()`.
fn apply_signs(key: [u32; 2], first: usize, v: &[f32], out: &mut [f32]) {
    let mut words = vec![0u32; v.len().div_ceil(32)];
    sign_words(key, first, &mut words);
    fwht::apply_signs(v, out, &words);
}

/// How an n_pad-point transform is cut: blocks of `block` floats, each `rows` × [`ROW`], its
/// column panels `width` wide.
#[derive(Clone, Copy)]
struct Shape {
    block: usize,
    rows: usize,
    width: usize,
}

impl Shape {
    /// For n_pad > [`ROW`] (smaller transforms run whole in L1).
    fn of(n_pad: usize) -> Self {
        let block = n_pad.min(BLOCK);
        let rows = block / ROW;
        Self { block, rows, width: (PANEL_FLOATS / rows).clamp(fwht::LANES, ROW) }
    }

    fn panels(self) -> usize {
        ROW / self.width
    }

    /// (block, panel, offset in the panel's row-major rows × width buffer) of coordinate s.
    fn locate(self, s: usize) -> (usize, usize, usize) {
        // Every size is a power of two: shifts and masks, not divisions (this runs k times).
        let (block_bits, width_bits) = (self.block.trailing_zeros(), self.width.trailing_zeros());
        let lo = s & (self.block - 1);
        let (row, col) = (lo / ROW, lo % ROW);
        (s >> block_bits, col >> width_bits, (row << width_bits) + (col & (self.width - 1)))
    }
}

/// One sample as a panel sees it: its offset in the panel buffer, its output index, and the
/// block index of its coordinate (for the ±1 of the block combination).
#[derive(Clone, Copy)]
struct Hit {
    offset: u32,
    t: u32,
    s_hi: u32,
}

/// The samples grouped by panel, in ascending t within a panel.
fn by_panel(shape: Shape, sample: &[u32]) -> ByPanel {
    // A counting sort: panel sizes, their starts, then each hit to its panel's next slot.
    let panel_of = |s: u32| shape.locate(s as usize).1;
    let mut starts = vec![0usize; shape.panels() + 1];
    for &s in sample {
        starts[panel_of(s) + 1] += 1;
    }
    for p in 1..starts.len() {
        starts[p] += starts[p - 1];
    }
    let mut next = starts.clone();
    let mut hits = vec![Hit { offset: 0, t: 0, s_hi: 0 }; sample.len()];
    for (t, &s) in sample.iter().enumerate() {
        let (s_hi, p, offset) = shape.locate(s as usize);
        hits[next[p]] = Hit { offset: offset as u32, t: t as u32, s_hi: s_hi as u32 };
        next[p] += 1;
    }
    ByPanel { hits, starts }
}

/// The samples' hits in panel order, panel p's at `hits[starts[p]..starts[p + 1]]`.
struct ByPanel {
    hits: Vec<Hit>,
    starts: Vec<usize>,
}

impl ByPanel {
    /// Each panel's hits, in ascending t.
    fn groups(&self) -> Vec<&[Hit]> {
        self.starts.windows(2).map(|w| &self.hits[w[0]..w[1]]).collect()
    }
}

/// v·(−1)^popcount(s_hi & q): v with the sign of block q for a sample in block s_hi. A sign-bit
/// flip, not a branch: the parity is random from sample to sample.
#[inline(always)]
fn block_signed(v: f32, s_hi: u32, q: usize) -> f32 {
    f32::from_bits(v.to_bits() ^ (((s_hi & q as u32).count_ones() & 1) << 31))
}

thread_local! {
    /// [`sample`]'s buffers, kept between calls.
    static SAMPLE_SCRATCH: std::cell::RefCell<SampleScratch> = std::cell::RefCell::new(SampleScratch::default());
    /// One block's rows between the row and column passes, kept between calls so its pages are
    /// not faulted in again.
    static BLOCK_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A worker's column panel (or gathered row), kept for the same reason.
    static PANEL_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's block scratch of `len` floats. The buffer is taken out of the
/// thread-local for the call, so a nested call (a rayon worker that steals another transform
/// while it waits) gets a fresh buffer instead of a borrow conflict.
fn with_block_scratch<R>(len: usize, f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    let mut z = BLOCK_SCRATCH.take();
    z.resize(len, 0.0);
    let out = f(&mut z);
    BLOCK_SCRATCH.set(z);
    out
}

/// y = (1/√k)·(H_unnormalized D g)[sample], k = y.len().
pub fn srht(key: [u32; 2], g: &[f32], y: &mut [f32]) {
    let n_pad = g.len().next_power_of_two();
    let scale = 1.0 / (y.len() as f32).sqrt();
    if n_pad <= ROW {
        let sampled = sample(key, n_pad as u64, y.len());
        let mut local = vec![0.0f32; n_pad];
        signed_row(key, g, 0, &mut local);
        for (o, &s) in y.iter_mut().zip(&sampled) {
            *o = local[s as usize] * scale;
        }
        return;
    }
    let shape = Shape::of(n_pad);
    with_block_scratch(shape.rows * ROW_STRIDE, |z| {
        let mut by = ByPanel { hits: Vec::new(), starts: vec![0] };
        let mut sums: Vec<Vec<f32>> = Vec::new();
        for q in 0..n_pad / shape.block {
            let first = q * shape.block;
            let mut rows = || {
                z.par_chunks_mut(ROW_STRIDE).enumerate().for_each(|(r, row)| {
                    signed_row(key, g, first + r * ROW, &mut row[..ROW]);
                })
            };
            if q == 0 {
                // Draw the sample while the first block's rows transform.
                let (g_, ()) = rayon::join(|| by_panel(shape, &sample(key, n_pad as u64, y.len())), rows);
                sums = g_.starts.windows(2).map(|w| vec![0.0; w[1] - w[0]]).collect();
                by = g_;
            } else {
                rows();
            }
            let z = &*z;
            by.groups().par_iter().zip(sums.par_iter_mut()).enumerate().for_each(|(p, (hits, acc))| {
                if hits.is_empty() {
                    return;
                }
                PANEL_SCRATCH.with_borrow_mut(|buf| {
                    buf.resize(shape.rows * shape.width, 0.0);
                    // The first column levels run as the panel is gathered.
                    let done = shape.rows.trailing_zeros().min(fwht::GATHER_LEVELS);
                    fwht::gather_column_levels(buf, z, ROW_STRIDE, p * shape.width, shape.width, done);
                    if done < shape.rows.trailing_zeros() {
                        fwht::levels_from(buf, shape.width << done);
                    }
                    for (a, h) in acc.iter_mut().zip(hits.iter()) {
                        *a += block_signed(buf[h.offset as usize], h.s_hi, q);
                    }
                })
            });
        }
        for (hits, acc) in by.groups().iter().zip(&sums) {
            for (h, &a) in hits.iter().zip(acc) {
                y[h.t as usize] = a * scale;
            }
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
    let by = by_panel(shape, &sampled);
    let groups = by.groups();
    with_block_scratch(shape.block, |z| {
        for (q, g_block) in g.chunks_mut(shape.block).enumerate() {
            // Column pass: z holds the panels one after another (panel-major), rows × width.
            z.par_chunks_mut(shape.rows * shape.width).zip(groups.par_iter()).for_each(|(panel, hits)| {
                panel.fill(0.0);
                for h in hits.iter() {
                    panel[h.offset as usize] += block_signed(y[h.t as usize] * scale, h.s_hi, q);
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
        for (n, k) in [(4 * ROW + 77, 300), (2 * BLOCK + 5, 5000)] {
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
}
