//! What can go wrong loading or running a model, each naming the file, key or tensor at fault.

use dfma_reference::gguf::GgufError;

use super::tokenizer::TokenizerError;

/// A model that cannot be loaded or a request it cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file is not a readable GGUF.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The file holds another architecture.
    #[error("general.architecture is {found:?}; only \"llama\" is supported")]
    Architecture {
        /// What the file says.
        found: String,
    },
    /// A metadata key is missing or inconsistent.
    #[error("metadata {key}: {problem}")]
    Metadata {
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// A tensor is missing, of an unsupported type, or of the wrong shape.
    #[error("tensor {name}: {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The tokenizer could not be built or used.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The request does not fit the model (context full, token id out of range).
    #[error("{0}")]
    Request(String),
    /// The model cannot run on the chosen backend (a weight format without a GEMV kernel
    /// there): bad input for this backend, not a failure.
    #[error("{0}")]
    Unsupported(String),
    /// The `dfma tune` cache that picks the kernels is unreadable (corrupt, another version).
    #[error("{0}")]
    TuneCache(String),
    /// The backend failed (or is not available) while uploading weights or running a product.
    #[error("{what}: {source}")]
    Backend {
        /// What was being done, naming the tensor.
        what: String,
        /// The backend's error.
        source: dfma_kernels::Error,
    },
}

impl ModelError {
    pub(crate) fn metadata(key: &str, problem: impl Into<String>) -> Self {
        ModelError::Metadata { key: key.into(), problem: problem.into() }
    }

    pub(crate) fn tensor(name: &str, problem: impl Into<String>) -> Self {
        ModelError::Tensor { name: name.into(), problem: problem.into() }
    }
}
