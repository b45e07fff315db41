//! Why an energy meter could not be opened or read.
//!
//! Every variant names what failed (a file path, a library call) so that a report line such as
//! `no RAPL: <reason>` tells the user what to fix without a debugger.

use std::io;
use std::path::PathBuf;

/// An error from probing or reading an energy meter.
///
/// Meters never panic on bad hardware or bad sysfs content: a missing file, a permission
/// problem, a corrupt counter or an absent driver all end up here.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// The file exists but the process may not read it. RAPL's `energy_uj` is readable by root
    /// only on kernels patched for CVE-2020-8694 (PLATYPUS), so this is the common case there.
    #[error("{}: permission denied: run as root or `sudo chmod o+r {}`", path.display(), path.display())]
    PermissionDenied {
        /// The file that could not be read.
        path: PathBuf,
    },
    /// The file or directory does not exist.
    #[error("{}: not found", path.display())]
    Missing {
        /// The path that was expected.
        path: PathBuf,
    },
    /// Any other I/O failure while reading a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file was read but its content is not what the kernel documents.
    #[error("{}: expected {expected}, found {found:?}", path.display())]
    Parse {
        /// The file whose content is wrong.
        path: PathBuf,
        /// What the content should have been, e.g. "an unsigned integer (µJ)".
        expected: &'static str,
        /// The content found (trimmed, possibly shortened).
        found: String,
    },
    /// The meter does not exist on this machine; the text says why.
    #[error("{0}")]
    Unavailable(String),
    /// An NVML call failed.
    #[error("NVML {call}: {message}")]
    Nvml {
        /// The NVML operation, e.g. "init" or "total_energy_consumption(gpu0)".
        call: String,
        /// NVML's error, with a hint where one helps.
        message: String,
    },
    /// Readings or samples that cannot be combined: a counter that went backwards without a
    /// wrap range, two readings with different domains, a sample with a non-finite power.
    #[error("{0}")]
    Invalid(String),
}
