//! The data movement of warp collectives, as pure functions of all lanes' operands:
//! `shfl.sync` source-lane selection (PTX ISA pseudo-code: clamp `c[4:0]`, segment mask
//! `c[12:8]`) and `mma.sync` with the ISA's fragment layouts.
//!
//! mma fragment layouts (groupID g = lane >> 2, t = lane & 3):
//! - m16n8k16 f16/bf16: A (16×16, row) register r holds 2 elements: row g + 8·(r & 1),
//!   k = 2t + 8·(r >> 1) + {0, 1}; B (16×8, col) register r: k = 2t + 8r + {0, 1}, column g;
//!   C/D (16×8 f32): element e at row g + 8·(e >> 1), column 2t + (e & 1).
//! - m16n8k32 s8: A register r holds 4 bytes: row g + 8·(r & 1), k = 4t + 16·(r >> 1) + {0..3};
//!   B register r: k = 4t + 16r + {0..3}, column g; C/D as above in s32.
//!
//! The f16/bf16 products are exact and summed exactly (in f64, which holds every partial sum of
//! 16 products of 11-bit significands plus the f32 accumulator without rounding in practice) and
//! rounded once to f32. Tensor cores round differently (truncating intermediate alignment), so
//! results agree with hardware to within a few ulp of the accumulator, not bit for bit; s8 is exact.

use crate::inst::{MmaKind, ShflMode};

/// Source lane and validity of `shfl.sync` for `lane`, per the ISA.
pub fn shfl_source(mode: ShflMode, lane: u32, b: u32, c: u32) -> (u32, bool) {
    let bval = b & 0x1f;
    let cval = c & 0x1f;
    let segmask = (c >> 8) & 0x1f;
    let max_lane = (lane & segmask) | (cval & !segmask);
    let min_lane = lane & segmask;
    let (j, pval) = match mode {
        ShflMode::Up => {
            let j = lane as i32 - bval as i32;
            (j, j >= max_lane as i32)
        }
        ShflMode::Down => {
            let j = (lane + bval) as i32;
            (j, j <= max_lane as i32)
        }
        ShflMode::Bfly => {
            let j = (lane ^ bval) as i32;
            (j, j <= max_lane as i32)
        }
        ShflMode::Idx => {
            let j = (min_lane | (bval & !segmask)) as i32;
            (j, j <= max_lane as i32)
        }
    };
    if pval { (j as u32, true) } else { (lane, false) }
}

fn half_val(kind: MmaKind, bits: u16) -> f64 {
    match kind {
        MmaKind::Bf16 => half::bf16::from_bits(bits).to_f64(),
        _ => half::f16::from_bits(bits).to_f64(),
    }
}

/// Executes one `mma.sync` for a full warp: `a[lane]`, `b[lane]`, `c[lane]` are each lane's
/// fragment registers; returns each lane's D registers.
pub fn mma(kind: MmaKind, a: &[[u32; 4]; 32], b: &[[u32; 2]; 32], c: &[[u32; 4]; 32]) -> [[u32; 4]; 32] {
    let mut d = [[0u32; 4]; 32];
    match kind {
        MmaKind::F16 | MmaKind::Bf16 => {
            let mut am = [[0f64; 16]; 16];
            let mut bm = [[0f64; 8]; 16];
            for lane in 0..32 {
                let (g, t) = (lane >> 2, lane & 3);
                for r in 0..4 {
                    for h in 0..2 {
                        let v = half_val(kind, (a[lane][r] >> (16 * h)) as u16);
                        am[g + 8 * (r & 1)][2 * t + 8 * (r >> 1) + h] = v;
                    }
                }
                for r in 0..2 {
                    for h in 0..2 {
                        bm[2 * t + 8 * r + h][g] = half_val(kind, (b[lane][r] >> (16 * h)) as u16);
                    }
                }
            }
            for lane in 0..32 {
                let (g, t) = (lane >> 2, lane & 3);
                for e in 0..4 {
                    let (row, col) = (g + 8 * (e >> 1), 2 * t + (e & 1));
                    let mut acc = f64::from(f32::from_bits(c[lane][e]));
                    for k in 0..16 {
                        acc += am[row][k] * bm[k][col];
                    }
                    let r = acc as f32;
                    d[lane][e] = if r.is_nan() { 0x7fff_ffff } else { r.to_bits() };
                }
            }
        }
        MmaKind::S8 { sat } => {
            let mut am = [[0i64; 32]; 16];
            let mut bm = [[0i64; 8]; 32];
            for lane in 0..32 {
                let (g, t) = (lane >> 2, lane & 3);
                for r in 0..4 {
                    for k in 0..4 {
                        am[g + 8 * (r & 1)][4 * t + 16 * (r >> 1) + k] = i64::from((a[lane][r] >> (8 * k)) as u8 as i8);
                    }
                }
                for r in 0..2 {
                    for k in 0..4 {
                        bm[4 * t + 16 * r + k][g] = i64::from((b[lane][r] >> (8 * k)) as u8 as i8);
                    }
                }
            }
            for lane in 0..32 {
                let (g, t) = (lane >> 2, lane & 3);
                for e in 0..4 {
                    let (row, col) = (g + 8 * (e >> 1), 2 * t + (e & 1));
                    let mut acc = i64::from(c[lane][e] as i32);
                    for k in 0..32 {
                        acc += am[row][k] * bm[k][col];
                    }
                    d[lane][e] = if sat {
                        acc.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32 as u32
                    } else {
                        acc as u32
                    };
                }
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shfl_down_past_the_clamp_keeps_the_lanes_own_value() {
        assert_eq!(shfl_source(ShflMode::Down, 3, 4, 31), (7, true));
        assert_eq!(shfl_source(ShflMode::Down, 30, 4, 31), (30, false));
        assert_eq!(shfl_source(ShflMode::Up, 2, 4, 0), (2, false));
        assert_eq!(shfl_source(ShflMode::Up, 9, 4, 0), (5, true));
    }

    #[test]
    fn shfl_segments_of_eight_lanes_wrap_within_their_segment() {
        // width 8: c = ((32 - 8) << 8) | 31 → segmask 0x18, clamp 7 within the segment.
        let c = (24 << 8) | 0x1f;
        assert_eq!(shfl_source(ShflMode::Idx, 13, 2, c), (10, true));
        assert_eq!(shfl_source(ShflMode::Bfly, 13, 1, c), (12, true));
        assert_eq!(shfl_source(ShflMode::Down, 14, 2, c), (14, false));
    }

    /// Builds each lane's fragments from whole matrices, using the layout stated in the module
    /// docs, then checks D = A·B + C element by element against a plain triple loop.
    #[test]
    fn mma_m16n8k32_s8_follows_the_isa_fragment_layout() {
        let amat = |r: usize, k: usize| ((r * 7 + k * 3) % 23) as i8 - 11;
        let bmat = |k: usize, n: usize| ((k * 5 + n * 11) % 19) as i8 - 9;
        let cmat = |r: usize, n: usize| (r * 100 + n) as i32;
        let (mut a, mut b, mut c) = ([[0u32; 4]; 32], [[0u32; 2]; 32], [[0u32; 4]; 32]);
        for lane in 0..32 {
            let (g, t) = (lane >> 2, lane & 3);
            for r in 0..4 {
                let bytes: [u8; 4] = std::array::from_fn(|k| amat(g + 8 * (r & 1), 4 * t + 16 * (r >> 1) + k) as u8);
                a[lane][r] = u32::from_le_bytes(bytes);
            }
            for r in 0..2 {
                let bytes: [u8; 4] = std::array::from_fn(|k| bmat(4 * t + 16 * r + k, g) as u8);
                b[lane][r] = u32::from_le_bytes(bytes);
            }
            for e in 0..4 {
                c[lane][e] = cmat(g + 8 * (e >> 1), 2 * t + (e & 1)) as u32;
            }
        }
        let d = mma(MmaKind::S8 { sat: false }, &a, &b, &c);
        for lane in 0..32 {
            let (g, t) = (lane >> 2, lane & 3);
            for e in 0..4 {
                let (row, col) = (g + 8 * (e >> 1), 2 * t + (e & 1));
                let want: i32 =
                    cmat(row, col) + (0..32).map(|k| i32::from(amat(row, k)) * i32::from(bmat(k, col))).sum::<i32>();
                assert_eq!(d[lane][e] as i32, want, "lane {lane} element {e}");
            }
        }
    }

    #[test]
    fn mma_m16n8k16_f16_places_a_single_one_where_the_layout_says() {
        // A = unit at (row 9, k 11), B = unit at (k 11, col 5): D has exactly one 1.0 at (9, 5).
        let one = u32::from(half::f16::ONE.to_bits());
        let (mut a, mut b, c) = ([[0u32; 4]; 32], [[0u32; 2]; 32], [[0u32; 4]; 32]);
        // row 9 = g 1 + 8 → r & 1 = 1; k 11 = 2t + 8 + h → t = 1, h = 1, r >> 1 = 1 → r = 3.
        a[4 + 1][3] = one << 16;
        // k 11 = 2t + 8r + h → t = 1, r = 1, h = 1; column 5 = g.
        b[4 * 5 + 1][1] = one << 16;
        let d = mma(MmaKind::F16, &a, &b, &c);
        for lane in 0..32 {
            for e in 0..4 {
                let (row, col) = ((lane >> 2) + 8 * (e >> 1), 2 * (lane & 3) + (e & 1));
                let want = if (row, col) == (9, 5) { 1.0f32 } else { 0.0 };
                assert_eq!(f32::from_bits(d[lane][e]), want, "row {row} col {col}");
            }
        }
    }
}
