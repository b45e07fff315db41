//! Fast CPU kernels of the calibration ops (`stream_read`, `stream_copy`, `fma_peak`): all cores,
//! SIMD, so the bench's CPU roofline reflects what the hardware can do.

use rayon::prelude::*;

use crate::ops::fma_peak::{C, M};
use crate::ops::stream_read::CHUNK;

/// y[i] = Σ x[i·4096 .. (i+1)·4096].
pub fn stream_read(x: &[f32], y: &mut [f32]) {
    assert_eq!(y.len(), x.len().div_ceil(CHUNK), "stream_read: y length");
    y.par_iter_mut().zip(x.par_chunks(CHUNK)).for_each(|(out, chunk)| {
        // Eight independent lanes: the compiler turns these vertical adds into SIMD.
        let mut lanes = [0.0f32; 8];
        let body = chunk.chunks_exact(8);
        let tail: f32 = body.remainder().iter().sum();
        for c in body {
            for (l, v) in lanes.iter_mut().zip(c) {
                *l += v;
            }
        }
        *out = lanes.iter().sum::<f32>() + tail;
    });
}

/// y = x.
pub fn stream_copy(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "stream_copy: lengths");
    y.par_chunks_mut(1 << 16).zip(x.par_chunks(1 << 16)).for_each(|(d, s)| d.copy_from_slice(s));
}

/// Elements per task of `fma_peak`: 12 chains of 8 lanes, enough to cover FMA latency.
const FMA_GROUP: usize = 96;

/// y[i] = `iters` steps of a = fma(a, M, C) from x[i].
pub fn fma_peak(x: &[f32], y: &mut [f32], iters: usize) {
    assert_eq!(x.len(), y.len(), "fma_peak: lengths");
    y.par_chunks_mut(FMA_GROUP).zip(x.par_chunks(FMA_GROUP)).for_each(|(out, inp)| {
        #[cfg(target_arch = "x86_64")]
        if inp.len() == FMA_GROUP && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: FMA (and AVX, which it implies) was detected; both slices hold 96 elements.
            unsafe { fma_group_avx2(inp, out, iters) };
            return;
        }
        for (o, &v) in out.iter_mut().zip(inp) {
            *o = (0..iters).fold(v, |a, _| a.mul_add(M, C));
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_group_avx2(x: &[f32], y: &mut [f32], iters: usize) {
    use std::arch::x86_64::*;
    let m = _mm256_set1_ps(M);
    let c = _mm256_set1_ps(C);
    let mut acc = [_mm256_setzero_ps(); FMA_GROUP / 8];
    for (i, a) in acc.iter_mut().enumerate() {
        // SAFETY: x holds FMA_GROUP elements.
        *a = unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * i)) };
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, m, c);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        // SAFETY: y holds FMA_GROUP elements.
        unsafe { _mm256_storeu_ps(y.as_mut_ptr().add(8 * i), *a) };
    }
}
