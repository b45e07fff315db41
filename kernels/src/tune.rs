//! The tuning cache: which registered variant of an op ran fastest on a device at a shape.
//!
//! `dfma tune` times every variant of every op at its bench shapes and records the winner here,
//! keyed by (device name, driver, backend, op, dims): a new driver or another card is a new key,
//! since the fastest variant changes with both. Callers that pick a kernel (`dfma op`, the model
//! runtime) ask [`TuneCache::best`] and fall back to the first registered variant.
//!
//! The file is JSON (`tune-v1`), written whole to a temporary file and renamed, so a crash never
//! leaves half a cache. A corrupt file is an error naming it, never silently discarded.

use std::path::{Path, PathBuf};

use dfma_reference::Dims;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendKind, DeviceInfo};
use crate::registry::{KernelSpec, find};

/// Format version of the cache file.
pub const TUNE_CACHE_VERSION: u32 = 1;

/// The key of one tuned choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TuneKey {
    /// Device name as the backend reports it.
    pub device: String,
    /// Driver as the backend reports it.
    pub driver: String,
    /// Backend name.
    pub backend: String,
    /// Op name.
    pub op: String,
    /// Problem sizes, as `Dims` prints them (`rows=4096 cols=4096 batch=1`).
    pub dims: String,
}

/// One tuned choice and the timings it was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneEntry {
    /// What was tuned.
    pub key: TuneKey,
    /// The fastest variant.
    pub variant: String,
    /// Its median seconds per launch.
    pub median_s: f64,
    /// Every correct variant's median seconds per launch, fastest first.
    pub candidates: Vec<(String, f64)>,
    /// Cache mode the launches were timed in (`cold` or `hot`).
    pub cache_mode: String,
    /// Commit of the build that measured it.
    pub commit: String,
}

/// Every tuned choice on this machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TuneCache {
    /// [`TUNE_CACHE_VERSION`].
    pub version: u32,
    /// The choices.
    pub entries: Vec<TuneEntry>,
}

impl TuneCache {
    /// Where the cache lives: `DFMA_TUNE_CACHE`, else `DFMA_CACHE/tune.json`, else
    /// `$XDG_CACHE_HOME/dfma/tune.json` or `~/.cache/dfma/tune.json`.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("DFMA_TUNE_CACHE") {
            return PathBuf::from(p);
        }
        let dir = std::env::var_os("DFMA_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache")
            });
            base.join("dfma")
        });
        dir.join("tune.json")
    }

    /// Reads the cache at `path`; a missing file is an empty cache.
    pub fn load(path: &Path) -> Result<TuneCache, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TuneCache { version: TUNE_CACHE_VERSION, entries: vec![] });
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let cache: TuneCache =
            serde_json::from_str(&text).map_err(|e| format!("{}: not a dfma tune cache: {e}", path.display()))?;
        if cache.version != TUNE_CACHE_VERSION {
            return Err(format!(
                "{}: tune cache version {} (this dfma reads {TUNE_CACHE_VERSION}); delete it and rerun dfma tune",
                path.display(),
                cache.version
            ));
        }
        Ok(cache)
    }

    /// Writes the cache to `path` atomically (temporary file in the same folder, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The tuned choice for `key`.
    pub fn best(&self, key: &TuneKey) -> Option<&TuneEntry> {
        self.entries.iter().find(|e| &e.key == key)
    }

    /// The kernel of `op` to run on `kind` at `dims`: the variant tuned for this device, driver
    /// and shape when the cache has one (and it is still registered), else the first registered.
    /// `None` when `op` has no kernel on `kind`. Shared by `dfma op` and the model runtime, so
    /// that a `dfma tune` run changes both the same way.
    pub fn pick(&self, op: &str, kind: BackendKind, device: &DeviceInfo, dims: &Dims) -> Option<&'static KernelSpec> {
        let key = TuneKey {
            device: device.name.clone(),
            driver: device.driver.clone(),
            backend: kind.name().into(),
            op: op.into(),
            dims: dims.to_string(),
        };
        let tuned = self.best(&key).and_then(|e| find(op, kind).find(|k| k.variant == e.variant));
        tuned.or_else(|| find(op, kind).next())
    }

    /// Records `entry`, replacing an earlier choice for the same key.
    pub fn insert(&mut self, entry: TuneEntry) {
        self.entries.retain(|e| e.key != entry.key);
        self.entries.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(device: &str, variant: &str) -> TuneEntry {
        TuneEntry {
            key: TuneKey {
                device: device.into(),
                driver: "d".into(),
                backend: "cuda".into(),
                op: "q8_0_gemv".into(),
                dims: "rows=4096 cols=4096 batch=1".into(),
            },
            variant: variant.into(),
            median_s: 1e-5,
            candidates: vec![(variant.into(), 1e-5)],
            cache_mode: "cold".into(),
            commit: "c".into(),
        }
    }

    #[test]
    fn a_saved_cache_loads_back_and_a_retune_replaces_the_choice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tune.json");
        let mut c = TuneCache::load(&path).unwrap();
        assert!(c.entries.is_empty());
        c.insert(entry("H100", "warp_per_row"));
        c.insert(entry("A100", "warp_per_row"));
        c.insert(entry("H100", "rows4_split4"));
        c.save(&path).unwrap();
        let back = TuneCache::load(&path).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.entries.len(), 2);
        assert_eq!(back.best(&entry("H100", "").key).unwrap().variant, "rows4_split4");
        assert!(back.best(&TuneKey { device: "L4".into(), ..entry("H100", "").key }).is_none());
    }

    #[test]
    fn a_corrupt_cache_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tune.json");
        std::fs::write(&path, "{ not json").unwrap();
        let e = TuneCache::load(&path).unwrap_err();
        assert!(e.contains("tune.json") && e.contains("not a dfma tune cache"), "{e}");
        std::fs::write(&path, r#"{"version": 99, "entries": []}"#).unwrap();
        assert!(TuneCache::load(&path).unwrap_err().contains("version 99"));
    }
}
