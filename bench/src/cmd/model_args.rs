//! What the model commands (`generate`, `finetune`) share: which GGUF, loading it on a backend,
//! and which of its errors are the user's input.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use dfma_kernels::Backend;
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
