//! AVX-512 butterflies: 16-float vectors, four levels a register-blocked step (16 of the 32
//! vector registers hold the data). Same pairs, same order, same bits as the other paths.

use std::arch::x86_64::*;

use seq_macro::seq;

/// Floats in one AVX-512 vector.
pub(super) const LANES: usize = 16;

/// Levels 1, 2, 4 and 8 of the 16-float vector `v`: per level a lane shuffle brings each
/// element's partner, and one FMA with ±1 lanes gives u + w in the lower and u − w in the upper
/// element of each pair (exact products, so one rounding: that of u ± w).
#[inline]
#[target_feature(enable = "avx512f")]
fn in_vector(mut v: __m512) -> __m512 {
    let (p, m) = (1.0f32, -1.0f32);
    let s1 = _mm512_setr_ps(p, m, p, m, p, m, p, m, p, m, p, m, p, m, p, m);
    let s2 = _mm512_setr_ps(p, p, m, m, p, p, m, m, p, p, m, m, p, p, m, m);
    let s4 = _mm512_setr_ps(p, p, p, p, m, m, m, m, p, p, p, p, m, m, m, m);
    let s8 = _mm512_setr_ps(p, p, p, p, p, p, p, p, m, m, m, m, m, m, m, m);
    v = _mm512_fmadd_ps(v, s1, _mm512_permute_ps::<0xB1>(v));
    v = _mm512_fmadd_ps(v, s2, _mm512_permute_ps::<0x4E>(v));
    v = _mm512_fmadd_ps(v, s4, _mm512_shuffle_f32x4::<0xB1>(v, v));
    _mm512_fmadd_ps(v, s8, _mm512_shuffle_f32x4::<0x4E>(v, v))
}

/// The sign mask of the 16 coordinates from `i` (a multiple of 16): bit i mod 32 of word i / 32.
#[inline(always)]
fn sign_mask(signs: &[u32], i: usize) -> __mmask16 {
    (signs[i / 32] >> (i % 32)) as __mmask16
}

/// Lanes below `len` (≤ 16).
#[inline(always)]
fn first_lanes(len: usize) -> __mmask16 {
    ((1u32 << len) - 1) as __mmask16
}

/// Flips the sign of the lanes of `v` set in `mask`.
#[inline]
#[target_feature(enable = "avx512f")]
fn negate_lanes(v: __m512, mask: __mmask16) -> __m512 {
    let vi = _mm512_castps_si512(v);
    _mm512_castsi512_ps(_mm512_mask_xor_epi32(vi, mask, vi, _mm512_set1_epi32(i32::MIN)))
}

/// Levels 1, 2, 4 and 8 of every 16-float vector of `z`.
///
/// # Safety
/// AVX-512F must be available; `z.len()` a multiple of 16.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn in_vector_levels(z: &mut [f32]) {
    for g in z.chunks_exact_mut(LANES) {
        let p = g.as_mut_ptr();
        // SAFETY: p points at 16 floats of `g`.
        unsafe { _mm512_storeu_ps(p, in_vector(_mm512_loadu_ps(p))) };
    }
}

/// z = D·src (zero past src's end), then levels 1, 2, 4 and 8 of every vector: the signs
/// applied on the way in, so the signal is read once.
///
/// # Safety
/// AVX-512F must be available; `z.len()` a multiple of 16, ≥ src.len(); `signs` covers src.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn signed_in_vector_levels(z: &mut [f32], src: &[f32], signs: &[u32]) {
    for (c, out) in z.chunks_exact_mut(LANES).enumerate() {
        let i = c * LANES;
        let have = src.len().saturating_sub(i).min(LANES);
        let v = if have == 0 {
            _mm512_setzero_ps()
        } else {
            // SAFETY: the mask keeps the load inside src.
            let v = unsafe { _mm512_maskz_loadu_ps(first_lanes(have), src.as_ptr().add(i)) };
            in_vector(negate_lanes(v, sign_mask(signs, i) & first_lanes(have)))
        };
        // SAFETY: 16 floats of `out`.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
    }
}

/// Floats one fused step covers: 16 vectors of 16.
pub(super) const FUSED: usize = LANES * LANES;

/// z = D·src (zero past src's end), then levels 1 … 128 of every 256-float chunk in one pass:
/// 16 vectors are loaded and signed, each runs its in-vector levels, and the 16 then run levels
/// 16 … 128 together in registers before they are stored. Each chunk also hints its share of
/// `next`'s cache lines into L2 (`next` may be empty).
///
/// # Safety
/// AVX-512F must be available; `z.len()` a multiple of 256, ≥ src.len(); `signs` covers src.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn signed_fused_levels(z: &mut [f32], src: &[f32], signs: &[u32], next: &[f32]) {
    let whole = src.len() / FUSED;
    let lines = next.len().div_ceil(LANES);
    let per_chunk = lines.div_ceil((z.len() / FUSED).max(1));
    let mut line = 0;
    for (c, out) in z.chunks_exact_mut(FUSED).enumerate() {
        let first = c * FUSED;
        for _ in 0..per_chunk {
            if line < lines {
                // SAFETY: a prefetch hint of an address inside `next`; it never faults.
                unsafe { _mm_prefetch::<_MM_HINT_T1>(next.as_ptr().add(line * LANES).cast()) };
                line += 1;
            }
        }
        if c < whole {
            // SAFETY: 256 floats of src from `first`, 256 of out; the chunk's 8 sign words.
            unsafe { fused_chunk(src.as_ptr().add(first), &signs[first / 32..][..FUSED / 32], out.as_mut_ptr()) };
        } else {
            // The ragged end: the rest of the signal, zero-padded, with no signs past its end
            // (a negated padding zero would be −0, and could show in the bits of a zero output).
            let rest = src.get(first..).unwrap_or(&[]);
            let have = rest.len();
            let mut chunk = [0.0f32; FUSED];
            chunk[..have].copy_from_slice(rest);
            let mut words = [0u32; FUSED / 32];
            for (w, word) in words.iter_mut().enumerate() {
                let bits = have.saturating_sub(32 * w).min(32);
                if bits > 0 {
                    *word = signs[first / 32 + w] & (u32::MAX >> (32 - bits));
                }
            }
            // SAFETY: as above, on the local copies.
            unsafe { fused_chunk(chunk.as_ptr(), &words, out.as_mut_ptr()) };
        }
    }
}

/// One 256-float chunk of [`signed_fused_levels`], straight-line: the 16 vectors are indexed
/// by constants only, so they live in registers from load to store.
///
/// # Safety
/// AVX-512F must be available; 256 floats readable at `src` and writable at `out`; `signs`
/// holds 8 words.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::erasing_op, clippy::identity_op)] // seq! writes 0 · LANES and 1 · LANES too
unsafe fn fused_chunk(src: *const f32, signs: &[u32], out: *mut f32) {
    let mut v = [_mm512_setzero_ps(); 16];
    seq!(T in 0..16 {
        // SAFETY: the caller's 256 floats.
        let x = unsafe { _mm512_loadu_ps(src.add(T * LANES)) };
        v[T] = in_vector(negate_lanes(x, sign_mask(signs, T * LANES)));
    });
    butterflies::<4>(&mut v);
    seq!(T in 0..16 {
        // SAFETY: the caller's 256 floats.
        unsafe { _mm512_storeu_ps(out.add(T * LANES), v[T]) };
    });
}

/// dst (rows × width, row-major) = columns `col0 .. col0 + width` of the rows of `src` at
/// stride `stride`, with the first LEVELS column levels applied on the way (strides width,
/// 2·width, …): one pass gathers the panel and runs them.
///
/// # Safety
/// AVX-512F must be available; width a multiple of 16; rows = dst.len() / width a multiple of
/// 2^LEVELS; every row of src from col0 holds width floats.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gather_column_levels<const LEVELS: u32>(
    dst: &mut [f32],
    src: &[f32],
    stride: usize,
    col0: usize,
    width: usize,
) {
    let count = 1usize << LEVELS;
    let rows = dst.len() / width;
    for r0 in (0..rows).step_by(count) {
        for c in (0..width).step_by(LANES) {
            let mut v = [_mm512_setzero_ps(); 16];
            for (t, vt) in v.iter_mut().enumerate().take(count) {
                let at = (r0 + t) * stride + col0 + c;
                assert!(at + LANES <= src.len());
                // SAFETY: checked above.
                *vt = unsafe { _mm512_loadu_ps(src.as_ptr().add(at)) };
            }
            butterflies::<LEVELS>(&mut v);
            for (t, vt) in v.iter().enumerate().take(count) {
                // SAFETY: (r0 + t)·width + c + 16 ≤ rows·width = dst.len().
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add((r0 + t) * width + c), *vt) };
            }
        }
    }
}

/// Levels 1 … 2^(LEVELS−1) across the first 2^LEVELS vectors of `v`, in registers.
#[inline(always)]
fn butterflies<const LEVELS: u32>(v: &mut [__m512; 16]) {
    let count = 1usize << LEVELS;
    for level in 0..LEVELS {
        let bit = 1usize << level;
        for t in 0..count {
            if t & bit == 0 {
                let (u, w) = (v[t], v[t | bit]);
                // SAFETY: the callers are compiled with AVX-512F (inline(always)).
                unsafe {
                    v[t] = _mm512_add_ps(u, w);
                    v[t | bit] = _mm512_sub_ps(u, w);
                }
            }
        }
    }
}

/// dst[i] = ±src[i] with the sign bits of `signs`.
///
/// # Safety
/// AVX-512F must be available; `signs` covers src; dst as long as src.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn apply_signs(src: &[f32], dst: &mut [f32], signs: &[u32]) {
    for i in (0..src.len()).step_by(LANES) {
        let lanes = first_lanes((src.len() - i).min(LANES));
        // SAFETY: the mask keeps both accesses inside src and dst.
        unsafe {
            let v = _mm512_maskz_loadu_ps(lanes, src.as_ptr().add(i));
            _mm512_mask_storeu_ps(dst.as_mut_ptr().add(i), lanes, negate_lanes(v, sign_mask(signs, i)));
        }
    }
}

/// Levels h .. h·2^(LEVELS−1) of every block, 16 columns at a time, in registers; each step
/// also hints the next cache lines of `next` into L2 (`next` may be empty).
///
/// # Safety
/// AVX-512F must be available; h a multiple of 16; `z` a multiple of h·2^LEVELS long.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::erasing_op, clippy::identity_op)] // seq! writes 0 · h and 1 · h too
unsafe fn block_levels<const LEVELS: u32>(z: &mut [f32], h: usize, next: &[f32]) {
    let count = 1usize << LEVELS;
    let steps = (z.len() / LANES) >> LEVELS;
    // Lines of `next` per step, so that the pass covers it (rounded up).
    let lines = next.len().div_ceil(LANES);
    let per_step = lines.div_ceil(steps.max(1));
    let mut line = 0;
    for blk in z.chunks_exact_mut(h << LEVELS) {
        let b = blk.as_mut_ptr();
        for off in (0..h).step_by(LANES) {
            for _ in 0..per_step {
                if line < lines {
                    // SAFETY: a prefetch hint of an address inside `next`; it never faults.
                    unsafe { _mm_prefetch::<_MM_HINT_T1>(next.as_ptr().add(line * LANES).cast()) };
                    line += 1;
                }
            }
            let mut v = [_mm512_setzero_ps(); 16];
            seq!(T in 0..16 {
                if T < count {
                    // SAFETY: off + T·h + 16 ≤ count·h = blk.len() since off + 16 ≤ h.
                    v[T] = unsafe { _mm512_loadu_ps(b.add(off + T * h)) };
                }
            });
            butterflies::<LEVELS>(&mut v);
            seq!(T in 0..16 {
                if T < count {
                    // SAFETY: as for the loads.
                    unsafe { _mm512_storeu_ps(b.add(off + T * h), v[T]) };
                }
            });
        }
    }
}

/// Levels h, 2h, … z.len()/2, four at a time (a first level of stride 8 on the AVX2 path).
///
/// # Safety
/// AVX-512F, AVX2 and FMA must be available; h a power of two multiple of 8, `z` a power of
/// two long.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn levels_from(z: &mut [f32], h: usize) {
    // SAFETY: forwarded.
    unsafe { levels_from_prefetching(z, h, &[]) }
}

/// [`levels_from`], hinting `next` into L2 during its first register-blocked pass.
///
/// # Safety
/// As for [`levels_from`].
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn levels_from_prefetching(z: &mut [f32], mut h: usize, mut next: &[f32]) {
    if h < LANES && h < z.len() {
        // SAFETY: h = 8 and z a multiple of 16 long.
        unsafe { super::avx2::block_levels::<1>(z, h) };
        h *= 2;
    }
    while h < z.len() {
        let levels = (z.len() / h).trailing_zeros().min(4);
        // SAFETY: forwarded.
        unsafe {
            match levels {
                1 => block_levels::<1>(z, h, next),
                2 => block_levels::<2>(z, h, next),
                3 => block_levels::<3>(z, h, next),
                _ => block_levels::<4>(z, h, next),
            }
        }
        next = &[];
        h <<= levels;
    }
}
