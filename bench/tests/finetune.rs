//! `dfma finetune` end to end on the embedded model: a LoRA adapter trained on a small text
//! (bench/tests/fixtures/finetune.txt) lowers the loss on that text's held-out windows, and the
//! adapter it writes loads back onto the same base model only. Bad input exits 2 with one line.

mod common;

use common::{dfma, model_gguf};
use dfma_runtime::model::Model;
use dfma_runtime::model::adapter::Adapter;

const TEXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/finetune.txt");

/// The two losses of "held-out loss A -> B nats/token".
fn losses(stdout: &str) -> (f64, f64) {
    let rest = stdout.split("held-out loss ").nth(1).expect("a held-out loss line");
    let mut it = rest.split_whitespace();
    let a = it.next().unwrap().parse().unwrap();
    assert_eq!(it.next(), Some("->"));
    (a, it.next().unwrap().parse().unwrap())
}

#[test]
fn finetuning_on_a_text_lowers_its_held_out_loss() {
    let Some(path) = model_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.safetensors");
    let args = [
        "finetune",
        "--model",
        &path,
        "--text",
        TEXT,
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--seq-len",
        "32",
        "--layers",
        "top:2",
        "--projections",
        "q,v,o,down",
        "--lr",
        "5e-3",
        "--batch",
        "2",
    ];
    let o = dfma(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{stdout}\n{stderr}");
    assert!(o.status.success(), "{stderr}");
    let (before, after) = losses(&stdout);
    assert!(before.is_finite() && after.is_finite(), "{stdout}");
    assert!(after < 0.9 * before, "held-out loss {before} -> {after}: not 10 % lower");
    // The adapter binds to this base model and no other.
    let model = Model::load(std::path::Path::new(&path)).unwrap();
    let hash = dfma_runtime::model::adapter::file_sha256(std::path::Path::new(&path)).unwrap();
    let ad = Adapter::load(&out, &model.config, &hash).unwrap();
    assert_eq!((ad.rank, ad.factors.len()), (8, 8));
    let e = Adapter::load(&out, &model.config, &"0".repeat(64)).unwrap_err().to_string();
    assert!(e.contains("trained for base model"), "{e}");
    // `dfma generate --lora` applies it; a file that is not an adapter is bad input.
    let o = dfma(&[
        "generate",
        "--model",
        &path,
        "--lora",
        out.to_str().unwrap(),
        "--raw",
        "--prompt",
        "Monday:",
        "--max-tokens",
        "8",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dfma(&["generate", "--model", &path, "--lora", TEXT, "--prompt", "hi"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a safetensors file") && stderr.trim_end().lines().count() == 1, "{stderr}");
}

fn expect_bad(args: &[&str], needle: &str) {
    let o = dfma(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn bad_finetune_input_is_one_line_and_exit_2() {
    let Some(path) = model_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "Too short to hold anything out.").unwrap();
    fn run<'a>(path: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        [&["finetune", "--model", path][..], extra].concat()
    }
    expect_bad(&run(&path, &["--text", short.to_str().unwrap()]), "need at least 5 for one held-out window");
    expect_bad(&run(&path, &["--text", "/nonexistent/t.txt"]), "/nonexistent/t.txt");
    expect_bad(&run(&path, &["--text", TEXT, "--layers", "top:31"]), "the model has 30 blocks");
    expect_bad(&run(&path, &["--text", TEXT, "--layers", "3,40"]), "block 40 is outside 0..30");
    expect_bad(&run(&path, &["--text", TEXT, "--projections", "q,w"]), "unknown projection \"w\"");
    expect_bad(&run(&path, &["--text", TEXT, "--rank", "0"]), "--rank 0");
    expect_bad(&run(&path, &["--text", TEXT, "--seq-len", "1"]), "--seq-len must be at least 2");
    assert!(!dir.path().join("adapter.safetensors").exists());
}
