//! Tiny random Llama models written as GGUF files: what tests (gradient checks, training
//! smoke tests, bad-input cases) build for themselves instead of downloading anything.
//!
//! Weights are seeded uniform in ±1/√cols (norm gains 1 ± 0.1), so activations keep a sane
//! scale through the blocks; the vocabulary is `vocab` placeholder tokens `<t0>`, `<t1>`, …
//! (enough for the configuration; no tokenizer is implied). Embeddings are tied.

use std::path::Path;

use dfma_reference::gguf::{GgmlType, GgufWriter, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::error::ModelError;
use super::weights::WeightFormat;

/// The shape of a tiny model.
#[derive(Clone, Copy, Debug)]
pub struct TinyLlama {
    /// Blocks.
    pub layers: usize,
    /// Residual width.
    pub dim: usize,
    /// SwiGLU width.
    pub ffn_dim: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Context length.
    pub context: usize,
    /// Format of the block matrices (quantized ones need widths that are multiples of 32).
    pub format: WeightFormat,
    /// Format of the (tied) embedding matrix.
    pub embedding_format: WeightFormat,
    /// RoPE base θ.
    pub rope_theta: f32,
}

impl TinyLlama {
    /// A small model for tests: every matrix in `format`, RoPE θ = 10000.
    pub fn small(
        layers: usize,
        dim: usize,
        ffn_dim: usize,
        heads: usize,
        kv_heads: usize,
        vocab: usize,
        format: WeightFormat,
    ) -> Self {
        TinyLlama {
            layers,
            dim,
            ffn_dim,
            heads,
            kv_heads,
            vocab,
            context: 64,
            format,
            embedding_format: format,
            rope_theta: 10000.0,
        }
    }

    /// The embedded model's architecture with random weights: SmolLM2-135M-Instruct's shapes
    /// (30 blocks, width 576, SwiGLU 1536, 9 query and 3 key/value heads, 49,152 tokens) and its
    /// file's tensor formats (Q4_1 blocks, Q8_0 tied embeddings). Speed depends on shapes and
    /// formats, not on the values, so this stands in for the real file where it cannot be
    /// fetched (a machine without registry access); nothing it generates is meaningful text.
    pub const SMOLLM2_135M: TinyLlama = TinyLlama {
        layers: 30,
        dim: 576,
        ffn_dim: 1536,
        heads: 9,
        kv_heads: 3,
        vocab: 49152,
        context: 8192,
        format: WeightFormat::Q4_1,
        embedding_format: WeightFormat::Q8_0,
        rope_theta: 100000.0,
    };

    /// The GGUF file's bytes for weights drawn from `seed`.
    pub fn to_bytes(&self, seed: u64) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut w = GgufWriter::new();
        let u32v = |n: usize| Value::U32(n as u32);
        w.metadata("general.architecture", Value::String("llama".into()))
            .metadata("llama.block_count", u32v(self.layers))
            .metadata("llama.embedding_length", u32v(self.dim))
            .metadata("llama.feed_forward_length", u32v(self.ffn_dim))
            .metadata("llama.attention.head_count", u32v(self.heads))
            .metadata("llama.attention.head_count_kv", u32v(self.kv_heads))
            .metadata("llama.context_length", u32v(self.context))
            .metadata("llama.rope.freq_base", Value::F32(self.rope_theta))
            .metadata("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
            .metadata(
                "tokenizer.ggml.tokens",
                Value::Array((0..self.vocab).map(|i| Value::String(format!("<t{i}>"))).collect()),
            );
        let kv_dim = self.dim / self.heads * self.kv_heads;
        let mut matrix = |w: &mut GgufWriter, name: &str, rows: usize, cols: usize, format: WeightFormat| {
            let bound = 1.0 / (cols as f32).sqrt();
            let x: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-bound..bound)).collect();
            let dims = [cols as u64, rows as u64];
            match format {
                WeightFormat::F32 => w.tensor_f32(name, &dims, &x),
                WeightFormat::F16 => w.tensor(
                    name,
                    &dims,
                    GgmlType::F16,
                    x.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
                ),
                WeightFormat::Q8_0 => {
                    w.tensor(name, &dims, GgmlType::Q8_0, dfma_reference::quant::q8_0::quantize(&x, cols))
                }
                WeightFormat::Q4_0 => {
                    w.tensor(name, &dims, GgmlType::Q4_0, dfma_reference::quant::q4_0::quantize(&x, cols))
                }
                WeightFormat::Q4_1 => {
                    w.tensor(name, &dims, GgmlType::Q4_1, dfma_reference::quant::q4_1::quantize(&x, cols))
                }
            };
        };
        matrix(&mut w, "token_embd.weight", self.vocab, self.dim, self.embedding_format);
        let mut gains = StdRng::seed_from_u64(seed ^ 0x6e6f726d);
        let mut gain = |w: &mut GgufWriter, name: &str| {
            let g: Vec<f32> = (0..self.dim).map(|_| 1.0 + gains.random_range(-0.1..0.1)).collect();
            w.tensor_f32(name, &[self.dim as u64], &g);
        };
        gain(&mut w, "output_norm.weight");
        for l in 0..self.layers {
            let n = |part: &str| format!("blk.{l}.{part}.weight");
            gain(&mut w, &n("attn_norm"));
            gain(&mut w, &n("ffn_norm"));
            matrix(&mut w, &n("attn_q"), self.dim, self.dim, self.format);
            matrix(&mut w, &n("attn_k"), kv_dim, self.dim, self.format);
            matrix(&mut w, &n("attn_v"), kv_dim, self.dim, self.format);
            matrix(&mut w, &n("attn_output"), self.dim, self.dim, self.format);
            matrix(&mut w, &n("ffn_gate"), self.ffn_dim, self.dim, self.format);
            matrix(&mut w, &n("ffn_up"), self.ffn_dim, self.dim, self.format);
            matrix(&mut w, &n("ffn_down"), self.dim, self.ffn_dim, self.format);
        }
        w.to_bytes()
    }

    /// Writes the model to `path`.
    pub fn write(&self, path: &Path, seed: u64) -> Result<(), ModelError> {
        std::fs::write(path, self.to_bytes(seed)).map_err(|e| ModelError::Request(format!("{}: {e}", path.display())))
    }
}
