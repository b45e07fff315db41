//! Cache-blocked, register-blocked f32 fast Walsh–Hadamard butterflies: the building blocks of
//! the CPU `srht` and `srht_t`.
//!
//! The transform of length 2^m is m levels; level h pairs element i with i + h inside every
//! 2h-block (u, v → u + v, u − v). Levels act on different index bits, so they commute and can
//! run in any order and in groups. Three groupings make the CPU fast:
//!
//! - **In a vector.** The levels below the vector width (1, 2, 4 with AVX2; 1, 2, 4, 8 with
//!   AVX-512) pair elements of one vector: each is a lane shuffle and one fused multiply-add
//!   with a ±1 pattern (exact: the product is ±v, so the one rounding is that of u + v or
//!   u − v). The random signs of the SRHT's D ride along: they are applied to each vector as it
//!   is loaded ([`signed_transform_local`]), so the signal is read once.
//! - **Register blocking** ([`levels_from`]): 2^L vectors at stride h are loaded once, pass
//!   through levels h … 2^(L−1)·h in registers and are stored once (L = 3 with AVX2's 16
//!   registers, 4 with AVX-512's 32).
//! - **Rows and columns.** A long transform is a matrix of rows (the low index bits) and columns
//!   (the high bits): the low levels run on each row in L1, the high levels on panels of a few
//!   columns gathered into a contiguous buffer, where a column level is simply a level with
//!   stride h·width of the flattened panel.
//!
//! Every path (AVX-512, AVX2, portable) applies the levels in increasing order and adds and
//! subtracts the same pairs, so they give the same bits; every output is a fixed tree of f32
//! operations for a given length, whichever instruction set ran it.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

/// The narrowest vector the butterflies use (one AVX2 register of f32): register-blocked
/// strides are multiples of it.
pub const LANES: usize = 8;

/// The instruction set the butterflies run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
    Portable,
}

/// The widest instruction set this CPU has (the detection is cached by the standard library).
fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// ±x: negated where bit i mod 32 of `signs[i / 32]` is set.
#[inline(always)]
pub fn sign_of(x: f32, signs: &[u32], i: usize) -> f32 {
    f32::from_bits(x.to_bits() ^ (((signs[i / 32] >> (i % 32)) & 1) << 31))
}

/// The whole unnormalized transform of a cache-resident `z` (a power of two long), serially.
pub fn transform_local(z: &mut [f32]) {
    transform_on(isa(), z);
}

fn transform_on(isa: Isa, z: &mut [f32]) {
    debug_assert!(z.len().is_power_of_two());
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY: the instruction sets were detected; the length is a power of two ≥ 16.
        Isa::Avx512 if z.len() >= avx512::LANES => unsafe {
            avx512::in_vector_levels(z);
            avx512::levels_from(z, avx512::LANES);
            return;
        },
        // SAFETY: AVX2 and FMA were detected; the length is a power of two ≥ 8.
        Isa::Avx512 | Isa::Avx2 if z.len() >= LANES => unsafe {
            avx2::in_vector_levels(z);
            avx2::levels_from(z, LANES);
            return;
        },
        _ => {}
    }
    portable::transform(z);
}

/// z = D·src, zero past src's end (D: the signs of `signs`, bit i mod 32 of word i / 32 set
/// for −), then the whole transform of z (a power of two long, ≥ src.len()). One pass reads
/// src: the signs are applied as the in-vector levels load it.
pub fn signed_transform_local(z: &mut [f32], src: &[f32], signs: &[u32]) {
    signed_transform_on(isa(), z, src, signs, &[]);
}

/// [`signed_transform_local`], asking the CPU meanwhile to bring `next` (the signal the caller
/// transforms next) into its L2 cache: the levels after the signal has streamed in compute on
/// L1 and leave the memory bus idle, so the next stretch of signal is fetched during them
/// instead of stalling the next call's loads. The same results; `next` is only a hint.
pub fn signed_transform_local_prefetching(z: &mut [f32], src: &[f32], signs: &[u32], next: &[f32]) {
    signed_transform_on(isa(), z, src, signs, next);
}

fn signed_transform_on(isa: Isa, z: &mut [f32], src: &[f32], signs: &[u32], next: &[f32]) {
    assert!(z.len().is_power_of_two() && src.len() <= z.len() && signs.len() * 32 >= src.len());
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY: the instruction sets were detected; the lengths were checked above.
        Isa::Avx512 if z.len() >= avx512::FUSED => unsafe {
            // Half the hints ride on the fused pass, half on the next: spread over both, they
            // keep fewer line fills waiting at once than all in one pass (measured faster on a
            // 2-core Xeon).
            let (early, late) = next.split_at((next.len() / 2) & !(avx512::LANES - 1));
            avx512::signed_fused_levels(z, src, signs, early);
            avx512::levels_from_prefetching(z, avx512::FUSED, late);
            return;
        },
        // SAFETY: as above.
        Isa::Avx512 if z.len() >= avx512::LANES => unsafe {
            avx512::signed_in_vector_levels(z, src, signs);
            avx512::levels_from(z, avx512::LANES);
            return;
        },
        // SAFETY: AVX2 and FMA were detected; the lengths were checked above.
        Isa::Avx512 | Isa::Avx2 if z.len() >= LANES => unsafe {
            avx2::signed_in_vector_levels(z, src, signs);
            avx2::levels_from(z, LANES);
            return;
        },
        _ => {}
    }
    let _ = next;
    portable::apply_signs(src, &mut z[..src.len()], signs);
    z[src.len()..].fill(0.0);
    portable::transform(z);
}

/// Levels h, 2h, 4h … z.len()/2 of `z` (a power of two long; `h` a power of two multiple of
/// [`LANES`]): the column levels of a row-major panel `width` wide are `levels_from(panel, width)`.
pub fn levels_from(z: &mut [f32], h: usize) {
    levels_from_on(isa(), z, h);
}

fn levels_from_on(isa: Isa, z: &mut [f32], h: usize) {
    assert!(z.len().is_power_of_two() && h.is_power_of_two() && h.is_multiple_of(LANES));
    #[cfg(target_arch = "x86_64")]
    match isa {
        // SAFETY: the instruction sets were detected; h and the length were checked above.
        Isa::Avx512 => return unsafe { avx512::levels_from(z, h) },
        // SAFETY: as above.
        Isa::Avx2 => return unsafe { avx2::levels_from(z, h) },
        Isa::Portable => {}
    }
    portable::levels_from(z, h);
}

/// Column levels one [`gather_column_levels`] step runs at most (a register-blocked step).
pub const GATHER_LEVELS: u32 = 4;

/// dst (rows × width, row-major) = columns `col0 .. col0 + width` of the rows of `src` at
/// stride `stride` (rows = dst.len() / width, a power of two), with the first `levels` column
/// levels (strides width, 2·width, …; at most [`GATHER_LEVELS`]) run on the way: gathering a
/// panel and its first column levels are one pass.
pub fn gather_column_levels(dst: &mut [f32], src: &[f32], stride: usize, col0: usize, width: usize, levels: u32) {
    let rows = dst.len() / width;
    assert!(rows.is_power_of_two() && rows * width == dst.len() && levels <= GATHER_LEVELS && 1 << levels <= rows);
    assert!(col0 + width <= stride && (rows - 1) * stride + col0 + width <= src.len());
    gather_on(isa(), dst, src, stride, col0, width, levels);
}

fn gather_on(isa: Isa, dst: &mut [f32], src: &[f32], stride: usize, col0: usize, width: usize, levels: u32) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && width.is_multiple_of(avx512::LANES) {
        // SAFETY: AVX-512 was detected; the shapes were checked by the caller.
        unsafe {
            match levels {
                0 => avx512::gather_column_levels::<0>(dst, src, stride, col0, width),
                1 => avx512::gather_column_levels::<1>(dst, src, stride, col0, width),
                2 => avx512::gather_column_levels::<2>(dst, src, stride, col0, width),
                3 => avx512::gather_column_levels::<3>(dst, src, stride, col0, width),
                _ => avx512::gather_column_levels::<4>(dst, src, stride, col0, width),
            }
        }
        return;
    }
    let _ = isa;
    for (r, row) in dst.chunks_exact_mut(width).enumerate() {
        row.copy_from_slice(&src[r * stride + col0..][..width]);
    }
    // One level at a time: the same pairs in the same order as the register-blocked step.
    for level in 0..levels {
        let h = width << level;
        for blk in dst.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (u, v) = (*x, *y);
                *x = u + v;
                *y = u - v;
            }
        }
    }
}

/// Element (r, c) of a panel (rows × width) after all its column levels, when the first `done`
/// have run: only the one path of the butterfly tree that reaches (r, c) is computed (2^L − 1
/// additions for the L levels left, against rows·width·L for all of them). It adds and
/// subtracts the same pairs in the same order as the full levels, so it gives their bits.
pub fn column_output(panel: &[f32], width: usize, done: u32, r: usize, c: usize) -> f32 {
    let rows = panel.len() / width;
    let left = rows.trailing_zeros() - done;
    assert!(left <= 8 && r < rows && c < width);
    let (lo, hi) = (r & ((1 << done) - 1), r >> done);
    let mut v = [0.0f32; 256];
    let mut len = 1usize << left;
    for (m, x) in v[..len].iter_mut().enumerate() {
        *x = panel[(lo + (m << done)) * width + c];
    }
    for bit in 0..left {
        let minus = (hi >> bit) & 1 == 1;
        len /= 2;
        for i in 0..len {
            let (u, w) = (v[2 * i], v[2 * i + 1]);
            v[i] = if minus { u - w } else { u + w };
        }
    }
    v[0]
}

/// dst[i] = ±src[i] with the signs of `signs` (as in [`signed_transform_local`]).
pub fn apply_signs(src: &[f32], dst: &mut [f32], signs: &[u32]) {
    assert!(dst.len() == src.len() && signs.len() * 32 >= src.len());
    #[cfg(target_arch = "x86_64")]
    match isa() {
        // SAFETY: the instruction sets were detected; the lengths were checked above.
        Isa::Avx512 => return unsafe { avx512::apply_signs(src, dst, signs) },
        // SAFETY: as above.
        Isa::Avx2 => return unsafe { avx2::apply_signs(src, dst, signs) },
        Isa::Portable => {}
    }
    portable::apply_signs(src, dst, signs);
}

/// Whether this CPU has AVX2 and FMA (the butterflies' vector paths and the callers'
/// AVX2-compiled loops need both).
pub fn has_avx2() -> bool {
    isa() != Isa::Portable
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: (H z)[s] = Σ_i (−1)^popcount(s & i) z[i], in f64.
    fn slow(z: &[f32]) -> Vec<f64> {
        (0..z.len())
            .map(|s| {
                z.iter()
                    .enumerate()
                    .map(|(i, &v)| if (s & i).count_ones() % 2 == 1 { -f64::from(v) } else { f64::from(v) })
                    .sum()
            })
            .collect()
    }

    fn input(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0).collect()
    }

    #[test]
    fn every_length_matches_the_definition() {
        for m in 0..=11 {
            let n = 1usize << m;
            let z = input(n);
            let mut fast = z.clone();
            transform_local(&mut fast);
            for (s, (&f, w)) in fast.iter().zip(slow(&z)).enumerate() {
                assert!((f64::from(f) - w).abs() <= 1e-4 * w.abs().max(1.0), "n {n} s {s}: {f} vs {w}");
            }
        }
    }

    /// The instruction sets this CPU can run, the portable path first.
    fn runnable() -> Vec<Isa> {
        let all = [Isa::Portable, Isa::Avx2, Isa::Avx512];
        let widest = isa();
        all.into_iter().filter(|&i| i == Isa::Portable || widest == Isa::Avx512 || i == widest).collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn signs_for(n: usize) -> Vec<u32> {
        (0..n.div_ceil(32).max(1)).map(|w| (w as u32).wrapping_mul(0x9E37_79B9) ^ 0x5A5A_1234).collect()
    }

    #[test]
    fn every_instruction_set_gives_the_portable_bits() {
        let isas = runnable();
        println!("instruction sets compared: {isas:?}");
        for m in 0..=14 {
            let n = 1usize << m;
            let z = input(n);
            let mut want = z.clone();
            portable::transform(&mut want);
            // Signal lengths: whole, ragged inside a vector, ragged across vectors, empty.
            let lens = [n, n - n / 3, n.saturating_sub(5), n / 2 + 1, 0];
            let signs = signs_for(n);
            for &isa in &isas {
                let mut got = z.clone();
                transform_on(isa, &mut got);
                assert_eq!(bits(&got), bits(&want), "{isa:?} transform, n = 2^{m}");
                for len in lens.into_iter().filter(|&l| l <= n) {
                    let src = &z[..len];
                    let mut want_signed = vec![0.0f32; n];
                    portable::apply_signs(src, &mut want_signed[..len], &signs);
                    portable::transform(&mut want_signed);
                    let mut got_signed = vec![f32::NAN; n];
                    signed_transform_on(isa, &mut got_signed, src, &signs, &z[..len / 2]);
                    assert_eq!(bits(&got_signed), bits(&want_signed), "{isa:?} signed, n = 2^{m}, len {len}");
                }
                if n >= 2 * LANES {
                    for h in [LANES, 2 * LANES] {
                        let (mut a, mut b) = (z.clone(), z.clone());
                        levels_from_on(isa, &mut a, h);
                        portable::levels_from(&mut b, h);
                        assert_eq!(bits(&a), bits(&b), "{isa:?} levels from {h}, n = 2^{m}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_gathered_panel_and_its_pruned_outputs_give_the_full_transform_bits() {
        // A 64-row matrix of 48-float rows; the panel is columns 16..48 (width 32), rows
        // transformed first, as the srht does.
        let (rows, stride, col0, width) = (64usize, 48usize, 16usize, 32usize);
        let src = input(rows * stride);
        let mut whole = vec![0.0f32; rows * width];
        for (r, row) in whole.chunks_exact_mut(width).enumerate() {
            row.copy_from_slice(&src[r * stride + col0..][..width]);
        }
        portable::levels_from(&mut whole, width);
        for isa in runnable() {
            for levels in 0..=GATHER_LEVELS {
                let mut panel = vec![f32::NAN; rows * width];
                gather_on(isa, &mut panel, &src, stride, col0, width, levels);
                for r in 0..rows {
                    for c in 0..width {
                        let got = column_output(&panel, width, levels, r, c);
                        assert_eq!(got.to_bits(), whole[r * width + c].to_bits(), "{isa:?} levels {levels} ({r}, {c})");
                    }
                }
            }
        }
    }

    #[test]
    fn applying_signs_flips_exactly_the_set_bits() {
        for n in [0, 1, 7, 8, 15, 16, 17, 31, 33, 100, 1000] {
            let src: Vec<f32> = input(n).into_iter().map(|v| v + 0.5).collect();
            let signs = signs_for(n);
            let mut got = vec![f32::NAN; n];
            apply_signs(&src, &mut got, &signs);
            for (i, (&g, &s)) in got.iter().zip(&src).enumerate() {
                let negative = signs[i / 32] >> (i % 32) & 1 == 1;
                assert_eq!(g.to_bits(), if negative { (-s).to_bits() } else { s.to_bits() }, "n {n} i {i}");
            }
        }
    }

    #[test]
    fn column_levels_of_a_panel_are_the_high_levels_of_the_whole() {
        // A 64 x 32 panel (rows x width): row transforms then column levels = the 2048-point
        // transform of the flattened panel.
        let (rows, width) = (64, 32);
        let z = input(rows * width);
        let mut whole = z.clone();
        transform_local(&mut whole);
        let mut split = z;
        for row in split.chunks_exact_mut(width) {
            transform_local(row);
        }
        levels_from(&mut split, width);
        for (i, (a, b)) in whole.iter().zip(&split).enumerate() {
            assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "{i}: {a} vs {b}");
        }
    }
}
