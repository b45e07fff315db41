//! The bench report: what `--json` writes and `dfma compare` reads.
//!
//! Versioned by [`SCHEMA_VERSION`]; the JSON Schema is `bench/schema/report-v1.schema.json` and a
//! test validates real output against it. Every figure sits next to how it was measured: timing
//! method, cache mode, sampling criteria met or not, and whether energy was measured or estimated.

use dfma_reference::Cost;
use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// Version of the report format; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole bench run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `dfma <version>`.
    pub tool: String,
    /// `git describe --always --dirty` of the tree that ran, or "unknown".
    pub commit: String,
    /// Seed of all random inputs (`DFMA_SEED` reproduces).
    pub seed: u64,
    /// UTC start time, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// Host name and CPU.
    pub host: String,
    /// Every backend asked for, available or not.
    pub backends: Vec<BackendReport>,
    /// Measured peaks per available backend.
    pub rooflines: Vec<RooflineReport>,
    /// Every case, in run order.
    pub cases: Vec<CaseReport>,
    /// The performance bars both of whose cases ran (see `bars.rs`); absent when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bars: Vec<crate::bars::BarReport>,
    /// `--suite compression`: NMSE against bits per coordinate, fraction of copy bandwidth,
    /// quality bars (see `compression.rs`); absent for other suites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<crate::compression::CompressionReport>,
    /// `--suite model`: a whole model's prefill and decode speed per backend (see
    /// `model_suite.rs`); absent for other suites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::model_suite::ModelSuiteReport>,
    /// `--peers`: the cpu Q4_0/Q8_0 GEMV cases beside llama.cpp's on the same shapes and threads
    /// (see `peer_gemv.rs`); absent without `--peers` or without such cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemv_peers: Option<crate::peer_gemv::GemvPeers>,
    /// `--peers`: the same cases beside candle's quantized matmul (see `peer_gemv.rs`); absent
    /// without `--peers` or without such cases, "not run" without the `candle-peer` feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemv_candle: Option<crate::peer_gemv::GemvPeers>,
}

/// One backend and its device, or why it is unavailable.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackendReport {
    /// Backend name.
    pub backend: String,
    /// Whether it opened.
    pub available: bool,
    /// Device name.
    pub device: Option<String>,
    /// Driver version string.
    pub driver: Option<String>,
    /// Further device facts.
    pub details: Vec<(String, String)>,
    /// Why it is unavailable.
    pub reason: Option<String>,
    /// Energy meter used for this backend's cases, with "measured" or "estimated".
    pub energy_meter: Option<String>,
}

/// Peaks measured by calibration kernels in the same run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RooflineReport {
    /// Backend the peaks belong to.
    pub backend: String,
    /// Streaming read: bytes read per second (median).
    pub read_bytes_per_s: f64,
    /// Copy: (bytes read + bytes written) per second (median).
    pub copy_bytes_per_s: f64,
    /// Peak FMA rate, FLOP/s (an FMA counts 2).
    pub fma_flops_per_s: f64,
    /// Peak rate of the matrix units (tensor cores), FLOP/s, where the backend has an `mma_peak`
    /// kernel: the compute roof of kernels that run on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mma_flops_per_s: Option<f64>,
    /// How the peaks were measured.
    pub method: String,
}

/// One (op, backend, kernel, dims, cache mode) case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseReport {
    /// Op name.
    pub op: String,
    /// Backend name.
    pub backend: String,
    /// Kernel variant.
    pub kernel: String,
    /// Problem sizes, `name=value` separated by spaces.
    pub dims: String,
    /// `cold` (caches flushed before each sample) or `hot` (back-to-back).
    pub cache_mode: String,
    /// Whether the checked launch matched the reference; a wrong case is not timed.
    pub correct: bool,
    /// The comparison with the reference.
    pub check: String,
    /// How samples were timed.
    pub timing_method: String,
    /// Sampling criteria not met before the time limit (empty when all were met).
    pub unmet: Vec<String>,
    /// Median and spread; absent when not timed.
    pub summary: Option<Summary>,
    /// Every sample, seconds.
    pub samples_s: Vec<f64>,
    /// Cost model: bytes moved.
    pub model_bytes: u64,
    /// Cost model: bytes of the weight operand.
    pub weight_bytes: u64,
    /// Cost model: operations.
    pub flops: u64,
    /// Weight bytes per second at the median.
    pub weight_bytes_per_s: Option<f64>,
    /// Model bytes per second at the median.
    pub model_bytes_per_s: Option<f64>,
    /// Operations per second at the median.
    pub flops_per_s: Option<f64>,
    /// `memory` or `compute`: the resource whose peak bounds this case.
    pub binding: Option<String>,
    /// Achieved rate of the binding resource over its measured peak; not clamped.
    pub fraction_of_peak: Option<f64>,
    /// Model bytes per second over the streaming-read peak; not clamped.
    pub fraction_of_read_bandwidth: Option<f64>,
    /// Energy over the case's launches, when a meter exists.
    pub energy: Option<EnergyReport>,
    /// GPU clocks and throttle reasons read halfway through the energy window, where NVML has them.
    pub clocks: Option<ClockReport>,
    /// Interpreted thread-instructions per second at the median (ptxvm only).
    pub thread_instructions_per_s: Option<f64>,
    /// Where the weights came from when they are not the op's random inputs, e.g.
    /// `gguf model.gguf: blk.0.ffn_up.weight (+29 more of this type and shape)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_source: Option<String>,
}

/// GPU clocks at the end of a case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClockReport {
    /// SM clock, MHz.
    pub sm_mhz: Option<u32>,
    /// Memory clock, MHz.
    pub memory_mhz: Option<u32>,
    /// Why clocks were below maximum (empty: nothing limited them; null: unknown).
    pub throttle_reasons: Option<Vec<String>>,
}

/// Energy of one case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnergyReport {
    /// Meter name.
    pub meter: String,
    /// `measured` or `estimated`.
    pub kind: String,
    /// Joules per launch.
    pub joules_per_op: f64,
    /// FLOP per joule / 1e9.
    pub gflop_per_j: f64,
    /// Model bytes per joule / 1e9.
    pub gb_per_j: f64,
    /// Mean power over the window, watts.
    pub power_w: f64,
    /// Idle power measured before the case, watts.
    pub idle_power_w: Option<f64>,
    /// Window length, seconds, and launches in it.
    pub window_s: f64,
    /// Launches in the window.
    pub launches: u64,
    /// Notes (e.g. a counter that did not move).
    pub note: Option<String>,
}

impl CaseReport {
    /// A case before it is timed: what it is (op, backend, kernel, dims, cache mode) and what its
    /// op counts, not correct until checked, every measurement empty.
    pub fn untimed(op: &str, backend: &str, kernel: &str, dims: &str, cache_mode: &str, cost: Cost) -> Self {
        CaseReport {
            op: op.into(),
            backend: backend.into(),
            kernel: kernel.into(),
            dims: dims.into(),
            cache_mode: cache_mode.into(),
            correct: false,
            check: String::new(),
            timing_method: String::new(),
            unmet: vec![],
            summary: None,
            samples_s: vec![],
            model_bytes: cost.bytes,
            weight_bytes: cost.weight_bytes,
            flops: cost.flops,
            weight_bytes_per_s: None,
            model_bytes_per_s: None,
            flops_per_s: None,
            binding: None,
            fraction_of_peak: None,
            fraction_of_read_bandwidth: None,
            energy: None,
            clocks: None,
            thread_instructions_per_s: None,
            weights_source: None,
        }
    }

    /// A correct case timed once at `median_s` (tests of what reads reports).
    #[cfg(test)]
    pub fn timed_once(
        op: &str,
        backend: &str,
        kernel: &str,
        dims: &str,
        cache_mode: &str,
        median_s: f64,
        cost: Cost,
    ) -> Self {
        CaseReport {
            correct: true,
            summary: Some(crate::stats::summarize(&[median_s])),
            samples_s: vec![median_s],
            ..Self::untimed(op, backend, kernel, dims, cache_mode, cost)
        }
    }

    /// Identity of a case across runs: everything but the measurements.
    pub fn key(&self) -> String {
        format!("{} {} {} {} {}", self.op, self.backend, self.kernel, self.dims, self.cache_mode)
    }
}
