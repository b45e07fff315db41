//! What the model commands (`generate`, `finetune`) share: which GGUF, loading it on a backend,
//! and which of its errors are the user's input.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use dfma_kernels::Backend;
use dfma_runtime::model::adapter::Projection;
use dfma_runtime::model::fetch::default_model;
use dfma_runtime::model::{Model, ModelError};

use crate::error::bad_input;

/// A model that cannot be loaded is bad input (exit 2); a failed run or a failing backend is not.
pub fn model_error(e: ModelError) -> anyhow::Error {
    match e {
        ModelError::Request(_) | ModelError::Backend { .. } => anyhow!("{e}"),
        e => bad_input(e.to_string()),
    }
}

/// `--model`, else DFMA_MODEL_GGUF, else the embedded model (fetched once).
pub fn model_path(model: Option<&Path>) -> Result<PathBuf> {
    match model {
        Some(p) => Ok(p.to_path_buf()),
        None => default_model().map_err(model_error),
    }
}

/// Loads `path` with its products on `backend`; errors name the file.
pub fn load_model<'b>(path: &Path, backend: &'b dyn Backend) -> Result<Model<'b>> {
    Model::load_on(path, backend).map_err(|e| match e {
        ModelError::Backend { .. } => anyhow!("{}: {e}", path.display()),
        e => bad_input(format!("{}: {e}", path.display())),
    })
}

/// Blocks named by `--layers`: `top:N`, `all`, or a comma list.
pub fn parse_layers(spec: &str, blocks: usize) -> Result<Vec<usize>> {
    let bad = |why: String| bad_input(format!("--layers {spec}: {why}"));
    if spec == "all" {
        return Ok((0..blocks).collect());
    }
    if let Some(n) = spec.strip_prefix("top:") {
        let n: usize = n.parse().map_err(|_| bad("top:N needs a number".into()))?;
        if n == 0 || n > blocks {
            return Err(bad(format!("the model has {blocks} blocks")));
        }
        return Ok((blocks - n..blocks).collect());
    }
    let mut layers = Vec::new();
    for part in spec.split(',') {
        let l: usize = part.trim().parse().map_err(|_| bad(format!("{part:?} is not a block index")))?;
        if l >= blocks {
            return Err(bad(format!("block {l} is outside 0..{blocks}")));
        }
        layers.push(l);
    }
    layers.sort_unstable();
    layers.dedup();
    Ok(layers)
}

/// Projections named by `--projections`.
pub fn parse_projections(spec: &str) -> Result<Vec<Projection>> {
    spec.split(',')
        .map(|p| {
            Projection::parse(p.trim()).ok_or_else(|| {
                bad_input(format!("--projections: unknown projection {p:?} (have q, k, v, o, gate, up, down)"))
            })
        })
        .collect()
}
