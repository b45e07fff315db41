//! Fast CPU `count_sketch`: rows in parallel (rayon), each row one pass over g adding ±g[i] into
//! its bucket, hashes from Philox per `kernels/SIGNALS.md`. Rows are independent, so the sums of
//! each bucket are in coordinate order whatever the scheduling: the result is reproducible.

use rayon::prelude::*;

use crate::signals::derive::count_sketch_hash;

/// sketch[r·c + h_r(i)] += σ_r(i)·g[i]; `sketch` holds r rows of `c` buckets and is overwritten.
pub fn count_sketch(key: [u32; 2], g: &[f32], c: usize, sketch: &mut [f32]) {
    assert_eq!(sketch.len() % c, 0, "count_sketch: sketch holds whole rows");
    sketch.par_chunks_mut(c).enumerate().for_each(|(row, buckets)| {
        buckets.fill(0.0);
        for (i, &v) in g.iter().enumerate() {
            let (b, negative) = count_sketch_hash(key, row as u32, i as u64, c as u32);
            buckets[b as usize] += f32::from_bits(v.to_bits() ^ (u32::from(negative) << 31));
        }
    });
}
