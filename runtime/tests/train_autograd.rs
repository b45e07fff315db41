//! Adapter gradients on the embedded model (SmolLM2-135M-Instruct, Q4_1) against an independent
//! autograd: JAX's CPU build (`ci/py/adapter_grads_jax.py`, float64, whole-sequence forward,
//! `jax.value_and_grad`) over the `gguf` package's dequantized weights. An adapter with random A
//! and random nonzero B on every projection of blocks 0 and 1 (the first layers, so the
//! gradient comes back through all 30 blocks) is saved, and the summed loss of a chat-formatted
//! prompt/answer example and every dA, dB must agree.
//!
//! Needs `DFMA_MODEL_GGUF` (ci/test sets it) and Python (`DFMA_PYTHON`, default python3) with
//! jax, numpy and gguf; without them prints "not run: <reason>", and fails under `CI=true`.
//! Seeded: the seed is printed and `DFMA_SEED` reproduces a run.

mod common;

use common::{in_ci, model_path};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::model::Model;
use dfma_runtime::model::adapter::{Adapter, Projection};
use dfma_runtime::model::tokenizer::Tokenizer;
use dfma_runtime::model::train::{Example, loss_and_gradients};
use rand::Rng;

/// Loss: f32 forward with f64 sums against float64 — measured 4e-7..1.3e-6 relative (seeds 1,
/// 2 and a random one, 24 tokens, 5 targets).
const LOSS_REL_TOL: f64 = 1e-4;
/// Per factor relative L2 of dA and dB: f32 forward and backward through 30 blocks against
/// float64 — measured worst 1.4e-5..2.0e-5 over the same runs; the bar leaves a margin of 25×
/// and still catches a scale (alpha/rank) off by 0.1 % (measured 9.5e-4 on the first factor).
const GRAD_REL_L2_TOL: f64 = 5e-4;

/// A little-endian float64 `.npy` file: its shape and data.
fn read_npy_f64(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: not an .npy file", path.display());
    assert_eq!(bytes[6], 1, "{}: .npy version {}", path.display(), bytes[6]);
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'<f8'") && header.contains("'fortran_order': False"), "{header}");
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> =
        shape_txt.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data: Vec<f64> =
        bytes[10 + header_len..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(data.len(), shape.iter().product::<usize>(), "{}: {header}", path.display());
    (shape, data)
}

/// JAX's summed loss and gradients (by tensor name) for `ex` under the adapter saved at
/// `adapter`, or `None` with "not run" printed when Python lacks jax, numpy or gguf outside CI.
fn jax_gradients(model: &Path, adapter: &Path, ex: &Example, out: &Path) -> Option<(f64, BTreeMap<String, Vec<f64>>)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py/adapter_grads_jax.py");
    let py = std::env::var("DFMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&py);
    cmd.arg(&script).arg(model).arg(adapter).arg(out).arg("--loss-from").arg(ex.loss_from.to_string());
    match cmd.args(ex.tokens.iter().map(u32::to_string)).output() {
        Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
        Ok(o) if !in_ci() && String::from_utf8_lossy(&o.stderr).contains("ModuleNotFoundError") => {
            let err = String::from_utf8_lossy(&o.stderr);
            println!("not run: {py} lacks a module ({})", err.lines().last().unwrap_or_default());
            return None;
        }
        Ok(o) => panic!("the JAX autograd failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{py}: {e}"),
    }
    let (shape, loss) = read_npy_f64(&out.join("loss.npy"));
    assert!(shape.is_empty() && loss.len() == 1, "loss.npy has shape {shape:?}");
    let mut grads = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(tensor) = name.strip_suffix(".npy").filter(|n| *n != "loss") {
            grads.insert(tensor.to_string(), read_npy_f64(&path).1);
        }
    }
    Some((loss[0], grads))
}

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

/// ‖got − want‖ / ‖want‖, and the index of the largest absolute difference.
fn rel_l2(got: &[f32], want: &[f64]) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    let diff = |i: usize| f64::from(got[i]) - want[i];
    let worst = (0..got.len()).max_by(|&a, &b| diff(a).abs().total_cmp(&diff(b).abs())).unwrap();
    (norm((0..got.len()).map(diff)) / norm(want.iter().copied()), worst)
}

#[test]
fn adapter_gradients_on_the_real_model_match_an_independent_jax_autograd() {
    let Some(path) = model_path() else { return };
    let s = seed_from_env().unwrap();
    println!("seed {s} (DFMA_SEED={s} reproduces)");
    let mut rng = rng_for(s, 1);
    let model = Model::load(&path).unwrap();
    let tok = Tokenizer::from_gguf(model.file()).unwrap();
    let prompt = "<|im_start|>user\nWhat colour is the sky on a clear day?<|im_end|>\n<|im_start|>assistant\n";
    let answer = "It is blue.<|im_end|>";
    let prompt_ids = tok.encode(prompt, false).unwrap();
    let tokens = tok.encode(&format!("{prompt}{answer}"), false).unwrap();
    assert_eq!(tokens[..prompt_ids.len()], prompt_ids[..], "the prompt tokenizes differently inside the example");
    let ex = Example::new(tokens, prompt_ids.len()).unwrap();
    // Rank 4, alpha 8: a scale of 2, so a missing or doubled scale shows.
    let mut ad = Adapter::init(&model.config, "test-base", &[0, 1], &Projection::ALL, 4, 8.0, rng.random()).unwrap();
    for f in ad.factors.values_mut() {
        f.b.iter_mut().for_each(|b| *b = rng.random_range(-0.05..0.05));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("adapter.safetensors");
    ad.save(&file).unwrap();

    let started = Instant::now();
    let (ours, grads) = loss_and_gradients(&model, &ad, &ex).unwrap();
    println!(
        "dfma: {} tokens, {} targets, summed loss {:.9}, gradients in {:.1} s",
        ex.tokens.len(),
        ours.tokens,
        ours.nll,
        started.elapsed().as_secs_f64()
    );
    let out = dir.path().join("jax");
    let Some((want_loss, want)) = jax_gradients(&path, &file, &ex, &out) else { return };

    let loss_rel = (ours.nll - want_loss).abs() / want_loss.abs();
    println!("summed loss: dfma {:.9}, jax {want_loss:.9}, relative difference {loss_rel:.2e}", ours.nll);
    assert!(loss_rel < LOSS_REL_TOL, "summed loss {} vs jax {want_loss}: relative {loss_rel:.2e}", ours.nll);

    assert_eq!(want.len(), 2 * ad.factors.len(), "jax wrote gradients for {:?}", want.keys());
    let mut worst = 0.0f64;
    for (&(l, p), g) in &grads.factors {
        for (suffix, got) in [("lora_a", &g.da), ("lora_b", &g.db)] {
            let name = format!("blk.{l}.{}.{suffix}", p.gguf_name());
            let w = want.get(&name).unwrap_or_else(|| panic!("jax wrote no gradient for {name}"));
            let w_norm = norm(w.iter().copied());
            // A zero gradient would make the comparison meaningless.
            assert!(w_norm > 1e-3, "{name}: jax gradient norm {w_norm:.2e} (nothing flows)");
            let (rel, i) = rel_l2(got, w);
            println!("{name:<22} |g| {w_norm:.4e}  rel L2 {rel:.2e}");
            assert!(
                rel < GRAD_REL_L2_TOL,
                "{name}: gradient rel L2 {rel:.3e} > {GRAD_REL_L2_TOL:e}; largest difference at index {i}: dfma {} jax {} (diff {:.3e})",
                got[i],
                w[i],
                f64::from(got[i]) - w[i]
            );
            worst = worst.max(rel);
        }
    }
    println!("{} factors: worst gradient relative L2 {worst:.2e} against jax float64", grads.factors.len());
}
