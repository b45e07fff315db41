//! Report outputs: the terminal table, CSV, Markdown, JSON and the roofline chart (SVG).
//! Files are written to a temporary file beside the target and renamed into place.

mod chart;
mod table;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

pub use chart::write_roofline_svg;
pub use table::{case_row, write_csv, write_markdown};

use crate::error::bad_input;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| bad_input(format!("{}: cannot create a file in {}: {e}", path.display(), dir.display())))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}
