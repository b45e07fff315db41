//! `dfma bench --peers`: the cpu GEMV cases beside the two CPU implementations users pick today,
//! on the same types, shapes and threads, measured in the same run: llama.cpp's CPU backend
//! (`test-backend-ops perf -o MUL_MAT`, see `peers/llama_cpp.rs`) and candle's quantized matmul
//! (`peers/candle.rs`, with the `candle-peer` feature).
//!
//! dfma's side is either product: the f32-activation GEMVs (`q4_0_gemv`, `q8_0_gemv`, batch 1)
//! or the 8-bit-activation ones (`q4_0_q8_1_gemm`, `q8_0_q8_1_gemm`, m = 1), whose op takes the
//! activations already in Q8_1. Both peers take f32 activations and quantize them inside their
//! time, so an 8-bit row adds the median time of quantizing the same number of activations to
//! Q8_1 on the cpu, measured in the same run (`dfma_quantize_us`), to dfma's time before the
//! ratio is taken.
//!
//! Both peers repeat one op back to back without refreshing its inputs, so they measure warm
//! caches; such a row pairs a peer with dfma's `hot` median when the run has one (else `cold`,
//! and says which). Out of cache, where the bars are set, only candle can be measured:
//! when the run has dfma `streamed` cases, candle also runs on as many copies of its matrix as
//! dfma's case rotated over, and that row pairs the two `streamed` medians (llama.cpp's tool
//! offers no way to rotate its weights). Every row gives both sides' weight-bytes rate, the
//! fraction of the streaming-read roofline measured in this run, and the speedup = peer time /
//! dfma time (≥ 1: dfma faster).

use serde::{Deserialize, Serialize};

use crate::peers::candle;
use crate::peers::llama_cpp::{self, MulMatPerf};
use crate::report::{CaseReport, RooflineReport};

/// The GEMV comparison of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GemvPeers {
    /// Peer, version and threads, e.g. `llama.cpp 0c1e570 (test-backend-ops, cpu, 2 threads)`.
    pub peer: String,
    /// "not run: <reason>" when the peer could not run.
    pub not_run: Option<String>,
    /// One row per dfma cpu case with a matching peer case.
    pub rows: Vec<GemvPeerRow>,
}

/// One type and shape on both sides.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GemvPeerRow {
    /// dfma op (`q4_0_gemv` or `q8_0_gemv`).
    pub op: String,
    /// dfma dims.
    pub dims: String,
    /// dfma's fastest correct kernel at these dims and mode.
    pub dfma_kernel: String,
    /// The dfma cache mode compared (`hot` when the run has it).
    pub dfma_cache_mode: String,
    /// dfma's median, µs, including `dfma_quantize_us` when that is present.
    pub dfma_us: f64,
    /// For an 8-bit-activation op: the median time to quantize its activations to Q8_1 on the
    /// cpu in this run, µs (included in `dfma_us`); absent for the f32-activation GEMVs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dfma_quantize_us: Option<f64>,
    /// The peer's time per run (llama.cpp: its mean; candle: the median), µs.
    pub peer_us: f64,
    /// peer_us / dfma_us.
    pub speedup: f64,
    /// Weight bytes over dfma's median, GB/s.
    pub dfma_weight_gb_per_s: f64,
    /// Weight bytes over the peer's time, GB/s.
    pub peer_weight_gb_per_s: f64,
    /// dfma's weight rate over the run's streaming-read peak.
    pub dfma_fraction_of_read: Option<f64>,
    /// The peer's weight rate over the same peak.
    pub peer_fraction_of_read: Option<f64>,
}

/// The weight type of a GEMV op, as llama.cpp names it.
fn type_of(op: &str) -> Option<&'static str> {
    match op {
        "q4_0_gemv" | "q4_0_q8_1_gemm" => Some("q4_0"),
        "q8_0_gemv" | "q8_0_q8_1_gemm" => Some("q8_0"),
        _ => None,
    }
}

/// Whether the op takes its activations already quantized to Q8_1.
fn takes_q8_1(op: &str) -> bool {
    op.ends_with("_q8_1_gemm")
}

/// The (rows, cols, activation columns) of a GEMV case's dims string (`batch`, or `m` tokens).
fn shape(dims: &str) -> Option<(u64, u64, u64)> {
    let get = |name: &str| {
        dims.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    Some((get("rows")?, get("cols")?, get("batch").or_else(|| get("m"))?))
}

/// Median seconds to quantize `cols` seeded activations to Q8_1 on the cpu (what an
/// 8-bit-activation op needs before it runs, and what the peers do inside their time).
fn quantize_median_s(cols: usize) -> f64 {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(cols as u64);
    let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut samples: Vec<f64> = (0..51)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(dfma_reference::quant::q8_1::quantize(std::hint::black_box(&x), cols));
            t.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The run's cpu batch-1 Q4_0/Q8_0 GEMV cases (f32 or 8-bit activations), and their distinct
/// (op, dims).
fn ours(cases: &[CaseReport]) -> (Vec<&CaseReport>, Vec<(&str, &str)>) {
    let ours: Vec<&CaseReport> = cases
        .iter()
        .filter(|c| c.backend == "cpu" && c.correct && c.summary.is_some() && type_of(&c.op).is_some())
        .filter(|c| shape(&c.dims).is_some_and(|(_, _, b)| b == 1))
        .collect();
    let mut keys: Vec<(&str, &str)> = ours.iter().map(|c| (c.op.as_str(), c.dims.as_str())).collect();
    keys.sort();
    keys.dedup();
    (ours, keys)
}

/// Which of dfma's cases a peer's time is paired with.
#[derive(Clone, Copy, PartialEq)]
enum Pairing {
    /// The peer repeated one product: dfma's hot median, else its cold one.
    InCache,
    /// The peer rotated over copies of its matrix: dfma's streamed median.
    Streamed,
}

/// dfma's fastest case of (op, dims) for `pairing`.
fn best<'a>(ours: &[&'a CaseReport], (op, dims): (&str, &str), pairing: Pairing) -> Option<&'a CaseReport> {
    let at = |mode: &str| {
        ours.iter()
            .filter(|c| c.op == op && c.dims == dims && c.cache_mode == mode)
            .min_by(|a, b| a.summary.as_ref().unwrap().median_s.total_cmp(&b.summary.as_ref().unwrap().median_s))
            .copied()
    };
    match pairing {
        Pairing::InCache => at("hot").or_else(|| at("cold")),
        Pairing::Streamed => at("streamed"),
    }
}

/// The row of (op, dims) against a peer time of `peer_s` for `peer_bytes` of weights: dfma's
/// fastest case for `pairing`. `None` if dfma has none.
fn row(
    ours: &[&CaseReport],
    (op, dims): (&str, &str),
    pairing: Pairing,
    peer_s: f64,
    peer_bytes: Option<f64>,
    read: Option<f64>,
) -> Option<GemvPeerRow> {
    let best = best(ours, (op, dims), pairing)?;
    let (_, cols, _) = shape(dims)?;
    let quantize_s = takes_q8_1(op).then(|| quantize_median_s(cols as usize));
    let dfma_s = best.summary.as_ref().expect("filtered by ours()").median_s + quantize_s.unwrap_or(0.0);
    let bytes = best.weight_bytes as f64;
    // The same matrix in GGML's block format on both sides.
    let peer_bytes = peer_bytes.unwrap_or(bytes);
    Some(GemvPeerRow {
        op: op.into(),
        dims: dims.into(),
        dfma_kernel: best.kernel.clone(),
        dfma_cache_mode: best.cache_mode.clone(),
        dfma_us: dfma_s * 1e6,
        dfma_quantize_us: quantize_s.map(|s| s * 1e6),
        peer_us: peer_s * 1e6,
        speedup: peer_s / dfma_s,
        dfma_weight_gb_per_s: bytes / dfma_s / 1e9,
        peer_weight_gb_per_s: peer_bytes / peer_s / 1e9,
        dfma_fraction_of_read: read.map(|r| bytes / dfma_s / r),
        peer_fraction_of_read: read.map(|r| peer_bytes / peer_s / r),
    })
}

fn cpu_read(roofs: &[RooflineReport]) -> Option<f64> {
    roofs.iter().find(|r| r.backend == "cpu").map(|r| r.read_bytes_per_s)
}

/// Runs llama.cpp on `threads` when the run has cpu batch-1 Q4_0/Q8_0 GEMV cases, and pairs them.
/// `None` when there is nothing to compare.
pub fn compare(cases: &[CaseReport], roofs: &[RooflineReport], threads: usize) -> Option<GemvPeers> {
    let (ours, keys) = ours(cases);
    if ours.is_empty() {
        return None;
    }
    let peer_name = |what: &str| format!("llama.cpp {what} (test-backend-ops, cpu, {threads} threads)");
    if !keys.iter().any(|&key| best(&ours, key, Pairing::InCache).is_some()) {
        let why = "not run: llama.cpp's test-backend-ops repeats one product in cache, so it meets dfma's hot or \
                   cold cases, and this run has only streamed ones";
        return Some(GemvPeers { peer: peer_name(""), not_run: Some(why.into()), rows: vec![] });
    }
    let tool = match llama_cpp::binaries() {
        Ok(t) => t,
        Err(why) => return Some(GemvPeers { peer: peer_name(""), not_run: Some(why), rows: vec![] }),
    };
    let commit =
        tool.build_info.get("llama_cpp_commit").map(|c| c.chars().take(7).collect::<String>()).unwrap_or_default();
    let perf = match tool.mul_mat_perf(threads) {
        Ok(p) => p,
        Err(e) => {
            return Some(GemvPeers {
                peer: peer_name(&commit),
                not_run: Some(format!("not run: {e:#}")),
                rows: vec![],
            });
        }
    };
    let read = cpu_read(roofs);
    let rows = keys
        .into_iter()
        .filter_map(|(op, dims)| {
            let (m, k, _) = shape(dims).expect("filtered by ours()");
            let peer = perf
                .iter()
                .find(|p: &&MulMatPerf| Some(p.type_a.as_str()) == type_of(op) && p.m == m && p.k == k && p.n == 1)?;
            row(
                &ours,
                (op, dims),
                Pairing::InCache,
                peer.time_per_run_us * 1e-6,
                peer.weight_bytes().map(|b| b as f64),
                read,
            )
        })
        .collect();
    Some(GemvPeers { peer: peer_name(&commit), not_run: None, rows })
}

/// Runs candle's quantized matmul at each of the run's cpu batch-1 Q4_0/Q8_0 GEMV cases' types
/// and shapes (its inputs drawn from `seed`), and pairs them: in cache with dfma's hot (else
/// cold) cases, and out of cache with its streamed ones, on `streamed_copies(model bytes)`
/// copies of the matrix, as many as dfma's streamed case used. `None` when there is nothing to
/// compare.
pub fn compare_candle(
    cases: &[CaseReport],
    roofs: &[RooflineReport],
    threads: usize,
    seed: u64,
    streamed_copies: &dyn Fn(u64) -> u32,
) -> Option<GemvPeers> {
    let (ours, keys) = ours(cases);
    if ours.is_empty() {
        return None;
    }
    let peer = candle::name(threads);
    let read = cpu_read(roofs);
    let mut rows = Vec::new();
    for (op, dims) in keys {
        let (m, k, _) = shape(dims).expect("filtered by ours()");
        let ty = type_of(op).expect("filtered by ours()");
        for pairing in [Pairing::InCache, Pairing::Streamed] {
            let Some(case) = best(&ours, (op, dims), pairing) else { continue };
            let copies = match pairing {
                Pairing::InCache => 1,
                Pairing::Streamed => streamed_copies(case.model_bytes) as usize,
            };
            match candle::gemv_median_s(ty, m as usize, k as usize, seed, copies, 10, 0.5) {
                Ok(s) => rows.extend(row(&ours, (op, dims), pairing, s, None, read)),
                Err(why) => return Some(GemvPeers { peer, not_run: Some(why), rows: vec![] }),
            }
        }
    }
    Some(GemvPeers { peer, not_run: None, rows })
}

/// The comparison's lines for the terminal.
pub fn lines(p: &GemvPeers) -> Vec<String> {
    if let Some(why) = &p.not_run {
        return vec![format!("peer  {}: {why}", p.peer)];
    }
    let mut out = vec![format!("peer  {}", p.peer)];
    let label = p.peer.split_whitespace().next().unwrap_or("peer");
    for r in &p.rows {
        let frac = |f: Option<f64>| f.map(|f| format!(" ({f:.2} of read)")).unwrap_or_default();
        out.push(format!(
            "peer  {:<14} {:<30} dfma {} {:>9.1} us{} {:6.2} GB/s{}  {label} {:>9.1} us {:6.2} GB/s{}  dfma speedup {:.2}x",
            r.op,
            r.dims,
            r.dfma_cache_mode,
            r.dfma_us,
            r.dfma_quantize_us.map(|q| format!(" (quantize {q:.1} us incl.)")).unwrap_or_default(),
            r.dfma_weight_gb_per_s,
            frac(r.dfma_fraction_of_read),
            r.peer_us,
            r.peer_weight_gb_per_s,
            frac(r.peer_fraction_of_read),
            r.speedup
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timed cpu case of `q8_0_q8_1_gemm` at one shape.
    fn case(mode: &str, kernel: &str, median_s: f64) -> CaseReport {
        let cost = dfma_reference::Cost { bytes: 4352, weight_bytes: 4352, flops: 0 };
        CaseReport::timed_once("q8_0_q8_1_gemm", "cpu", kernel, "rows=64 cols=64 m=1", mode, median_s, cost)
    }

    #[test]
    fn a_peer_in_cache_meets_the_fastest_hot_case_and_a_streamed_peer_only_streamed_ones() {
        let key = ("q8_0_q8_1_gemm", "rows=64 cols=64 m=1");
        let all = [case("cold", "a", 1.0), case("hot", "a", 3.0), case("hot", "b", 2.0), case("streamed", "a", 5.0)];
        let refs: Vec<&CaseReport> = all.iter().collect();
        let pick = |cases: &[&CaseReport], p| best(cases, key, p).map(|c| (c.cache_mode.clone(), c.kernel.clone()));
        assert_eq!(pick(&refs, Pairing::InCache), Some(("hot".into(), "b".into())));
        assert_eq!(pick(&refs, Pairing::Streamed), Some(("streamed".into(), "a".into())));
        // Without hot cases the in-cache peer meets the cold one; without streamed ones the
        // out-of-cache peer meets nothing.
        assert_eq!(pick(&refs[..1], Pairing::InCache), Some(("cold".into(), "a".into())));
        assert_eq!(pick(&refs[..3], Pairing::Streamed), None);
        // The row's speedup is the peer's time over dfma's (with the quantization it adds).
        let r = row(&refs, key, Pairing::Streamed, 10.0, None, Some(1e3)).expect("a row");
        let quantize_s = r.dfma_quantize_us.expect("an 8-bit-activation op") * 1e-6;
        assert_eq!(r.dfma_cache_mode, "streamed");
        assert!((r.speedup - 10.0 / (5.0 + quantize_s)).abs() < 1e-12, "speedup {}", r.speedup);
    }

    #[test]
    fn llama_cpp_is_not_run_against_streamed_cases_alone() {
        let streamed = [case("streamed", "a", 5.0)];
        let p = compare(&streamed, &[], 2).expect("a batch-1 case to compare");
        assert!(p.rows.is_empty());
        assert!(p.not_run.as_deref().is_some_and(|w| w.contains("only streamed")), "{:?}", p.not_run);
    }

    #[test]
    fn a_gemv_dims_string_gives_its_shape() {
        assert_eq!(shape("rows=4096 cols=14336 batch=1"), Some((4096, 14336, 1)));
        assert_eq!(shape("rows=14336 cols=4096 m=1"), Some((14336, 4096, 1)));
        assert_eq!(shape("n=5"), None);
    }
}
