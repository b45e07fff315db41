//! The TLS flags of `dfma ccf serve` and `dfma instance`: a half-given or unreadable TLS input
//! is bad input on one line, found before the model is loaded (the `--model` given here does
//! not exist, so a check that came after loading it would fail differently).

mod common;

use common::dfma;

#[test]
fn bad_tls_input_is_one_line_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let model = path("no-model.gguf");
    let missing = path("missing.pem");
    let not_pem = path("not.pem");
    std::fs::write(&not_pem, "not PEM at all\n").unwrap();
    let with = |command: &[&str], tls: &[&str]| -> Vec<String> {
        command.iter().chain(tls).map(|arg| arg.to_string()).collect()
    };
    let ccf = |tls: &[&str]| with(&["ccf", "serve", "--model", &model], tls);
    let instance =
        |tls: &[&str]| with(&["instance", "--model", &model, "--ccf", "https://127.0.0.1:9", "--index", "0"], tls);
    for (args, needle) in [
        (ccf(&["--tls-cert", &not_pem]), "--tls-cert needs --tls-key".to_string()),
        (ccf(&["--tls-key", &not_pem]), "--tls-key needs --tls-cert".to_string()),
        (ccf(&["--tls-cert", &missing, "--tls-key", &not_pem]), format!("--tls-cert {missing}")),
        (ccf(&["--tls-cert", &not_pem, "--tls-key", &missing]), format!("--tls-key {missing}")),
        (ccf(&["--tls-cert", &not_pem, "--tls-key", &not_pem]), "no PEM CERTIFICATE block".to_string()),
        (instance(&["--tls-ca", &missing]), format!("--tls-ca {missing}")),
        (instance(&["--tls-ca", &not_pem]), format!("--tls-ca {not_pem}: CA certificate")),
        (instance(&["--tls-domain", "localhost"]), "--tls-domain needs --tls-ca".to_string()),
    ] {
        let o = dfma(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&needle), "{args:?}: {stderr} lacks {needle:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(o.stdout.is_empty(), "{args:?}: nothing served");
    }
}
