//! Building sysfs-like fixture trees and readers that inject failures.

use std::io;
use std::path::{Path, PathBuf};

use dfma_runtime::energy::SysfsReader;

/// Writes `content` to `root/rel`, creating parent directories.
pub fn write(root: &Path, rel: &str, content: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

/// A powercap tree with one package (with core and dram subzones) and a psys zone, as a
/// typical Intel server exposes it, plus an MMIO duplicate of the package.
pub fn powercap(root: &Path, package_uj: u64, dram_uj: u64, range_uj: u64) {
    let zones = [
        ("intel-rapl:0", "package-0", package_uj),
        ("intel-rapl:0:0", "core", 5),
        ("intel-rapl:0:1", "dram", dram_uj),
        ("intel-rapl:1", "psys", 7),
        ("intel-rapl-mmio:0", "package-0", 9),
    ];
    for (dir, name, uj) in zones {
        write(root, &format!("{dir}/name"), &format!("{name}\n"));
        write(root, &format!("{dir}/energy_uj"), &format!("{uj}\n"));
        write(root, &format!("{dir}/max_energy_range_uj"), &format!("{range_uj}\n"));
    }
}

/// Reads the real file system, but answers "permission denied" for files with the given name,
/// as a non-root process gets for RAPL's `energy_uj` on patched kernels. (Tests run as root
/// here, and root reads a mode-000 file anyway, so a fixture alone cannot show it.)
#[derive(Debug)]
pub struct DenyFile(pub &'static str);

impl SysfsReader for DenyFile {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        if path.file_name().is_some_and(|n| n == self.0) {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        std::fs::read_to_string(path)
    }
}
