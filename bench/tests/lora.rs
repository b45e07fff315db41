//! `dfma op` on the adapter ops: a hand-computed bgmv on every CPU-side backend, and the bad
//! inputs the adapter ops promise to reject before any launch (index out of range, rank
//! mismatch, shape mismatch) with exit 2, one line naming the tensor and its file, nothing written.

mod common;

use std::path::Path;

use common::dfma;

fn npy(path: &Path, descr: &str, shape: &[u64], payload: Vec<u8>) {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.as_bytes());
    out.extend(payload);
    std::fs::write(path, out).unwrap();
}

fn f32s(path: &Path, shape: &[u64], v: &[f32]) {
    npy(path, "<f4", shape, v.iter().flat_map(|x| x.to_le_bytes()).collect());
}

fn u32s(path: &Path, shape: &[u64], v: &[u32]) {
    npy(path, "<u4", shape, v.iter().flat_map(|x| x.to_le_bytes()).collect());
}

fn read_f32_payload(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let header = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[header..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Two rank-1 adapters over 2 → 2; token 1 has none. Expected y_out by hand (exact in f32).
fn write_bgmv_problem(dir: &Path, idx: &[u32]) -> Vec<String> {
    f32s(&dir.join("x.npy"), &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    f32s(&dir.join("a.npy"), &[2, 1, 2], &[1.0, 0.0, 0.0, 1.0]);
    f32s(&dir.join("b.npy"), &[2, 2, 1], &[1.0, 2.0, 3.0, 4.0]);
    f32s(&dir.join("scales.npy"), &[2], &[1.0, 0.5]);
    u32s(&dir.join("idx.npy"), &[3], idx);
    f32s(&dir.join("y.npy"), &[3, 2], &[0.5, 0.5, 1.0, 1.0, 2.0, 2.0]);
    let mut args = vec!["op".to_string(), "bgmv".into()];
    for name in ["x", "a", "b", "scales", "idx", "y"] {
        args.extend(["--in".into(), format!("{name}={}", dir.join(format!("{name}.npy")).display())]);
    }
    args.extend(["--out".into(), format!("y_out={}", dir.join("y_out.npy").display())]);
    args
}

fn run(args: &[String]) -> std::process::Output {
    dfma(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn bgmv_applies_each_token_s_own_adapter_and_skips_the_bare_one() {
    let dir = tempfile::tempdir().unwrap();
    let args = write_bgmv_problem(dir.path(), &[0, u32::MAX, 1]);
    for backend in ["reference", "cpu"] {
        let mut a = args.clone();
        a.extend(["--backend".into(), backend.into()]);
        let out = run(&a);
        assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        let y = read_f32_payload(&dir.path().join("y_out.npy"));
        // token 0: y + 1·b0·(a0·x) = 0.5 + [1, 2]; token 1 unchanged; token 2: 2 + 0.5·[3, 4]·6.
        assert_eq!(y, [1.5, 2.5, 1.0, 1.0, 11.0, 14.0], "{backend}");
    }
}

fn expect_rejected(args: &[String], needle: &str, not_written: &Path) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "want exit 2: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "stderr does not name {needle:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {stderr}");
    assert!(!not_written.exists(), "{} was written", not_written.display());
}

#[test]
fn an_adapter_index_out_of_range_is_rejected_before_any_launch() {
    let dir = tempfile::tempdir().unwrap();
    let args = write_bgmv_problem(dir.path(), &[0, 2, 1]);
    expect_rejected(&args, "idx (", &dir.path().join("y_out.npy"));
    expect_rejected(&args, "token 1 has adapter index 2, outside 0..2", &dir.path().join("y_out.npy"));
}

#[test]
fn a_rank_or_shape_mismatch_is_rejected_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let args = write_bgmv_problem(dir.path(), &[0, 1, 1]);
    // b stacks rank-2 expands against rank-1 shrinks.
    f32s(&dir.path().join("b.npy"), &[2, 2, 2], &[0.5; 8]);
    expect_rejected(&args, "b (", &dir.path().join("y_out.npy"));
    expect_rejected(&args, "rank 2 does not match a's rank 1", &dir.path().join("y_out.npy"));
    // y holds 2 tokens, x 3.
    f32s(&dir.path().join("b.npy"), &[2, 2, 1], &[1.0, 2.0, 3.0, 4.0]);
    f32s(&dir.path().join("y.npy"), &[2, 2], &[0.5; 4]);
    expect_rejected(&args, "y (", &dir.path().join("y_out.npy"));
}
