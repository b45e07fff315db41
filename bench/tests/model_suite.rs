//! `dfma bench --suite model` end to end on a tiny random model the test writes: prefill and
//! decode figures per backend in a report that matches the schema, the decode's weight bytes
//! counted exactly, and bad input refused before anything is timed.

mod common;

use std::path::Path;

use common::{dfma, in_ci};
use dfma_runtime::model::tiny::TinyLlama;
use dfma_runtime::model::weights::WeightFormat;

/// 2 blocks, width 64, SwiGLU 96, 4 query / 2 key-value heads, 64 tokens, all Q8_0.
fn tiny(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tiny.gguf");
    TinyLlama::small(2, 64, 96, 4, 2, 64, WeightFormat::Q8_0).write(&path, 7).unwrap();
    path
}

#[test]
fn the_model_suite_reports_prefill_and_decode_per_backend() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path());
    let json = dir.path().join("r.json");
    // --peers with no llama.cpp build: the peer is reported "not run", the suite still passes.
    let no_peer = tempfile::tempdir().unwrap();
    let (stdout, report) = common::bench_report(
        &[("DFMA_LLAMA_CPP_DIR", no_peer.path().to_str().unwrap())],
        &[
            "bench",
            "--peers",
            "--suite",
            "model",
            "--model",
            model.to_str().unwrap(),
            "--backend",
            "cpu",
            "--backend",
            "wgpu",
            "--prompt-tokens",
            "9",
            "--decode-tokens",
            "5",
            "--repeats",
            "2",
            "--int8-activations",
            "--adapters",
            "2",
            "--adapter-rank",
            "4",
            "--json",
            json.to_str().unwrap(),
        ],
        &json,
    );
    assert!(
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["op"].as_str().is_some_and(|op| op.starts_with("stream_") || op == "fma_peak")),
        "only the calibration cases run beside the model"
    );
    let m = &report["model"];
    // Products read per decoded token: per block q 64×64, k and v 32×64, o 64×64, gate and up
    // 96×64, down 64×96; then the tied head 64×64; Q8_0 stores 32 weights in 34 bytes.
    let weights = 2 * (64 * 64 + 2 * 32 * 64 + 64 * 64 + 2 * 96 * 64 + 64 * 96) + 64 * 64;
    assert_eq!(m["decode_weight_bytes_per_token"], weights / 32 * 34);
    let runs = m["runs"].as_array().unwrap();
    let wgpu_ran =
        report["backends"].as_array().unwrap().iter().any(|b| b["backend"] == "wgpu" && b["available"] == true);
    if !wgpu_ran {
        assert!(!in_ci(), "wgpu (lavapipe) is required under CI=true");
        println!("model suite on wgpu not run: wgpu is not available here");
    }
    assert_eq!(
        runs.len(),
        2 * (2 + usize::from(wgpu_ran)),
        "cpu f32 and int8, then one run per other backend, each bare and adapted: {runs:?}"
    );
    // Two rank-4 adapters sharing A on the seven projections of both blocks, applied as one:
    // per block the A factors hold 4 × (64·6 + 96) floats and the B factors
    // 4 × (64 + 32 + 32 + 64 + 96 + 96 + 64).
    let adapter_bytes = 2 * 4 * (480 + 448) * 4;
    let kinds: Vec<(String, String)> = runs
        .iter()
        .map(|r| (r["backend"].as_str().unwrap().to_string(), r["activations"].as_str().unwrap().to_string()))
        .collect();
    assert!(
        kinds.contains(&("cpu".into(), "f32".into())) && kinds.contains(&("cpu".into(), "int8".into())),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&("wgpu".into(), "int8".into())), "8-bit activations are a cpu option: {kinds:?}");
    for r in runs {
        assert!(r["error"].is_null(), "a run failed: {r}");
        assert_eq!(r["prefill_samples_s"].as_array().unwrap().len(), 2);
        assert_eq!(r["decode_samples_s"].as_array().unwrap().len(), 2);
        for key in ["prefill_tokens_per_s", "decode_tokens_per_s", "decode_weight_bytes_per_s"] {
            assert!(r[key].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{key} of {r}");
        }
        let frac = r["decode_fraction_of_read"].as_f64().unwrap();
        assert!(frac > 0.0 && frac.is_finite(), "roofline fraction {frac}");
        let adapted = r["adapters"].as_u64().unwrap();
        assert!(adapted == 0 || adapted == 2, "{r}");
        assert_eq!(r["adapter_rank"], if adapted == 2 { 4 } else { 0 });
        assert_eq!(r["adapters_share_a"], adapted == 2);
        let extra = if adapted == 2 { adapter_bytes } else { 0 };
        assert_eq!(r["adapter_bytes_per_token"], extra);
        let rate = r["decode_weight_bytes_per_s"].as_f64().unwrap() / r["decode_tokens_per_s"].as_f64().unwrap();
        let bytes = (weights / 32 * 34 + extra) as f64;
        assert!((rate - bytes).abs() < 1e-6 * rate, "bytes/s = (weights + adapters)/token × tokens/s");
    }
    assert!(stdout.contains("model cpu") && stdout.contains("decode"), "no model line: {stdout}");
    assert!(
        stdout.contains("2 rank-4 adapters sharing A on every projection: decode"),
        "no adapter cost line: {stdout}"
    );
    let peer = &m["peers"][0];
    assert!(peer["not_run"].as_str().is_some_and(|w| w.starts_with("not run:")), "peer: {peer}");
    assert!(peer["decode_ratio"].is_null(), "no ratio without the peer: {peer}");
}

#[test]
fn the_model_suite_refuses_bad_input_before_timing() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path());
    let bytes = std::fs::read(&model).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--model".into(), truncated.display().to_string()], "truncated.gguf"),
        (vec!["--model".into(), model.display().to_string(), "--prompt-tokens".into(), "60".into()], "context of 64"),
        (vec!["--model".into(), model.display().to_string(), "--repeats".into(), "0".into()], "--repeats"),
        (vec!["--model".into(), model.display().to_string(), "--adapters".into(), "3".into()], "--adapters"),
    ];
    for (extra, says) in cases {
        let mut args = vec!["bench", "--suite", "model", "--backend", "cpu"];
        args.extend(extra.iter().map(String::as_str));
        let out = dfma(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(says), "{args:?} should name {says}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("roofline"), "{args:?} timed something first");
    }
    let out = dfma(&["bench", "--synthetic-model", "--op", "q8_0_gemv"]);
    assert_eq!(out.status.code(), Some(2), "--synthetic-model outside --suite model");
}
