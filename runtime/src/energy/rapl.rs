//! Intel and AMD RAPL through Linux powercap: CPU package and DRAM energy counters.
//!
//! Layout (Documentation/power/powercap/powercap.rst): `<root>/intel-rapl:N` is package N
//! (`name` = "package-N"); `<root>/intel-rapl:N:M` are its subzones (`name` = "core",
//! "uncore", "dram"). Each zone has `energy_uj` (a cumulative µJ counter, updated about every
//! millisecond) and `max_energy_range_uj` (where the counter wraps). AMD Zen processors appear
//! under the same `intel-rapl` names. Only "package-N" and "dram" are used: "core" and
//! "uncore" are parts of the package and "psys" contains it, so adding them would count the
//! same joules twice. `intel-rapl-mmio:*` zones duplicate the MSR package zone and are skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::error::EnergyError;
use super::meter::{DomainEnergy, EnergyMeter, EnergyReading, MeterKind, Method, Scope};
use super::sysfs::{RealSysfs, SysfsReader, io_error, read_trimmed, read_u64};

/// Where Linux exposes powercap zones.
pub const POWERCAP_ROOT: &str = "/sys/class/powercap";

/// RAPL updates its counters about every millisecond.
const RAPL_UPDATE_PERIOD_S: f64 = 1e-3;

/// One counter: a package or a DRAM zone.
#[derive(Debug, Clone)]
struct RaplZone {
    energy_path: PathBuf,
    wrap_j: f64,
}

/// The RAPL package and DRAM counters of every CPU package, as one meter with domains
/// "package-N" and "dram-N".
#[derive(Debug)]
pub struct RaplMeter {
    zones: Vec<RaplZone>,
    domains: Vec<String>,
    reader: Arc<dyn SysfsReader>,
}

impl RaplMeter {
    /// Opens the RAPL zones under `root` (normally [`POWERCAP_ROOT`]) on the real file system.
    pub fn probe(root: &Path) -> Result<Self, EnergyError> {
        Self::probe_with(root, Arc::new(RealSysfs))
    }

    /// Opens the RAPL zones under `root`, reading files through `reader` (tests inject failures
    /// this way). Every counter is read once so that an unreadable `energy_uj` (root-only on
    /// patched kernels) is reported here, with the fix, rather than in the middle of a run.
    pub fn probe_with(root: &Path, reader: Arc<dyn SysfsReader>) -> Result<Self, EnergyError> {
        let entries = std::fs::read_dir(root).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EnergyError::Unavailable(format!(
                "{} does not exist (no powercap support in this kernel or VM)",
                root.display()
            )),
            _ => io_error(root, e),
        })?;
        // (package, subzone) indices parsed from "intel-rapl:N" / "intel-rapl:N:M".
        let mut found: Vec<((u32, Option<u32>), PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(root, e))?;
            let file_name = entry.file_name();
            let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix("intel-rapl:")) else {
                continue;
            };
            let mut parts = rest.split(':');
            let package = parts.next().and_then(|p| p.parse::<u32>().ok());
            let sub = parts.next().map(|s| s.parse::<u32>().ok());
            match (package, sub, parts.next()) {
                (Some(p), None, None) => found.push(((p, None), entry.path())),
                (Some(p), Some(Some(s)), None) => found.push(((p, Some(s)), entry.path())),
                _ => continue,
            }
        }
        found.sort_by_key(|(key, _)| *key);

        let mut zones = Vec::new();
        let mut domains = Vec::new();
        for ((package, sub), dir) in &found {
            let name = read_trimmed(reader.as_ref(), &dir.join("name"))?;
            let domain = match (sub, name.as_str()) {
                (None, n) if n.starts_with("package-") => n.to_string(),
                (Some(_), "dram") => format!("dram-{package}"),
                _ => continue,
            };
            let range_path = dir.join("max_energy_range_uj");
            let range_uj = read_u64(reader.as_ref(), &range_path, "an unsigned integer (µJ)")?;
            if range_uj == 0 {
                return Err(super::sysfs::parse_error(&range_path, "a non-zero range (µJ)", "0"));
            }
            let energy_path = dir.join("energy_uj");
            read_u64(reader.as_ref(), &energy_path, "an unsigned integer (µJ)")?;
            zones.push(RaplZone { energy_path, wrap_j: range_uj as f64 * 1e-6 });
            domains.push(domain);
        }
        if zones.is_empty() {
            return Err(EnergyError::Unavailable(format!(
                "no intel-rapl package or dram zone under {}",
                root.display()
            )));
        }
        Ok(RaplMeter { zones, domains, reader })
    }
}

impl EnergyMeter for RaplMeter {
    fn name(&self) -> &str {
        "rapl"
    }

    fn kind(&self) -> MeterKind {
        MeterKind::Measured
    }

    fn method(&self) -> Method {
        Method::EnergyCounter
    }

    fn scope(&self) -> Scope {
        Scope::Cpu
    }

    fn domains(&self) -> &[String] {
        &self.domains
    }

    fn update_period_s(&self) -> f64 {
        RAPL_UPDATE_PERIOD_S
    }

    fn read(&self) -> Result<EnergyReading, EnergyError> {
        let mut domains = Vec::with_capacity(self.zones.len());
        for (zone, domain) in self.zones.iter().zip(&self.domains) {
            let uj = read_u64(self.reader.as_ref(), &zone.energy_path, "an unsigned integer (µJ)")?;
            domains.push(DomainEnergy {
                domain: domain.clone(),
                energy_j: uj as f64 * 1e-6,
                wrap_j: Some(zone.wrap_j),
            });
        }
        Ok(EnergyReading { at: Instant::now(), domains })
    }
}
