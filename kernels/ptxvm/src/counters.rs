//! Per-launch counters: the start of a GPU-free profiler.
//!
//! - Instructions by class, counted per warp (issued) and per thread (not predicated off).
//! - Global memory, per warp-level load/store: the distinct bytes the active lanes request and the
//!   32-byte sectors those bytes fall in. Coalescing efficiency = requested bytes / (32 · sectors),
//!   so 1.0 means every byte moved was asked for; bytes two lanes both ask for count once (a
//!   broadcast is not "more than perfect"). Each instruction is judged on its own, as a GPU's L1
//!   sees it: a later instruction reading the rest of a sector does not raise an earlier one's score.
//! - Shared memory: wavefronts per request with 32 banks of 4 bytes (8-byte accesses in two
//!   half-warp phases, 16-byte in four quarter-warp phases); each wavefront beyond one per phase
//!   is a bank conflict.
//! - Branches, and divergent branches (the active lanes of a warp disagree on the target).

use crate::inst::Class;

/// Global-memory statistics of one instruction (or a whole launch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalStats {
    /// Warp-level requests (one per warp per executed instruction with at least one active lane).
    pub requests: u64,
    /// Distinct bytes requested.
    pub bytes: u64,
    /// 32-byte sectors touched.
    pub sectors: u64,
}

impl GlobalStats {
    /// requested bytes / bytes of touched sectors; `None` without any request.
    pub fn efficiency(&self) -> Option<f64> {
        (self.sectors > 0).then(|| self.bytes as f64 / (32.0 * self.sectors as f64))
    }

    fn add(&mut self, o: &GlobalStats) {
        self.requests += o.requests;
        self.bytes += o.bytes;
        self.sectors += o.sectors;
    }
}

/// Counters of one launch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    /// Warp-level instructions issued, by [`Class`] (index = position in [`Class::ALL`]).
    pub warp_insts: [u64; 17],
    /// Thread-level instructions executed (guard true), by class.
    pub thread_insts: [u64; 17],
    /// Global loads and stores (generic accesses that resolve to global memory included).
    pub global: GlobalStats,
    /// Global statistics per instruction index.
    pub global_by_pc: Vec<GlobalStats>,
    /// Shared-memory warp-level requests.
    pub shared_requests: u64,
    /// Shared-memory wavefronts.
    pub shared_wavefronts: u64,
    /// Extra wavefronts caused by bank conflicts.
    pub bank_conflicts: u64,
    /// Warp-level branches executed.
    pub branches: u64,
    /// Branches whose active lanes went different ways.
    pub divergent_branches: u64,
    /// Blocks run.
    pub blocks: u64,
}

impl Counters {
    /// Empty counters for a program of `ninst` instructions.
    pub fn new(ninst: usize) -> Self {
        Self { global_by_pc: vec![GlobalStats::default(); ninst], ..Self::default() }
    }

    /// Total thread-level instructions.
    pub fn thread_instructions(&self) -> u64 {
        self.thread_insts.iter().sum()
    }

    /// Total warp-level instructions.
    pub fn warp_instructions(&self) -> u64 {
        self.warp_insts.iter().sum()
    }

    #[inline]
    pub(crate) fn issue(&mut self, class: Class, lanes: u32) {
        let i = class as usize;
        self.warp_insts[i] += 1;
        self.thread_insts[i] += u64::from(lanes);
    }

    /// Adds another block's counters.
    pub fn merge(&mut self, o: &Counters) {
        for i in 0..17 {
            self.warp_insts[i] += o.warp_insts[i];
            self.thread_insts[i] += o.thread_insts[i];
        }
        self.global.add(&o.global);
        if self.global_by_pc.len() < o.global_by_pc.len() {
            self.global_by_pc.resize(o.global_by_pc.len(), GlobalStats::default());
        }
        for (a, b) in self.global_by_pc.iter_mut().zip(&o.global_by_pc) {
            a.add(b);
        }
        self.shared_requests += o.shared_requests;
        self.shared_wavefronts += o.shared_wavefronts;
        self.bank_conflicts += o.bank_conflicts;
        self.branches += o.branches;
        self.divergent_branches += o.divergent_branches;
        self.blocks += o.blocks;
    }

    /// Records one warp-level global access: `(address, bytes)` per active lane.
    pub(crate) fn global_access(&mut self, pc: usize, accesses: &mut [(u64, u32)]) {
        if accesses.is_empty() {
            return;
        }
        let s = coalesce(accesses);
        self.global.add(&s);
        if let Some(p) = self.global_by_pc.get_mut(pc) {
            p.add(&s);
        }
    }

    /// Records one warp-level shared access: `(offset, bytes)` per active lane, in lane order.
    pub(crate) fn shared_access(&mut self, accesses: &[(u64, u32)]) {
        if accesses.is_empty() {
            return;
        }
        let size = accesses[0].1;
        let per_phase = match size {
            0..=4 => 32,
            5..=8 => 16,
            _ => 8,
        };
        self.shared_requests += 1;
        for phase in accesses.chunks(per_phase) {
            let mut words: Vec<u64> = Vec::with_capacity(phase.len() * 4);
            for &(off, n) in phase {
                words.extend((off / 4)..(off + u64::from(n)).div_ceil(4));
            }
            words.sort_unstable();
            words.dedup();
            let mut per_bank = [0u32; 32];
            for w in words {
                per_bank[(w % 32) as usize] += 1;
            }
            let wavefronts = u64::from(per_bank.iter().copied().max().unwrap_or(0).max(1));
            self.shared_wavefronts += wavefronts;
            self.bank_conflicts += wavefronts - 1;
        }
    }
}

/// Distinct bytes and sectors of one warp-level access.
pub fn coalesce(accesses: &mut [(u64, u32)]) -> GlobalStats {
    accesses.sort_unstable_by_key(|a| a.0);
    let (mut bytes, mut sectors) = (0u64, 0u64);
    let mut covered_to = 0u64; // bytes below this are counted
    let mut last_sector = u64::MAX;
    for &(a, n) in accesses.iter() {
        let end = a + u64::from(n);
        let start = a.max(covered_to);
        if end > start {
            bytes += end - start;
            covered_to = end;
        }
        let (s0, s1) = (a / 32, (end - 1) / 32);
        let first = if last_sector != u64::MAX && s0 <= last_sector { last_sector + 1 } else { s0 };
        if s1 >= first {
            sectors += s1 - first + 1;
            last_sector = s1;
        }
    }
    GlobalStats { requests: 1, bytes, sectors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_two_contiguous_16_byte_loads_are_perfectly_coalesced() {
        let mut a: Vec<(u64, u32)> = (0..32).map(|l| (4096 + 16 * l, 16)).collect();
        let s = coalesce(&mut a);
        assert_eq!((s.bytes, s.sectors), (512, 16));
        assert_eq!(s.efficiency(), Some(1.0));
    }

    #[test]
    fn a_stride_of_64_bytes_with_16_byte_loads_wastes_half_of_each_sector() {
        let mut a: Vec<(u64, u32)> = (0..32).map(|l| (64 * l, 16)).collect();
        assert_eq!(coalesce(&mut a).efficiency(), Some(0.5));
    }

    #[test]
    fn lanes_reading_the_same_bytes_count_them_once() {
        let mut a: Vec<(u64, u32)> = (0..32).map(|l| (2 * (l / 2), 2)).collect();
        let s = coalesce(&mut a);
        assert_eq!((s.bytes, s.sectors), (32, 1));
    }

    #[test]
    fn a_column_walk_through_shared_memory_is_a_32_way_bank_conflict() {
        let mut c = Counters::new(0);
        let col: Vec<(u64, u32)> = (0..32).map(|l| (128 * l, 4)).collect();
        c.shared_access(&col);
        assert_eq!(c.bank_conflicts, 31);
        let row: Vec<(u64, u32)> = (0..32).map(|l| (4 * l, 4)).collect();
        c.shared_access(&row);
        assert_eq!(c.bank_conflicts, 31);
        let same: Vec<(u64, u32)> = (0..32).map(|_| (0, 4)).collect();
        c.shared_access(&same);
        assert_eq!((c.bank_conflicts, c.shared_wavefronts), (31, 34));
    }
}
