//! CPU roofline calibration, measured in the same run as the kernels: streaming-read bandwidth
//! and copy bandwidth (bytes read + bytes written) on all cores over out-of-cache buffers.

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::stats::{Summary, summarize};

/// Bytes of each calibration buffer: far beyond any last-level cache.
pub const BUFFER_BYTES: usize = 256 << 20;
const REPEATS: usize = 7;

/// Measured memory roofline of the host.
#[derive(Clone, Debug, Serialize)]
pub struct HostRoofline {
    /// Streaming read, all cores: bytes read per second (median).
    pub read_bytes_per_s: f64,
    /// Copy, all cores: (bytes read + bytes written) per second (median).
    pub copy_bytes_per_s: f64,
    /// Buffer size used, bytes.
    pub buffer_bytes: usize,
    /// Threads used.
    pub threads: usize,
    /// Read timings.
    pub read: Summary,
    /// Copy timings.
    pub copy: Summary,
}

/// Sums a slice as u64 words; the compiler vectorizes the wrapping adds, so this runs at the
/// speed of memory.
fn sum_words(words: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let chunks = words.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, w) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*w);
        }
    }
    acc.iter().chain(tail).fold(0u64, |s, v| s.wrapping_add(*v))
}

/// Reads `buf` once with all cores.
pub fn read_all(buf: &[u64]) -> u64 {
    buf.par_chunks(1 << 16).map(sum_words).reduce(|| 0, u64::wrapping_add)
}

/// Measures the host's streaming-read and copy bandwidth.
pub fn measure() -> HostRoofline {
    let words = BUFFER_BYTES / 8;
    // Non-zero, non-constant contents so nothing can be elided or deduplicated.
    let src: Vec<u64> = (0..words as u64).into_par_iter().map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    let mut dst = vec![1u64; words];
    let mut read_s = Vec::new();
    let mut copy_s = Vec::new();
    let mut sink = 0u64;
    for _ in 0..REPEATS {
        let t = Instant::now();
        sink ^= std::hint::black_box(read_all(&src));
        read_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        dst.par_chunks_mut(1 << 16).zip(src.par_chunks(1 << 16)).for_each(|(d, s)| d.copy_from_slice(s));
        copy_s.push(t.elapsed().as_secs_f64());
        std::hint::black_box(&dst);
    }
    std::hint::black_box(sink);
    let read = summarize(&read_s);
    let copy = summarize(&copy_s);
    HostRoofline {
        read_bytes_per_s: BUFFER_BYTES as f64 / read.median_s,
        copy_bytes_per_s: 2.0 * BUFFER_BYTES as f64 / copy.median_s,
        buffer_bytes: BUFFER_BYTES,
        threads: rayon::current_num_threads(),
        read,
        copy,
    }
}
