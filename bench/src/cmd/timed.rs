//! How a case's launches are timed in each cache mode ([`CacheMode`]).
//!
//! - cold: the device's caches flushed, then one launch timed on the device where the backend
//!   can (CUDA events, wgpu timestamps). It includes what one launch alone costs: for a kernel
//!   of a few microseconds, the launch and the first memory round trip are a large part of it.
//! - hot: launches back to back on the same inputs, batched to about a millisecond a sample;
//!   inputs that fit in a cache stay there.
//! - streamed: launches back to back, each on the next of `copies` separately prepared copies of
//!   the inputs, together at least [`STREAMED_CACHE_MULTIPLE`] times the backend's largest
//!   cache ([`Backend::cache_bytes`]; or `--streamed-span-mb`). No launch finds its inputs in a cache, and each launch's
//!   start overlaps the previous one's end as in a model's run of products over different
//!   weights. Timed on the host clock around the whole rotation and a final synchronize, with
//!   samples long enough ([`STREAMED_SAMPLE_S`]) that the synchronize is a small part of them.
//!   Every copy starts poisoned and its outputs are compared with the reference after the
//!   timing, so a copy that computed nothing cannot pass.

use anyhow::{Context, Result};
use dfma_kernels::{Backend, BackendKind, Prepared, TimingMethod};
use dfma_reference::compare::compare_tensors;
use dfma_reference::{Op, Tensor};

use super::bench::Case;
use crate::cli::CacheMode;

/// Hot samples batch launches until a sample lasts about this long, so launch overhead and
/// timer resolution stay small against the kernel.
pub(super) const HOT_SAMPLE_S: f64 = 1e-3;

/// A streamed sample lasts about this long: its one synchronize (tens of microseconds on a
/// GPU) stays under 1 % of it.
pub(super) const STREAMED_SAMPLE_S: f64 = 5e-3;

/// The copies of a streamed case exceed the backend's largest cache this many times.
pub const STREAMED_CACHE_MULTIPLE: u64 = 4;

/// At most this many copies (small cases on a large cache).
const MAX_COPIES: u64 = 256;

/// The default span of a streamed case's copies is at most this many bytes (a large cache, such
/// as a server CPU's last level, would otherwise ask for gigabytes of copies).
const MAX_DEFAULT_SPAN_BYTES: u64 = 2 << 30;

/// The bytes a streamed case's copies span together by default on a backend whose largest
/// cache holds `cache_bytes`: [`STREAMED_CACHE_MULTIPLE`] times it, at most
/// [`MAX_DEFAULT_SPAN_BYTES`].
pub fn default_span_bytes(cache_bytes: u64) -> u64 {
    (STREAMED_CACHE_MULTIPLE * cache_bytes).min(MAX_DEFAULT_SPAN_BYTES)
}

/// How many copies of a case moving `case_bytes` a launch span `span_bytes`: at least one, at
/// most [`MAX_COPIES`].
pub fn streamed_copies(case_bytes: u64, span_bytes: u64) -> u32 {
    let copies = span_bytes.div_ceil(case_bytes.max(1)).clamp(1, MAX_COPIES);
    u32::try_from(copies).expect("at most MAX_COPIES")
}

/// A prepared case, ready to be sampled in its cache mode.
pub(super) struct Timed<'a> {
    backend: &'a dyn Backend,
    mode: CacheMode,
    /// The checked kernel first, then (streamed) the other copies.
    copies: Vec<Box<dyn Prepared + 'a>>,
    /// Launches one sample times.
    launches: u32,
    /// Bytes one launch moves, by the op's cost.
    case_bytes: u64,
    /// How the backend timed the checked kernel's launches (cold and hot).
    device_method: TimingMethod,
}

impl<'a> Timed<'a> {
    /// Warms `first` (prepared and checked on `inputs`) up and sizes its samples; in streamed
    /// mode also prepares, poisons and warms the other copies.
    pub(super) fn new(case: &Case<'a>, first: Box<dyn Prepared + 'a>, inputs: &[Tensor]) -> Result<Self> {
        let case_bytes = case.kernel.op.cost(&case.dims).bytes;
        let mut first = first;
        let (warm_s, device_method) = first.time_launches(1)?;
        let mut t = Timed {
            backend: case.backend,
            mode: case.mode,
            copies: vec![first],
            launches: 1,
            case_bytes,
            device_method,
        };
        match case.mode {
            CacheMode::Cold => {}
            CacheMode::Hot => t.launches = ((HOT_SAMPLE_S / warm_s.max(1e-9)).ceil() as u32).clamp(1, 1000),
            CacheMode::Streamed => {
                let span = case.streamed_span_bytes.unwrap_or_else(|| default_span_bytes(case.backend.cache_bytes()));
                let n = streamed_copies(case_bytes, span);
                for i in 1..n {
                    let mut p = case
                        .backend
                        .prepare(case.kernel, &case.dims, inputs)
                        .with_context(|| format!("streamed copy {i} of {n}"))?;
                    p.poison_outputs()?;
                    t.copies.push(p);
                }
                // One round over every copy: first touches and module loads stay out of the
                // samples, and the round's time sizes them.
                let round_s = t.rotate(n)?;
                let rounds = (STREAMED_SAMPLE_S / round_s.max(1e-9)).ceil().clamp(1.0, 10_000.0 / f64::from(n));
                t.launches = n * (rounds as u32).max(1);
            }
        }
        Ok(t)
    }

    /// Seconds a launch takes in one sample (cold: the caches flushed first).
    pub(super) fn sample(&mut self) -> Result<f64> {
        let s = match self.mode {
            CacheMode::Cold => {
                // A failed flush surfaces again at the next launch; the sample stays valid.
                let _ = self.backend.flush_caches();
                self.copies[0].time_launches(1)?.0
            }
            CacheMode::Hot => self.copies[0].time_launches(self.launches)?.0,
            CacheMode::Streamed => self.rotate(self.launches)?,
        };
        Ok(s / f64::from(self.launches))
    }

    /// Runs one sample's launches back to back with no flush (energy windows) and returns how
    /// many ran.
    pub(super) fn run_back_to_back(&mut self) -> Result<u32> {
        match self.mode {
            CacheMode::Cold | CacheMode::Hot => {
                self.copies[0].time_launches(self.launches.max(1))?;
            }
            CacheMode::Streamed => {
                self.rotate(self.launches)?;
            }
        }
        Ok(self.launches.max(1))
    }

    /// `launches` launches round the copies, host clock around them and the synchronize.
    fn rotate(&mut self, launches: u32) -> Result<f64> {
        for p in &mut self.copies {
            p.synchronize()?;
        }
        let copies = &mut self.copies;
        let mut run = move || -> Result<f64> {
            let n = copies.len();
            let t = std::time::Instant::now();
            for i in 0..launches as usize {
                copies[i % n].launch()?;
            }
            for p in copies.iter_mut() {
                p.synchronize()?;
            }
            Ok(t.elapsed().as_secs_f64())
        };
        // Host kernels run on a worker of the pool, as their own time_launches does; a device
        // backend's launches stay on the thread that holds its context.
        let on_host = matches!(self.backend.kind(), BackendKind::Cpu | BackendKind::Reference);
        if on_host { dfma_kernels::host::on_the_pool(run) } else { run() }
    }

    /// How the samples were timed, for the report.
    pub(super) fn method(&self) -> String {
        match self.mode {
            CacheMode::Cold => self.device_method.describe().to_string(),
            CacheMode::Hot if self.launches > 1 => {
                format!("{}, {} launches per sample", self.device_method.describe(), self.launches)
            }
            CacheMode::Hot => self.device_method.describe().to_string(),
            CacheMode::Streamed => format!(
                "host clock around {} launches rotating over {} copies of the inputs ({:.1} MB together, \
                 the backend's largest cache {:.1} MB) and a synchronize",
                self.launches,
                self.copies.len(),
                (self.case_bytes * self.copies.len() as u64) as f64 / 1e6,
                self.backend.cache_bytes() as f64 / 1e6
            ),
        }
    }

    /// The checked kernel (for counters such as the interpreter's instructions).
    pub(super) fn first(&self) -> &dyn Prepared {
        self.copies[0].as_ref()
    }

    /// Compares every streamed copy's outputs with `reference`: `None` when all match (or
    /// there are no copies), else what the first mismatch was.
    pub(super) fn check_copies(&mut self, op: &dyn Op, reference: &[Tensor]) -> Result<Option<String>> {
        for (i, p) in self.copies.iter_mut().enumerate().skip(1) {
            p.synchronize()?;
            let got = p.read_outputs()?;
            if got.len() != reference.len() {
                return Ok(Some(format!("streamed copy {i}: {} outputs, expected {}", got.len(), reference.len())));
            }
            for (g, r) in got.iter().zip(reference) {
                let (passed, c) = compare_tensors(g, r, op.tolerance());
                if !passed {
                    return Ok(Some(format!("streamed copy {i}: {c}")));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_copies_span_four_times_the_cache_within_the_limits() {
        // A 33 MB GEMV on a 60 MB L2: 8 copies, 265 MB.
        assert_eq!(streamed_copies(33_103_872, default_span_bytes(60 << 20)), 8);
        // A case already 4x the cache: one copy.
        assert_eq!(streamed_copies(1 << 30, default_span_bytes(50 << 20)), 1);
        // No cache (an interpreter): one copy.
        assert_eq!(streamed_copies(4096, default_span_bytes(0)), 1);
        // Small cases stop at MAX_COPIES.
        assert_eq!(streamed_copies(1000, default_span_bytes(60 << 20)), 256);
        // A large cache's default span stops at 2 GiB (4 x 480 MiB is under it).
        assert_eq!(default_span_bytes(480 << 20), 1920 << 20);
        assert_eq!(default_span_bytes(600 << 20), 2 << 30);
        assert_eq!(streamed_copies(300 << 20, default_span_bytes(600 << 20)), 7);
        // A span asked for explicitly.
        assert_eq!(streamed_copies(17_825_792, 64 << 20), 4);
        // Zero bytes counted does not divide by zero.
        assert_eq!(streamed_copies(0, 1 << 20), 256);
    }
}
