//! The srht's sample: the k coordinates of the partial Fisher–Yates shuffle that
//! `kernels/SIGNALS.md` specifies (`derive::srht_sample`), drawn mostly in parallel.

use rayon::prelude::*;

use crate::cpu::fwht;
use crate::signals::derive::{PURPOSE_SRHT_SAMPLE, bucket};
use crate::signals::philox::philox4x32_10_x16;

thread_local! {
    /// [`sample`]'s buffers, kept between calls.
    static SAMPLE_SCRATCH: std::cell::RefCell<SampleScratch> = std::cell::RefCell::new(SampleScratch::default());
}

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
    let mut drawn = Vec::new();
    sample_into(key, n_pad, k, &mut drawn);
    drawn
}

/// [`sample`] into `drawn` (its memory reused: a fresh k-long buffer would be fresh pages to
/// fault in on every call).
pub(super) fn sample_into(key: [u32; 2], n_pad: u64, k: usize, drawn: &mut Vec<u32>) {
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
    drawn.clear();
    drawn.resize(k, 0);
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
