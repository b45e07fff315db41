//! Plain Rust butterflies: the operation order every vector path reproduces bit for bit.

use super::{LANES, sign_of};

/// Levels h .. h·2^(levels−1) of every 2^levels·h-block, `LANES` columns at a time.
fn block_levels(z: &mut [f32], h: usize, levels: u32) {
    let span = h << levels;
    for blk in z.chunks_exact_mut(span) {
        for off in (0..h).step_by(LANES) {
            let mut v = [[0.0f32; LANES]; 8];
            let count = 1usize << levels;
            for (t, vt) in v.iter_mut().enumerate().take(count) {
                vt.copy_from_slice(&blk[off + t * h..off + t * h + LANES]);
            }
            for level in 0..levels {
                let bit = 1usize << level;
                for t in (0..count).filter(|t| t & bit == 0) {
                    let (u, w) = (v[t], v[t | bit]);
                    v[t] = std::array::from_fn(|l| u[l] + w[l]);
                    v[t | bit] = std::array::from_fn(|l| u[l] - w[l]);
                }
            }
            for (t, vt) in v.iter().enumerate().take(count) {
                blk[off + t * h..off + t * h + LANES].copy_from_slice(vt);
            }
        }
    }
}

/// Levels h, 2h, … z.len()/2, three at a time.
pub(super) fn levels_from(z: &mut [f32], mut h: usize) {
    while h < z.len() {
        let levels = (z.len() / h).trailing_zeros().min(3);
        block_levels(z, h, levels);
        h <<= levels;
    }
}

/// The whole transform: levels 1, 2, 4 one at a time, then the rest.
pub(super) fn transform(z: &mut [f32]) {
    let mut h = 1;
    while h < z.len().min(LANES) {
        for blk in z.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (u, v) = (*x, *y);
                *x = u + v;
                *y = u - v;
            }
        }
        h *= 2;
    }
    if z.len() > LANES {
        levels_from(z, LANES);
    }
}

/// dst[i] = ±src[i] with the sign bits of `signs`.
pub(super) fn apply_signs(src: &[f32], dst: &mut [f32], signs: &[u32]) {
    for (i, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
        *d = sign_of(s, signs, i);
    }
}
