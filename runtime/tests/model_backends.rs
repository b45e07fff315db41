//! The model on a device backend against the model on the CPU: the same fixed prompt, fed token
//! by token, gives the same logits at every position (relative L2 under 1e-4, same top token)
//! with every matrix product on wgpu's registered GEMV kernels, weights resident on the device.
//!
//! Needs `DFMA_MODEL_GGUF` (ci/test sets it); without it prints "not run: DFMA_MODEL_GGUF unset"
//! and fails under `CI=true`. wgpu must run under `CI=true` (lavapipe is there). The prompt is
//! short because lavapipe runs the model's 211 GEMVs per token in seconds; the PTX interpreter
//! (the cuda backend's exact PTX, which runs everywhere) takes ~20 s a token on two cores, so it
//! checks the first position only.

mod common;

use common::{in_ci, model_path};
use std::time::Instant;

use dfma_kernels::{BackendKind, BackendOptions, open};
use dfma_reference::seed::seed_from_env;
use dfma_runtime::model::Model;
use dfma_runtime::model::adapter::{Adapter, Projection};
use dfma_runtime::model::tiny::TinyLlama;
use dfma_runtime::model::tokenizer::Tokenizer;
use dfma_runtime::model::train::{Example, Gradients, loss_and_gradients};
use dfma_runtime::model::weights::WeightFormat;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The prompt, raw (no chat template): 4 tokens.
const PROMPT: &str = "<|im_start|>user\nHi";
/// Bar for the logits: both sides accumulate in f32 in different orders over 30 blocks.
const MAX_REL_L2: f64 = 1e-4;

/// The logits after each prompt token.
fn logits_per_position(model: &Model<'_>, ids: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(ids.len());
    ids.iter().map(|&id| model.forward(id, &mut cache).unwrap()).collect()
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

/// Asserts `got` matches `want` at every position: finite, same top token, rel L2 < 1e-4.
fn assert_logits_agree(kind: BackendKind, got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len());
    for (p, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.iter().all(|v| v.is_finite()), "{kind} position {p}: non-finite logits");
        let diff = g.iter().zip(w).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>().sqrt();
        let norm = w.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>().sqrt();
        let rel = diff / norm;
        println!("{kind} position {p}: rel L2 {rel:.2e}, top token {}", argmax(g));
        assert_eq!(argmax(g), argmax(w), "{kind} position {p}: top token differs (rel L2 {rel:.2e})");
        assert!(rel < MAX_REL_L2, "{kind} position {p}: logits rel L2 {rel:.3e} ≥ {MAX_REL_L2:e}");
    }
}

/// The wgpu backend; `None` (after printing "not run") where it cannot open, which fails under
/// `CI=true`, where lavapipe is installed.
fn wgpu() -> Option<Box<dyn dfma_kernels::Backend>> {
    match open(BackendKind::Wgpu, &BackendOptions::default()) {
        Ok(b) => Some(b),
        Err(e) if in_ci() => panic!("wgpu is required under CI=true: {e}"),
        Err(e) => {
            println!("not run: wgpu: {e}");
            None
        }
    }
}

#[test]
fn wgpu_logits_match_the_cpu_logits_at_every_position_of_a_fixed_prompt() {
    let Some(path) = model_path() else { return };
    let Some(backend) = wgpu() else { return };
    let cpu = Model::load(&path).unwrap();
    let ids = Tokenizer::from_gguf(cpu.file()).unwrap().encode(PROMPT, false).unwrap();
    assert!(ids.len() >= 2, "{PROMPT:?} gave {ids:?}");
    let t = Instant::now();
    let want = logits_per_position(&cpu, &ids);
    let cpu_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let device = Model::load_on(&path, backend.as_ref()).unwrap();
    let upload_s = t.elapsed().as_secs_f64();
    assert_eq!(device.engine().backend(), BackendKind::Wgpu);
    let t = Instant::now();
    let got = logits_per_position(&device, &ids);
    let wgpu_s = t.elapsed().as_secs_f64();
    println!(
        "{} tokens: cpu {cpu_s:.2} s; {} — load {upload_s:.2} s, forward {wgpu_s:.2} s",
        ids.len(),
        device.engine().describe()
    );

    assert_logits_agree(BackendKind::Wgpu, &got, &want);
    // The whole prompt at once (each block's stacked products a token at a time) ends at the
    // same logits.
    let mut cache = device.new_cache(ids.len());
    let prefilled = device.prefill(&ids, &mut cache).unwrap();
    assert_logits_agree(BackendKind::Wgpu, &[prefilled], &want[ids.len() - 1..]);
    assert!(device.engine().describe().contains("(60 of them stacks"), "{}", device.engine().describe());
    a_stacked_member_alone_gives_its_rows_of_the_group(&cpu, &device);
}

/// On a device engine each block's q|k|v is one stacked GEMV: k multiplied alone gives exactly
/// its rows of the group's product, and both agree with the cpu engine's k.
fn a_stacked_member_alone_gives_its_rows_of_the_group(cpu: &Model<'_>, device: &Model<'_>) {
    let layer = &device.weights.layers[0];
    let x: Vec<f32> = (0..layer.q.cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    let (mut q, mut k, mut v) =
        (vec![f32::NAN; layer.q.rows], vec![f32::NAN; layer.k.rows], vec![f32::NAN; layer.v.rows]);
    let engine = device.engine();
    engine.matmul_group(device.file(), &[&layer.q, &layer.k, &layer.v], &x, &mut [&mut q, &mut k, &mut v], 1).unwrap();
    let mut alone = vec![f32::NAN; layer.k.rows];
    engine.matvec(device.file(), &layer.k, &x, &mut alone).unwrap();
    assert!(k.iter().zip(&alone).all(|(a, b)| a.to_bits() == b.to_bits()), "k alone differs from k in the stack");
    for (name, got, m) in
        [("q", &q, &cpu.weights.layers[0].q), ("k", &k, &cpu.weights.layers[0].k), ("v", &v, &cpu.weights.layers[0].v)]
    {
        let mut want = vec![0.0f32; m.rows];
        cpu.engine().matvec(cpu.file(), m, &x, &mut want).unwrap();
        let diff = got.iter().zip(&want).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
        let norm = want.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>().sqrt();
        assert!(got.iter().all(|v| v.is_finite()) && diff / norm < 1e-5, "{name}: rel L2 {:.2e}", diff / norm);
    }
}

#[test]
fn ptxvm_logits_of_the_first_token_match_the_cpu_logits() {
    let Some(path) = model_path() else { return };
    let backend = open(BackendKind::Ptxvm, &BackendOptions::default()).unwrap();
    let cpu = Model::load(&path).unwrap();
    let ids = Tokenizer::from_gguf(cpu.file()).unwrap().encode(PROMPT, false).unwrap();
    let want = logits_per_position(&cpu, &ids[..1]);
    let device = Model::load_on(&path, backend.as_ref()).unwrap();
    let t = Instant::now();
    let got = logits_per_position(&device, &ids[..1]);
    println!("1 token on {} in {:.1} s", device.engine().describe(), t.elapsed().as_secs_f64());
    assert_logits_agree(BackendKind::Ptxvm, &got, &want);
}

#[test]
fn the_cpu_backend_runs_the_model_on_the_mapped_weights() {
    let Some(path) = model_path() else { return };
    let backend = open(BackendKind::Cpu, &BackendOptions::default()).unwrap();
    let a = Model::load_on(&path, backend.as_ref()).unwrap();
    assert_eq!(a.engine().backend(), BackendKind::Cpu);
    assert!(a.engine().describe().contains("memory-mapped"), "{}", a.engine().describe());
}

/// A tiny random Q4_1 model written to `path` (seed printed, `DFMA_SEED` reproduces), loaded on
/// the cpu and on `backend`, and a generator drawn from the same seed.
fn tiny_on_cpu_and<'b>(
    backend: &'b dyn dfma_kernels::Backend,
    path: &std::path::Path,
) -> (Model<'static>, Model<'b>, StdRng) {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    TinyLlama::small(2, 64, 96, 4, 2, 64, WeightFormat::Q4_1).write(path, seed).unwrap();
    (Model::load(path).unwrap(), Model::load_on(path, backend).unwrap(), StdRng::seed_from_u64(seed))
}

/// An adapter of `rank` on every projection of both blocks, A seeded and B random (nonzero).
fn random_adapter(model: &Model<'_>, rank: usize, rng: &mut StdRng) -> Adapter {
    let mut ad = Adapter::init(&model.config, "tiny", &[0, 1], &Projection::ALL, rank, 8.0, rng.random()).unwrap();
    ad.factors.values_mut().for_each(|f| f.b.iter_mut().for_each(|b| *b = rng.random_range(-0.3..0.3)));
    ad
}

/// Two adapters on every projection of a tiny random Q4_1 model: the cpu engine runs them
/// inside its fused kernels, a device engine (wgpu) after its stacked products, and both give
/// the same logits token by token and in the prefill.
#[test]
fn adapters_on_a_device_engine_give_the_cpu_logits() {
    let Some(backend) = wgpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (mut cpu, mut device, mut rng) = tiny_on_cpu_and(backend.as_ref(), &dir.path().join("tiny.gguf"));
    for rank in [4, 8] {
        let ad = random_adapter(&cpu, rank, &mut rng);
        cpu.attach(ad.clone()).unwrap();
        device.attach(ad).unwrap();
    }
    let tokens = [1u32, 7, 3, 12];
    let want = logits_per_position(&cpu, &tokens);
    assert_logits_agree(BackendKind::Wgpu, &logits_per_position(&device, &tokens), &want);
    let mut cache = device.new_cache(tokens.len());
    let prefilled = device.prefill(&tokens, &mut cache).unwrap();
    assert_logits_agree(BackendKind::Wgpu, &[prefilled], &want[tokens.len() - 1..]);
}

/// Every factor's dA and dB, in key order.
fn flat(g: &Gradients) -> Vec<f32> {
    g.factors.values().flat_map(|f| f.da.iter().chain(&f.db).copied()).collect()
}

/// The training backward on a device engine takes dX through every frozen matrix with the
/// registered transposed products (`*_gemv_t`); the trainable adapter's gradients, past an
/// attached one, agree with the cpu engine's. Two sequence lengths: the second is longer than
/// the first's padded preparation, so the products are prepared again.
#[test]
fn adapter_gradients_on_a_device_engine_match_the_cpu_ones() {
    let Some(backend) = wgpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (mut cpu, mut device, mut rng) = tiny_on_cpu_and(backend.as_ref(), &dir.path().join("tiny.gguf"));
    let attached = random_adapter(&cpu, 4, &mut rng);
    let trainable = random_adapter(&cpu, 4, &mut rng);
    cpu.attach(attached.clone()).unwrap();
    device.attach(attached).unwrap();
    for len in [6, 11] {
        let tokens: Vec<u32> = (0..len).map(|_| rng.random_range(0..64)).collect();
        let ex = Example::new(tokens, 1).unwrap();
        let (loss_cpu, g_cpu) = loss_and_gradients(&cpu, &trainable, &ex).unwrap();
        let (loss_dev, g_dev) = loss_and_gradients(&device, &trainable, &ex).unwrap();
        let (a, b) = (loss_dev.mean(), loss_cpu.mean());
        assert!((a - b).abs() <= 1e-5 * b.abs(), "{len} tokens: loss {a} on wgpu, {b} on cpu");
        let (got, want) = (flat(&g_dev), flat(&g_cpu));
        assert!(got.iter().all(|v| v.is_finite()), "{len} tokens: non-finite gradients on wgpu");
        let diff = got.iter().zip(&want).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>().sqrt();
        let norm = want.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
        println!("{len} tokens: gradients rel L2 {:.2e} (norm {norm:.3e})", diff / norm);
        assert!(norm > 0.0 && diff / norm < 1e-4, "{len} tokens: gradients rel L2 {:.3e}", diff / norm);
    }
}
