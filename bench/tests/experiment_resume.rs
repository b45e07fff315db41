//! `dfma run experiment --resume`: a run killed (SIGKILL) after its first round's checkpoint
//! and resumed with the same flags writes the report the uninterrupted run writes — every
//! accuracy, byte, accepted answer and change norm, with noised signals (the noise generator's
//! position and the privacy budget are restored), a drop-out and a late joiner. A resume with
//! other flags, or from a corrupt checkpoint, is one line and exit 2, and leaves the checkpoint
//! as it was.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{SMALL_EXPERIMENT, comparable_report, dfma, model_gguf};

fn flags(model: &str, out: &std::path::Path, seed: &str) -> Vec<String> {
    let mut f: Vec<String> = ["run", "experiment", "--model", model, "--out", out.to_str().unwrap(), "--seed", seed]
        .map(String::from)
        .to_vec();
    f.extend(SMALL_EXPERIMENT.map(String::from));
    f.extend(["--noise", "2", "--methods", "isolated,collective"].map(String::from));
    f
}

fn run(args: &[String]) -> std::process::Output {
    dfma(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_killed_run_resumes_from_its_checkpoint_to_the_same_report() {
    let Some(model) = model_gguf() else { return };
    let seed = dfma_reference::seed::seed_from_env().unwrap().to_string();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let dir = tempfile::tempdir().unwrap();
    let (whole, stopped) = (dir.path().join("whole"), dir.path().join("stopped"));

    let o = run(&flags(&model, &whole, &seed));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!whole.join("checkpoint.safetensors").exists(), "a finished run leaves no checkpoint");

    // Start the same run and kill it once round 1's checkpoint is written.
    let checkpoint = stopped.join("checkpoint.safetensors");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dfma"))
        .args(flags(&model, &stopped, &seed))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !checkpoint.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(t0.elapsed() < Duration::from_secs(600), "no checkpoint after 10 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!stopped.join("report.json").exists(), "killed during round 2, before the report");
    let saved = std::fs::read(&checkpoint).unwrap();

    // Other flags: refused, the checkpoint untouched.
    let mut other = flags(&model, &stopped, &seed);
    other.extend(["--lr", "0.02", "--resume"].map(String::from));
    let o = run(&other);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("another experiment configuration"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read(&checkpoint).unwrap(), saved);

    // A truncated checkpoint: refused.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("checkpoint.safetensors"), &saved[..saved.len() / 2]).unwrap();
    let mut args = flags(&model, &corrupt, &seed);
    args.push("--resume".into());
    let o = run(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("checkpoint.safetensors: not a checkpoint"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    // The same flags: round 2 runs from the checkpoint and the report is the uninterrupted one.
    let mut args = flags(&model, &stopped, &seed);
    args.push("--resume".into());
    let o = run(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("resuming after round 1 from"), "{stderr}");
    assert_eq!(comparable_report(&stopped.join("report.json")), comparable_report(&whole.join("report.json")));
    assert!(!checkpoint.exists());
}
