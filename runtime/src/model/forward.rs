//! The Llama forward pass on the CPU, one token at a time with a key/value cache.
//!
//! Per block: RMSNorm → Q, K, V projections → RoPE on Q and K (GGML's "normal" mode: pairs
//! (2i, 2i+1) of each head rotated by pos·θ^(−2i/head_dim), the layout llama.cpp's converter
//! gives Llama checkpoints) → causal grouped-query attention over the cache (query head h reads
//! key/value head h / (heads / kv_heads)) → output projection, added to the residual; then
//! RMSNorm → SwiGLU (silu(gate)·up) → down projection, added to the residual. A final RMSNorm
//! and the output head (the embeddings when tied) give the logits. f32 throughout.
//!
//! Every matrix product goes through the model's [`MatmulEngine`], chosen at load: the CPU
//! kernels on the mapped file ([`Model::load`]), or a backend's registered GEMV kernels with the
//! weights resident on the device ([`Model::load_on`]). The rest of the pass (norms, RoPE,
//! attention over the cache, SwiGLU) is small per token and stays on the CPU.

use std::path::Path;
use std::sync::Arc;

use dfma_kernels::Backend;
use dfma_kernels::BackendKind;
use dfma_reference::gguf::GgufFile;
use rayon::prelude::*;

use super::adapter::{Adapter, Projection};
use super::config::LlamaConfig;
use super::engine::{ActingAdapter, CpuEngine, CpuInt8Engine, MatmulEngine, engine_for};
use super::error::ModelError;
use super::shared_a::merge_shared_a;
use super::weights::{Layer, Matrix, Weights};

/// A loaded model: the mapped file, its configuration, its checked tensors and the engine its
/// matrix products run on. `'b` is the borrow of the backend a device engine's resident
/// weights live on (`'static` for the CPU engine).
pub struct Model<'b> {
    file: Arc<GgufFile>,
    /// Hyperparameters.
    pub config: LlamaConfig,
    /// Tensor locations.
    pub weights: Weights,
    engine: Box<dyn MatmulEngine + 'b>,
    adapters: Vec<Adapter>,
    /// The adapters as the forward pass applies them when some share A
    /// ([`super::shared_a`]); `None`: as attached.
    merged: Option<Vec<Adapter>>,
}

/// Keys and values of the tokens seen so far, per layer: `[layers][capacity][kv_dim]`. Cloned
/// to sample several continuations of one prefilled prompt.
#[derive(Clone)]
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

    /// Keys and values of every held position of `layer`, each `[len, kv_dim]`.
    pub(crate) fn layer(&self, layer: usize) -> (&[f32], &[f32]) {
        let range = self.slot(layer, 0).start..self.slot(layer, 0).start + self.len * self.kv_dim;
        (&self.k[range.clone()], &self.v[range])
    }

    fn slot(&self, layer: usize, pos: usize) -> std::ops::Range<usize> {
        let start = (layer * self.capacity + pos) * self.kv_dim;
        start..start + self.kv_dim
    }

    /// Stores `layer`'s key and value of the token at `pos`.
    pub(crate) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let slot = self.slot(layer, pos);
        self.k[slot.clone()].copy_from_slice(k);
        self.v[slot].copy_from_slice(v);
    }

    /// Counts one more token as held (after every layer stored its key and value).
    pub(crate) fn advance(&mut self) {
        self.len += 1;
    }

    /// Tokens it has room for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// One query token's causal grouped-query attention over `cache`'s positions `0..=pos` of
/// `layer` (the token's own key and value already stored at `pos`): softmax(q·kᵀ/√d)·v per
/// head, query head h reading key/value head h / (heads / kv_heads).
pub(crate) fn attend_cached(c: &LlamaConfig, q: &[f32], cache: &KvCache, layer: usize, pos: usize) -> Vec<f32> {
    let group = c.heads / c.kv_heads;
    let scale = 1.0 / (c.head_dim as f32).sqrt();
    let mut out = vec![0.0f32; c.dim];
    // The heads are independent and each is computed as it would be alone, so running them on
    // the pool gives the same bits; a decode step's attention is otherwise one core's work
    // while the others wait for the next product.
    out.par_chunks_mut(c.head_dim).enumerate().for_each(|(head, oh)| {
        let kvh = head / group;
        let qh = &q[head * c.head_dim..(head + 1) * c.head_dim];
        let key = |t: usize| &cache.k[cache.slot(layer, t)][kvh * c.head_dim..(kvh + 1) * c.head_dim];
        let mut scores: Vec<f32> =
            (0..=pos).map(|t| scale * qh.iter().zip(key(t)).map(|(a, b)| a * b).sum::<f32>()).collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for s in &mut scores {
            *s = (*s - max).exp();
            sum += *s;
        }
        for (t, p) in scores.iter().enumerate() {
            let vt = &cache.v[cache.slot(layer, t)][kvh * c.head_dim..(kvh + 1) * c.head_dim];
            for (o, vv) in oh.iter_mut().zip(vt) {
                *o += p / sum * vv;
            }
        }
    });
    out
}

/// x·w / rms(x), with rms(x) = sqrt(mean(x²) + ε).
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * inv * g).collect()
}

/// Rotates each head's pairs (2i, 2i+1) of `x` by pos·θ^(−2i/head_dim).
pub fn rope(x: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    RopeAngles::at(head_dim, pos, theta).rotate(x);
}

/// The sines and cosines of [`rope`]'s angles at one position. A decode step computes them once
/// and rotates every layer's queries and keys with them (the same values [`rope`] computes
/// pair by pair each time: a power and a sine-cosine per pair, 11,520 of each per token of the
/// embedded model otherwise).
pub struct RopeAngles {
    sin_cos: Vec<(f32, f32)>,
}

impl RopeAngles {
    /// The angles pos·θ^(−2i/head_dim) of the head_dim/2 pairs.
    pub fn at(head_dim: usize, pos: usize, theta: f32) -> Self {
        let sin_cos = (0..head_dim / 2)
            .map(|i| {
                let freq = theta.powf(-2.0 * i as f32 / head_dim as f32);
                (pos as f32 * freq).sin_cos()
            })
            .collect();
        Self { sin_cos }
    }

    /// Rotates each head (2 × the pairs long) of `x`.
    pub fn rotate(&self, x: &mut [f32]) {
        self.turn(x, 1.0);
    }

    /// Rotates by `direction` (±1) times the angles.
    fn turn(&self, x: &mut [f32], direction: f32) {
        for head in x.chunks_exact_mut(2 * self.sin_cos.len()) {
            for (pair, &(sin, cos)) in head.chunks_exact_mut(2).zip(&self.sin_cos) {
                let sin = direction * sin;
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * cos - b * sin;
                pair[1] = a * sin + b * cos;
            }
        }
    }
}

/// The transpose of [`rope`] (its inverse: the rotation by the opposite angle), which carries
/// a gradient back through it.
pub fn rope_backward(x: &mut [f32], head_dim: usize, pos: usize, theta: f32) {
    RopeAngles::at(head_dim, pos, theta).turn(x, -1.0);
}

/// x·σ(x), SwiGLU's gate nonlinearity.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl Model<'static> {
    /// Opens `path`, reads the configuration and checks every tensor; products run on the CPU
    /// kernels, straight on the mapped file.
    pub fn load(path: &Path) -> Result<Model<'static>, ModelError> {
        let (file, config, weights) = open(path)?;
        Ok(Model {
            file: Arc::new(file),
            config,
            weights,
            engine: Box::new(CpuEngine),
            adapters: Vec::new(),
            merged: None,
        })
    }
}

/// The mapped file, its configuration and its checked tensors.
fn open(path: &Path) -> Result<(GgufFile, LlamaConfig, Weights), ModelError> {
    let file = GgufFile::open(path)?;
    let config = LlamaConfig::from_gguf(&file.gguf)?;
    let weights = Weights::load(&file, &config)?;
    Ok((file, config, weights))
}

impl<'b> Model<'b> {
    /// As [`Model::load`], with every matrix product on `backend`: `cpu` is the CPU engine;
    /// any other backend gets one prepared GEMV per weight matrix, its weights uploaded here,
    /// once, in the kernel's device layout ([`super::device_engine::DeviceEngine`]).
    pub fn load_on(path: &Path, backend: &'b dyn Backend) -> Result<Model<'b>, ModelError> {
        let (file, config, weights) = open(path)?;
        let engine = engine_for(backend, &file, &weights)?;
        Ok(Model { file: Arc::new(file), config, weights, engine, adapters: Vec::new(), merged: None })
    }

    /// The engine the matrix products run on.
    pub fn engine(&self) -> &dyn MatmulEngine {
        self.engine.as_ref()
    }

    /// Runs the quantized products with 8-bit activations ([`CpuInt8Engine`]): faster decode and
    /// prefill on the CPU, logits off by the activations' rounding (train without it). Only the cpu engine has it; on a
    /// device engine this is an error and nothing changes.
    pub fn use_int8_activations(&mut self) -> Result<(), ModelError> {
        if self.engine.backend() != dfma_kernels::BackendKind::Cpu {
            return Err(ModelError::Request(format!(
                "8-bit activations are a cpu engine option; this model runs on {}",
                self.engine.backend()
            )));
        }
        self.engine = Box::new(CpuInt8Engine);
        Ok(())
    }

    fn matvec(&self, m: &Matrix, x: &[f32], y: &mut [f32]) -> Result<(), ModelError> {
        self.engine.matvec(&self.file, m, x, y)
    }

    /// Applies `adapter` from the next token on, after checking its factors' shapes against
    /// this model (its base hash is checked when it is loaded). Adapters stack: a personal and
    /// the collective one are both applied, each with its own scale.
    pub fn attach(&mut self, adapter: Adapter) -> Result<(), ModelError> {
        for (&(l, p), f) in &adapter.factors {
            let (rows, cols) = p.shape(&self.config);
            let ok = l < self.config.layers
                && (f.rows, f.cols) == (rows, cols)
                && f.a.len() == adapter.rank * cols
                && f.b.len() == rows * adapter.rank;
            if !ok {
                return Err(ModelError::Request(format!(
                    "adapter blk.{l}.{}: factors of {}x{} at rank {} do not fit this model's {rows}x{cols}",
                    p.gguf_name(),
                    f.rows,
                    f.cols,
                    adapter.rank
                )));
            }
        }
        self.adapters.push(adapter);
        self.merged = merge_shared_a(&self.adapters);
        Ok(())
    }

    /// The attached adapters, in the order they were attached.
    pub fn adapters(&self) -> &[Adapter] {
        &self.adapters
    }

    /// The adapters as the forward pass applies them: the attached ones, with any that share
    /// their A factors (a personal and the collective adapter drawn from one seed) merged into
    /// one over the summed B's — one shrink and one expand a projection instead of two.
    pub fn applied_adapters(&self) -> &[Adapter] {
        self.merged.as_deref().unwrap_or(&self.adapters)
    }

    /// Removes the adapter attached last (none: nothing happens).
    pub fn pop_adapter(&mut self) -> Option<Adapter> {
        let popped = self.adapters.pop();
        self.merged = merge_shared_a(&self.adapters);
        popped
    }

    /// Removes every attached adapter.
    pub fn detach_all(&mut self) {
        self.adapters.clear();
        self.merged = None;
    }

    /// y = W·x plus, for each attached adapter on (layer, projection), s·B·(A·x). With one or
    /// two adapters acting (a personal and the collective one) an engine with a `lora_fused`
    /// kernel does it all in one pass over W; otherwise the base product runs on the engine and
    /// the adapters' two small products on the cpu kernels.
    fn project(&self, l: usize, p: Projection, m: &Matrix, x: &[f32], y: &mut [f32]) -> Result<(), ModelError> {
        let acting = acting_on(self.applied_adapters().iter(), (l, p));
        if !acting.is_empty() && self.engine.fused(&self.file, m, x, y, 1, &acting)? {
            return Ok(());
        }
        self.matvec(m, x, y)?;
        for ad in self.applied_adapters() {
            let Some(f) = ad.factors.get(&(l, p)) else { continue };
            let mut t = vec![0.0f32; ad.rank];
            dfma_reference::cpu::lora::lora_shrink(&f.a, x, &mut t, ad.rank, f.cols);
            let s = ad.scale();
            for (o, yo) in y.iter_mut().enumerate() {
                *yo += s * dfma_reference::cpu::lora::dot(&f.b[o * ad.rank..(o + 1) * ad.rank], &t);
            }
        }
        Ok(())
    }

    /// Products that read the same input `x`, each projection's adapters included. On the cpu
    /// engine side by side on the thread pool ([`Self::project`] each). On a device engine as
    /// the training tape runs them ([`super::train::tape::project_group`]): the products that
    /// no engine kernel fuses with their adapters go as one group
    /// ([`MatmulEngine::matmul_group`]: one round trip for a stack), then their adapters.
    fn project_group<const N: usize>(
        &self,
        l: usize,
        mut parts: [(Projection, &Matrix, &mut [f32]); N],
        x: &[f32],
    ) -> Result<(), ModelError> {
        if self.engine.backend() != dfma_kernels::BackendKind::Cpu {
            let ys =
                super::train::tape::project_group(self, None, l, parts.each_ref().map(|(p, m, _)| (*p, *m)), x, 1)?;
            for ((_, _, y), got) in parts.iter_mut().zip(ys) {
                y.copy_from_slice(&got);
            }
            return Ok(());
        }
        match &mut parts[..] {
            [(pa, ma, ya), (pb, mb, yb)] => {
                let (ra, rb) = rayon::join(|| self.project(l, *pa, ma, x, ya), || self.project(l, *pb, mb, x, yb));
                ra.and(rb)
            }
            [(pa, ma, ya), (pb, mb, yb), (pc, mc, yc)] => {
                let (ra, (rb, rc)) = rayon::join(
                    || self.project(l, *pa, ma, x, ya),
                    || rayon::join(|| self.project(l, *pb, mb, x, yb), || self.project(l, *pc, mc, x, yc)),
                );
                ra.and(rb).and(rc)
            }
            rest => rest.iter_mut().try_for_each(|(p, m, y)| self.project(l, *p, m, x, y)),
        }
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

    /// Feeds a whole prompt into `cache` at once — every block's products batched over the
    /// prompt's tokens ([`MatmulEngine::matmul`]), attention causal over what the cache holds
    /// and the prompt — and returns the logits for the token after it: the same result as
    /// feeding the tokens one by one with [`Model::forward`] (to rounding), faster. A cache
    /// holding a shared prefix (worked examples) can be cloned and continued per question.
    pub fn prefill(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        on_the_pool(self.engine.backend(), || self.prefill_here(tokens, cache))
    }

    fn prefill_here(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Request("the prompt has no tokens".into()));
        }
        if tokens.len() == 1 {
            return self.forward(tokens[0], cache);
        }
        let start = cache.len;
        if start + tokens.len() > cache.capacity {
            return Err(ModelError::Request(format!(
                "a prompt of {} tokens does not fit a cache of {}",
                tokens.len(),
                cache.capacity
            )));
        }
        let c = &self.config;
        let mut keys: Vec<(Vec<f32>, Vec<f32>)> = Vec::with_capacity(c.layers);
        let x =
            super::train::tape::forward_with(self, None, tokens, Some(cache), |_, tape| keys.push((tape.k, tape.v)))?;
        for (l, (k, v)) in keys.iter().enumerate() {
            for pos in 0..tokens.len() {
                let slot = cache.slot(l, start + pos);
                cache.k[slot.clone()].copy_from_slice(&k[pos * c.kv_dim()..(pos + 1) * c.kv_dim()]);
                cache.v[slot].copy_from_slice(&v[pos * c.kv_dim()..(pos + 1) * c.kv_dim()]);
            }
        }
        cache.len = start + tokens.len();
        let h = rms_norm(&x[(tokens.len() - 1) * c.dim..], &self.weights.output_norm, c.rms_eps);
        let mut logits = vec![0.0f32; c.vocab];
        self.matvec(self.weights.head(), &h, &mut logits)?;
        Ok(logits)
    }

    /// Feeds `token` at the next position and returns the logits for the token after it.
    pub fn forward(&self, token: u32, cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        on_the_pool(self.engine.backend(), || self.forward_here(token, cache))
    }

    fn forward_here(&self, token: u32, cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let c = &self.config;
        if token as usize >= c.vocab {
            return Err(ModelError::Request(format!("token id {token} is outside the vocabulary of {}", c.vocab)));
        }
        if cache.len >= cache.capacity {
            return Err(ModelError::Request(format!("context full: {} tokens", cache.capacity)));
        }
        let pos = cache.len;
        let angles = RopeAngles::at(c.head_dim, pos, c.rope_theta);
        let mut x = self.weights.token_embd.row_f32(&self.file, token as usize);
        for (l, layer) in self.weights.layers.iter().enumerate() {
            self.attention(l, layer, &mut x, (pos, &angles), cache)?;
            self.mlp(l, layer, &mut x)?;
        }
        cache.len += 1;
        let h = rms_norm(&x, &self.weights.output_norm, c.rms_eps);
        let mut logits = vec![0.0f32; c.vocab];
        self.matvec(self.weights.head(), &h, &mut logits)?;
        Ok(logits)
    }

    fn attention(
        &self,
        l: usize,
        layer: &Layer,
        x: &mut [f32],
        (pos, angles): (usize, &RopeAngles),
        cache: &mut KvCache,
    ) -> Result<(), ModelError> {
        let c = &self.config;
        let h = rms_norm(x, &layer.attn_norm, c.rms_eps);
        let (mut q, mut k, mut v) = (vec![0.0f32; c.dim], vec![0.0f32; c.kv_dim()], vec![0.0f32; c.kv_dim()]);
        self.project_group(
            l,
            [(Projection::Q, &layer.q, &mut q), (Projection::K, &layer.k, &mut k), (Projection::V, &layer.v, &mut v)],
            &h,
        )?;
        angles.rotate(&mut q);
        angles.rotate(&mut k);
        cache.store(l, pos, &k, &v);
        let out = attend_cached(c, &q, cache, l, pos);
        let mut proj = vec![0.0f32; c.dim];
        self.project(l, Projection::O, &layer.o, &out, &mut proj)?;
        for (xi, p) in x.iter_mut().zip(&proj) {
            *xi += p;
        }
        Ok(())
    }

    fn mlp(&self, l: usize, layer: &Layer, x: &mut [f32]) -> Result<(), ModelError> {
        let c = &self.config;
        let h = rms_norm(x, &layer.ffn_norm, c.rms_eps);
        let (mut g, mut u) = (vec![0.0f32; c.ffn_dim], vec![0.0f32; c.ffn_dim]);
        self.project_group(l, [(Projection::Gate, &layer.gate, &mut g), (Projection::Up, &layer.up, &mut u)], &h)?;
        let a: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| silu(g) * u).collect();
        let mut d = vec![0.0f32; c.dim];
        self.project(l, Projection::Down, &layer.down, &a, &mut d)?;
        for (xi, di) in x.iter_mut().zip(&d) {
            *xi += di;
        }
        Ok(())
    }
}

/// The factors of `adapters` that act on (layer, projection), as [`MatmulEngine::fused`] takes
/// them, in order.
pub(crate) fn acting_on<'a>(
    adapters: impl Iterator<Item = &'a Adapter>,
    (l, p): (usize, Projection),
) -> Vec<ActingAdapter<'a>> {
    adapters
        .filter_map(|ad| {
            ad.factors.get(&(l, p)).map(|f| ActingAdapter { a: &f.a, b: &f.b, rank: ad.rank, scale: ad.scale() })
        })
        .collect()
}

/// Runs `step` (one forward pass, or a training example's forward and backward) on a worker of
/// the thread pool when the products run on the cpu ([`dfma_kernels::host::on_the_pool`]): one
/// hand-over a pass instead of one a product (a decode step of the embedded model makes 211).
/// Device engines stay on the calling thread, which holds their context.
pub(crate) fn on_the_pool<R: Send>(backend: BackendKind, step: impl FnOnce() -> R + Send) -> R {
    if backend == BackendKind::Cpu { dfma_kernels::host::on_the_pool(step) } else { step() }
}
