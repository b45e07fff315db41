//! The model runtime against an independent forward pass: numpy in float64 over the `gguf`
//! package's reader and dequantizers (`ci/py/llama_forward.py`), on the embedded model's real
//! weights and a fixed prompt. Needs `DFMA_MODEL_GGUF` (ci/test sets it) and Python with numpy and
//! gguf; without them prints "not run: <reason>", and fails under `CI=true`.

mod common;

use common::{in_ci, model_path};
use std::path::Path;
use std::process::Command;

use dfma_runtime::model::Model;
use dfma_runtime::model::adapter::{Adapter, Projection};
use dfma_runtime::model::tokenizer::Tokenizer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'<f4'"), "{header}");
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape = shape_txt.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data = bytes[10 + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape, data)
}

/// The numpy forward pass's logits for `ids` (with `adapter` applied when given), or `None`
/// with "not run" printed when Python lacks numpy or gguf outside CI.
fn numpy_logits(path: &Path, ids: &[u32], adapter: Option<&Path>) -> Option<(Vec<usize>, Vec<f32>)> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("logits.npy");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py/llama_forward.py");
    let py = std::env::var("DFMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&py);
    cmd.arg(&script).arg(path).arg(&out);
    if let Some(a) = adapter {
        cmd.arg("--adapter").arg(a);
    }
    match cmd.args(ids.iter().map(u32::to_string)).output() {
        Ok(o) if o.status.success() => Some(read_npy_f32(&out)),
        Ok(o) if !in_ci() && String::from_utf8_lossy(&o.stderr).contains("ModuleNotFoundError") => {
            println!("not run: {py} lacks numpy or gguf");
            None
        }
        Ok(o) => panic!("numpy forward failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{py}: {e}"),
    }
}

fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    let diff: f64 = got.iter().zip(want).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>().sqrt();
    diff / want.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>().sqrt()
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

fn run(model: &Model<'_>, ids: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(64);
    ids.iter().map(|&id| model.forward(id, &mut cache).unwrap()).collect()
}

#[test]
fn an_attached_adapter_matches_the_numpy_forward_pass_with_the_same_adapter() {
    let Some(path) = model_path() else { return };
    let mut model = Model::load(&path).unwrap();
    let tok = Tokenizer::from_gguf(model.file()).unwrap();
    let ids = tok.encode("The quick brown fox jumps over the lazy dog.", false).unwrap();
    let base = run(&model, &ids);
    // An adapter whose B is still zero changes nothing, bit for bit.
    let projections = [Projection::Q, Projection::V, Projection::Down, Projection::Up];
    let zero = Adapter::init(&model.config, "test-base", &[0, 7, 29], &projections, 8, 16.0, 5).unwrap();
    model.attach(zero.clone()).unwrap();
    assert_eq!(run(&model, &ids), base, "a B = 0 adapter changed the logits");
    // A trained-looking adapter (B random) changes them, exactly as numpy computes it.
    model.detach_all();
    let mut trained = zero;
    let mut rng = StdRng::seed_from_u64(11);
    for f in trained.factors.values_mut() {
        f.b.iter_mut().for_each(|v| *v = rng.random_range(-0.05f32..0.05));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("adapter.safetensors");
    trained.save(&file).unwrap();
    model.attach(trained).unwrap();
    let ours = run(&model, &ids);
    let moved = rel_l2(&ours[ids.len() - 1], &base[ids.len() - 1]);
    assert!(moved > 1e-2, "the adapter barely moved the logits ({moved:.2e}): the check below would prove nothing");
    let Some((shape, want)) = numpy_logits(&path, &ids, Some(&file)) else { return };
    assert_eq!(shape, vec![ids.len(), model.config.vocab]);
    for (p, got) in ours.iter().enumerate() {
        let w = &want[p * model.config.vocab..(p + 1) * model.config.vocab];
        let rel = rel_l2(got, w);
        assert!(rel < 1e-3, "position {p}: rel L2 {rel:.3e} against numpy with the adapter");
        assert_eq!(argmax(got), argmax(w), "position {p}: top token differs");
    }
    println!("adapter moved the logits by {moved:.3e} (rel L2); numpy agrees");
}

#[test]
fn logits_of_a_fixed_prompt_match_an_independent_numpy_forward_pass() {
    let Some(path) = model_path() else { return };
    let model = Model::load(&path).unwrap();
    let tok = Tokenizer::from_gguf(model.file()).unwrap();
    let ids = tok
        .encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", false)
        .unwrap();
    let ours = run(&model, &ids);
    let Some((shape, want)) = numpy_logits(&path, &ids, None) else { return };
    assert_eq!(shape, vec![ids.len(), model.config.vocab]);
    let mut worst_rel = 0.0f64;
    for (p, got) in ours.iter().enumerate() {
        let w = &want[p * model.config.vocab..(p + 1) * model.config.vocab];
        assert!(got.iter().all(|v| v.is_finite()), "position {p}: non-finite logits");
        let rel = rel_l2(got, w);
        worst_rel = worst_rel.max(rel);
        assert_eq!(argmax(got), argmax(w), "position {p}: top token differs (rel L2 {rel:.2e})");
        // f32 through 30 blocks against float64: measured ~4e-6; the bar leaves a margin.
        assert!(rel < 1e-3, "position {p}: logits rel L2 {rel:.3e} > 1e-3");
    }
    println!("{} positions, worst logits relative L2 {worst_rel:.3e} against numpy float64", ids.len());
}
