//! Finds the carbon fixtures in `../shared/data/carbon` (never copied into the repository).

use std::path::PathBuf;

/// True under CI (`CI=true`), where a missing fixture is a failure, not a skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The fixture `name`: from `DFMA_CARBON_DATA`, else `../shared/data/carbon` beside the
/// workspace. `None` (after printing "not run: <reason>") when absent outside CI; panics in CI.
pub fn fixture(name: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("DFMA_CARBON_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/carbon"),
    };
    let path = dir.join(name);
    if path.is_file() {
        return Some(path);
    }
    let reason = format!("{} not found (set DFMA_CARBON_DATA to the carbon fixtures)", path.display());
    assert!(!in_ci(), "CI=true but {reason}");
    println!("not run: {reason}");
    None
}

/// Reads a fixture's text.
pub fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
