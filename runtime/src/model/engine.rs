//! Where the model's matrix products run: a [`MatmulEngine`] chosen when the model is loaded.
//!
//! - [`CpuEngine`]: the fast CPU kernels on the memory-mapped weights ([`super::matvec`]), with
//!   no copy and no registry lookup per call — `--backend cpu`.
//! - [`DeviceEngine`] (`super::device_engine`): any other backend (`wgpu`, `cuda`, `ptxvm`;
//!   `reference` too, slowly), the weights resident in the registered GEMVs' device layouts.

use dfma_kernels::tune::TuneCache;
use dfma_kernels::{Backend, BackendKind};
use dfma_reference::cpu::lora::fused::{Adapter as FusedAdapter, lora_fused, lora_fused_int8};
use dfma_reference::cpu::q8_activations;
use dfma_reference::gguf::GgufFile;

use super::device_engine::DeviceEngine;
use super::error::ModelError;
use super::matvec::matvec;
use super::weights::{Matrix, WeightFormat, Weights};

/// Runs y = W·x for the model's weight matrices, one token at a time.
///
/// `Send + Sync` so that a loaded model can be shared; an engine with per-call device state
/// serializes calls on each matrix itself.
pub trait MatmulEngine: Send + Sync {
    /// The backend the products run on.
    fn backend(&self) -> BackendKind;
    /// One line for the user: backend, device, kernels, resident bytes.
    fn describe(&self) -> String;
    /// y = W·x for matrix `m` of the model loaded from `file`: `x` has `m.cols` values, `y`
    /// `m.rows`.
    fn matvec(&self, file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32]) -> Result<(), ModelError>;

    /// Y_i = X·W_iᵀ for products that read the same input `x` (`[tokens, cols]`; a block's q,
    /// k and v, its gate and up), `ys[i]` `[tokens, ms[i].rows]`. By default one
    /// [`MatmulEngine::matmul`] each; a device engine runs them as one round trip a token.
    fn matmul_group(
        &self,
        file: &GgufFile,
        ms: &[&Matrix],
        x: &[f32],
        ys: &mut [&mut [f32]],
        tokens: usize,
    ) -> Result<(), ModelError> {
        assert_eq!(ms.len(), ys.len(), "matmul_group: one output per matrix");
        for (m, y) in ms.iter().zip(ys.iter_mut()) {
            self.matmul(file, m, x, y, tokens)?;
        }
        Ok(())
    }

    /// Y = X·Wᵀ for `tokens` token rows (`x` `[tokens, m.cols]`, `y` `[tokens, m.rows]`): a
    /// sequence's products at once, for training and prefill. By default one
    /// [`MatmulEngine::matvec`] per token; an engine with a batched kernel overrides it.
    fn matmul(&self, file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32], tokens: usize) -> Result<(), ModelError> {
        for (xt, yt) in x.chunks_exact(m.cols).zip(y.chunks_exact_mut(m.rows)).take(tokens) {
            self.matvec(file, m, xt, yt)?;
        }
        Ok(())
    }

    /// dX = dY·W for `tokens` rows (`dy` `[tokens, m.rows]`, `dx` `[tokens, m.cols]`): the
    /// transposed product the training backward takes through a frozen matrix. By default the
    /// cpu kernel ([`super::matvec::matvec_t`]); a device engine runs the registered
    /// `*_gemv_t` op of the matrix's format.
    fn matmul_t(
        &self,
        file: &GgufFile,
        m: &Matrix,
        dy: &[f32],
        dx: &mut [f32],
        tokens: usize,
    ) -> Result<(), ModelError> {
        super::matvec::matvec_t(file, m, dy, dx, tokens);
        Ok(())
    }

    /// Y = X·Wᵀ + Σ s·(X·Aᵀ)·Bᵀ over `adapters` for `tokens` token rows, in one pass over W
    /// with y written once (the `lora_fused` ops), where this engine has such a kernel for the
    /// matrix's format and that many adapters. `Ok(false)`: it has none and wrote nothing, and
    /// the caller applies the adapters after a plain product. By default, none.
    fn fused(
        &self,
        _file: &GgufFile,
        _m: &Matrix,
        _x: &[f32],
        _y: &mut [f32],
        _tokens: usize,
        _adapters: &[ActingAdapter<'_>],
    ) -> Result<bool, ModelError> {
        Ok(false)
    }
}

/// One adapter acting on a product, as [`MatmulEngine::fused`] takes it: `a` `[rank, cols]`,
/// `b` `[rows, rank]`, scale `scale`.
#[derive(Clone, Copy, Debug)]
pub struct ActingAdapter<'a> {
    /// The shrink factor.
    pub a: &'a [f32],
    /// The expand factor.
    pub b: &'a [f32],
    /// Its rank.
    pub rank: usize,
    /// Its scale (alpha / rank).
    pub scale: f32,
}

/// One or two acting adapters as the fused kernels' (personal, collective) pair; an absent
/// second one has rank 0.
fn fused_pair<'a>(adapters: &[ActingAdapter<'a>]) -> [FusedAdapter<'a>; 2] {
    let none = FusedAdapter { a: &[], b: &[], rank: 0, s: 0.0 };
    [0, 1].map(|i| adapters.get(i).map_or(none, |ad| FusedAdapter { a: ad.a, b: ad.b, rank: ad.rank, s: ad.scale }))
}

/// Tokens one `lora_fused` call takes.
const FUSED_TOKENS: usize = 8;

/// The CPU engine: today's fast kernels straight on the mapped file.
pub struct CpuEngine;

impl MatmulEngine for CpuEngine {
    fn backend(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn describe(&self) -> String {
        format!("cpu ({} threads), weights memory-mapped", rayon::current_num_threads())
    }

    fn matvec(&self, file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32]) -> Result<(), ModelError> {
        matvec(file, m, x, y, 1);
        Ok(())
    }

    fn matmul(&self, file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32], tokens: usize) -> Result<(), ModelError> {
        matvec(file, m, x, y, tokens);
        Ok(())
    }

    /// The personal and the collective adapter (one or two) through the cpu `lora_fused`
    /// kernel of the matrix's format, 8 token rows a call; more adapters, or f32 weights, are
    /// left to the caller.
    fn fused(
        &self,
        file: &GgufFile,
        m: &Matrix,
        x: &[f32],
        y: &mut [f32],
        tokens: usize,
        adapters: &[ActingAdapter<'_>],
    ) -> Result<bool, ModelError> {
        let Some(format) = m.format.base_format() else { return Ok(false) };
        if adapters.is_empty() || adapters.len() > 2 {
            return Ok(false);
        }
        let pair = fused_pair(adapters);
        let w = m.bytes(file);
        let x_chunks = x[..tokens * m.cols].chunks(FUSED_TOKENS * m.cols);
        for (xc, yc) in x_chunks.zip(y[..tokens * m.rows].chunks_mut(FUSED_TOKENS * m.rows)) {
            lora_fused(format, w, xc, yc, m.rows, m.cols, pair);
        }
        Ok(true)
    }
}

/// The CPU engine with 8-bit activations: each token's x is quantized once per product to
/// blocks of 32 (a scale and 32 signed 8-bit codes, `dfma_reference::cpu::q8_activations`) and
/// the Q4_0, Q4_1 and Q8_0 weights multiply it with integer dot products, about 1.2–2.3× faster
/// than f32 activations on AVX2 at the price of each activation's rounding to 1/254 of its
/// block's largest magnitude — for single tokens (decode) and batches (prefill: the bands of
/// rows are read once for all tokens, each token's result the bits of its own GEMV). f32/f16
/// weights stay on [`CpuEngine`]'s exact f32 path. One or two adapters on a single token ride
/// the 8-bit base product as its epilogue, shrinking the exact x; batched adapted products take
/// [`CpuEngine`]'s f32 fused kernels. Training wants exact products: train on a model without
/// this engine.
pub struct CpuInt8Engine;

impl MatmulEngine for CpuInt8Engine {
    fn backend(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn describe(&self) -> String {
        format!(
            "cpu ({} threads), 8-bit activations in the quantized products, weights memory-mapped",
            rayon::current_num_threads()
        )
    }

    fn matvec(&self, file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32]) -> Result<(), ModelError> {
        let kernel = match m.format {
            WeightFormat::Q4_0 => q8_activations::q4_0_gemv,
            WeightFormat::Q4_1 => q8_activations::q4_1_gemv,
            WeightFormat::Q8_0 => q8_activations::q8_0_gemv,
            WeightFormat::F32 | WeightFormat::F16 => return CpuEngine.matvec(file, m, x, y),
        };
        assert_eq!((x.len(), y.len()), (m.cols, m.rows), "matvec {}: lengths", m.name);
        kernel(m.bytes(file), &q8_activations::quantize(x), y, m.rows, m.cols);
        Ok(())
    }

    fn matmul(&self, file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32], tokens: usize) -> Result<(), ModelError> {
        if tokens == 1 {
            return self.matvec(file, m, x, y);
        }
        let kernel = match m.format {
            WeightFormat::Q4_0 => q8_activations::q4_0_gemm,
            WeightFormat::Q4_1 => q8_activations::q4_1_gemm,
            WeightFormat::Q8_0 => q8_activations::q8_0_gemm,
            WeightFormat::F32 | WeightFormat::F16 => return CpuEngine.matmul(file, m, x, y, tokens),
        };
        assert_eq!((x.len(), y.len()), (tokens * m.cols, tokens * m.rows), "matmul {}: lengths", m.name);
        let xs: Vec<_> = x.chunks_exact(m.cols).map(q8_activations::quantize).collect();
        kernel(m.bytes(file), &xs, y, m.rows, m.cols);
        Ok(())
    }

    /// A single token with one or two adapters: the 8-bit base product with the adapters as
    /// its band epilogue ([`lora_fused_int8`]; the adapters shrink the exact x). Batched
    /// products take [`CpuEngine`]'s f32 fused kernels.
    fn fused(
        &self,
        file: &GgufFile,
        m: &Matrix,
        x: &[f32],
        y: &mut [f32],
        tokens: usize,
        adapters: &[ActingAdapter<'_>],
    ) -> Result<bool, ModelError> {
        if tokens != 1 || matches!(m.format, WeightFormat::F16) {
            return CpuEngine.fused(file, m, x, y, tokens, adapters);
        }
        let Some(format) = m.format.base_format() else { return Ok(false) };
        if adapters.is_empty() || adapters.len() > 2 {
            return Ok(false);
        }
        assert_eq!((x.len(), y.len()), (m.cols, m.rows), "fused {}: lengths", m.name);
        let xq = q8_activations::quantize(x);
        lora_fused_int8(format, m.bytes(file), x, &xq, y, m.rows, m.cols, fused_pair(adapters));
        Ok(true)
    }
}

/// The engine for `backend`: [`CpuEngine`] for `cpu`, else a [`DeviceEngine`] with the weights
/// uploaded. The tuning cache is read from its default place; a corrupt one is an error.
pub fn engine_for<'b>(
    backend: &'b dyn Backend,
    file: &GgufFile,
    weights: &Weights,
) -> Result<Box<dyn MatmulEngine + 'b>, ModelError> {
    if backend.kind() == BackendKind::Cpu {
        return Ok(Box::new(CpuEngine));
    }
    let tune = TuneCache::load(&TuneCache::default_path()).map_err(ModelError::TuneCache)?;
    Ok(Box::new(DeviceEngine::upload(backend, file, weights, &tune)?))
}
