//! Command-line definition.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// dfma: benchmark and verify the kernels of the DFMA architecture.
#[derive(Parser, Debug)]
#[command(name = "dfma", version, about)]
pub struct Cli {
    /// wgpu adapter to use: index or name substring (default: DFMA_WGPU_ADAPTER, else the best).
    #[arg(long, global = true)]
    pub adapter: Option<String>,
    /// CUDA device ordinal.
    #[arg(long, global = true, default_value_t = 0)]
    pub cuda_device: usize,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run bench suites on every available backend.
    Bench(BenchArgs),
    /// Compare two bench reports: per-case ratio and a noise-aware verdict; exit 1 on a regression.
    Compare(CompareArgs),
    /// List every backend, its devices and driver versions, and why any is unavailable.
    Devices,
    /// Fuzz every protocol decoder with generated and mutated frames; exit 1 on any panic or
    /// allocation beyond the bound.
    Fuzz(FuzzArgs),
    /// Train a LoRA adapter on a text file through the frozen model; report held-out loss
    /// before and after, save the adapter as safetensors.
    Finetune(FinetuneArgs),
    /// Generate text with the embedded model (SmolLM2-135M-Instruct) or a Llama GGUF.
    Generate(GenerateArgs),
    /// List ops and their registered kernels.
    List,
    /// Drive one CCF receiver with many concurrent instances sending signed signals; exit 1 on
    /// any lost or rejected message.
    Load(LoadArgs),
    /// Run one op on .npy files.
    Op(OpArgs),
    /// Run an op's PTX kernel once in the interpreter (ptxvm) on random inputs and print its
    /// counters: instructions by class, coalescing, bank conflicts, divergence, speed.
    Profile(ProfileArgs),
    /// Quantize an f32 .npy matrix into GGML blocks (a u8 .npy of the raw block bytes).
    Quantize(QuantizeArgs),
    /// The Collective Context Field as a network service.
    Ccf {
        /// What to do.
        #[command(subcommand)]
        command: CcfCommand,
    },
    /// One personal instance of the DFMA experiment in its own process, talking to a CCF
    /// (`dfma ccf serve`) over gRPC; prints one JSON record per round on stdout.
    Instance(InstanceArgs),
    /// Run DFMA end to end: personal instances learning from their own reasoning, alone and
    /// through the Collective Context Field, against the baselines; or Fed-Heart-Disease on the
    /// same kind of stack.
    Run {
        #[command(subcommand)]
        command: RunCommand,
    },
    /// Place jobs on a carbon-intensity or renewable-share trace; print the schedule, carbon,
    /// energy and savings against run-at-once and the perfect-foresight bound; or run the
    /// reference window sweep (--sweep), or run the jobs live (--run).
    Schedule(ScheduleArgs),
    /// Time every registered variant of each op at its bench shapes and cache the fastest per
    /// device, driver, op and shape (used by `dfma op` when no --variant is given).
    Tune(TuneArgs),
    /// PTX tools.
    Ptx {
        #[command(subcommand)]
        command: PtxCommand,
    },
}

/// `dfma run` subcommands. (One is parsed per process, so the experiment's many options make
/// the enum large at no cost worth boxing for.)
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum RunCommand {
    /// The default experiment on the embedded model: instances self-train on verifiable tasks;
    /// isolated, collective (compressed signals), FedAvg (f32) and pooled, on the same seeds;
    /// a JSON report and SVG plots.
    Experiment(RunExperimentArgs),
    /// Fed-Heart-Disease on the federated stack: a logistic regression per hospital of the UCI
    /// heart-disease data; local-only, collective, FedAvg and pooled test accuracy per hospital.
    Heart(HeartArgs),
}

/// `dfma run heart` options.
#[derive(Parser, Debug)]
pub struct HeartArgs {
    /// The UCI heart-disease CSV (default: DFMA_HEART_CSV; `ci/fetch-heart` prints its path).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Rounds of the collective and FedAvg runs (local-only and pooled train as many epochs).
    #[arg(long, default_value_t = 40)]
    pub rounds: usize,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    pub local_epochs: usize,
    /// Training seed: the same seed reproduces the run exactly.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed of the stratified train/test split of each hospital (fixed by default, like a
    /// benchmark's).
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Robust aggregation instead of the mean: median, trimmed-mean or norm-filter (signals above 3 median norms dropped).
    #[arg(long, value_name = "RULE")]
    pub robust: Option<String>,
    /// Fraction of the hospitals that drop out each round after training, before sending.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Signal compression: none, quantize:B (B = 1, 2, 4, 8), sketch:RxC, project:K.
    #[arg(long, default_value = "none")]
    pub compress: String,
    /// Mask signals with secure aggregation (linear compression and the mean only).
    #[arg(long)]
    pub secure_aggregation: bool,
    /// L2 norm each round's change is clipped to.
    #[arg(long, default_value_t = 10.0)]
    pub clip: f64,
    /// DP noise multiplier (0: clipping only, no privacy claimed).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Each hospital's ε budget at δ = 1e-5 (with --noise above 0).
    #[arg(long, default_value_t = 10.0)]
    pub epsilon: f64,
    /// Plant a bad hospital: INDEX:scaled (signals ×100), INDEX:random, or INDEX:silent (trains, never sends: the attacks' control).
    #[arg(long, value_name = "INDEX:KIND")]
    pub bad: Option<String>,
    /// Let a hospital join late: INDEX:ROUND (repeatable).
    #[arg(long, value_name = "INDEX:ROUND")]
    pub late_join: Vec<String>,
    /// Write the report as JSON (through a temporary file, then renamed).
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
}

/// `dfma ccf` subcommands.
#[derive(Subcommand, Debug)]
pub enum CcfCommand {
    /// Serve the CCF of one federated method of the experiment over gRPC: it waits for the
    /// experiment's instances to join, closes each round when every member has reported (or at
    /// its deadline), answers heartbeats with updates, and exits after the last round. Prints
    /// `listening ADDR` first, then one JSON line per closed round.
    Serve(CcfServeArgs),
}

/// `dfma ccf serve` options.
#[derive(Parser, Debug)]
pub struct CcfServeArgs {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The federated method whose CCF this is: collective or fedavg.
    #[arg(long, default_value = "collective")]
    pub method: String,
    /// Longest a round stays open waiting for a silent member, in seconds.
    #[arg(long, default_value_t = 900)]
    pub round_timeout_s: u64,
    /// Serve over TLS with this PEM certificate chain (with --tls-key; instances then connect
    /// to https://... with --tls-ca).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The experiment (the same flags as every instance's).
    #[command(flatten)]
    pub experiment: ExperimentArgs,
}

/// `dfma instance` options.
#[derive(Parser, Debug)]
pub struct InstanceArgs {
    /// The CCF's gRPC address, e.g. http://127.0.0.1:50051 (https://... with --tls-ca).
    #[arg(long, value_name = "URL")]
    pub ccf: String,
    /// Connect over TLS, trusting only the CA certificate(s) in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The name the CCF's certificate must carry (default: the --ccf URL's host); needs --tls-ca.
    #[arg(long, value_name = "NAME")]
    pub tls_domain: Option<String>,
    /// Which of the experiment's instances this is (0-based).
    #[arg(long)]
    pub index: usize,
    /// The federated method: collective or fedavg.
    #[arg(long, default_value = "collective")]
    pub method: String,
    /// Longest wait for one answer of the CCF, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_s: u64,
    /// The experiment (the same flags as the CCF's).
    #[command(flatten)]
    pub experiment: ExperimentArgs,
}

/// `dfma run experiment` options: the experiment, and where its federated methods run.
#[derive(Parser, Debug)]
pub struct RunExperimentArgs {
    /// The experiment.
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// How the federated methods' instances reach their CCF: in-process (one process, channels)
    /// or grpc (the CCF and every instance a separate `dfma` process, over gRPC on localhost;
    /// the same report for the same seed, except wall time and joules).
    #[arg(long, default_value = "in-process")]
    pub transport: String,
    /// Continue a stopped run from its checkpoint (`checkpoint.safetensors` in --out, written
    /// after every completed round) with the same flags; without one, start at round 1.
    #[arg(long)]
    pub resume: bool,
}

/// The experiment's options, shared by `dfma run experiment`, `dfma ccf serve` and
/// `dfma instance`.
#[derive(Parser, Debug)]
pub struct ExperimentArgs {
    /// A Llama-family GGUF (default: DFMA_MODEL_GGUF, else the embedded model, fetched once).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Directory for report.json and the plots (created; files written through temporaries).
    #[arg(long, value_name = "DIR", default_value = "experiment")]
    pub out: PathBuf,
    /// Personal instances.
    #[arg(long, default_value_t = 4)]
    pub instances: usize,
    /// Learning rounds.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Task kinds with difficulty, kind:difficulty (kinds: add, subtract, double, compare, smaller, sort, convert, convert-up, last-digit, digits).
    #[arg(long, default_value = "convert-up:2,digits:1,compare:2,subtract:1")]
    pub tasks: String,
    /// Kinds each instance's user asks about (instance i: kinds i, i+1, …).
    #[arg(long, default_value_t = 2)]
    pub kinds_per_instance: usize,
    /// Questions an instance answers per round.
    #[arg(long, default_value_t = 16)]
    pub questions: usize,
    /// Held-out questions per kind per instance.
    #[arg(long, default_value_t = 12)]
    pub held_out: usize,
    /// Answers sampled per question.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    /// Worked examples before a question when sampling.
    #[arg(long, default_value_t = 2)]
    pub demos: usize,
    /// Blocks with adapters: top:N, all, or a list.
    #[arg(long, default_value = "top:4")]
    pub layers: String,
    /// Adapter rank.
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f32,
    /// Passes over a round's accepted answers.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// The collective's compression: sign (1 bit + a scale per 256, error feedback), quantize:B, sketch:RxC, project:K (both with error feedback), none.
    #[arg(long, default_value = "sign")]
    pub compression: String,
    /// How far a round's aggregate moves the collective adapter: a factor η (1: FedAvg's mean), or sum (η = the number of signals: every change in full).
    #[arg(long, default_value = "2")]
    pub server_lr: String,
    /// The CCF's aggregation: mean, median, trimmed-mean (25 % at each end), norm-filter (signals above 3 median norms dropped, the rest averaged).
    #[arg(long, default_value = "mean")]
    pub robust: String,
    /// L2 bound each signal is clipped to (a round's change of B is typically 3-4).
    #[arg(long, default_value_t = 5.0)]
    pub clip: f64,
    /// Gaussian noise multiplier of the signals (0: none; then no privacy is claimed).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Privacy budget ε per instance when --noise is on (δ = 1e-5).
    #[arg(long, default_value_t = 8.0)]
    pub epsilon: f64,
    /// Fraction of instances dropping out mid-round each round.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// An instance that joins late: INSTANCE:ROUND.
    #[arg(long)]
    pub late_join: Option<String>,
    /// A planted bad instance, skipping the clip: INSTANCE:scaled (×100), INSTANCE:random (noise of ~100 clip norms), or INSTANCE:silent (sends nothing: the attacks' control).
    #[arg(long)]
    pub bad_instance: Option<String>,
    /// Methods to run side by side.
    #[arg(long, default_value = "isolated,collective,fedavg,pooled")]
    pub methods: String,
    /// An Electricity Maps hourly carbon CSV: each round's learning becomes a job due within
    /// its round (--round-hours), placed in the cleanest hour; the carbon is reported both ways.
    #[arg(long, value_name = "FILE")]
    pub carbon_trace: Option<PathBuf>,
    /// Hours a round spans on the carbon trace.
    #[arg(long, default_value_t = 24)]
    pub round_hours: usize,
    /// Seed of everything (default: DFMA_SEED, else fresh; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `dfma ptx` subcommands.
#[derive(Subcommand, Debug)]
pub enum PtxCommand {
    /// Assemble every kernels/ptx file with ptxas for sm_80, sm_86, sm_89, sm_90; fail on errors,
    /// spills or missing SASS patterns.
    Check,
}

/// Cache state of timed launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheMode {
    /// Caches flushed before every sample (a buffer larger than L2 / the LLC is touched).
    Cold,
    /// Launches back to back, inputs resident in cache where they fit.
    Hot,
    /// Launches back to back, each on the next of enough copies of the inputs that together
    /// they exceed the device's largest cache four times over: every launch reads its inputs
    /// from memory, and one launch's start overlaps the last one's end, as in a model's run of
    /// products over different weights. What a memory-bound kernel sustains.
    Streamed,
}

impl CacheMode {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Cold => "cold",
            CacheMode::Hot => "hot",
            CacheMode::Streamed => "streamed",
        }
    }
}

/// Which cache modes to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeChoice {
    /// Cold only.
    Cold,
    /// Hot only.
    Hot,
    /// Streamed only.
    Streamed,
    /// Cold and hot, cold first.
    Both,
    /// Cold, hot and streamed.
    All,
}

impl ModeChoice {
    /// The modes to run.
    pub fn modes(self) -> &'static [CacheMode] {
        match self {
            ModeChoice::Cold => &[CacheMode::Cold],
            ModeChoice::Hot => &[CacheMode::Hot],
            ModeChoice::Streamed => &[CacheMode::Streamed],
            ModeChoice::All => &[CacheMode::Cold, CacheMode::Hot, CacheMode::Streamed],
            ModeChoice::Both => &[CacheMode::Cold, CacheMode::Hot],
        }
    }
}

/// `dfma bench` options.
#[derive(Parser, Debug)]
pub struct BenchArgs {
    /// Suite: an op name, `compression` (the signal-compression ops, plus NMSE against bits per
    /// coordinate and each case's fraction of copy bandwidth), `model` (a whole model's prefill
    /// and decode tokens/s, tokens/J and memory-roofline fraction), or `all`.
    #[arg(long, default_value = "all")]
    pub suite: String,
    /// Only this backend (repeatable). Default: every available backend except `reference`.
    #[arg(long)]
    pub backend: Vec<String>,
    /// Only this op (repeatable).
    #[arg(long)]
    pub op: Vec<String>,
    /// Write the full report (every sample) as JSON (schema: bench/schema/report-v1.schema.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV row per case.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the report as Markdown.
    #[arg(long)]
    pub md: Option<PathBuf>,
    /// Write the roofline chart as SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Cache mode of timed launches.
    #[arg(long, value_enum, default_value = "cold")]
    pub mode: ModeChoice,
    /// Streamed mode: megabytes (10^6 bytes) the rotating copies of a case's inputs span
    /// together (default: four times the backend's largest cache, at most 2 GiB).
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    pub streamed_span_mb: Option<u64>,
    /// Minimum samples per case.
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    /// Target relative standard deviation of the samples.
    #[arg(long, default_value_t = 0.02)]
    pub max_rel_stdev: f64,
    /// Minimum measured seconds per case.
    #[arg(long, default_value_t = 0.5)]
    pub min_seconds: f64,
    /// Stop sampling a case after this many seconds.
    #[arg(long, default_value_t = 20.0)]
    pub max_seconds: f64,
    /// Benchmark the GEMV ops on this GGUF model's real Q4_0/Q8_0 weight matrices (one case per
    /// distinct type and shape) instead of the ops' suites.
    #[arg(long, value_name = "FILE")]
    pub gguf: Option<PathBuf>,
    /// Activation columns of the `--gguf` GEMV cases (1..8).
    #[arg(long, default_value_t = 1)]
    pub gguf_batch: usize,
    /// `--suite model`: the GGUF model (default: DFMA_MODEL_GGUF, else the embedded model).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// `--suite model`: random weights with the embedded model's shapes and tensor formats
    /// instead of its file (speed depends on shapes and formats only; for machines that cannot
    /// fetch the model).
    #[arg(long, conflicts_with = "model")]
    pub synthetic_model: bool,
    /// `--suite model`: prompt tokens of each prefill.
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    /// `--suite model`: greedy decode steps after each prefill.
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// `--suite model`: timed prefill + decode runs per backend (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// `--suite model`: also run the cpu backend with 8-bit activations in its quantized products
    /// (decode and prefill), beside its exact f32 run.
    #[arg(long)]
    pub int8_activations: bool,
    /// `--suite model`: also run each backend (and activation mode) with this many seeded
    /// random adapters attached, beside its bare run: 1 a personal one, 2 the personal and the
    /// collective one, each on every projection of every block, as an instance decodes.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub adapters: u8,
    /// `--suite model`: the rank of each `--adapters` adapter.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=128))]
    pub adapter_rank: u16,
    /// `--suite model`: give the `--adapters 2` adapters distinct A factors. By default they
    /// share one, as DFMA's personal and collective adapters do, and are applied as one.
    #[arg(long)]
    pub distinct_a: bool,
    /// Also measure the peers on this machine, same run and threads: llama.cpp's `llama-bench`
    /// on the `--suite model` file, and its `test-backend-ops perf -o MUL_MAT` beside the cpu
    /// batch-1 `q4_0_gemv`/`q8_0_gemv` and m = 1 `q4_0_q8_1_gemm`/`q8_0_q8_1_gemm` cases (built
    /// by bench/scripts/build-llama-cpp; "not run: <reason>" without it); candle's quantized
    /// matmul too when built with the `candle-peer` feature.
    #[arg(long)]
    pub peers: bool,
}

/// `dfma tune` options.
#[derive(Parser, Debug)]
pub struct TuneArgs {
    /// Only this backend (repeatable). Default: cpu, wgpu and cuda, where available.
    #[arg(long)]
    pub backend: Vec<String>,
    /// Only this op (repeatable). Default: every op with a kernel on the backend.
    #[arg(long)]
    pub op: Vec<String>,
    /// Cache mode the variants are timed in.
    #[arg(long, value_enum, default_value = "cold")]
    pub mode: CacheMode,
    /// Tune cache file (default: DFMA_TUNE_CACHE, else the dfma cache folder's tune.json).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Minimum samples per variant.
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    /// Target relative standard deviation of the samples.
    #[arg(long, default_value_t = 0.02)]
    pub max_rel_stdev: f64,
    /// Minimum measured seconds per variant.
    #[arg(long, default_value_t = 0.3)]
    pub min_seconds: f64,
    /// Stop sampling a variant after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub max_seconds: f64,
}

/// `dfma compare` options.
#[derive(Parser, Debug)]
pub struct CompareArgs {
    /// Baseline report (JSON from `dfma bench --json`).
    pub baseline: PathBuf,
    /// Candidate report.
    pub candidate: PathBuf,
    /// Smallest change that counts: a percentage (5%) or a fraction (0.05).
    #[arg(long, default_value = "5%")]
    pub threshold: String,
}

/// `dfma op` options.
#[derive(Parser, Debug)]
pub struct OpArgs {
    /// Op name, e.g. q8_0_gemv.
    pub name: String,
    /// Backend to run on.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Kernel variant (default: the first registered for the backend).
    #[arg(long)]
    pub variant: Option<String>,
    /// Input tensor: NAME=FILE.npy (one per op input).
    #[arg(long = "in", value_name = "NAME=FILE")]
    pub inputs: Vec<String>,
    /// Output tensor: NAME=FILE.npy (one per op output).
    #[arg(long = "out", value_name = "NAME=FILE")]
    pub outputs: Vec<String>,
}

/// `dfma quantize` options.
#[derive(Parser, Debug)]
pub struct QuantizeArgs {
    /// Format: q8_0 or q4_0.
    pub format: String,
    /// f32 .npy, shape [rows, cols] with cols a multiple of 32 (or 1-D).
    pub input: PathBuf,
    /// Output: u8 .npy, shape [rows, cols/32*34].
    pub output: PathBuf,
}

/// `dfma finetune` options.
#[derive(Parser, Debug)]
pub struct FinetuneArgs {
    /// UTF-8 text to learn: cut into windows of --seq-len tokens, every --held-out-every-th held out.
    #[arg(long, value_name = "FILE")]
    pub text: PathBuf,
    /// A Llama-family GGUF (default: DFMA_MODEL_GGUF, else the embedded model, fetched once).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Where to write the adapter (safetensors, with the base model's SHA-256).
    #[arg(long, value_name = "FILE", default_value = "adapter.safetensors")]
    pub out: PathBuf,
    /// Blocks that get an adapter: top:N (the last N), all, or a list like 26,27,28,29.
    #[arg(long, default_value = "top:4")]
    pub layers: String,
    /// Projections that get an adapter: a list of q,k,v,o,gate,up,down.
    #[arg(long, default_value = "q,k,v,o,gate,up,down")]
    pub projections: String,
    /// Adapter rank.
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// LoRA alpha (the adapter's scale is alpha / rank).
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f32,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Passes over the training windows.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Tokens per training window.
    #[arg(long, default_value_t = 64)]
    pub seq_len: usize,
    /// Windows per optimizer step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Hold out every N-th window for the held-out loss.
    #[arg(long, default_value_t = 5)]
    pub held_out_every: usize,
    /// Seed of the adapter's initialization and the window order (default: DFMA_SEED, else fresh).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Backend of the matrix products: the forward's, and the backward's transposed products
    /// through the frozen weights (the adapters' own small products run on the CPU).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
}

/// `dfma generate` options.
#[derive(Parser, Debug)]
pub struct GenerateArgs {
    /// The user's message (rendered with the model's chat template unless --raw).
    #[arg(long)]
    pub prompt: String,
    /// A Llama-family GGUF (default: DFMA_MODEL_GGUF, else the embedded model, fetched once).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Feed the prompt as it is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// A system message for the chat template.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Keep the k most likely tokens (0: all).
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Nucleus sampling threshold (1: off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Sampling seed (default: DFMA_SEED, else fresh; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Backend of the matrix products: cpu (the mapped weights), or wgpu, cuda, ptxvm,
    /// reference (weights uploaded once, one registered GEMV per matrix).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// LoRA adapters to apply (safetensors from `dfma finetune`, bound to this model's SHA-256);
    /// repeat for several (a personal and a collective one).
    #[arg(long, value_name = "FILE")]
    pub lora: Vec<PathBuf>,
    /// Run the quantized products (prompt and decode) with 8-bit activations on the cpu backend
    /// (faster; the logits move by the activations' rounding). Other backends refuse it.
    #[arg(long)]
    pub int8_activations: bool,
}

/// `dfma schedule` options.
#[derive(Parser, Debug)]
pub struct ScheduleArgs {
    /// Trace: Electricity Maps hourly CSV, GB forecast CSV, GB Carbon Intensity API JSON (planned
    /// on its forecast, charged on its actual), WattTime v3 JSON or Carbon Aware SDK forecast JSON.
    pub trace: PathBuf,
    /// Jobs CSV: name,energy_kwh,duration_slots,release,deadline,interruptible[,levels] (slot
    /// indices; energy in kWh or report:<case>*<ops>; levels power:slots:kWh|...).
    #[arg(required_unless_present = "sweep", conflicts_with = "sweep")]
    pub jobs: Option<PathBuf>,
    /// Policy: optimal, online, at-once or threshold=G (below G per kWh, in the signal's unit).
    #[arg(long, default_value = "optimal")]
    pub policy: String,
    /// A forecast trace of the same slots to plan on (charged on TRACE).
    #[arg(long, value_name = "FORECAST")]
    pub plan: Option<PathBuf>,
    /// Forecast error fitted on a forecast and its actual (e.g. the GB 48-hour forecast CSV and
    /// the API JSON): policies plan on TRACE seen through seeded error of that size.
    #[arg(long, num_args = 2, value_names = ["FORECAST", "ACTUAL"], conflicts_with = "plan")]
    pub error_model: Option<Vec<PathBuf>>,
    /// Seed of the forecast error (default: DFMA_SEED, else a fresh one; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// What to minimise: carbon (g CO2e) or renewable (non-renewable kWh; Electricity Maps CSV).
    #[arg(long, default_value = "carbon", value_parser = ["carbon", "renewable"])]
    pub signal: String,
    /// The reference experiment instead of jobs: a 1-slot job released every slot with N extra
    /// slots of slack, for each N, under every policy.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub sweep: Option<Vec<usize>>,
    /// A `dfma bench --json` report whose joules per op resolve report:<case>*<ops> energies.
    #[arg(long, value_name = "REPORT.json")]
    pub energy_from: Option<PathBuf>,
    /// Live mode: run CMD (through the shell) for each job in each of its slots, when the slot
    /// comes; DFMA_JOB, DFMA_SLOT, DFMA_PART, DFMA_POWER_FRACTION, ... are set.
    #[arg(long, value_name = "CMD", conflicts_with = "sweep")]
    pub run: Option<String>,
    /// Live mode: trace seconds per wall second (3600: an hour-long slot lasts a second).
    #[arg(long, default_value_t = 1.0, requires = "run")]
    pub time_compression: f64,
}

/// `dfma fuzz` options.
#[derive(Parser, Debug)]
pub struct FuzzArgs {
    /// Frames to generate and mutate (each goes through every decoder).
    #[arg(long, default_value_t = 1_000_000)]
    pub cases: u64,
    /// Seed of the frame generator; the same seed replays the same frames.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `dfma load` options.
#[derive(Parser, Debug)]
pub struct LoadArgs {
    /// Concurrent instances, one thread and one Ed25519 identity each.
    #[arg(long, default_value_t = 1000)]
    pub instances: usize,
    /// Payload of each signal, KiB of f32 values.
    #[arg(long, default_value_t = 64)]
    pub signal_kib: usize,
    /// Signals each instance sends after its join.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// `tcp` (loopback sockets), `in-process` (std channels) or `grpc` (one HTTP/2 stream per
    /// instance on loopback).
    #[arg(long, default_value = "tcp")]
    pub transport: String,
    /// Seed of the identities and payloads; the same seed sends the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `dfma profile` options.
#[derive(Parser, Debug)]
pub struct ProfileArgs {
    /// Op name, e.g. q8_0_gemv.
    pub op: String,
    /// Backend: only ptxvm has counters.
    #[arg(long, default_value = "ptxvm")]
    pub backend: String,
    /// Kernel variant (default: the first PTX kernel of the op).
    #[arg(long)]
    pub variant: Option<String>,
    /// Rows (ops that have them). Default: the op's largest test shape.
    #[arg(long)]
    pub rows: Option<usize>,
    /// Columns.
    #[arg(long)]
    pub cols: Option<usize>,
    /// Batch (activation columns).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Any other size: NAME=N (repeatable), e.g. --dim n=1048576.
    #[arg(long, value_name = "NAME=N")]
    pub dim: Vec<String>,
}
