//! Fast CPU `philox4x32_10`: blocks in parallel (rayon), each block computed independently —
//! a counter-based generator needs no state between blocks.

use rayon::prelude::*;

use crate::signals::philox::{counter_add, philox4x32_10};

/// Blocks a rayon task computes.
const TASK_BLOCKS: usize = 4096;

/// y[4i..4i+4] = Philox4x32-10(base + i, key) for i in 0..y.len()/4.
pub fn philox(key: [u32; 2], base: [u32; 4], y: &mut [u32]) {
    assert_eq!(y.len() % 4, 0, "philox: y holds whole blocks");
    y.par_chunks_mut(4 * TASK_BLOCKS).enumerate().for_each(|(t, out)| {
        for (j, block) in out.chunks_exact_mut(4).enumerate() {
            let i = (t * TASK_BLOCKS + j) as u64;
            block.copy_from_slice(&philox4x32_10(counter_add(base, i), key));
        }
    });
}
