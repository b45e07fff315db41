//! `dfma generate` end to end: the embedded model answers a factual question fluently (greedy,
//! so the answer is reproducible), runs on wgpu with its weights resident, and bad input — a
//! file that is not a GGUF, a GGUF of another architecture, an unknown backend — exits 2 with one
//! line naming the problem; a backend that cannot run here exits 1 with one line saying why.

mod common;

use common::{dfma, in_ci, model_gguf, py_script, with_python};

#[test]
fn the_embedded_model_answers_a_factual_question() {
    let Some(path) = model_gguf() else { return };
    let out = dfma(&["generate", "--model", &path, "--prompt", "What is the capital of France?", "--max-tokens", "40"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}\n{stderr}");
    assert!(text.contains("Paris"), "answer without Paris: {text:?}");
    assert!(stderr.contains("decode") && stderr.contains("tokens/s"), "{stderr}");
}

fn expect_bad(args: &[&str], needle: &str) {
    let out = dfma(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_llama_gguf_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"GGUF but not really").unwrap();
    expect_bad(&["generate", "--model", junk.to_str().unwrap(), "--prompt", "hi"], "junk.gguf");
    expect_bad(&["generate", "--prompt", "hi", "--backend", "tpu"], "--backend tpu");
    with_python("gguf writer", |py| {
        // A valid GGUF of another architecture, written by the gguf package.
        let other = dir.path().join("other.gguf");
        let script = "import sys, numpy as np, gguf\n\
                      w = gguf.GGUFWriter(sys.argv[1], 'gpt2')\n\
                      w.add_tensor('t', np.ones(4, dtype=np.float32))\n\
                      w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()";
        let o = std::process::Command::new(py).args(["-c", script]).arg(&other).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        expect_bad(
            &["generate", "--model", other.to_str().unwrap(), "--prompt", "hi"],
            "general.architecture is \"gpt2\"",
        );
        // A llama GGUF whose metadata lacks the MLP width.
        let partial = dir.path().join("partial.gguf");
        let o = std::process::Command::new(py).arg(py_script("make_gguf.py")).arg(&partial).arg("1").output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        expect_bad(&["generate", "--model", partial.to_str().unwrap(), "--prompt", "hi"], "llama.feed_forward_length");
    });
}

#[test]
fn generate_runs_on_wgpu_with_the_weights_resident_or_says_why_not() {
    let Some(path) = model_gguf() else { return };
    let out =
        dfma(&["generate", "--model", &path, "--raw", "--prompt", "Hi", "--max-tokens", "2", "--backend", "wgpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    if !in_ci() && stderr.contains("not available") {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("matrix products on wgpu") && stderr.contains("resident"), "{stderr}");
}

#[test]
fn an_unavailable_backend_is_one_line_saying_why_and_exit_1() {
    let Some(path) = model_gguf() else { return };
    let out =
        dfma(&["generate", "--model", &path, "--raw", "--prompt", "Hi", "--max-tokens", "1", "--backend", "cuda"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        println!("cuda is available here: {stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cuda: not available: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
