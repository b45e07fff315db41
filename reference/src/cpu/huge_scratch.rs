//! A reusable f32 scratch buffer backed by transparent huge pages where the kernel offers them.
//!
//! A kernel that strides over a few megabytes of scratch (a column pass touches a hundred rows,
//! each on its own 4 KiB page) misses the TLB on most steps, and under a hypervisor every miss
//! is a two-level page walk. One 2 MiB page covers what 512 small ones did. The buffer is an
//! anonymous mapping aligned to 2 MiB and advised `MADV_HUGEPAGE` (Linux grants it when
//! transparent huge pages are `always` or `madvise`); anywhere else it is plain memory and
//! only the speed differs.

use memmap2::{Advice, MmapMut};

/// Bytes in one huge page (x86-64 and aarch64 with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// A growable f32 scratch, kept between calls so its pages are faulted in once.
#[derive(Default)]
pub struct HugeScratch {
    map: Option<MmapMut>,
    /// Bytes from the mapping's start to its first 2 MiB boundary.
    offset: usize,
    /// Floats the mapping holds from `offset`.
    capacity: usize,
}

impl HugeScratch {
    /// The first `len` floats (contents unspecified: earlier use or zero), growing the
    /// mapping when it is too small. If no mapping can be made, the caller's fallback is used.
    pub fn floats<'a>(&'a mut self, len: usize, fallback: &'a mut Vec<f32>) -> &'a mut [f32] {
        if self.capacity < len {
            *self = Self::map(len).unwrap_or_default();
        }
        match self.map.as_mut() {
            Some(map) if self.capacity >= len => bytemuck::cast_slice_mut(&mut map[self.offset..self.offset + 4 * len]),
            _ => {
                fallback.resize(len, 0.0);
                &mut fallback[..len]
            }
        }
    }

    fn map(len: usize) -> Option<Self> {
        let bytes = (4 * len).next_multiple_of(HUGE_PAGE);
        let map = MmapMut::map_anon(bytes + HUGE_PAGE).ok()?;
        let start = map.as_ptr() as usize;
        let offset = start.next_multiple_of(HUGE_PAGE) - start;
        #[cfg(target_os = "linux")]
        {
            // Only a hint: without it the pages are small, and the results the same.
            let _ = map.advise_range(Advice::HugePage, offset, bytes);
        }
        Some(Self { map: Some(map), offset, capacity: bytes / 4 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_keeps_its_memory_and_grows_on_a_huge_page_boundary() {
        let mut scratch = HugeScratch::default();
        let mut fallback = Vec::new();
        let first = scratch.floats(1000, &mut fallback);
        first.fill(1.5);
        let at = first.as_ptr();
        let again = scratch.floats(500, &mut fallback);
        assert_eq!((again.len(), again.as_ptr()), (500, at), "a smaller request reuses the buffer");
        assert!(again.iter().all(|&v| v == 1.5), "the contents stay between calls");
        let grown = scratch.floats(3 << 20, &mut fallback);
        grown[(3 << 20) - 1] = 2.0;
        let (len, start) = (grown.len(), grown.as_ptr() as usize);
        assert_eq!(len, 3 << 20);
        // A mapping was made (the fallback stayed empty), so the buffer starts on a 2 MiB boundary.
        assert!(fallback.is_empty());
        assert_eq!(start % HUGE_PAGE, 0);
    }
}
