//! Reading small sysfs and procfs files, with errors that name the file.
//!
//! Meters read files through [`SysfsReader`] rather than `std::fs` directly so that tests can
//! simulate conditions a fixture directory cannot: tests here run as root, and root reads a
//! file of mode 000 without complaint, so "permission denied" is injected through a reader.

use std::fmt;
use std::io;
use std::path::Path;

use super::error::EnergyError;

/// Reads the whole content of a (small) file. Implemented by [`RealSysfs`] for the real file
/// system; tests wrap it to inject failures.
pub trait SysfsReader: Send + Sync + fmt::Debug {
    /// Returns the file's content as text.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSysfs;

impl SysfsReader for RealSysfs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Maps an I/O error on `path` to an [`EnergyError`] that explains it.
pub(crate) fn io_error(path: &Path, source: io::Error) -> EnergyError {
    match source.kind() {
        io::ErrorKind::NotFound => EnergyError::Missing { path: path.to_path_buf() },
        io::ErrorKind::PermissionDenied => EnergyError::PermissionDenied { path: path.to_path_buf() },
        _ => EnergyError::Io { path: path.to_path_buf(), source },
    }
}

/// Reads a file and trims surrounding whitespace (sysfs values end with a newline).
pub(crate) fn read_trimmed(reader: &dyn SysfsReader, path: &Path) -> Result<String, EnergyError> {
    reader.read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| io_error(path, e))
}

/// Reads a file holding one unsigned decimal integer, as sysfs counters do.
pub(crate) fn read_u64(reader: &dyn SysfsReader, path: &Path, expected: &'static str) -> Result<u64, EnergyError> {
    let text = read_trimmed(reader, path)?;
    text.parse::<u64>().map_err(|_| parse_error(path, expected, &text))
}

/// A parse error that quotes at most 64 characters of what was found.
pub(crate) fn parse_error(path: &Path, expected: &'static str, found: &str) -> EnergyError {
    let found: String = found.chars().take(64).collect();
    EnergyError::Parse { path: path.to_path_buf(), expected, found }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_numeric_counter_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("energy_uj");
        std::fs::write(&path, "12x4\n").unwrap();
        let err = read_u64(&RealSysfs, &path, "an unsigned integer (µJ)").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("12x4"), "{text}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let err = read_u64(&RealSysfs, &path, "an unsigned integer").unwrap_err();
        assert!(matches!(err, EnergyError::Missing { .. }), "{err:?}");
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn a_permission_error_says_how_to_fix_it() {
        let path = Path::new("/sys/class/powercap/intel-rapl:0/energy_uj");
        let err = io_error(path, io::Error::from(io::ErrorKind::PermissionDenied));
        let text = err.to_string();
        assert!(text.contains("permission denied: run as root or `sudo chmod o+r"), "{text}");
        assert!(text.contains("intel-rapl:0/energy_uj"), "{text}");
    }
}
