//! The Llama forward pass on the CPU, one token at a time with a key/value cache.
//!
//! Per block: RMSNorm → Q, K, V projections → RoPE on Q and K (GGML's "normal" mode: pairs
//! (2i, 2i+1) of each head rotated by pos·θ^(−2i/head_dim), the layout llama.cpp's converter
//! gives Llama checkpoints) → causal grouped-query attention over the cache (query head h reads
//! key/value head h / (heads / kv_heads)) → output projection, added to the residual; then
//! RMSNorm → SwiGLU (silu(gate)·up) → down projection, added to the residual. A final RMSNorm
//! and the output head (the embeddings when tied) give the logits. f32 throughout.

use std::path::Path;
use std::sync::Arc;

use dfma_reference::gguf::GgufFile;

use super::config::LlamaConfig;
use super::error::ModelError;
use super::matvec::matvec;
use super::weights::{Layer, Weights};

/// A loaded model: the mapped file, its configuration and its checked tensors.
pub struct Model {
    file: Arc<GgufFile>,
    /// Hyperparameters.
    pub config: LlamaConfig,
    /// Tensor locations.
    pub weights: Weights,
}

/// Keys and values of the tokens seen so far, per layer: `[layers][capacity][kv_dim]`.
pub struct KvCache {
    k: Vec<f32>,
    v: Vec<f32>,
    kv_dim: usize,
    capacity: usize,
    len: usize,
}

impl KvCache {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every token (a new conversation).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    fn slot(&self, layer: usize, pos: usize) -> std::ops::Range<usize> {
        let start = (layer * self.capacity + pos) * self.kv_dim;
        start..start + self.kv_dim
    }
}

/// x·w / rms(x), with rms(x) = sqrt(mean(x²) + ε).
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * inv * g).collect()
}

/// Rotates each head's pairs (2i, 2i+1) of `x` by pos·θ^(−2i/head_dim).
pub fn rope(x: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..head_dim / 2 {
            let freq = theta.powf(-2.0 * i as f32 / head_dim as f32);
            let (sin, cos) = (pos as f32 * freq).sin_cos();
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * cos - b * sin;
            head[2 * i + 1] = a * sin + b * cos;
        }
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl Model {
    /// Opens `path`, reads the configuration and checks every tensor.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let file = GgufFile::open(path)?;
        let config = LlamaConfig::from_gguf(&file.gguf)?;
        let weights = Weights::load(&file, &config)?;
        Ok(Model { file: Arc::new(file), config, weights })
    }

    /// The mapped file (for the tokenizer and for kernels that read weights directly).
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// An empty cache for up to `capacity` tokens (at most the trained context).
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        let capacity = capacity.min(self.config.context);
        let kv_dim = self.config.kv_dim();
        let n = self.config.layers * capacity * kv_dim;
        KvCache { k: vec![0.0; n], v: vec![0.0; n], kv_dim, capacity, len: 0 }
    }

    /// Feeds `token` at the next position and returns the logits for the token after it.
    pub fn forward(&self, token: u32, cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let c = &self.config;
        if token as usize >= c.vocab {
            return Err(ModelError::Request(format!("token id {token} is outside the vocabulary of {}", c.vocab)));
        }
        if cache.len >= cache.capacity {
            return Err(ModelError::Request(format!("context full: {} tokens", cache.capacity)));
        }
        let pos = cache.len;
        let mut x = self.weights.token_embd.row_f32(&self.file, token as usize);
        for (l, layer) in self.weights.layers.iter().enumerate() {
            self.attention(l, layer, &mut x, pos, cache);
            self.mlp(layer, &mut x);
        }
        cache.len += 1;
        let h = rms_norm(&x, &self.weights.output_norm, c.rms_eps);
        let head = self.weights.output.as_ref().unwrap_or(&self.weights.token_embd);
        let mut logits = vec![0.0f32; c.vocab];
        matvec(&self.file, head, &h, &mut logits, 1);
        Ok(logits)
    }

    fn attention(&self, l: usize, layer: &Layer, x: &mut [f32], pos: usize, cache: &mut KvCache) {
        let c = &self.config;
        let h = rms_norm(x, &layer.attn_norm, c.rms_eps);
        let (mut q, mut k, mut v) = (vec![0.0f32; c.dim], vec![0.0f32; c.kv_dim()], vec![0.0f32; c.kv_dim()]);
        matvec(&self.file, &layer.q, &h, &mut q, 1);
        matvec(&self.file, &layer.k, &h, &mut k, 1);
        matvec(&self.file, &layer.v, &h, &mut v, 1);
        rope(&mut q, c.head_dim, pos, c.rope_theta);
        rope(&mut k, c.head_dim, pos, c.rope_theta);
        let slot = cache.slot(l, pos);
        cache.k[slot.clone()].copy_from_slice(&k);
        cache.v[slot].copy_from_slice(&v);
        let group = c.heads / c.kv_heads;
        let scale = 1.0 / (c.head_dim as f32).sqrt();
        let mut out = vec![0.0f32; c.dim];
        for head in 0..c.heads {
            let kvh = head / group;
            let qh = &q[head * c.head_dim..(head + 1) * c.head_dim];
            let key = |t: usize| &cache.k[cache.slot(l, t)][kvh * c.head_dim..(kvh + 1) * c.head_dim];
            let mut scores: Vec<f32> =
                (0..=pos).map(|t| scale * qh.iter().zip(key(t)).map(|(a, b)| a * b).sum::<f32>()).collect();
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for s in &mut scores {
                *s = (*s - max).exp();
                sum += *s;
            }
            let oh = &mut out[head * c.head_dim..(head + 1) * c.head_dim];
            for (t, p) in scores.iter().enumerate() {
                let vt = &cache.v[cache.slot(l, t)][kvh * c.head_dim..(kvh + 1) * c.head_dim];
                for (o, vv) in oh.iter_mut().zip(vt) {
                    *o += p / sum * vv;
                }
            }
        }
        let mut proj = vec![0.0f32; c.dim];
        matvec(&self.file, &layer.o, &out, &mut proj, 1);
        for (xi, p) in x.iter_mut().zip(&proj) {
            *xi += p;
        }
    }

    fn mlp(&self, layer: &Layer, x: &mut [f32]) {
        let c = &self.config;
        let h = rms_norm(x, &layer.ffn_norm, c.rms_eps);
        let (mut g, mut u) = (vec![0.0f32; c.ffn_dim], vec![0.0f32; c.ffn_dim]);
        matvec(&self.file, &layer.gate, &h, &mut g, 1);
        matvec(&self.file, &layer.up, &h, &mut u, 1);
        let a: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| silu(g) * u).collect();
        let mut d = vec![0.0f32; c.dim];
        matvec(&self.file, &layer.down, &a, &mut d, 1);
        for (xi, di) in x.iter_mut().zip(&d) {
            *xi += di;
        }
    }
}
