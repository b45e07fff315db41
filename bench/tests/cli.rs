//! The `dfma` command end to end: Q8_0 bytes against the `gguf` package, `dfma op` against
//! numpy, and bad input rejected with one line, exit code 2 and nothing written.
//!
//! The Python checks need `numpy` and `gguf` (ci/test installs them into its cache and sets
//! `PYTHONPATH`); without them they print "not run: <reason>", except under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dfma_reference::quant::q8_0;
use dfma_reference::seed::{rng_for, seed_from_env};
use rand::Rng;

fn dfma(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dfma")).args(args).output().expect("dfma runs")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python that has numpy and gguf, or why there is none.
fn python() -> Result<String, String> {
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
fn with_python(what: &str, f: impl FnOnce(&str)) {
    match python() {
        Ok(py) => f(&py),
        Err(e) if in_ci() => panic!("{what} is required under CI=true: {e}"),
        Err(e) => println!("{what} not run: {e}"),
    }
}

fn parity_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py/q8_0_parity.py")
}

fn write_npy_f32(path: &Path, shape: &[u64], data: &[f32]) {
    let mut bytes = npy_header("<f4", shape);
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

fn write_npy_f64(path: &Path, shape: &[u64], data: &[f64]) {
    let mut bytes = npy_header("<f8", shape);
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

/// A version-1.0 .npy header, written by hand so the tests do not share the reader's code.
fn npy_header(descr: &str, shape: &[u64]) -> Vec<u8> {
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
    out
}

/// Random weights with the cases a quantizer gets wrong: zero blocks, exact halves, a negative
/// maximum, tiny and large magnitudes.
fn tricky_weights(seed: u64, rows: usize, cols: usize) -> Vec<f32> {
    let mut rng = rng_for(seed, 1);
    let mut w: Vec<f32> =
        (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0) * 10f32.powi(rng.random_range(-3..3))).collect();
    w[..32].fill(0.0);
    for (i, v) in w[32..64].iter_mut().enumerate() {
        *v = (i as f32 - 16.0) * 0.5; // exact halves once scaled by 127/8
    }
    w[64] = -5.0;
    w
}

#[test]
fn quantize_q8_0_is_byte_identical_to_gguf() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (37, 256);
    let input = dir.path().join("w.npy");
    let output = dir.path().join("w_q8_0.npy");
    write_npy_f32(&input, &[rows as u64, cols as u64], &tricky_weights(seed, rows, cols));
    let out = dfma(&["quantize", "q8_0", input.to_str().unwrap(), output.to_str().unwrap()]);
    assert!(out.status.success(), "dfma quantize failed: {}", String::from_utf8_lossy(&out.stderr));
    with_python("gguf Q8_0 parity", |py| {
        let check = Command::new(py).arg(parity_script()).args(["quantize"]).arg(&input).arg(&output).output().unwrap();
        let msg = String::from_utf8_lossy(&check.stdout);
        println!("gguf Q8_0 parity: {msg}{}", String::from_utf8_lossy(&check.stderr));
        assert!(check.status.success(), "dfma's Q8_0 differs from gguf's: {msg}");
    });
}

#[test]
fn op_q8_0_gemv_matches_numpy_on_every_available_backend() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols, batch) = (45, 320, 3);
    let w_f32 = dir.path().join("w_f32.npy");
    let w = dir.path().join("w.npy");
    let x = dir.path().join("x.npy");
    write_npy_f32(&w_f32, &[rows, cols], &tricky_weights(seed, rows as usize, cols as usize));
    let mut rng = rng_for(seed, 2);
    let xs: Vec<f32> = (0..batch * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    write_npy_f32(&x, &[batch, cols], &xs);
    assert!(dfma(&["quantize", "q8_0", w_f32.to_str().unwrap(), w.to_str().unwrap()]).status.success());
    assert_eq!(std::fs::read(&w).unwrap().len() as u64 % 2, 0);
    let expect_rows_bytes = q8_0::row_bytes(cols as usize).unwrap();
    assert_eq!(expect_rows_bytes, 340);
    for backend in ["reference", "cpu", "wgpu", "cuda"] {
        let y = dir.path().join(format!("y_{backend}.npy"));
        let w_arg = format!("w={}", w.display());
        let x_arg = format!("x={}", x.display());
        let y_arg = format!("y={}", y.display());
        let out = dfma(&["op", "q8_0_gemv", "--backend", backend, "--in", &w_arg, "--in", &x_arg, "--out", &y_arg]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(!stderr.contains("panicked"), "{backend}: {stderr}");
            let required = backend != "cuda" && (backend != "wgpu" || in_ci());
            assert!(!required, "{backend} failed: {stderr}");
            println!("{backend}: not run: {}", stderr.trim());
            continue;
        }
        with_python("numpy gemv check", |py| {
            let check = Command::new(py).arg(parity_script()).arg("gemv").args([&w, &x, &y]).output().unwrap();
            let msg = String::from_utf8_lossy(&check.stdout);
            println!("{backend}: {msg}{}", String::from_utf8_lossy(&check.stderr));
            assert!(check.status.success(), "{backend}: dfma op differs from numpy: {msg}");
        });
    }
}

/// Runs `dfma args`, expecting a bad-input failure: exit code 2, one line on stderr that
/// contains `needle`, no panic, and `must_not_exist` not created.
fn expect_bad_input(args: &[&str], needle: &str, must_not_exist: Option<&Path>) {
    let out = dfma(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: want exit 2, got {:?}: {stderr}", out.status.code());
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: stderr does not name {needle:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: error is not one line: {stderr}");
    if let Some(p) = must_not_exist {
        assert!(!p.exists(), "{args:?} wrote {}", p.display());
    }
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    write_npy_f32(&p("w_f32.npy"), &[4, 64], &(0..256).map(|i| i as f32 * 0.1 - 3.0).collect::<Vec<_>>());
    assert!(dfma(&["quantize", "q8_0", &s(&p("w_f32.npy")), &s(&p("w.npy"))]).status.success());
    write_npy_f32(&p("x.npy"), &[2, 64], &[0.5; 128]);
    write_npy_f32(&p("x_wrong_cols.npy"), &[2, 96], &[0.5; 192]);
    write_npy_f64(&p("x_f64.npy"), &[2, 64], &[0.5; 128]);
    let mut truncated = std::fs::read(p("x.npy")).unwrap();
    truncated.truncate(truncated.len() - 10);
    std::fs::write(p("x_truncated.npy"), truncated).unwrap();
    std::fs::write(p("garbage.npy"), b"not an npy file at all").unwrap();
    write_npy_f32(&p("w_odd.npy"), &[2, 33], &[1.0; 66]);
    let y = p("y.npy");
    let w = format!("w={}", s(&p("w.npy")));
    let y_arg = format!("y={}", s(&y));
    let gemv = |x: &str| {
        vec![
            "op".to_string(),
            "q8_0_gemv".into(),
            "--in".into(),
            w.clone(),
            "--in".into(),
            format!("x={}", s(&p(x))),
            "--out".into(),
            y_arg.clone(),
        ]
    };
    let run = |args: Vec<String>, needle: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        expect_bad_input(&refs, needle, Some(&y));
    };
    run(gemv("x_f64.npy"), "x_f64.npy: dtype <f8 is not supported");
    run(gemv("x_wrong_cols.npy"), "x (");
    run(gemv("x_truncated.npy"), "x_truncated.npy: truncated");
    run(gemv("garbage.npy"), "garbage.npy: not a valid .npy file");
    run(gemv("missing.npy"), "missing.npy: cannot read");
    let mut unknown_backend = gemv("x.npy");
    unknown_backend.extend(["--backend".into(), "tpu".into()]);
    run(unknown_backend, "--backend tpu: unknown backend");
    run(vec!["op".into(), "q9_gemv".into()], "op q9_gemv: unknown");
    run(
        vec!["op".into(), "q8_0_gemv".into(), "--in".into(), w.clone(), "--out".into(), y_arg.clone()],
        "missing --in x",
    );
    run(vec!["op".into(), "q8_0_gemv".into(), "--bogus".into()], "--bogus");
    let q = p("q.npy");
    expect_bad_input(
        &["quantize", "q8_0", &s(&p("w_odd.npy")), &s(&q)],
        "33 columns is not a positive multiple of 32",
        Some(&q),
    );
    expect_bad_input(&["quantize", "q4_9", &s(&p("w_f32.npy")), &s(&q)], "format q4_9: unknown", Some(&q));
    // And the good call writes y.
    let ok = dfma(&gemv("x.npy").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(y.exists());
}

/// [`tricky_weights`] plus what only Q4_0 gets wrong: a positive maximum with a negative value of
/// the same magnitude (clamped to code 15) and an all-zero block that starts with −0.
fn tricky_q4_0_weights(seed: u64, rows: usize, cols: usize) -> Vec<f32> {
    let mut w = tricky_weights(seed, rows, cols);
    w[96] = 4.0;
    w[97] = -4.0;
    w[128..160].fill(0.0);
    w[128] = -0.0;
    w
}

#[test]
fn quantize_q4_0_is_byte_identical_to_gguf() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (37, 256);
    let input = dir.path().join("w.npy");
    let output = dir.path().join("w_q4_0.npy");
    write_npy_f32(&input, &[rows as u64, cols as u64], &tricky_q4_0_weights(seed, rows, cols));
    let out = dfma(&["quantize", "q4_0", input.to_str().unwrap(), output.to_str().unwrap()]);
    assert!(out.status.success(), "dfma quantize failed: {}", String::from_utf8_lossy(&out.stderr));
    with_python("gguf Q4_0 parity", |py| {
        let check = Command::new(py)
            .arg(parity_script())
            .arg("quantize")
            .arg(&input)
            .arg(&output)
            .arg("Q4_0")
            .output()
            .unwrap();
        let msg = String::from_utf8_lossy(&check.stdout);
        println!("gguf Q4_0 parity: {msg}{}", String::from_utf8_lossy(&check.stderr));
        assert!(check.status.success(), "dfma's Q4_0 differs from gguf's: {msg}");
    });
}

#[test]
fn quantize_q4_1_is_byte_identical_to_gguf() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (37, 256);
    let input = dir.path().join("w.npy");
    let output = dir.path().join("w_q4_1.npy");
    write_npy_f32(&input, &[rows as u64, cols as u64], &tricky_q4_0_weights(seed, rows, cols));
    let out = dfma(&["quantize", "q4_1", input.to_str().unwrap(), output.to_str().unwrap()]);
    assert!(out.status.success(), "dfma quantize failed: {}", String::from_utf8_lossy(&out.stderr));
    with_python("gguf Q4_1 parity", |py| {
        let check = Command::new(py)
            .arg(parity_script())
            .arg("quantize")
            .arg(&input)
            .arg(&output)
            .arg("Q4_1")
            .output()
            .unwrap();
        let msg = String::from_utf8_lossy(&check.stdout);
        println!("gguf Q4_1 parity: {msg}{}", String::from_utf8_lossy(&check.stderr));
        assert!(check.status.success(), "dfma's Q4_1 differs from gguf's: {msg}");
    });
}

#[test]
fn op_q4_0_gemv_matches_numpy_on_every_available_backend() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols, batch) = (45, 1056, 3); // one whole 1024-weight PTX window and a ragged one
    let w_f32 = dir.path().join("w_f32.npy");
    let w = dir.path().join("w.npy");
    let x = dir.path().join("x.npy");
    write_npy_f32(&w_f32, &[rows, cols], &tricky_q4_0_weights(seed, rows as usize, cols as usize));
    let mut rng = rng_for(seed, 2);
    let xs: Vec<f32> = (0..batch * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    write_npy_f32(&x, &[batch, cols], &xs);
    assert!(dfma(&["quantize", "q4_0", w_f32.to_str().unwrap(), w.to_str().unwrap()]).status.success());
    for backend in ["reference", "cpu", "wgpu", "ptxvm", "cuda"] {
        let y = dir.path().join(format!("y_{backend}.npy"));
        let w_arg = format!("w={}", w.display());
        let x_arg = format!("x={}", x.display());
        let y_arg = format!("y={}", y.display());
        let out = dfma(&["op", "q4_0_gemv", "--backend", backend, "--in", &w_arg, "--in", &x_arg, "--out", &y_arg]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert!(!stderr.contains("panicked"), "{backend}: {stderr}");
            let required = backend != "cuda" && (backend != "wgpu" || in_ci());
            assert!(!required, "{backend} failed: {stderr}");
            println!("{backend}: not run: {}", stderr.trim());
            continue;
        }
        with_python("numpy gemv check", |py| {
            let check =
                Command::new(py).arg(parity_script()).arg("gemv").args([&w, &x, &y]).arg("Q4_0").output().unwrap();
            let msg = String::from_utf8_lossy(&check.stdout);
            println!("{backend}: {msg}{}", String::from_utf8_lossy(&check.stderr));
            assert!(check.status.success(), "{backend}: dfma op differs from numpy: {msg}");
        });
    }
}
