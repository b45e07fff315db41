//! `dfma bench --peers` on the GEMV cases: each peer is either measured beside dfma's cases or
//! reported "not run: <reason>" (llama.cpp without its build, candle without the `candle-peer`
//! feature), and the report still matches the schema.

mod common;

use dfma_runtime::model::tiny::TinyLlama;
use dfma_runtime::model::weights::WeightFormat;

#[test]
fn gemv_peers_are_measured_or_reported_not_run() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny Q8_0 model: `--gguf` turns its matrices into batch-1 q8_0_gemv cases.
    let model = dir.path().join("tiny.gguf");
    TinyLlama::small(1, 64, 96, 4, 2, 64, WeightFormat::Q8_0).write(&model, 3).unwrap();
    let json = dir.path().join("r.json");
    let no_llama = tempfile::tempdir().unwrap();
    let (stdout, report) = common::bench_report(
        &[("DFMA_LLAMA_CPP_DIR", no_llama.path().to_str().unwrap())],
        &[
            "bench",
            "--peers",
            "--backend",
            "cpu",
            "--gguf",
            model.to_str().unwrap(),
            "--min-samples",
            "3",
            "--min-seconds",
            "0.01",
            "--max-seconds",
            "1",
            "--json",
            json.to_str().unwrap(),
        ],
        &json,
    );

    let llama = &report["gemv_peers"];
    assert!(llama["peer"].as_str().unwrap().starts_with("llama.cpp"), "{llama}");
    assert!(llama["not_run"].as_str().unwrap().starts_with("not run:"), "{llama}");
    let candle = &report["gemv_candle"];
    assert!(candle["peer"].as_str().unwrap().starts_with("candle-core"), "{candle}");
    if cfg!(feature = "candle-peer") {
        // Measured: one row per distinct matrix shape, each with a positive time and speedup.
        assert!(candle["not_run"].is_null(), "{candle}");
        let rows = candle["rows"].as_array().unwrap();
        assert!(!rows.is_empty(), "{candle}");
        for r in rows {
            assert!(r["peer_us"].as_f64().unwrap() > 0.0 && r["speedup"].as_f64().unwrap() > 0.0, "{r}");
            assert_eq!(r["op"], "q8_0_gemv", "{r}");
        }
    } else {
        assert!(candle["not_run"].as_str().unwrap().contains("candle-peer"), "{candle}");
        assert!(candle["rows"].as_array().unwrap().is_empty(), "{candle}");
    }
    assert!(stdout.contains("peer  candle-core"), "{stdout}");
}
