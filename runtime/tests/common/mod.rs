//! What the model tests share: whether this is a CI run, and the embedded model's path.

#![allow(dead_code)]

use std::path::PathBuf;

/// Whether this is a CI run, where every check must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The embedded model from `DFMA_MODEL_GGUF` (ci/test sets it), or `None` with "not run"
/// printed; required under `CI=true`.
pub fn model_path() -> Option<PathBuf> {
    match std::env::var("DFMA_MODEL_GGUF") {
        Ok(p) => Some(PathBuf::from(p)),
        Err(_) if in_ci() => panic!("DFMA_MODEL_GGUF is required under CI=true"),
        Err(_) => {
            println!("not run: DFMA_MODEL_GGUF unset");
            None
        }
    }
}
