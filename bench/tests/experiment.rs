//! `dfma run experiment` end to end on the embedded model, small: three instances, one round,
//! one drops out mid-round and one joins late; the report holds every method's rounds, the
//! collective's signals cost bytes and the CCF aggregated exactly the signals that arrived; the
//! plots are written. Bad input — an unknown task, method, aggregation or instance — exits 2
//! with one line and writes nothing.

mod common;

use common::{dfma, model_gguf};

#[test]
fn a_small_experiment_writes_its_report_and_plots() {
    let Some(path) = model_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exp");
    let o = dfma(&[
        "run",
        "experiment",
        "--model",
        &path,
        "--out",
        out.to_str().unwrap(),
        "--instances",
        "3",
        "--rounds",
        "1",
        "--questions",
        "2",
        "--held-out",
        "1",
        "--samples",
        "2",
        "--layers",
        "top:1",
        "--methods",
        "isolated,collective",
        "--dropout",
        "0.3",
        "--late-join",
        "2:1",
        "--seed",
        "5",
    ]);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{stdout}\n{stderr}");
    assert!(o.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["seed"], 5);
    let methods = report["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 2);
    for m in methods {
        let rounds = m["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 2, "rounds 0 and 1");
        for r in rounds {
            for a in r["accuracy"].as_array().unwrap().iter().filter(|a| !a.is_null()) {
                let a = a.as_f64().unwrap();
                assert!((0.0..=1.0).contains(&a), "{a}");
            }
        }
    }
    let collective = &methods.iter().find(|m| m["method"] == "collective").unwrap()["rounds"][1];
    // One of the three dropped out mid-round: the round closed with the other two.
    assert_eq!(collective["signals_aggregated"], 2, "{collective}");
    let sent: Vec<u64> = collective["bytes_sent"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect();
    assert_eq!(sent.iter().filter(|&&b| b > 0).count(), 2, "{sent:?}");
    let isolated = &methods.iter().find(|m| m["method"] == "isolated").unwrap()["rounds"][1];
    assert!(isolated["bytes_sent"].as_array().unwrap().iter().all(|b| b == 0));
    for plot in ["accuracy_per_round.svg", "accuracy_vs_bytes.svg", "accuracy_vs_joules.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("collective"), "{plot}");
    }
}

/// Per round, what instances 0 and 1 did and scored (accuracy, accepted answers, change norm)
/// in a three-instance collective run with instance 2 planted as `bad`, and the signals each
/// round aggregated.
fn honest_records(model: &str, robust: &str, bad: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exp");
    let mut args = vec!["run", "experiment", "--model", model, "--out", out.to_str().unwrap()];
    // The small experiment's instances, rounds, questions and adapters, without its faults.
    args.extend(&common::SMALL_EXPERIMENT[..12]);
    args.extend(["--methods", "collective", "--robust", robust, "--bad-instance", bad, "--seed", "11"]);
    let o = dfma(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let rounds = report["methods"][0]["rounds"].as_array().unwrap().clone();
    let pick = |r: &serde_json::Value, f: &str| serde_json::json!([r[f][0], r[f][1]]);
    let honest = rounds
        .iter()
        .map(|r| serde_json::json!([pick(r, "accuracy"), pick(r, "accepted"), pick(r, "change_norm")]))
        .collect();
    let used = rounds.iter().map(|r| r["signals_aggregated"].clone()).collect();
    (honest, used)
}

#[test]
fn the_norm_filter_leaves_the_honest_instances_as_if_the_bad_one_sent_nothing() {
    let Some(path) = model_gguf() else { return };
    let (silent, used) = honest_records(&path, "norm-filter", "2:silent");
    assert_eq!(used[1..], [2, 2]);
    for attack in ["2:scaled", "2:random"] {
        let (attacked, used) = honest_records(&path, "norm-filter", attack);
        assert_eq!(attacked, silent, "{attack}");
        assert_eq!(used[1..], [2, 2], "{attack}: the bad signal is dropped");
    }
    // Under the mean the same attack does reach them.
    let (mean_silent, _) = honest_records(&path, "mean", "2:silent");
    let (mean_attacked, used) = honest_records(&path, "mean", "2:scaled");
    assert_eq!(used[1..], [3, 3]);
    assert_ne!(mean_attacked, mean_silent);
}

#[test]
fn bad_experiment_input_is_one_line_and_exit_2() {
    let Some(path) = model_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exp");
    for (flag, value, needle) in [
        ("--tasks", "poetry:1", "unknown task \"poetry\""),
        ("--tasks", "add:9", "difficulty must be 1..=6"),
        ("--methods", "isolated,magic", "unknown method \"magic\""),
        ("--robust", "mode", "unknown aggregation \"mode\""),
        ("--server-lr", "0", "server step \"0\": expected sum or a positive number"),
        ("--bad-instance", "1:evil", "--bad-instance 1:evil"),
        ("--compression", "zip", "unknown compression \"zip\""),
        ("--bad-instance", "9:scaled", "must name an instance"),
        ("--late-join", "x", "--late-join x"),
        ("--dropout", "1.5", "dropout must be in [0, 1)"),
    ] {
        let o = dfma(&["run", "experiment", "--model", &path, "--out", out.to_str().unwrap(), flag, value]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(needle), "{flag} {value}: {stderr} lacks {needle:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert!(!out.join("report.json").exists());
}
