//! What the `dfma` end-to-end tests share: running the binary, and Python with numpy and gguf
//! (ci/test installs them into its cache and sets `PYTHONPATH`; without them a check prints
//! "not run: <reason>", except under `CI=true`, where it fails).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `dfma` binary under test.
pub fn dfma(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dfma")).args(args).output().expect("dfma runs")
}

/// Runs the `dfma` binary under test with extra environment variables.
pub fn dfma_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dfma")).envs(env.iter().copied()).args(args).output().expect("dfma runs")
}

/// Whether this is a CI run, where every check must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python that has numpy and gguf, or why there is none.
pub fn python() -> Result<String, String> {
    let py = std::env::var("DFMA_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&py).args(["-c", "import numpy, gguf"]).output() {
        Ok(o) if o.status.success() => Ok(py),
        Ok(o) => Err(format!(
            "{py} cannot import numpy and gguf: {}",
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        )),
        Err(e) => Err(format!("{py}: {e}")),
    }
}

/// Runs `f` with Python, or reports "not run" (failing under CI).
pub fn with_python(what: &str, f: impl FnOnce(&str)) {
    match python() {
        Ok(py) => f(&py),
        Err(e) if in_ci() => panic!("{what} is required under CI=true: {e}"),
        Err(e) => println!("{what} not run: {e}"),
    }
}

/// A script under `ci/py`.
pub fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py").join(name)
}

/// The embedded model's GGUF from `DFMA_MODEL_GGUF` (ci/test sets it), or `None` with
/// "not run" printed; required under `CI=true`.
pub fn model_gguf() -> Option<String> {
    match std::env::var("DFMA_MODEL_GGUF") {
        Ok(p) => Some(p),
        Err(_) if in_ci() => panic!("DFMA_MODEL_GGUF is required under CI=true"),
        Err(_) => {
            println!("not run: DFMA_MODEL_GGUF unset");
            None
        }
    }
}

/// A small experiment (three instances, two rounds, one block with adapters) with a drop-out
/// and a late joiner: the flags the experiment tests share.
pub const SMALL_EXPERIMENT: [&str; 16] = [
    "--instances",
    "3",
    "--rounds",
    "2",
    "--questions",
    "2",
    "--held-out",
    "1",
    "--samples",
    "2",
    "--layers",
    "top:1",
    "--dropout",
    "0.3",
    "--late-join",
    "2:2",
];

/// An experiment report without what depends on the machine's load (wall time, joules).
pub fn comparable_report(path: &std::path::Path) -> serde_json::Value {
    let mut report: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for m in report["methods"].as_array_mut().unwrap() {
        for r in m["rounds"].as_array_mut().unwrap() {
            let r = r.as_object_mut().unwrap();
            r.remove("seconds").unwrap();
            r.remove("joules").unwrap();
        }
    }
    report
}

/// Fails unless `report` matches the bench report schema (`bench/schema/report-v1.schema.json`),
/// listing every violation.
pub fn assert_matches_report_schema(report: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report-v1.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let errors: Vec<String> =
        jsonschema::validator_for(&schema).unwrap().iter_errors(report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "the report does not match the schema: {errors:#?}");
}

/// Runs `dfma` with `env` and `args` (which write a JSON report to `json`), requires it to
/// succeed, prints its output, and returns its stdout and the report, checked against the schema.
pub fn bench_report(env: &[(&str, &str)], args: &[&str], json: &Path) -> (String, serde_json::Value) {
    let out = dfma_env(env, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "bench failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_matches_report_schema(&report);
    (stdout, report)
}
