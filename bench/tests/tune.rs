//! `dfma tune`: every variant timed, the fastest cached per device and shape, and a corrupt
//! cache rejected as bad input.

mod common;

use std::process::Command;

fn tune(cache: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dfma"))
        .args(["tune", "--backend", "cpu", "--op", "q8_0_gemv", "--min-samples", "2"])
        .args(["--min-seconds", "0.01", "--max-seconds", "0.2"])
        .env("DFMA_TUNE_CACHE", cache)
        .output()
        .unwrap()
}

#[test]
fn tune_caches_one_choice_per_bench_shape_and_keeps_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tune.json");
    let out = tune(&cache);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let entries = c["entries"].as_array().unwrap();
    let shapes = dfma_reference::ops::by_name("q8_0_gemv").unwrap().bench_dims().len();
    assert_eq!(entries.len(), shapes);
    for e in entries {
        assert_eq!(e["key"]["backend"], "cpu");
        let cands = e["candidates"].as_array().unwrap();
        assert_eq!(cands.len(), dfma_kernels::registry::find("q8_0_gemv", dfma_kernels::BackendKind::Cpu).count());
        assert_eq!(e["variant"], cands[0][0]);
        assert!(e["median_s"].as_f64().unwrap() > 0.0);
    }
    // Tuning again replaces the choices rather than adding to them.
    assert!(tune(&cache).status.success());
    let again: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(again["entries"].as_array().unwrap().len(), shapes);
}

#[test]
fn a_corrupt_tune_cache_is_bad_input_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tune.json");
    std::fs::write(&cache, "{ half a file").unwrap();
    let out = tune(&cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tune.json") && stderr.contains("not a dfma tune cache"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), "{ half a file");
}
