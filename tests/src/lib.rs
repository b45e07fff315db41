//! Shared helpers of dfma's cross-crate tests.

/// True when running under CI (`CI=true`), where wgpu on lavapipe and the ptxas checks are
/// mandatory: a backend or tool that is missing there fails instead of reporting "not run".
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
