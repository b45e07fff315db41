//! The portable kernel: the vector kernels' arithmetic, in the same order, in plain Rust.

use super::{BLOCK, Q4_0, Q4_1, Q8_0, Q8Activations, block_bytes, f16_at};

/// Portable rows, the same arithmetic as the AVX2 kernel in the same order (so the two agree
/// bit for bit where `mul_add` is a fused multiply-add, as it always is): per block eight exact
/// integer partial dots (lane `l` covers values `4l..4l+4`, as `vpmaddubsw` + `vpmaddwd` pair
/// them), each scaled into its own f32 lane with one fused multiply-add — even blocks into one
/// set of eight lanes, odd blocks into another (the AVX-512 kernel holds a pair of blocks in one
/// register) —; at the end of the row the two sets are added lane by lane and the lanes summed,
/// plus Q4_1's offset terms accumulated apart.
pub(super) fn band<const F: u8>(band: &[u8], xq: &Q8Activations, ys: &mut [f32], row_bytes: usize) {
    for (row, y) in band.chunks_exact(row_bytes).zip(ys.iter_mut()) {
        let mut acc = [[0.0f32; 8]; 2];
        let mut offset = 0.0f32;
        for (b, blk) in row.chunks_exact(block_bytes(F)).enumerate() {
            let x = &xq.q[b * BLOCK..][..BLOCK];
            let (dx, sx) = (xq.d[b], xq.sums[b]);
            let code = |i: usize| -> i32 {
                match F {
                    Q8_0 => i32::from(blk[2 + i] as i8),
                    _ => {
                        let n = blk[if F == Q4_0 { 2 } else { 4 } + i % (BLOCK / 2)];
                        i32::from(if i < BLOCK / 2 { n & 0x0F } else { n >> 4 })
                    }
                }
            };
            let mut dots = [0i32; 8];
            for (i, &v) in x.iter().enumerate() {
                dots[i / 4] += code(i) * i32::from(v);
            }
            if F == Q4_0 {
                dots[0] -= 8 * sx;
            }
            let s = f16_at(blk) * dx;
            for (a, &d) in acc[b & 1].iter_mut().zip(&dots) {
                *a = s.mul_add(d as f32, *a);
            }
            if F == Q4_1 {
                offset = (f16_at(&blk[2..]) * dx).mul_add(sx as f32, offset);
            }
        }
        // The AVX2 kernel's horizontal sum order, then Q4_1's offset term (0 otherwise).
        let lanes: [f32; 8] = std::array::from_fn(|l| acc[0][l] + acc[1][l]);
        let h: [f32; 4] = std::array::from_fn(|l| lanes[l] + lanes[l + 4]);
        *y = (h[0] + h[2]) + (h[1] + h[3]) + offset;
    }
}
