//! Performance bars: a case's median time against a peer case's, measured side by side in the
//! same run, on the same backend and cache mode.
//!
//! A bar states a design promise as a ratio, e.g. "applying a rank-16 adapter inside the base
//! GEMV costs at most 10 % more than the bare GEMV". Each side takes its fastest correct kernel
//! variant. When a bench run includes a bar's case, it also runs the peer case (one extra shape),
//! so the ratio is always measured under the same conditions; the report lists each bar with the
//! two medians, the ratio, the bound and whether it was met. Then both sides are prepared
//! together and launched in alternating pairs, and the bar is judged by the median of the
//! pairs' ratios: on a noisy machine the two sides' own sampling runs, seconds apart, can drift
//! apart by more than the effect a bar bounds.

use serde::{Deserialize, Serialize};

use crate::report::CaseReport;

/// One side of a bar: an op at a dims string as `Dims` prints it.
pub type Side = (&'static str, &'static str);

/// What a bar bounds.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// median(case) / median(peer) ≤ this.
    Ratio(f64),
    /// The case's bytes a second (its op's counted bytes over its median) are at least this
    /// fraction of the peer's: median(case) / median(peer) ≤ (case bytes / peer bytes) / this.
    BandwidthFraction(f64),
}

/// Which backends a bar holds on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Every backend that runs both sides.
    Everywhere,
    /// GPU backends only (cuda; wgpu on a GPU adapter): a promise about a GPU's memory system.
    OnGpus,
}

/// One promised ratio between two cases, each an op at a dims string as `Dims` prints it.
#[derive(Clone, Copy, Debug)]
pub struct Bar {
    /// Short name.
    pub name: &'static str,
    /// The case under test: (op, dims).
    pub case: Side,
    /// The peer it is measured against: (op, dims).
    pub peer: Side,
    /// The promise.
    pub bound: Bound,
    /// Where it holds.
    pub holds: Holds,
}

impl Bar {
    /// The bound on median(case) / median(peer), given the bytes each side's op counts a launch.
    pub fn max_ratio(&self, case_bytes: u64, peer_bytes: u64) -> f64 {
        match self.bound {
            Bound::Ratio(r) => r,
            Bound::BandwidthFraction(f) => case_bytes as f64 / peer_bytes.max(1) as f64 / f,
        }
    }
}

/// Every bar dfma promises.
pub const BARS: &[Bar] = &[
    Bar {
        name: "lora_fused_q4_0 (one rank-16 adapter) vs q4_0_gemv, 4096x4096, 1 token",
        case: ("lora_fused_q4_0", "n=4096 k=4096 tokens=1 rank_p=16 rank_c=0"),
        peer: ("q4_0_gemv", "rows=4096 cols=4096 batch=1"),
        bound: Bound::Ratio(1.10),
        holds: Holds::Everywhere,
    },
    Bar {
        name: "bgmv, 32 tokens of 32 distinct rank-16 adapters vs one shared, 4096 -> 4096",
        case: ("bgmv", "tokens=32 k=4096 n=4096 rank=16 adapters=32 distinct=32 bare=0"),
        peer: ("bgmv", "tokens=32 k=4096 n=4096 rank=16 adapters=32 distinct=1 bare=0"),
        bound: Bound::Ratio(1.30),
        holds: Holds::Everywhere,
    },
    Bar {
        name: "srht of 2^24 coordinates (k = 2^16) at >= 0.5 of copy bandwidth: no slower than copying 2^25 floats",
        case: ("srht", "n=16777216 k=65536 n_pad=16777216"),
        peer: ("stream_copy", "n=33554432"),
        bound: Bound::Ratio(1.0),
        holds: Holds::Everywhere,
    },
    Bar {
        name: "q4_0_gemv 4096x14336, 1 token, at >= 0.85 of the copy bandwidth of 2^25 floats (read + write)",
        case: ("q4_0_gemv", "rows=4096 cols=14336 batch=1"),
        peer: ("stream_copy", "n=33554432"),
        bound: Bound::BandwidthFraction(0.85),
        holds: Holds::OnGpus,
    },
];

/// One bar as measured on one backend and cache mode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BarReport {
    /// [`Bar::name`].
    pub name: String,
    /// Backend both sides ran on.
    pub backend: String,
    /// Cache mode of both sides.
    pub cache_mode: String,
    /// The case's fastest correct kernel (`op/variant`) and its median seconds.
    pub case_kernel: String,
    /// Median seconds of the case.
    pub case_median_s: f64,
    /// The peer's fastest correct kernel.
    pub peer_kernel: String,
    /// Median seconds of the peer.
    pub peer_median_s: f64,
    /// case / peer, each side's median from its own sampling.
    pub ratio: f64,
    /// The median over pairs of launches, the two sides prepared together and launched in turn
    /// (case then peer, peer then case, alternating), of case time / peer time: drift of the
    /// machine between the two sides' own sampling runs cancels within each pair. `None` where
    /// the pairing could not run (reports written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_ratio: Option<f64>,
    /// Pairs behind [`BarReport::paired_ratio`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs: Option<usize>,
    /// The bound.
    pub max_ratio: f64,
    /// The paired ratio (else the ratio of medians) ≤ max_ratio.
    pub met: bool,
}

impl BarReport {
    /// Records the paired measurement and judges the bar by it.
    pub fn set_paired(&mut self, ratio: f64, pairs: usize) {
        self.paired_ratio = Some(ratio);
        self.pairs = Some(pairs);
        self.met = ratio <= self.max_ratio;
    }

    /// The (op, dims) of the case and the peer.
    pub fn sides(&self) -> Option<(Side, Side)> {
        BARS.iter().find(|b| b.name == self.name).map(|b| (b.case, b.peer))
    }
}

/// The fastest correct case of `op` at `dims` on `backend` in `mode`: (kernel, median seconds,
/// bytes a launch).
fn fastest(cases: &[CaseReport], (op, dims): (&str, &str), backend: &str, mode: &str) -> Option<(String, f64, u64)> {
    cases
        .iter()
        .filter(|c| c.op == op && c.dims == dims && c.backend == backend && c.cache_mode == mode && c.correct)
        .filter_map(|c| c.summary.as_ref().map(|s| (c.kernel.clone(), s.median_s, c.model_bytes)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Every bar both of whose sides were measured correctly in `cases`, per backend and mode;
/// bars that hold on GPUs only are judged on the backends named in `gpu_backends`.
pub fn evaluate(cases: &[CaseReport], gpu_backends: &[&str]) -> Vec<BarReport> {
    let mut seen: Vec<(String, String)> = cases.iter().map(|c| (c.backend.clone(), c.cache_mode.clone())).collect();
    seen.sort();
    seen.dedup();
    let mut out = Vec::new();
    for bar in BARS {
        for (backend, mode) in &seen {
            if bar.holds == Holds::OnGpus && !gpu_backends.contains(&backend.as_str()) {
                continue;
            }
            let (Some((ck, cm, cb)), Some((pk, pm, pb))) =
                (fastest(cases, bar.case, backend, mode), fastest(cases, bar.peer, backend, mode))
            else {
                continue;
            };
            let ratio = cm / pm;
            let max_ratio = bar.max_ratio(cb, pb);
            out.push(BarReport {
                name: bar.name.into(),
                backend: backend.clone(),
                cache_mode: mode.clone(),
                case_kernel: ck,
                case_median_s: cm,
                peer_kernel: pk,
                peer_median_s: pm,
                ratio,
                paired_ratio: None,
                pairs: None,
                max_ratio,
                met: ratio <= max_ratio,
            });
        }
    }
    out
}

/// The peer (op, dims) cases a run of `op` must add so each of its bars is measured.
pub fn peers_of(op: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    BARS.iter().filter(move |b| b.case.0 == op).map(|b| b.peer)
}

/// One line per bar report.
pub fn line(b: &BarReport) -> String {
    let paired = match (b.paired_ratio, b.pairs) {
        (Some(r), Some(n)) => format!("{r:.3}x over {n} alternating pairs; medians apart {:.3}x", b.ratio),
        _ => format!("{:.3}x (medians apart)", b.ratio),
    };
    format!(
        "bar {:<9} {:<8} {paired} (bound {:.3}x) {}  {}: {} {:.1} us vs {} {:.1} us",
        b.backend,
        b.cache_mode,
        b.max_ratio,
        if b.met { "met" } else { "NOT met" },
        b.name,
        b.case_kernel,
        b.case_median_s * 1e6,
        b.peer_kernel,
        b.peer_median_s * 1e6
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfma_reference::ops;

    #[test]
    fn every_bar_names_real_ops_and_bench_shapes() {
        for bar in BARS {
            for (op, dims) in [bar.case, bar.peer] {
                let op = ops::by_name(op).unwrap_or_else(|| panic!("{}: no op {op}", bar.name));
                assert!(
                    op.bench_dims().iter().any(|d| d.to_string() == dims),
                    "{}: {dims} is not a bench shape of {}",
                    bar.name,
                    op.name()
                );
            }
        }
    }

    /// A measured case for [`evaluate`].
    fn case(side: Side, backend: &str, mode: &str, median_s: f64, model_bytes: u64) -> CaseReport {
        let cost = dfma_reference::Cost { bytes: model_bytes, weight_bytes: 0, flops: 0 };
        CaseReport::timed_once(side.0, backend, "k", side.1, mode, median_s, cost)
    }

    #[test]
    fn a_bandwidth_bar_bounds_the_ratio_by_the_bytes_and_holds_on_gpus_only() {
        let bar = BARS.iter().find(|b| matches!(b.bound, Bound::BandwidthFraction(_))).expect("the GEMV bar");
        assert_eq!(bar.holds, Holds::OnGpus);
        // 1 MB at 0.85 of the rate of a 10 MB peer: at most 1/8.5 of its time.
        assert!((bar.max_ratio(1_000_000, 10_000_000) - 1.0 / 8.5).abs() < 1e-12);
        // The GEMV moving 33.1 MB against a copy moving 268 MB: at 0.90 of the copy's rate it
        // meets the bar, at 0.80 it does not.
        let (gemv_bytes, copy_bytes) = (33_103_872u64, 268_435_456u64);
        let copy_s = 1e-4;
        let at_fraction = |f: f64, backend: &str| {
            let gemv_s = copy_s * gemv_bytes as f64 / copy_bytes as f64 / f;
            let cases = [
                case(bar.case, backend, "streamed", gemv_s, gemv_bytes),
                case(bar.peer, backend, "streamed", copy_s, copy_bytes),
            ];
            evaluate(&cases, &["cuda"]).into_iter().find(|r| r.name == bar.name)
        };
        let fast = at_fraction(0.90, "cuda").expect("judged on cuda");
        assert!(fast.met, "{fast:?}");
        assert!((fast.max_ratio - gemv_bytes as f64 / copy_bytes as f64 / 0.85).abs() < 1e-12);
        let slow = at_fraction(0.80, "cuda").expect("judged on cuda");
        assert!(!slow.met, "{slow:?}");
        // Not judged where the backend is not a GPU.
        assert!(at_fraction(0.90, "cpu").is_none());
    }
}
