//! Performance bars: a case's median time against a peer case's, measured side by side in the
//! same run, on the same backend and cache mode.
//!
//! A bar states a design promise as a ratio, e.g. "applying a rank-16 adapter inside the base
//! GEMV costs at most 10 % more than the bare GEMV". Each side takes its fastest correct kernel
//! variant. When a bench run includes a bar's case, it also runs the peer case (one extra shape),
//! so the ratio is always measured under the same conditions; the report lists each bar with the
//! two medians, the ratio, the bound and whether it was met.

use serde::{Deserialize, Serialize};

use crate::report::CaseReport;

/// One promised ratio between two cases, each an op at a dims string as `Dims` prints it.
#[derive(Clone, Copy, Debug)]
pub struct Bar {
    /// Short name.
    pub name: &'static str,
    /// The case under test: (op, dims).
    pub case: (&'static str, &'static str),
    /// The peer it is measured against: (op, dims).
    pub peer: (&'static str, &'static str),
    /// Bound on median(case) / median(peer).
    pub max_ratio: f64,
}

/// Every bar dfma promises.
pub const BARS: &[Bar] = &[
    Bar {
        name: "lora_fused_q4_0 (one rank-16 adapter) vs q4_0_gemv, 4096x4096, 1 token",
        case: ("lora_fused_q4_0", "n=4096 k=4096 tokens=1 rank_p=16 rank_c=0"),
        peer: ("q4_0_gemv", "rows=4096 cols=4096 batch=1"),
        max_ratio: 1.10,
    },
    Bar {
        name: "bgmv, 32 tokens of 32 distinct rank-16 adapters vs one shared, 4096 -> 4096",
        case: ("bgmv", "tokens=32 k=4096 n=4096 rank=16 adapters=32 distinct=32 bare=0"),
        peer: ("bgmv", "tokens=32 k=4096 n=4096 rank=16 adapters=32 distinct=1 bare=0"),
        max_ratio: 1.30,
    },
    Bar {
        name: "srht of 2^24 coordinates (k = 2^16) at >= 0.5 of copy bandwidth: no slower than copying 2^25 floats",
        case: ("srht", "n=16777216 k=65536 n_pad=16777216"),
        peer: ("stream_copy", "n=33554432"),
        max_ratio: 1.0,
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
    /// case / peer.
    pub ratio: f64,
    /// The bound.
    pub max_ratio: f64,
    /// ratio ≤ max_ratio.
    pub met: bool,
}

/// The fastest correct case of `op` at `dims` on `backend` in `mode`: (kernel, median seconds).
fn fastest(cases: &[CaseReport], (op, dims): (&str, &str), backend: &str, mode: &str) -> Option<(String, f64)> {
    cases
        .iter()
        .filter(|c| c.op == op && c.dims == dims && c.backend == backend && c.cache_mode == mode && c.correct)
        .filter_map(|c| c.summary.as_ref().map(|s| (c.kernel.clone(), s.median_s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Every bar both of whose sides were measured correctly in `cases`, per backend and mode.
pub fn evaluate(cases: &[CaseReport]) -> Vec<BarReport> {
    let mut seen: Vec<(String, String)> = cases.iter().map(|c| (c.backend.clone(), c.cache_mode.clone())).collect();
    seen.sort();
    seen.dedup();
    let mut out = Vec::new();
    for bar in BARS {
        for (backend, mode) in &seen {
            let (Some((ck, cm)), Some((pk, pm))) =
                (fastest(cases, bar.case, backend, mode), fastest(cases, bar.peer, backend, mode))
            else {
                continue;
            };
            let ratio = cm / pm;
            out.push(BarReport {
                name: bar.name.into(),
                backend: backend.clone(),
                cache_mode: mode.clone(),
                case_kernel: ck,
                case_median_s: cm,
                peer_kernel: pk,
                peer_median_s: pm,
                ratio,
                max_ratio: bar.max_ratio,
                met: ratio <= bar.max_ratio,
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
    format!(
        "bar {:<9} {:<5} {:.3}x (bound {:.2}x) {}  {}: {} {:.1} us vs {} {:.1} us",
        b.backend,
        b.cache_mode,
        b.ratio,
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
}
