//! Finds the carbon fixtures in `../shared/data/carbon` (never copied into the repository).

use std::path::PathBuf;

/// True when the fixtures must be there (`DFMA_REQUIRE_CARBON_DATA=1`, which `ci/test` sets
/// whenever it finds them beside the checkout): then a missing fixture is a failure, not a skip.
fn required() -> bool {
    std::env::var("DFMA_REQUIRE_CARBON_DATA").is_ok_and(|v| v == "1" || v == "true")
}

/// The fixture `name`: from `DFMA_CARBON_DATA`, else `../shared/data/carbon` beside the
/// workspace. `None` (after printing "not run: <reason>") when absent; panics when required.
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
    assert!(!required(), "DFMA_REQUIRE_CARBON_DATA=1 but {reason}");
    println!("not run: {reason}");
    None
}

/// Reads a fixture's text.
pub fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
