//! Writing output files atomically: to a temporary file beside the target, then renamed into
//! place, so a failed or interrupted write never leaves a half-written file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::error::bad_input;

/// Creates a temporary file beside `path`, lets `fill` write it, syncs it and renames it to `path`.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| bad_input(format!("{}: cannot create a file in {}: {e}", path.display(), dir.display())))?;
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| Ok(f.write_all(bytes)?))
}
