//! The model runtime against an independent forward pass: numpy in float64 over the `gguf`
//! package's reader and dequantizers (`ci/py/llama_forward.py`), on the embedded model's real
//! weights and a fixed prompt. Needs `DFMA_MODEL_GGUF` (ci/test sets it) and Python with numpy and
//! gguf; without them prints "not run: <reason>", and fails under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use dfma_runtime::model::Model;
use dfma_runtime::model::tokenizer::Tokenizer;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn model_path() -> Option<PathBuf> {
    match std::env::var("DFMA_MODEL_GGUF") {
        Ok(p) => Some(PathBuf::from(p)),
        Err(_) if in_ci() => panic!("DFMA_MODEL_GGUF is required under CI=true"),
        Err(_) => {
            println!("not run: DFMA_MODEL_GGUF unset");
            None
        }
    }
}

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

#[test]
fn logits_of_a_fixed_prompt_match_an_independent_numpy_forward_pass() {
    let Some(path) = model_path() else { return };
    let model = Model::load(&path).unwrap();
    let tok = Tokenizer::from_gguf(model.file()).unwrap();
    let ids = tok
        .encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", false)
        .unwrap();
    let mut cache = model.new_cache(64);
    let mut ours = Vec::new();
    for &id in &ids {
        ours.push(model.forward(id, &mut cache).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("logits.npy");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py/llama_forward.py");
    let py = std::env::var("DFMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&py).arg(&script).arg(&path).arg(&out).args(ids.iter().map(u32::to_string)).output();
    let status = match status {
        Ok(o) if o.status.success() => o,
        Ok(o) if !in_ci() && String::from_utf8_lossy(&o.stderr).contains("ModuleNotFoundError") => {
            println!("not run: {py} lacks numpy or gguf");
            return;
        }
        Ok(o) => panic!("numpy forward failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{py}: {e}"),
    };
    drop(status);
    let (shape, want) = read_npy_f32(&out);
    assert_eq!(shape, vec![ids.len(), model.config.vocab]);
    let mut worst_rel = 0.0f64;
    for (p, got) in ours.iter().enumerate() {
        let w = &want[p * model.config.vocab..(p + 1) * model.config.vocab];
        let diff: f64 = got.iter().zip(w).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = w.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>().sqrt();
        let rel = diff / norm;
        worst_rel = worst_rel.max(rel);
        assert!(got.iter().all(|v| v.is_finite()), "position {p}: non-finite logits");
        let argmax = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(argmax(got), argmax(w), "position {p}: top token differs (rel L2 {rel:.2e})");
        // f32 through 30 blocks against float64: measured ~1e-5; the bar leaves a margin.
        assert!(rel < 1e-3, "position {p}: logits rel L2 {rel:.3e} > 1e-3");
    }
    println!("{} positions, worst logits relative L2 {worst_rel:.3e} against numpy float64", ids.len());
}
