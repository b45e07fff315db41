//! llama.cpp's CPU backend as a peer of dfma's CPU kernels.
//!
//! Two of llama.cpp's own tools, built by `bench/scripts/build-llama-cpp` from the llama.cpp
//! vendored in the pinned llama-cpp-python sdist (the only allowed source):
//! - `llama-bench`: prefill and decode tokens/s of a GGUF model, the whole-model peer;
//! - `test-backend-ops perf`: MUL_MAT time per run at dfma's GEMV shapes, the kernel peer. The
//!   build patches it (`bench/scripts/llama-cpp-perf-shapes.patch`) to add those shapes and a
//!   `-t <threads>` option; the stock tool has neither.
//!
//! Both run as child processes; their output is parsed here, and anything unexpected in it is an
//! error naming the tool, never a panic or a silently dropped figure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::error::bad_input;

/// The llama-cpp-python sdist whose llama.cpp `bench/scripts/build-llama-cpp` builds (its pin,
/// with the sha256, lives in that script; a test keeps the two in step). The cache folder is
/// named after it, so a new pin never picks up an old build.
pub const LLAMA_CPP_PYTHON_VERSION: &str = "0.3.36";

/// Names a folder holding `llama-bench` and `test-backend-ops`, in place of the cache: for a
/// build made some other way (it must still carry the perf patch for [`LlamaCpp::mul_mat_perf`]).
pub const DIR_ENV: &str = "DFMA_LLAMA_CPP_DIR";

/// dfma's GEMV shapes as (rows, cols), one column of activations. Rows is the output length,
/// llama.cpp's `m`; cols is the reduction length, llama.cpp's `k`; llama.cpp's `n` is 1.
pub const GEMV_SHAPES: [(u64, u64); 5] = [(4096, 4096), (14336, 4096), (4096, 14336), (2048, 2048), (8192, 2048)];

/// The weight types whose GEMV is compared (llama.cpp's `type_a` names).
pub const GEMV_TYPES: [&str; 2] = ["q4_0", "q8_0"];

/// `test-backend-ops -p` filter (a regex over a case's parameters) keeping exactly the plain GEMV
/// cases: q4_0 or q8_0 weights, f32 activations, n = 1, no batch, no permutation, contiguous.
/// The whole MUL_MAT perf list would take many minutes (every case runs for at least 1 s).
const GEMV_PARAMS_FILTER: &str = r"^type_a=(q4_0|q8_0),type_b=f32,m=[0-9]+,n=1,k=[0-9]+,bs=\[1,1\],nr=\[1,1\],per=\[0,1,2,3\],k_v=0,o=1,src_overlap=0,m_v=0,pad=0$";

const LLAMA_BENCH: &str = "llama-bench";
const TEST_BACKEND_OPS: &str = "test-backend-ops";
const BUILD_SCRIPT: &str = "bench/scripts/build-llama-cpp";

/// A located llama.cpp build: the two tools and what the build script recorded about them.
#[derive(Clone, Debug, Serialize)]
pub struct LlamaCpp {
    /// `llama-bench`.
    pub llama_bench: PathBuf,
    /// `test-backend-ops`, patched by the build script.
    pub test_backend_ops: PathBuf,
    /// The `key=value` lines of the build's `VERSION` file (llama.cpp commit, sdist sha256,
    /// compiler, flags), empty if it has none, so results can name exactly what was measured.
    pub build_info: BTreeMap<String, String>,
}

/// Finds the llama.cpp tools: in `$DFMA_LLAMA_CPP_DIR` if set, else in the dfma cache where
/// `bench/scripts/build-llama-cpp` puts them. The error is a whole "not run: <reason>" sentence,
/// because a missing peer is reported in place of its figures, not as a failure of the bench.
pub fn binaries() -> Result<LlamaCpp, String> {
    match std::env::var_os(DIR_ENV) {
        Some(dir) => binaries_in(Path::new(&dir), true),
        None => binaries_in(&default_bin_dir(), false),
    }
}

/// Where `bench/scripts/build-llama-cpp` puts the tools: `<dfma cache>/llama-cpp-<version>/bin`.
pub fn default_bin_dir() -> PathBuf {
    dfma_runtime::model::fetch::cache_dir().join(format!("llama-cpp-{LLAMA_CPP_PYTHON_VERSION}")).join("bin")
}

fn binaries_in(bin_dir: &Path, from_env: bool) -> Result<LlamaCpp, String> {
    let missing: Vec<&str> =
        [LLAMA_BENCH, TEST_BACKEND_OPS].into_iter().filter(|name| !is_executable(&bin_dir.join(name))).collect();
    if !missing.is_empty() {
        let missing = missing.join(" and ");
        return Err(if from_env {
            format!("not run: {DIR_ENV}={} has no executable {missing}", bin_dir.display())
        } else {
            format!("not run: llama.cpp is not built (no {missing} in {}); run {BUILD_SCRIPT}", bin_dir.display())
        });
    }
    let build_info = bin_dir
        .parent()
        .and_then(|d| std::fs::read_to_string(d.join("VERSION")).ok())
        .map(|text| parse_build_info(&text))
        .unwrap_or_default();
    Ok(LlamaCpp {
        llama_bench: bin_dir.join(LLAMA_BENCH),
        test_backend_ops: bin_dir.join(TEST_BACKEND_OPS),
        build_info,
    })
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

fn parse_build_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// One `llama-bench` test: every repetition's time, and llama-bench's own mean and spread.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlamaBenchTest {
    /// Prompt tokens processed in one batch (0 for a decode test).
    pub n_prompt: u64,
    /// Tokens generated one at a time (0 for a prefill test).
    pub n_gen: u64,
    /// Tokens already in the context when the test starts (llama-bench `-d`; 0 here).
    pub n_depth: u64,
    /// Mean over repetitions of tokens/s (llama-bench's `avg_ts`: the mean of per-run rates).
    pub avg_tokens_per_s: f64,
    /// Sample standard deviation of tokens/s over repetitions (`stddev_ts`).
    pub stddev_tokens_per_s: f64,
    /// Mean wall time of one repetition, ns (`avg_ns`).
    pub avg_ns: u64,
    /// Standard deviation of the wall time, ns (`stddev_ns`).
    pub stddev_ns: u64,
    /// Every repetition's wall time, ns (the warm-up run is not among them).
    pub samples_ns: Vec<u64>,
    /// Every repetition's tokens/s.
    pub samples_tokens_per_s: Vec<f64>,
}

/// `llama-bench` on one model: a prefill test and a decode test from the same process, with
/// what llama-bench says about the build, the CPU and the model next to the figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlamaBenchResult {
    /// `-p P`: P prompt tokens in one batch from an empty context.
    pub prefill: LlamaBenchTest,
    /// `-n D`: D tokens decoded one by one from an empty context (see
    /// [`LlamaCpp::decode_and_prefill`]).
    pub decode: LlamaBenchTest,
    /// Threads llama-bench reports it used.
    pub n_threads: u64,
    /// llama.cpp commit as compiled in (`build_commit`).
    pub build_commit: Option<String>,
    /// llama.cpp build number (`build_number`; 0 for the sdist build, whose git data is shallow).
    pub build_number: Option<i64>,
    /// llama-bench's CPU description.
    pub cpu_info: Option<String>,
    /// Backends in use (`CPU` for the build script's build).
    pub backends: Option<String>,
    /// llama.cpp's description of the model (architecture, size class, quantization).
    pub model_type: Option<String>,
    /// Model weights, bytes.
    pub model_size_bytes: Option<u64>,
    /// Model parameters.
    pub model_n_params: Option<u64>,
    /// Whether llama.cpp repacked the weights into its CPU-specific layout (`--repack`).
    pub repack: Option<bool>,
}

/// One test object of `llama-bench -o json`; unknown fields are ignored, optional ones may be
/// absent in other llama.cpp versions.
#[derive(Deserialize)]
struct RawLlamaBenchTest {
    build_commit: Option<String>,
    build_number: Option<i64>,
    cpu_info: Option<String>,
    backends: Option<String>,
    model_type: Option<String>,
    model_size: Option<u64>,
    model_n_params: Option<u64>,
    repack: Option<bool>,
    n_threads: u64,
    n_prompt: u64,
    n_gen: u64,
    #[serde(default)]
    n_depth: u64,
    avg_ns: u64,
    stddev_ns: u64,
    avg_ts: f64,
    stddev_ts: f64,
    samples_ns: Vec<u64>,
    samples_ts: Vec<f64>,
}

impl RawLlamaBenchTest {
    fn test(&self) -> LlamaBenchTest {
        LlamaBenchTest {
            n_prompt: self.n_prompt,
            n_gen: self.n_gen,
            n_depth: self.n_depth,
            avg_tokens_per_s: self.avg_ts,
            stddev_tokens_per_s: self.stddev_ts,
            avg_ns: self.avg_ns,
            stddev_ns: self.stddev_ns,
            samples_ns: self.samples_ns.clone(),
            samples_tokens_per_s: self.samples_ts.clone(),
        }
    }
}

/// How the returned throughput of one `test-backend-ops` case was printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Throughput {
    /// Ops that count their arithmetic (MUL_MAT does: `2*m*n*k` per run).
    Flops {
        /// Floating-point operations in one run, as printed (rounded to 2 decimals of its unit).
        flop_per_run: f64,
        /// Operations per second, as printed.
        flop_per_s: f64,
    },
    /// Ops without a FLOP count: bytes of the op and its sources.
    Bandwidth {
        /// Printed as `kB/run`; llama.cpp divides by 1024, so these are KiB.
        kib_per_run: u64,
        /// Printed as `GB/s`; llama.cpp divides by 1024^3, so these are GiB/s.
        gib_per_s: f64,
    },
}

/// One MUL_MAT case of `test-backend-ops perf` on the CPU backend: C = A·B with A the `m x k`
/// weights of `type_a` and B the `k x n` activations of `type_b`.
///
/// How llama.cpp times it: one warm-up, then a graph of the same op repeated back to back
/// (enough copies for ~8 GFLOP), computed until at least 1 s has passed; the time is the total
/// over the number of op runs. The inputs are not refreshed between runs, so a weight matrix that
/// fits in cache is measured hot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MulMatPerf {
    /// Weight type (`q4_0`, `q8_0`, ...).
    pub type_a: String,
    /// Activation type (`f32`); the CPU backend quantizes it to the weights' dot type itself.
    pub type_b: String,
    /// Output rows (dfma's rows).
    pub m: u64,
    /// Activation columns (1 for a GEMV).
    pub n: u64,
    /// Reduction length (dfma's cols).
    pub k: u64,
    /// Batch dims 3 and 4 (`bs`).
    pub batch: [u64; 2],
    /// Broadcast repeats in dims 3 and 4 (`nr`).
    pub repeat: [u64; 2],
    /// The case's full parameter string as printed, so nothing about it is lost.
    pub params: String,
    /// Op runs the time is averaged over.
    pub runs: u64,
    /// Mean wall time of one op run, µs.
    pub time_per_run_us: f64,
    /// Throughput as printed.
    pub throughput: Throughput,
    /// Threads the CPU backend was given (`-t`).
    pub threads: usize,
    /// The backend's device description, if printed.
    pub device: Option<String>,
}

impl MulMatPerf {
    /// Bytes of the weight matrix A, for comparing against dfma's weight-bytes/s; `None` for a
    /// type not listed here or a `k` that is not a whole number of blocks.
    pub fn weight_bytes(&self) -> Option<u64> {
        let (block, bytes_per_block) = match self.type_a.as_str() {
            "f32" => (1, 4),
            "f16" | "bf16" => (1, 2),
            "q4_0" => (32, 18),
            "q4_1" => (32, 20),
            "q8_0" => (32, 34),
            _ => return None,
        };
        if !self.k.is_multiple_of(block) {
            return None;
        }
        Some(self.m * self.k / block * bytes_per_block * self.batch[0] * self.batch[1])
    }
}

impl LlamaCpp {
    /// Runs `llama-bench -m MODEL -p P -n D -t THREADS -r REPS -o json`: one prefill test of P
    /// prompt tokens and one decode test of D generated tokens, each repeated REPS times after a
    /// warm-up, and returns both with every sample.
    ///
    /// llama-bench's decode test (`n_gen`) starts from an EMPTY context: it feeds random tokens
    /// one at a time from position 0, with no prompt before them, so attention spans 0..D
    /// positions. It is not the decode that follows a P-token prompt (llama-bench `-d` would set a
    /// depth; not used here), and its tokens/s is the mean of per-repetition rates. The prefill
    /// test likewise processes random tokens in one batch from an empty context.
    pub fn decode_and_prefill(
        &self,
        model: &Path,
        prompt_tokens: usize,
        decode_tokens: usize,
        threads: usize,
        repetitions: usize,
    ) -> anyhow::Result<LlamaBenchResult> {
        for (name, value) in [
            ("prompt tokens", prompt_tokens),
            ("decode tokens", decode_tokens),
            ("threads", threads),
            ("repetitions", repetitions),
        ] {
            if value == 0 {
                return Err(bad_input(format!("llama-bench needs at least 1 of {name}, got 0")));
            }
        }
        let mut cmd = Command::new(&self.llama_bench);
        cmd.arg("-m").arg(model);
        cmd.args(["-p", &prompt_tokens.to_string(), "-n", &decode_tokens.to_string()]);
        cmd.args(["-t", &threads.to_string(), "-r", &repetitions.to_string(), "-o", "json"]);
        let out = run(cmd, LLAMA_BENCH, &self.llama_bench)?;
        if !out.status.success() {
            bail!("llama-bench on {} exited with {}: {}", model.display(), out.status, stderr_tail(&out));
        }
        parse_llama_bench_json(&out.stdout, prompt_tokens, decode_tokens, threads, repetitions)
    }

    /// Runs `test-backend-ops perf -o MUL_MAT -b CPU -t THREADS -p <GEMV filter>`: llama.cpp's CPU
    /// MUL_MAT for q4_0 and q8_0 weights at every one-column shape in its (patched) perf list,
    /// which covers [`GEMV_SHAPES`]. Errors if any of [`GEMV_TYPES`] x [`GEMV_SHAPES`] is missing.
    ///
    /// `-t` exists only in the patched tool; stock test-backend-ops gives the CPU backend
    /// `hardware_concurrency() / 2` threads with no way to change it, and rejects `-t`.
    pub fn mul_mat_perf(&self, threads: usize) -> anyhow::Result<Vec<MulMatPerf>> {
        let cases = self.mul_mat_perf_filtered(threads, GEMV_PARAMS_FILTER)?;
        check_gemv_coverage(&cases)?;
        Ok(cases)
    }

    fn mul_mat_perf_filtered(&self, threads: usize, params_filter: &str) -> anyhow::Result<Vec<MulMatPerf>> {
        if threads == 0 {
            return Err(bad_input("test-backend-ops needs at least 1 thread, got 0"));
        }
        let mut cmd = Command::new(&self.test_backend_ops);
        cmd.args(["perf", "-o", "MUL_MAT", "-b", "CPU", "-t", &threads.to_string(), "-p", params_filter]);
        let out = run(cmd, TEST_BACKEND_OPS, &self.test_backend_ops)?;
        if !out.status.success() {
            if String::from_utf8_lossy(&out.stdout).contains("Usage:") {
                bail!(
                    "test-backend-ops at {} rejected its arguments: its `-t` comes from \
                     bench/scripts/llama-cpp-perf-shapes.patch; build it with {BUILD_SCRIPT}",
                    self.test_backend_ops.display()
                );
            }
            bail!("test-backend-ops exited with {}: {}", out.status, stderr_tail(&out));
        }
        parse_test_backend_ops_perf(&String::from_utf8_lossy(&out.stdout), threads)
    }
}

fn run(mut cmd: Command, name: &str, path: &Path) -> anyhow::Result<Output> {
    cmd.output().with_context(|| format!("could not run {name} at {}", path.display()))
}

/// The last lines of a child's stderr, for an error message.
fn stderr_tail(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    if tail.trim().is_empty() { "no message on stderr".to_string() } else { tail }
}

/// The start of some output, for an error message.
fn excerpt(text: &str) -> String {
    let t = text.trim();
    let cut: String = t.chars().take(120).collect();
    if cut.len() < t.len() { format!("{cut}...") } else { cut }
}

/// Reads `llama-bench -o json` output, checking it is the run that was asked for: a prefill test
/// of `prompt_tokens`, a decode test of `decode_tokens`, `threads` threads, `repetitions` samples.
fn parse_llama_bench_json(
    stdout: &[u8],
    prompt_tokens: usize,
    decode_tokens: usize,
    threads: usize,
    repetitions: usize,
) -> anyhow::Result<LlamaBenchResult> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim().is_empty() {
        bail!("llama-bench printed nothing on stdout");
    }
    let tests: Vec<RawLlamaBenchTest> = serde_json::from_str(&text).with_context(|| {
        format!("llama-bench's output is not the JSON list of tests of `-o json`: {}", excerpt(&text))
    })?;
    let (p, d) = (prompt_tokens as u64, decode_tokens as u64);
    let find = |what: &str, n_prompt: u64, n_gen: u64| {
        tests.iter().find(|t| t.n_prompt == n_prompt && t.n_gen == n_gen && t.n_depth == 0).with_context(|| {
            format!("llama-bench's JSON has no {what} test (n_prompt={n_prompt}, n_gen={n_gen}, n_depth=0)")
        })
    };
    let prefill = find("prefill", p, 0)?;
    let decode = find("decode", 0, d)?;
    for (what, t) in [("prefill", prefill), ("decode", decode)] {
        if t.n_threads != threads as u64 {
            bail!("llama-bench ran its {what} test with {} threads, not the {threads} asked for", t.n_threads);
        }
        if t.samples_ns.len() != repetitions || t.samples_ts.len() != repetitions {
            bail!(
                "llama-bench's {what} test has {} time and {} rate samples, not the {repetitions} repetitions asked for",
                t.samples_ns.len(),
                t.samples_ts.len()
            );
        }
        if !t.avg_ts.is_finite() || !t.stddev_ts.is_finite() {
            bail!("llama-bench's {what} test has a non-finite tokens/s ({} ± {})", t.avg_ts, t.stddev_ts);
        }
    }
    Ok(LlamaBenchResult {
        prefill: prefill.test(),
        decode: decode.test(),
        n_threads: decode.n_threads,
        build_commit: decode.build_commit.clone(),
        build_number: decode.build_number,
        cpu_info: decode.cpu_info.clone(),
        backends: decode.backends.clone(),
        model_type: decode.model_type.clone(),
        model_size_bytes: decode.model_size,
        model_n_params: decode.model_n_params,
        repack: decode.repack,
    })
}

/// Removes terminal colour codes (`ESC [ ... letter`); test-backend-ops colours its figures.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads the console output of `test-backend-ops perf`, keeping the MUL_MAT cases (not MUL_MAT_ID)
/// and skipping those the backend does not support.
fn parse_test_backend_ops_perf(stdout: &str, threads: usize) -> anyhow::Result<Vec<MulMatPerf>> {
    let text = strip_ansi(stdout);
    let mut device = None;
    let mut cases = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(d) = line.strip_prefix("Device description:") {
            device = Some(d.trim().to_string());
            continue;
        }
        let Some(rest) = line.strip_prefix("MUL_MAT(") else { continue };
        let case = parse_perf_line(rest, threads, device.clone())
            .with_context(|| format!("test-backend-ops printed a MUL_MAT line that dfma cannot read: {line}"))?;
        cases.extend(case);
    }
    Ok(cases)
}

/// One perf line after `MUL_MAT(`:
/// `PARAMS):  RUNS runs - T us/run - W FLOP/run - R FLOPS` (or `K kB/run - B GB/s`), or
/// `PARAMS): not supported`. `None` for an unsupported case.
fn parse_perf_line(rest: &str, threads: usize, device: Option<String>) -> anyhow::Result<Option<MulMatPerf>> {
    let (params, figures) = rest.split_once("):").context("no `):` after the parameters")?;
    let figures = figures.trim();
    if figures.starts_with("not supported") {
        return Ok(None);
    }
    let parts: Vec<&str> = figures.split(" - ").map(str::trim).collect();
    let [runs, time, work, rate] = parts[..] else {
        bail!("expected 4 figures separated by ` - `, found {}", parts.len());
    };
    let runs = parse_number::<u64>(runs.strip_suffix("runs").context("no `runs`")?)?;
    let time_per_run_us = parse_number::<f64>(time.strip_suffix("us/run").context("no `us/run`")?)?;
    let throughput = if let Some(work) = work.strip_suffix("FLOP/run") {
        let rate = rate.strip_suffix("FLOPS").context("a FLOP count without FLOPS")?;
        Throughput::Flops { flop_per_run: parse_scaled(work)?, flop_per_s: parse_scaled(rate)? }
    } else {
        let kib = parse_number::<u64>(work.strip_suffix("kB/run").context("neither FLOP/run nor kB/run")?)?;
        let gib = parse_number::<f64>(rate.strip_suffix("GB/s").context("a kB/run without GB/s")?)?;
        Throughput::Bandwidth { kib_per_run: kib, gib_per_s: gib }
    };
    let vars = parse_params(params)?;
    let get = |key: &str| vars.get(key).copied().with_context(|| format!("no `{key}=` in the parameters"));
    Ok(Some(MulMatPerf {
        type_a: get("type_a")?.to_string(),
        type_b: get("type_b")?.to_string(),
        m: parse_number(get("m")?)?,
        n: parse_number(get("n")?)?,
        k: parse_number(get("k")?)?,
        batch: parse_pair(get("bs")?)?,
        repeat: parse_pair(get("nr")?)?,
        params: params.to_string(),
        runs,
        time_per_run_us,
        throughput,
        threads,
        device,
    }))
}

fn parse_number<T: std::str::FromStr>(s: &str) -> anyhow::Result<T> {
    let s = s.trim();
    s.parse().map_err(|_| anyhow::anyhow!("`{s}` is not a number"))
}

/// `117.44 M` -> 117.44e6: the value and unit prefix test-backend-ops prints FLOP counts with.
fn parse_scaled(s: &str) -> anyhow::Result<f64> {
    let s = s.trim();
    let (value, scale) = match s.char_indices().last() {
        Some((i, 'T')) => (&s[..i], 1e12),
        Some((i, 'G')) => (&s[..i], 1e9),
        Some((i, 'M')) => (&s[..i], 1e6),
        Some((i, 'k')) => (&s[..i], 1e3),
        _ => bail!("`{s}` has no T, G, M or k unit"),
    };
    Ok(parse_number::<f64>(value)? * scale)
}

/// `[1,1]` -> [1, 1].
fn parse_pair(s: &str) -> anyhow::Result<[u64; 2]> {
    let inner = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).with_context(|| format!("`{s}` is not [a,b]"))?;
    let (a, b) = inner.split_once(',').with_context(|| format!("`{s}` is not [a,b]"))?;
    Ok([parse_number(a)?, parse_number(b)?])
}

/// `type_a=q4_0,m=4096,bs=[1,1],...` -> key -> value, splitting only at commas outside brackets.
fn parse_params(params: &str) -> anyhow::Result<BTreeMap<&str, &str>> {
    let mut vars = BTreeMap::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in params.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                insert_key_value(&mut vars, &params[start..i])?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        bail!("unbalanced brackets in `{params}`");
    }
    insert_key_value(&mut vars, &params[start..])?;
    Ok(vars)
}

fn insert_key_value<'a>(vars: &mut BTreeMap<&'a str, &'a str>, item: &'a str) -> anyhow::Result<()> {
    let (k, v) = item.split_once('=').with_context(|| format!("`{item}` is not key=value"))?;
    vars.insert(k, v);
    Ok(())
}

/// Errors unless every [`GEMV_TYPES`] x [`GEMV_SHAPES`] case was measured: a missing one means
/// a stock (unpatched) test-backend-ops or a changed perf list, which must not pass unnoticed.
fn check_gemv_coverage(cases: &[MulMatPerf]) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for type_a in GEMV_TYPES {
        for (rows, cols) in GEMV_SHAPES {
            let found =
                cases.iter().any(|c| c.type_a == type_a && c.m == rows && c.k == cols && c.n == 1 && c.batch == [1, 1]);
            if !found {
                missing.push(format!("{type_a} {rows}x{cols}"));
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "test-backend-ops measured no MUL_MAT GEMV for {}: its perf list lacks dfma's shapes \
             (they come from bench/scripts/llama-cpp-perf-shapes.patch; build with {BUILD_SCRIPT})",
            missing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `llama-bench -m SmolLM2-135M-Instruct.Q4_1.gguf -p 64 -n 32 -t 2 -r 3 -o json`
    /// output (llama.cpp 0c1e57098), with most configuration fields cut.
    const LLAMA_BENCH_JSON: &str = r#"[
  {
    "build_commit": "0c1e57098",
    "build_number": 0,
    "cpu_info": "AMD EPYC",
    "backends": "CPU",
    "model_type": "llama 256M Q4_1",
    "model_size": 96576768,
    "model_n_params": 134515008,
    "n_threads": 2,
    "repack": true,
    "n_prompt": 64,
    "n_gen": 0,
    "n_depth": 0,
    "avg_ns": 184324705,
    "stddev_ns": 4459747,
    "avg_ts": 347.347065,
    "stddev_ts": 8.289350,
    "samples_ns": [ 189469140, 181953136, 181551840 ],
    "samples_ts": [ 337.786, 351.739, 352.516 ]
  },
  {
    "build_commit": "0c1e57098",
    "build_number": 0,
    "cpu_info": "AMD EPYC",
    "backends": "CPU",
    "model_type": "llama 256M Q4_1",
    "model_size": 96576768,
    "model_n_params": 134515008,
    "n_threads": 2,
    "repack": true,
    "n_prompt": 0,
    "n_gen": 32,
    "n_depth": 0,
    "avg_ns": 252848651,
    "stddev_ns": 4710471,
    "avg_ts": 126.587022,
    "stddev_ts": 2.343154,
    "samples_ns": [ 251671220, 258036093, 248838642 ],
    "samples_ts": [ 127.15, 124.014, 128.597 ]
  }
]
"#;

    /// Real `test-backend-ops perf -o MUL_MAT -b CPU -t 2 -p ...` output (patched, llama.cpp
    /// 0c1e57098), two of its ten cases, colour codes kept.
    const PERF_OUTPUT: &str = "Testing 1 devices\n\nBackend 1/1: CPU\n  Device description: AMD EPYC\n  \
Device memory: 24105 MB (24105 MB free)\n\n  \
MUL_MAT(type_a=q4_0,type_b=f32,m=4096,n=1,k=14336,bs=[1,1],nr=[1,1],per=[0,1,2,3],k_v=0,o=1,src_overlap=0,m_v=0,pad=0):                414 runs -  2496.09 us/run - 117.44 MFLOP/run - \x1b[1;34m 47.05 GFLOPS\x1b[0m\n  \
MUL_MAT(type_a=q8_0,type_b=f32,m=2048,n=1,k=2048,bs=[1,1],nr=[1,1],per=[0,1,2,3],k_v=0,o=1,src_overlap=0,m_v=0,pad=0):               11448 runs -    90.95 us/run -   8.39 MFLOP/run - \x1b[1;34m 92.24 GFLOPS\x1b[0m\n  \
Backend CPU: \x1b[1;32mOK\x1b[0m\n1/1 backends passed\n\x1b[1;32mOK\x1b[0m\n";

    fn gemv(type_a: &str, m: u64, k: u64) -> MulMatPerf {
        MulMatPerf {
            type_a: type_a.to_string(),
            type_b: "f32".to_string(),
            m,
            n: 1,
            k,
            batch: [1, 1],
            repeat: [1, 1],
            params: String::new(),
            runs: 1,
            time_per_run_us: 1.0,
            throughput: Throughput::Flops { flop_per_run: 1.0, flop_per_s: 1.0 },
            threads: 2,
            device: None,
        }
    }

    #[test]
    fn llama_bench_json_gives_prefill_and_decode_with_every_sample() {
        let r = parse_llama_bench_json(LLAMA_BENCH_JSON.as_bytes(), 64, 32, 2, 3).unwrap();
        assert_eq!((r.prefill.n_prompt, r.prefill.n_gen), (64, 0));
        assert_eq!((r.decode.n_prompt, r.decode.n_gen), (0, 32));
        assert_eq!(r.prefill.avg_tokens_per_s, 347.347065);
        assert_eq!(r.prefill.stddev_tokens_per_s, 8.289350);
        assert_eq!(r.decode.avg_tokens_per_s, 126.587022);
        assert_eq!(r.decode.samples_ns, vec![251671220, 258036093, 248838642]);
        assert_eq!(r.decode.samples_tokens_per_s.len(), 3);
        assert_eq!(r.build_commit.as_deref(), Some("0c1e57098"));
        assert_eq!(r.model_type.as_deref(), Some("llama 256M Q4_1"));
        assert_eq!(r.model_size_bytes, Some(96576768));
        assert_eq!(r.n_threads, 2);
    }

    #[test]
    fn garbage_from_llama_bench_is_an_error_naming_llama_bench() {
        let e = parse_llama_bench_json(b"| model | size |\n| --- | --- |\n", 64, 32, 2, 3).unwrap_err();
        assert!(format!("{e:#}").contains("llama-bench"), "{e:#}");
        let e = parse_llama_bench_json(b"  \n", 64, 32, 2, 3).unwrap_err();
        assert!(format!("{e:#}").contains("llama-bench printed nothing"), "{e:#}");
    }

    #[test]
    fn a_llama_bench_run_other_than_the_one_asked_for_is_an_error() {
        let wrong_threads = parse_llama_bench_json(LLAMA_BENCH_JSON.as_bytes(), 64, 32, 4, 3).unwrap_err();
        assert!(format!("{wrong_threads:#}").contains("2 threads, not the 4"), "{wrong_threads:#}");
        let wrong_reps = parse_llama_bench_json(LLAMA_BENCH_JSON.as_bytes(), 64, 32, 2, 5).unwrap_err();
        assert!(format!("{wrong_reps:#}").contains("not the 5 repetitions"), "{wrong_reps:#}");
        let no_decode = parse_llama_bench_json(LLAMA_BENCH_JSON.as_bytes(), 64, 128, 2, 3).unwrap_err();
        assert!(format!("{no_decode:#}").contains("no decode test"), "{no_decode:#}");
    }

    #[test]
    fn perf_output_gives_each_mul_mat_case_with_its_shape_time_and_flops() {
        let cases = parse_test_backend_ops_perf(PERF_OUTPUT, 2).unwrap();
        assert_eq!(cases.len(), 2);
        let c = &cases[0];
        assert_eq!((c.type_a.as_str(), c.type_b.as_str()), ("q4_0", "f32"));
        assert_eq!((c.m, c.n, c.k, c.batch, c.repeat), (4096, 1, 14336, [1, 1], [1, 1]));
        assert_eq!((c.runs, c.time_per_run_us), (414, 2496.09));
        let Throughput::Flops { flop_per_run, flop_per_s } = c.throughput else { panic!("{:?}", c.throughput) };
        assert!((flop_per_run - 117.44e6).abs() < 1.0 && (flop_per_s - 47.05e9).abs() < 1e3);
        assert_eq!(c.device.as_deref(), Some("AMD EPYC"));
        assert_eq!(c.threads, 2);
        assert_eq!(c.weight_bytes(), Some(4096 * 14336 / 32 * 18));
        assert_eq!((cases[1].type_a.as_str(), cases[1].m, cases[1].k, cases[1].runs), ("q8_0", 2048, 2048, 11448));
    }

    #[test]
    fn a_bandwidth_line_reads_as_kib_and_gib_per_s_and_unsupported_cases_are_skipped() {
        // Lines in the format of test-backend-ops' print_perf_console for an op without a FLOP
        // count, and for an op the backend does not support.
        let text = "  MUL_MAT(type_a=f32,type_b=f32,m=16,n=1,k=16,bs=[1,1],nr=[1,1]):    \
                    1434 runs -   735.74 us/run -     9216 kB/run - \x1b[1;34m  12.34 GB/s\x1b[0m\n  \
                    MUL_MAT(type_a=iq1_s,type_b=f32,m=16,n=1,k=256,bs=[1,1],nr=[1,1]): not supported\n";
        let cases = parse_test_backend_ops_perf(text, 1).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].throughput, Throughput::Bandwidth { kib_per_run: 9216, gib_per_s: 12.34 });
    }

    #[test]
    fn an_unreadable_mul_mat_line_is_an_error_naming_test_backend_ops() {
        let text = "  MUL_MAT(type_a=q4_0,type_b=f32,m=4096,n=1,k=4096,bs=[1,1],nr=[1,1]): 12 runs - fast\n";
        let e = parse_test_backend_ops_perf(text, 2).unwrap_err();
        assert!(format!("{e:#}").contains("test-backend-ops printed a MUL_MAT line"), "{e:#}");
        let text = "  MUL_MAT(type_a=q4_0,m=[1,1): 1 runs - 1.0 us/run - 1.00 MFLOP/run - 1.00 GFLOPS\n";
        assert!(parse_test_backend_ops_perf(text, 2).is_err());
    }

    #[test]
    fn mul_mat_id_lines_are_not_mistaken_for_mul_mat() {
        let text =
            "  MUL_MAT_ID(type_a=q4_0,type_b=f32,n_mats=128): 5 runs - 1.00 us/run - 1.00 MFLOP/run - 1.00 GFLOPS\n";
        assert!(parse_test_backend_ops_perf(text, 2).unwrap().is_empty());
    }

    #[test]
    fn a_missing_gemv_shape_is_an_error_that_names_it() {
        let mut cases: Vec<MulMatPerf> =
            GEMV_TYPES.iter().flat_map(|t| GEMV_SHAPES.iter().map(|&(m, k)| gemv(t, m, k))).collect();
        check_gemv_coverage(&cases).unwrap();
        cases.retain(|c| !(c.type_a == "q8_0" && c.m == 8192));
        let e = check_gemv_coverage(&cases).unwrap_err();
        assert!(format!("{e:#}").contains("q8_0 8192x2048"), "{e:#}");
    }

    #[test]
    fn a_folder_without_the_tools_is_not_run_with_the_build_hint() {
        let dir = tempfile::tempdir().unwrap();
        let e = binaries_in(dir.path(), false).unwrap_err();
        assert!(e.starts_with("not run: llama.cpp is not built"), "{e}");
        assert!(e.contains(BUILD_SCRIPT), "{e}");
        let e = binaries_in(dir.path(), true).unwrap_err();
        assert!(e.starts_with(&format!("not run: {DIR_ENV}=")), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_built_folder_is_found_with_its_version_file() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for name in [LLAMA_BENCH, TEST_BACKEND_OPS] {
            let path = bin.join(name);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(root.path().join("VERSION"), "llama_cpp_commit=0c1e57098\nggml_version=0.25.3\n").unwrap();
        let found = binaries_in(&bin, false).unwrap();
        assert_eq!(found.llama_bench, bin.join(LLAMA_BENCH));
        assert_eq!(found.build_info.get("llama_cpp_commit").map(String::as_str), Some("0c1e57098"));
        // A file that is not executable does not count as a build.
        std::fs::set_permissions(bin.join(TEST_BACKEND_OPS), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(binaries_in(&bin, false).unwrap_err().contains(TEST_BACKEND_OPS));
    }

    #[test]
    fn the_pinned_version_matches_the_build_script() {
        let script = include_str!("../../scripts/build-llama-cpp");
        let pin = format!("\nLLAMA_CPP_PYTHON_VERSION={LLAMA_CPP_PYTHON_VERSION}\n");
        assert!(script.contains(&pin), "bench/scripts/build-llama-cpp does not pin {LLAMA_CPP_PYTHON_VERSION}");
    }

    #[test]
    fn zero_threads_or_tokens_are_bad_input_before_anything_runs() {
        let tools = LlamaCpp {
            llama_bench: PathBuf::from("/nonexistent/llama-bench"),
            test_backend_ops: PathBuf::from("/nonexistent/test-backend-ops"),
            build_info: BTreeMap::new(),
        };
        let e = tools.decode_and_prefill(Path::new("m.gguf"), 64, 0, 2, 3).unwrap_err();
        assert!(e.downcast_ref::<crate::error::BadInput>().is_some(), "{e:#}");
        assert!(tools.mul_mat_perf(0).unwrap_err().downcast_ref::<crate::error::BadInput>().is_some());
        let e = tools.decode_and_prefill(Path::new("m.gguf"), 64, 32, 2, 3).unwrap_err();
        assert!(format!("{e:#}").contains("could not run llama-bench"), "{e:#}");
    }

    /// Runs the real tools when `bench/scripts/build-llama-cpp` has built them (and the model
    /// is cached); otherwise says why it checked nothing.
    #[test]
    fn the_real_tools_when_built_give_readable_figures() {
        let tools = match binaries() {
            Ok(t) => t,
            Err(why) => {
                eprintln!("{why}");
                return;
            }
        };
        let model = dfma_runtime::model::fetch::cached_gguf();
        if model.exists() {
            let r = tools.decode_and_prefill(&model, 8, 4, 1, 1).unwrap();
            assert!(r.decode.avg_tokens_per_s > 0.0 && r.prefill.avg_tokens_per_s > 0.0, "{r:?}");
        } else {
            eprintln!("not run: llama-bench (no model at {})", model.display());
        }
        let filter = r"^type_a=q8_0,type_b=f32,m=2048,n=1,k=2048,bs=\[1,1\],nr=\[1,1\],per=\[0,1,2,3\],";
        let cases = tools.mul_mat_perf_filtered(1, filter).unwrap();
        assert_eq!(cases.len(), 1, "{cases:?}");
        assert_eq!((cases[0].m, cases[0].k, cases[0].threads), (2048, 2048, 1));
        assert!(cases[0].time_per_run_us > 0.0);
    }
}
