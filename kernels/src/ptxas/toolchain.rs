//! Finding NVIDIA's offline tools: `ptxas`, `cuobjdump`, `nvdisasm`.
//!
//! Search order: `DFMA_CUDA_TOOLS` (a directory), `PATH`, `$CUDA_HOME/bin`, the dfma tool cache
//! (`$XDG_CACHE_HOME/dfma/cuda-tools`, where `ci/test` installs NVIDIA's PyPI wheels), then
//! any `nvidia/*/bin` under the site-packages of `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tools `dfma ptx check` runs.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// `ptxas`.
    pub ptxas: PathBuf,
    /// `cuobjdump`.
    pub cuobjdump: PathBuf,
    /// `ptxas --version`'s last line.
    pub version: String,
}

impl Toolchain {
    /// Finds ptxas and cuobjdump, or says where it looked.
    pub fn find() -> Result<Self, String> {
        let ptxas = find_tool("ptxas")?;
        let cuobjdump = find_tool("cuobjdump")?;
        let version = Command::new(&ptxas)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().last().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        Ok(Self { ptxas, cuobjdump, version })
    }
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("DFMA_CUDA_TOOLS") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        dirs.push(Path::new(&home).join("bin"));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")));
    let mut site_roots: Vec<PathBuf> = cache.into_iter().map(|c| c.join("dfma").join("cuda-tools")).collect();
    if let Ok(o) = Command::new("python3")
        .args(["-c", "import site,sys; print('\\n'.join(site.getsitepackages()+[site.getusersitepackages()]))"])
        .output()
    {
        site_roots.extend(String::from_utf8_lossy(&o.stdout).lines().map(PathBuf::from));
    }
    for root in site_roots {
        if let Ok(entries) = std::fs::read_dir(root.join("nvidia")) {
            let mut found: Vec<PathBuf> =
                entries.flatten().map(|e| e.path().join("bin")).filter(|p| p.is_dir()).collect();
            found.sort();
            dirs.extend(found);
        }
    }
    dirs
}

/// The first executable called `name` in the search order, or an error listing where it looked.
pub fn find_tool(name: &str) -> Result<PathBuf, String> {
    let dirs = candidate_dirs();
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "{name} not found (looked in DFMA_CUDA_TOOLS, PATH, CUDA_HOME/bin, the dfma cache and python site-packages; \
             ci/test installs it: pip install nvidia-cuda-nvcc nvidia-cuda-cuobjdump)"
        )
    })
}
