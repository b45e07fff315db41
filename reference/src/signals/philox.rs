//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
//! counter-based generator every random value of the signal ops is drawn from.
//!
//! A counter-based generator is a keyed bijection of a 128-bit counter: the i-th value needs no
//! state from the (i−1)-th, so every thread of every backend computes any value it needs from
//! its indices alone, and the bits are identical everywhere because only 32-bit integer
//! multiplies, xors and adds are involved.

/// Multiplier of counter word 0.
pub const M0: u32 = 0xD251_1F53;
/// Multiplier of counter word 2.
pub const M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 (the golden ratio's fraction).
pub const W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 (√3 − 1).
pub const W1: u32 = 0xBB67_AE85;
/// Rounds.
pub const ROUNDS: usize = 10;

/// (high, low) 32-bit halves of the 64-bit product a·b.
#[inline(always)]
pub fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// One Philox round on counter `c` with round key `k`.
#[inline(always)]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(M0, c[0]);
    let (hi1, lo1) = mulhilo(M1, c[2]);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// Philox4x32-10 of counter `ctr` under `key`: four 32-bit words. Word 0 of the counter is the
/// least significant; output words are returned in Random123's order.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for r in 0..ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c = round(c, k);
    }
    c
}

/// L Philox4x32-10 blocks at once, the counters' words in lanes: `ctr[w][l]` is word w of
/// counter l, and so is the result. The same bits as L [`philox4x32_10`] calls, written as
/// whole-lane operations so that, compiled for AVX2 (L = 8) or AVX-512 (L = 16), each step is
/// one vector instruction or two (the 32×32→64-bit products map to `vpmuludq`): a CPU kernel
/// that needs many blocks runs about as many Philox rounds per cycle as a GPU warp.
#[inline(always)]
pub fn philox4x32_10_lanes<const L: usize>(ctr: [[u32; L]; 4], key: [u32; 2]) -> [[u32; L]; 4] {
    let mut c = ctr;
    let mut k = key;
    for r in 0..ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0: [u64; L] = std::array::from_fn(|l| u64::from(M0) * u64::from(c[0][l]));
        let p1: [u64; L] = std::array::from_fn(|l| u64::from(M1) * u64::from(c[2][l]));
        c = [
            std::array::from_fn(|l| (p1[l] >> 32) as u32 ^ c[1][l] ^ k[0]),
            std::array::from_fn(|l| p1[l] as u32),
            std::array::from_fn(|l| (p0[l] >> 32) as u32 ^ c[3][l] ^ k[1]),
            std::array::from_fn(|l| p0[l] as u32),
        ];
    }
    c
}

/// Eight blocks at once: [`philox4x32_10_lanes`] with one AVX2 register of lanes.
#[inline(always)]
pub fn philox4x32_10_x8(ctr: [[u32; 8]; 4], key: [u32; 2]) -> [[u32; 8]; 4] {
    philox4x32_10_lanes(ctr, key)
}

/// Sixteen blocks at once: [`philox4x32_10_lanes`] with one AVX-512 register of lanes, in
/// AVX-512 instructions where the CPU has them (the generic lanes compile to a poor mix of
/// vector widths for sixteen), else the generic lanes. The same bits either way.
#[inline(always)]
pub fn philox4x32_10_x16(ctr: [[u32; 16]; 4], key: [u32; 2]) -> [[u32; 16]; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected.
        return unsafe { x16_avx512(ctr, key) };
    }
    philox4x32_10_lanes(ctr, key)
}

/// [`philox4x32_10_x16`] in AVX-512: the 32×32→64-bit products of the even and the odd lanes
/// (`vpmuludq` on the counter and on it shifted down a lane), their halves blended back into
/// sixteen high and sixteen low words; the xors of three words one `vpternlogd`.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn x16_avx512(ctr: [[u32; 16]; 4], key: [u32; 2]) -> [[u32; 16]; 4] {
    use std::arch::x86_64::*;
    /// (high, low) words of the sixteen products a·m (m in every lane).
    #[inline(always)]
    fn mulhilo(a: __m512i, m: __m512i) -> (__m512i, __m512i) {
        // SAFETY: the caller is compiled with AVX-512F (inline(always)).
        unsafe {
            let even = _mm512_mul_epu32(a, m);
            let odd = _mm512_mul_epu32(_mm512_srli_epi64::<32>(a), m);
            let lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64::<32>(odd));
            let hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<32>(even), odd);
            (hi, lo)
        }
    }
    // SAFETY: each array is 16 u32 = 64 bytes, read and written unaligned.
    let load = |a: &[u32; 16]| unsafe { _mm512_loadu_si512(a.as_ptr().cast()) };
    let [mut c0, mut c1, mut c2, mut c3] = [load(&ctr[0]), load(&ctr[1]), load(&ctr[2]), load(&ctr[3])];
    let (m0, m1) = (_mm512_set1_epi32(M0 as i32), _mm512_set1_epi32(M1 as i32));
    let mut k = key;
    for r in 0..ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let (hi0, lo0) = mulhilo(c0, m0);
        let (hi1, lo1) = mulhilo(c2, m1);
        let (k0, k1) = (_mm512_set1_epi32(k[0] as i32), _mm512_set1_epi32(k[1] as i32));
        c0 = _mm512_ternarylogic_epi32::<0x96>(hi1, c1, k0);
        c1 = lo1;
        c2 = _mm512_ternarylogic_epi32::<0x96>(hi0, c3, k1);
        c3 = lo0;
    }
    let mut out = [[0u32; 16]; 4];
    for (o, v) in out.iter_mut().zip([c0, c1, c2, c3]) {
        // SAFETY: as for the loads.
        unsafe { _mm512_storeu_si512(o.as_mut_ptr().cast(), v) };
    }
    out
}

/// `base + i` as a 128-bit little-endian-word integer (word 0 least significant), wrapping at
/// 2^128: the counter of block `i` of the `philox4x32_10` op.
pub fn counter_add(base: [u32; 4], i: u64) -> [u32; 4] {
    let b = u128::from(base[0]) | u128::from(base[1]) << 32 | u128::from(base[2]) << 64 | u128::from(base[3]) << 96;
    let s = b.wrapping_add(u128::from(i));
    [s as u32, (s >> 32) as u32, (s >> 64) as u32, (s >> 96) as u32]
}

/// Random123's known-answer vectors (`kat_vectors`, philox4x32 10 rounds): (counter, key,
/// output). Every backend's `philox4x32_10` kernel must reproduce them.
pub const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
    ([u32::MAX; 4], [u32::MAX; 2], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
    (
        [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
        [0xa409_3822, 0x299f_31d0],
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes_are_single_calls<const L: usize>() {
        let key = [0xa409_3822, 0x299f_31d0];
        let ctr: [[u32; L]; 4] = std::array::from_fn(|w| {
            std::array::from_fn(|l| (w as u32).wrapping_mul(0x9E37_79B9) ^ (l as u32).wrapping_mul(0x85EB_CA6B))
        });
        let lanes = philox4x32_10_lanes(ctr, key);
        for l in 0..L {
            let one = philox4x32_10([ctr[0][l], ctr[1][l], ctr[2][l], ctr[3][l]], key);
            assert_eq!([lanes[0][l], lanes[1][l], lanes[2][l], lanes[3][l]], one, "{L} lanes: lane {l}");
        }
    }

    #[test]
    fn eight_and_sixteen_lanes_are_single_calls() {
        lanes_are_single_calls::<8>();
        lanes_are_single_calls::<16>();
        let key = [0x2999_31d0, 0xa409_3822];
        let ctr: [[u32; 16]; 4] =
            std::array::from_fn(|w| std::array::from_fn(|l| u32::MAX - (w * 16 + l) as u32 * 0x0101_0101));
        assert_eq!(philox4x32_10_x16(ctr, key), philox4x32_10_lanes(ctr, key), "x16 (AVX-512 where present)");
    }

    #[test]
    fn philox_matches_random123s_known_answers() {
        for (ctr, key, want) in KNOWN_ANSWERS {
            assert_eq!(philox4x32_10(ctr, key), want, "ctr {ctr:08x?} key {key:08x?}");
        }
    }

    #[test]
    fn counters_carry_across_all_four_words_and_wrap() {
        assert_eq!(counter_add([u32::MAX, u32::MAX, 5, 0], 1), [0, 0, 6, 0]);
        assert_eq!(counter_add([u32::MAX; 4], 2), [1, 0, 0, 0]);
        assert_eq!(counter_add([7, 0, 0, 0], 3), [10, 0, 0, 0]);
    }
}
