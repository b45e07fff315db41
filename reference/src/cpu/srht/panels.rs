//! How a long srht is cut into blocks, rows and column panels, where each sampled coordinate
//! falls in that cut, and how the sampled values of a transformed panel reach their sums.

use super::{BLOCK, PANEL_FLOATS, ROW};
use crate::cpu::fwht;

/// How an n_pad-point transform is cut: blocks of `block` floats, each `rows` × [`ROW`], its
/// column panels `width` wide.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub block: usize,
    pub rows: usize,
    pub width: usize,
}

impl Shape {
    /// For n_pad > [`ROW`] (smaller transforms run whole in L1).
    pub fn of(n_pad: usize) -> Self {
        let block = n_pad.min(BLOCK);
        let rows = block / ROW;
        Self { block, rows, width: (PANEL_FLOATS / rows).clamp(fwht::LANES, ROW) }
    }

    pub fn panels(self) -> usize {
        ROW / self.width
    }

    /// Floats in one panel buffer (rows × width).
    pub fn panel_len(self) -> usize {
        self.rows * self.width
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

/// The samples grouped by panel, in ascending t within a panel, as three parallel arrays (so
/// that sixteen hits load as one vector each): hit i is sample `t[i]`, found at `offset[i]` of
/// its panel's buffer in every block, and its coordinate lies in block `s_hi[i]` (for the ±1
/// of the block combination). Panel p's hits are `starts[p]..starts[p + 1]`.
#[derive(Default)]
pub(super) struct ByPanel {
    pub offset: Vec<u32>,
    pub t: Vec<u32>,
    pub s_hi: Vec<u32>,
    pub starts: Vec<usize>,
}

impl ByPanel {
    /// Groups `sample` by panel (a counting sort: panel sizes, their starts, then each hit to
    /// its panel's next slot), reusing this value's memory.
    pub fn fill(&mut self, shape: Shape, sample: &[u32]) {
        let k = sample.len();
        let panel_of = |s: u32| shape.locate(s as usize).1;
        self.starts.clear();
        self.starts.resize(shape.panels() + 1, 0);
        for &s in sample {
            self.starts[panel_of(s) + 1] += 1;
        }
        for p in 1..self.starts.len() {
            self.starts[p] += self.starts[p - 1];
        }
        let mut next = self.starts.clone();
        for v in [&mut self.offset, &mut self.t, &mut self.s_hi] {
            v.clear();
            v.resize(k, 0);
        }
        for (t, &s) in sample.iter().enumerate() {
            let (s_hi, p, offset) = shape.locate(s as usize);
            let i = next[p];
            (self.offset[i], self.t[i], self.s_hi[i]) = (offset as u32, t as u32, s_hi as u32);
            next[p] += 1;
        }
    }

    /// The hit range of panel p.
    pub fn range(&self, p: usize) -> std::ops::Range<usize> {
        self.starts[p]..self.starts[p + 1]
    }
}

/// v·(−1)^popcount(s_hi & q): v with the sign of block q for a sample in block s_hi. A sign-bit
/// flip, not a branch: the parity is random from sample to sample.
#[inline(always)]
pub(super) fn block_signed(v: f32, s_hi: u32, q: usize) -> f32 {
    f32::from_bits(v.to_bits() ^ (((s_hi & q as u32).count_ones() & 1) << 31))
}

/// acc[i] += (−1)^popcount(s_hi[i] & q) · panel[offset[i]]: the sampled values of block q's
/// transformed panel added to their sums. With AVX-512 (and its population count), sixteen
/// hits a step: a gather, the block signs from the population count, one add; the same
/// operation on each hit as the scalar loop, so the same bits.
pub(super) fn add_hits(acc: &mut [f32], panel: &[f32], offset: &[u32], s_hi: &[u32], q: usize) {
    assert!(acc.len() == offset.len() && acc.len() == s_hi.len() && !panel.is_empty());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        && panel.len() <= i32::MAX as usize
    {
        // SAFETY: AVX-512F and VPOPCNTDQ were detected; the lengths were checked above.
        unsafe { add_hits_avx512(acc, panel, offset, s_hi, q as u32) };
        return;
    }
    for ((a, &o), &h) in acc.iter_mut().zip(offset).zip(s_hi) {
        *a += block_signed(panel[o as usize], h, q);
    }
}

/// [`add_hits`] sixteen at a time.
///
/// # Safety
/// AVX-512F and AVX512-VPOPCNTDQ must be available; acc, offset and s_hi as long as one
/// another; panel non-empty and at most i32::MAX long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn add_hits_avx512(acc: &mut [f32], panel: &[f32], offset: &[u32], s_hi: &[u32], q: u32) {
    use std::arch::x86_64::*;
    let last = _mm512_set1_epi32((panel.len() - 1) as i32);
    let block = _mm512_set1_epi32(q as i32);
    for i in (0..acc.len()).step_by(16) {
        let lanes = ((1u32 << (acc.len() - i).min(16)) - 1) as __mmask16;
        // SAFETY: the mask keeps every load and store inside the three slices; each offset is
        // clamped to the panel's last element, so the gather stays inside the panel.
        unsafe {
            let at = _mm512_min_epu32(_mm512_maskz_loadu_epi32(lanes, offset.as_ptr().add(i).cast()), last);
            let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), lanes, at, panel.as_ptr().cast());
            let hi = _mm512_maskz_loadu_epi32(lanes, s_hi.as_ptr().add(i).cast());
            let sign = _mm512_slli_epi32::<31>(_mm512_popcnt_epi32(_mm512_and_si512(hi, block)));
            let signed = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign));
            let a = _mm512_maskz_loadu_ps(lanes, acc.as_ptr().add(i));
            _mm512_mask_storeu_ps(acc.as_mut_ptr().add(i), lanes, _mm512_add_ps(a, signed));
        }
    }
}
