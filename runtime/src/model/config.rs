//! A Llama-family model's hyperparameters, read from GGUF metadata and checked for consistency
//! before any tensor is touched.

use dfma_reference::gguf::Gguf;

use super::error::ModelError;

/// The hyperparameters of a Llama-architecture model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// Transformer blocks (`llama.block_count`).
    pub layers: usize,
    /// Residual width (`llama.embedding_length`).
    pub dim: usize,
    /// SwiGLU hidden width (`llama.feed_forward_length`).
    pub ffn_dim: usize,
    /// Query heads (`llama.attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`); grouped-query attention when fewer.
    pub kv_heads: usize,
    /// Width of one head: dim / heads.
    pub head_dim: usize,
    /// RoPE base θ (`llama.rope.freq_base`, default 10000).
    pub rope_theta: f32,
    /// RMSNorm ε (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// Vocabulary size (from the token list).
    pub vocab: usize,
    /// Longest context the model was trained for (`llama.context_length`).
    pub context: usize,
}

impl LlamaConfig {
    /// A tiny configuration for unit tests: 2 blocks, width 64, SwiGLU 96, 4 query / 2
    /// key-value heads of 16, 100 tokens.
    #[cfg(test)]
    pub(crate) fn tiny_for_tests() -> LlamaConfig {
        LlamaConfig {
            layers: 2,
            dim: 64,
            ffn_dim: 96,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            rope_theta: 10000.0,
            rms_eps: 1e-5,
            vocab: 100,
            context: 128,
        }
    }

    /// Width of the key and value projections: kv_heads · head_dim.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Reads and validates the metadata of `g`.
    pub fn from_gguf(g: &Gguf) -> Result<LlamaConfig, ModelError> {
        let arch = g.get("general.architecture").and_then(|v| v.as_str()).unwrap_or("(missing)");
        if arch != "llama" {
            return Err(ModelError::Architecture { found: arch.into() });
        }
        let int = |key: &str| -> Result<usize, ModelError> {
            let v = g.get(key).ok_or_else(|| ModelError::metadata(key, "missing"))?;
            let n = v.as_u64().ok_or_else(|| ModelError::metadata(key, "is not an unsigned integer"))?;
            usize::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| ModelError::metadata(key, format!("{n} is not a usable size")))
        };
        let float = |key: &str, default: Option<f64>| -> Result<f32, ModelError> {
            match g.get(key) {
                Some(v) => v.as_f64().map(|f| f as f32).ok_or_else(|| ModelError::metadata(key, "is not a number")),
                None => default.map(|d| d as f32).ok_or_else(|| ModelError::metadata(key, "missing")),
            }
        };
        let layers = int("llama.block_count")?;
        let dim = int("llama.embedding_length")?;
        let ffn_dim = int("llama.feed_forward_length")?;
        let heads = int("llama.attention.head_count")?;
        let kv_heads = match g.get("llama.attention.head_count_kv") {
            Some(_) => int("llama.attention.head_count_kv")?,
            None => heads,
        };
        let context = int("llama.context_length")?;
        if dim % heads != 0 {
            return Err(ModelError::metadata(
                "llama.attention.head_count",
                format!("{heads} heads do not divide width {dim}"),
            ));
        }
        if heads % kv_heads != 0 {
            return Err(ModelError::metadata(
                "llama.attention.head_count_kv",
                format!("{kv_heads} key/value heads do not divide {heads} query heads"),
            ));
        }
        let head_dim = dim / heads;
        if head_dim % 2 != 0 {
            return Err(ModelError::metadata(
                "llama.embedding_length",
                format!("head width {head_dim} is odd (RoPE rotates pairs)"),
            ));
        }
        if let Some(v) = g.get("llama.rope.dimension_count") {
            let rot = v.as_u64().unwrap_or(0) as usize;
            if rot != head_dim {
                return Err(ModelError::metadata(
                    "llama.rope.dimension_count",
                    format!("{rot}: partial rotary embeddings are not supported (head width {head_dim})"),
                ));
            }
        }
        let vocab = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(<[_]>::len)
            .ok_or_else(|| ModelError::metadata("tokenizer.ggml.tokens", "missing or not an array"))?;
        let rope_theta = float("llama.rope.freq_base", Some(10000.0))?;
        let rms_eps = float("llama.attention.layer_norm_rms_epsilon", None)?;
        if !(rms_eps > 0.0 && rms_eps < 1.0) {
            return Err(ModelError::metadata(
                "llama.attention.layer_norm_rms_epsilon",
                format!("{rms_eps} is not in (0, 1)"),
            ));
        }
        Ok(LlamaConfig { layers, dim, ffn_dim, heads, kv_heads, head_dim, rope_theta, rms_eps, vocab, context })
    }
}
