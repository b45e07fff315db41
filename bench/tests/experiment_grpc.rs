//! `dfma run experiment --transport grpc`: the federated methods' CCF and instances as separate
//! processes over gRPC on localhost give the same report as the in-process run of the same seed
//! — every accuracy, byte count, accepted answer, change norm and aggregated-signal count —
//! with an instance dropping out mid-round and one joining late. Only wall time and joules may
//! differ. Bad input to the new commands is one line and a non-zero exit.

mod common;

use common::{SMALL_EXPERIMENT, comparable_report, dfma, model_gguf};

#[test]
fn the_grpc_run_gives_the_in_process_report() {
    let Some(model) = model_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seed = dfma_reference::seed::seed_from_env().unwrap().to_string();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let mut reports = Vec::new();
    for transport in ["in-process", "grpc"] {
        let out = dir.path().join(transport);
        let mut args = vec!["run", "experiment", "--model", &model, "--out", out.to_str().unwrap()];
        args.extend(SMALL_EXPERIMENT);
        args.extend(["--methods", "isolated,collective"]);
        args.extend(["--seed", &seed, "--transport", transport]);
        let o = dfma(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        println!("{transport}:\n{}\n{stderr}", String::from_utf8_lossy(&o.stdout));
        assert!(o.status.success(), "{transport}: {stderr}");
        if transport == "grpc" {
            assert!(stderr.contains("ccf: collective for 3 instances x 2 rounds on 127.0.0.1:"), "{stderr}");
        }
        reports.push(comparable_report(&out.join("report.json")));
    }
    let collective = reports[0]["methods"].as_array().unwrap().iter().find(|m| m["method"] == "collective").unwrap();
    let sent = &collective["rounds"][2]["bytes_sent"];
    // One instance drops out in each round, so at least two of the three have signalled.
    let signalled = sent.as_array().unwrap().iter().filter(|b| b.as_u64().unwrap() > 0).count();
    assert!(signalled >= 2, "signals sent: {sent}");
    assert_eq!(reports[0], reports[1], "in-process and gRPC reports differ");
}

#[test]
fn bad_distributed_input_is_one_line_and_a_failure() {
    let Some(model) = model_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exp");
    let out = out.to_str().unwrap();
    for (args, code, needle) in [
        (vec!["run", "experiment", "--model", &model, "--out", out, "--transport", "pigeon"], 2, "unknown transport"),
        (vec!["ccf", "serve", "--model", &model, "--method", "isolated"], 2, "not a federated method"),
        (vec!["ccf", "serve", "--model", &model, "--listen", "256.0.0.1:1"], 2, "--listen 256.0.0.1:1"),
        (vec!["instance", "--model", &model, "--ccf", "http://127.0.0.1:9", "--index", "7"], 2, "--index 7"),
        (
            vec!["instance", "--model", &model, "--ccf", "http://127.0.0.1:9", "--index", "0"],
            2,
            "--ccf http://127.0.0.1:9",
        ),
    ] {
        let o = dfma(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert!(!dir.path().join("exp").join("report.json").exists());
}
