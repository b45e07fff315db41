//! GGUF files written by the `gguf` PyPI package (llama.cpp's writer): dfma's reader sees the
//! same tensors, `dfma bench --gguf` benchmarks the real Q8_0/Q4_0 matrices, and broken files
//! (bad magic, wrong version, truncated, tensor out of range, unknown type) are bad input: one
//! line naming the file and the problem, exit code 2, no report written.

mod common;

use std::path::Path;
use std::process::Command;

use common::{dfma, py_script, with_python};
use dfma_reference::gguf::{GgmlType, GgufFile};
use dfma_reference::seed::seed_from_env;

/// Writes the test model; returns the script's list of (name, type, rows, cols).
fn make_gguf(py: &str, path: &Path, seed: u64) -> Vec<(String, String, u64, u64)> {
    let out = Command::new(py).arg(py_script("make_gguf.py")).arg(path).arg(seed.to_string()).output().unwrap();
    assert!(out.status.success(), "make_gguf.py failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn the_reader_sees_what_the_gguf_package_wrote() {
    let seed = seed_from_env().unwrap();
    with_python("gguf reader vs the gguf package", |py| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        let written = make_gguf(py, &path, seed);
        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.gguf.version, 3);
        assert_eq!(f.gguf.get("general.architecture").and_then(|v| v.as_str()), Some("llama"));
        assert_eq!(f.gguf.get("llama.block_count").and_then(|v| v.as_u64()), Some(2));
        assert_eq!(f.gguf.tensors.len(), written.len());
        for (name, ty, rows, cols) in &written {
            let t = f.gguf.tensor(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(t.ggml_type.name(), ty, "{name}");
            let shape = if *rows == 1 { vec![*cols] } else { vec![*cols, *rows] };
            assert_eq!(t.dims, shape, "{name}");
            assert_eq!(f.data(t).len() as u64, t.n_bytes);
        }
        // The F32 norm's values are the ones written: all in [0.5, 1.5].
        let norm = f.gguf.tensor("blk.0.ffn_norm.weight").unwrap();
        assert_eq!(norm.ggml_type, GgmlType::F32);
        assert!(f.data(norm).chunks(4).all(|b| (0.5..1.5).contains(&f32::from_le_bytes(b.try_into().unwrap()))));
    });
}

#[test]
fn bench_gguf_runs_the_real_weight_matrices_once_per_shape() {
    let seed = seed_from_env().unwrap();
    with_python("dfma bench --gguf", |py| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        make_gguf(py, &path, seed);
        let json = dir.path().join("r.json");
        let out = dfma(&[
            "bench",
            "--gguf",
            path.to_str().unwrap(),
            "--backend",
            "cpu",
            "--min-samples",
            "2",
            "--min-seconds",
            "0.01",
            "--max-seconds",
            "0.2",
            "--json",
            json.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("skipped 2-D tensors of types F16"), "{stdout}");
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let gemv: Vec<&serde_json::Value> =
            report["cases"].as_array().unwrap().iter().filter(|c| c["weights_source"].is_string()).collect();
        let sources: Vec<&str> = gemv.iter().map(|c| c["weights_source"].as_str().unwrap()).collect();
        assert!(gemv.iter().all(|c| c["correct"] == true), "{sources:?}");
        assert!(sources.iter().any(|s| s.ends_with("token_embd.weight")), "{sources:?}");
        assert!(
            sources.iter().any(|s| s.contains("blk.0.attn_q.weight (+1 more of this type and shape)")),
            "{sources:?}"
        );
        let has_q4 = dfma_kernels::registry::find("q4_0_gemv", dfma_kernels::BackendKind::Cpu).next().is_some();
        assert_eq!(sources.iter().any(|s| s.contains("ffn_up")), has_q4, "{sources:?}");
        assert_eq!(gemv.len(), 2 + usize::from(has_q4), "{sources:?}");
    });
}

/// Runs `dfma bench --gguf` on `bytes` and expects a one-line bad-input error containing `want`.
fn rejects(dir: &Path, label: &str, bytes: &[u8], want: &str) {
    let path = dir.join(format!("{label}.gguf"));
    std::fs::write(&path, bytes).unwrap();
    let json = dir.join(format!("{label}.json"));
    let out = dfma(&["bench", "--gguf", path.to_str().unwrap(), "--backend", "cpu", "--json", json.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{label}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{label}: not one line: {stderr}");
    assert!(stderr.contains(path.to_str().unwrap()) && stderr.contains(want), "{label}: {stderr}");
    assert!(!json.exists(), "{label}: a report was written");
}

#[test]
fn broken_gguf_files_are_bad_input() {
    let seed = seed_from_env().unwrap();
    with_python("broken GGUF files", |py| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        make_gguf(py, &path, seed);
        let good = std::fs::read(&path).unwrap();
        let header = GgufFile::open(&path).unwrap().gguf;

        let mut bad = good.clone();
        bad[..4].copy_from_slice(b"GGML");
        rejects(dir.path(), "magic", &bad, "bad magic");

        let mut bad = good.clone();
        bad[4..8].copy_from_slice(&1u32.to_le_bytes());
        rejects(dir.path(), "version", &bad, "GGUF version 1 is not supported");

        rejects(dir.path(), "truncated_header", &good[..100], "truncated");
        let last = header.tensors.iter().max_by_key(|t| t.offset).unwrap();
        let cut = (header.data_offset + last.offset + 1) as usize;
        rejects(dir.path(), "truncated_data", &good[..cut], "lies outside the data section");

        // The type field of token_embd's description: after its name, dimension count and sizes.
        let name = b"token_embd.weight";
        let at = good.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 2 * 8;
        let mut bad = good.clone();
        bad[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        rejects(dir.path(), "type", &bad, "unsupported ggml type 99");

        let mut bad = good.clone();
        bad[at + 4..at + 12].copy_from_slice(&(1u64 << 40).to_le_bytes());
        rejects(dir.path(), "offset", &bad, "lies outside the data section");
    });
    let dir = tempfile::tempdir().unwrap();
    rejects(dir.path(), "empty", &[], "bad magic");
    let missing = dir.path().join("missing.gguf");
    let out = dfma(&["bench", "--gguf", missing.to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(out.status.code(), Some(2));
}
