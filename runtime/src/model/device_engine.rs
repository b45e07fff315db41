//! [`DeviceEngine`]: the model's products on a device backend (`wgpu`, `cuda`, `ptxvm`;
//! `reference` too, slowly), weights resident in the GEMV kernels' device layouts.
//!
//! At load it prepares registered GEMVs (`q4_0_gemv`, `q4_1_gemv`, `q8_0_gemv` by format),
//! which lay the weights out and upload them once. Per call only the activations move: x is
//! written into the GEMV's as-is input buffer ([`dfma_kernels::Prepared::write_input`]), the
//! kernel is launched and y is read back. The kernel is `dfma tune`'s choice for this device
//! and shape when its cache has one, else the first registered for the backend
//! ([`TuneCache::pick`]).
//!
//! **Stacks.** A decode step on a device is bound by its round trips (write, launch, wait,
//! read), not by the bytes of these small matrices. The products that read the same input —
//! each block's q, k and v, and its gate and up — are uploaded as one matrix, their rows one
//! after the other (the same format and width; GGUF rows are self-contained blocks, so the
//! stack's bytes are the members' bytes in order), and run as one GEMV: a block's seven
//! products become four round trips. [`MatmulEngine::matmul_group`] runs a stack once a token and hands
//! each member its rows; a member multiplied alone ([`MatmulEngine::matvec`]) runs its stack
//! and keeps its own rows, so nothing is uploaded twice. Every row's dot product is the one the
//! kernel computes for that row alone.
//!
//! **Transposed products.** The training backward's dX = dY·W through a frozen matrix runs the
//! registered `*_gemv_t` op of its format ([`MatmulEngine::matmul_t`]), prepared on first use
//! with its own copy of the matrix in that op's layout: training on a device holds the weights
//! twice, inference once.
//!
//! Decode multiplies by one token's activations (batch 1); a format without a GEMV op (F32,
//! F16) cannot be resident on a device and is refused at load, naming the tensor, rather than
//! silently multiplied on the CPU.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use dfma_kernels::registry::KernelSpec;
use dfma_kernels::tune::TuneCache;
use dfma_kernels::{Backend, BackendKind, Prepared};
use dfma_reference::gguf::GgufFile;
use dfma_reference::{Dims, Tensor};

use super::engine::MatmulEngine;
use super::error::ModelError;
use super::weights::{Matrix, WeightFormat, Weights};

/// One prepared GEMV, weights resident, x rewritten per call: a matrix or a stack of them.
struct ResidentGemv<'b> {
    prepared: Box<dyn Prepared + 'b>,
    /// Input width (x is prepared as `[1, cols]`, which every rewrite keeps).
    cols: usize,
    /// Output rows (the stack's members' rows together).
    rows: usize,
    /// What it multiplies by, for errors: a tensor name, or the members' names joined by `|`.
    name: String,
}

/// Where a matrix lives: its GEMV and the first of its rows in that GEMV's output.
#[derive(Clone, Copy, Debug)]
struct Placement {
    gemv: usize,
    row0: usize,
}

/// A matrix's transposed product (`*_gemv_t`, the training backward's dX), prepared on first
/// use with its own copy of the weights in that op's layout.
struct ResidentGemvT<'b> {
    prepared: Box<dyn Prepared + 'b>,
    /// Token rows it was prepared for; a call with fewer pads dy with zero rows.
    tokens: usize,
}

/// A device engine: prepared GEMVs on a backend, q|k|v and gate|up stacked.
pub struct DeviceEngine<'b> {
    backend: &'b dyn Backend,
    /// `dfma tune`'s choices, for the transposed products prepared later.
    tune: TuneCache,
    /// Indexed by [`Matrix::index`]: the transposed products prepared so far.
    transposed: Vec<Mutex<Option<ResidentGemvT<'b>>>>,
    kind: BackendKind,
    device: String,
    gemvs: Vec<Mutex<ResidentGemv<'b>>>,
    /// Indexed by [`Matrix::index`]; `None` for a matrix the forward pass never multiplies by.
    placements: Vec<Option<Placement>>,
    /// How many GEMVs each kernel serves, for [`MatmulEngine::describe`].
    kernels: BTreeMap<String, usize>,
    /// GEMVs that are stacks of several matrices.
    stacks: usize,
    /// Weight bytes uploaded (as stored in the file; device layouts add padding).
    weight_bytes: usize,
    /// Seconds the layouts and uploads took.
    upload_s: f64,
}

/// The GEMV op multiplying by a matrix of `format`, if there is one.
fn gemv_op(format: WeightFormat) -> Option<&'static str> {
    match format {
        WeightFormat::Q4_0 => Some("q4_0_gemv"),
        WeightFormat::Q4_1 => Some("q4_1_gemv"),
        WeightFormat::Q8_0 => Some("q8_0_gemv"),
        WeightFormat::F32 | WeightFormat::F16 => None,
    }
}

/// Whether `members` can share a GEMV: distinct matrices of one format with a GEMV op and one
/// width.
fn stackable(members: &[&Matrix]) -> bool {
    let first = members[0];
    let distinct = members.iter().enumerate().all(|(i, m)| members[..i].iter().all(|o| o.index() != m.index()));
    gemv_op(first.format).is_some()
        && distinct
        && members.iter().all(|m| m.format == first.format && m.cols == first.cols)
}

impl<'b> DeviceEngine<'b> {
    /// Prepares the GEMVs for every matrix the forward pass multiplies by
    /// ([`Weights::products`]) on `backend`, each block's q|k|v and gate|up as stacks where
    /// their formats and widths agree, uploading the weights once in the kernel's device
    /// layout. The kernel per GEMV comes from `tune` ([`TuneCache::pick`]).
    pub fn upload(
        backend: &'b dyn Backend,
        file: &GgufFile,
        weights: &Weights,
        tune: &TuneCache,
    ) -> Result<Self, ModelError> {
        let t0 = Instant::now();
        let count = weights.matrices().count();
        let mut engine = DeviceEngine {
            backend,
            tune: tune.clone(),
            transposed: (0..count).map(|_| Mutex::new(None)).collect(),
            kind: backend.kind(),
            device: backend.device().name.clone(),
            gemvs: Vec::new(),
            placements: vec![None; count],
            kernels: BTreeMap::new(),
            stacks: 0,
            weight_bytes: 0,
            upload_s: 0.0,
        };
        for l in &weights.layers {
            for group in [vec![&l.q, &l.k, &l.v], vec![&l.gate, &l.up]] {
                if stackable(&group) {
                    engine.add(file, &group)?;
                }
            }
        }
        for m in weights.products() {
            if engine.placements[m.index()].is_none() {
                engine.add(file, &[m])?;
            }
        }
        engine.upload_s = t0.elapsed().as_secs_f64();
        Ok(engine)
    }

    /// Prepares one GEMV over `members` (one matrix, or a stack), rows in the members' order.
    fn add(&mut self, file: &GgufFile, members: &[&Matrix]) -> Result<(), ModelError> {
        let first = members[0];
        let rows: usize = members.iter().map(|m| m.rows).sum();
        let name = members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join("|");
        let kernel = pick(self.backend, first.format, rows, first.cols, &name, &self.tune)?;
        let mut w = Vec::with_capacity(members.iter().map(|m| m.bytes(file).len()).sum());
        for m in members {
            w.extend_from_slice(m.bytes(file));
        }
        let dims = Dims(vec![("rows", rows), ("cols", first.cols), ("batch", 1)]);
        // x starts as zeros and is overwritten before every launch.
        let inputs =
            [Tensor::u8(vec![rows, first.row_bytes()], w), Tensor::f32(vec![1, first.cols], vec![0.0; first.cols])];
        let prepared = self.backend.prepare(kernel, &dims, &inputs).map_err(|e| ModelError::Backend {
            what: format!("uploading {name} ({rows}×{}) as {}", first.cols, kernel.id()),
            source: e,
        })?;
        let gemv = self.gemvs.len();
        let mut row0 = 0;
        for m in members {
            self.placements[m.index()] = Some(Placement { gemv, row0 });
            row0 += m.rows;
            self.weight_bytes += m.bytes(file).len();
        }
        self.stacks += usize::from(members.len() > 1);
        *self.kernels.entry(kernel.id()).or_insert(0) += 1;
        self.gemvs.push(Mutex::new(ResidentGemv { prepared, cols: first.cols, rows, name }));
        Ok(())
    }

    /// Where `m` lives, or a request error naming it.
    fn placement(&self, m: &Matrix) -> Result<Placement, ModelError> {
        self.placements.get(m.index()).copied().flatten().ok_or_else(|| {
            ModelError::Request(format!(
                "{} was not uploaded to {}: not a product of the forward pass",
                m.name, self.kind
            ))
        })
    }

    fn backend_error(&self, g: &ResidentGemv<'_>, e: dfma_kernels::Error) -> ModelError {
        ModelError::Backend { what: format!("{} on {}", g.name, self.kind), source: e }
    }

    /// Writes x into `g` and enqueues its launch.
    fn enqueue(&self, g: &mut ResidentGemv<'_>, x: &[f32]) -> Result<(), ModelError> {
        assert_eq!(x.len(), g.cols, "matvec {}: x length", g.name);
        let x = Tensor::f32(vec![1, g.cols], x.to_vec());
        g.prepared.write_input(1, &x).map_err(|e| self.backend_error(g, e))?;
        g.prepared.launch().map_err(|e| self.backend_error(g, e))
    }

    /// Waits for `g`'s launches and reads its `rows` outputs.
    fn finish(&self, g: &mut ResidentGemv<'_>) -> Result<Vec<f32>, ModelError> {
        g.prepared.synchronize().map_err(|e| self.backend_error(g, e))?;
        let out = g.prepared.read_outputs().map_err(|e| self.backend_error(g, e))?;
        let rows = g.rows;
        match out.into_iter().next() {
            Some(t) if t.as_f32().is_some_and(|v| v.len() == rows) => Ok(t.as_f32().expect("checked").to_vec()),
            _ => Err(ModelError::Request(format!(
                "{} on {}: the GEMV returned no {rows}-long f32 output",
                g.name, self.kind
            ))),
        }
    }

    fn lock(&self, gemv: usize) -> MutexGuard<'_, ResidentGemv<'b>> {
        self.gemvs[gemv].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The transposed-product op of a matrix in `format`, if there is one.
fn gemv_t_op(format: WeightFormat) -> Option<&'static str> {
    match format {
        WeightFormat::Q4_0 => Some("q4_0_gemv_t"),
        WeightFormat::Q4_1 => Some("q4_1_gemv_t"),
        WeightFormat::Q8_0 => Some("q8_0_gemv_t"),
        WeightFormat::F32 | WeightFormat::F16 => None,
    }
}

impl<'b> DeviceEngine<'b> {
    /// Prepares `m`'s transposed product for `tokens` token rows, uploading its weights.
    fn prepare_t(&self, file: &GgufFile, m: &Matrix, tokens: usize) -> Result<ResidentGemvT<'b>, ModelError> {
        let op = gemv_t_op(m.format).ok_or_else(|| {
            ModelError::Unsupported(format!("tensor {}: {:?} has no transposed product", m.name, m.format))
        })?;
        let dims = Dims(vec![("rows", m.rows), ("cols", m.cols), ("tokens", tokens)]);
        let kernel = self.tune.pick(op, self.kind, self.backend.device(), &dims).ok_or_else(|| {
            ModelError::Unsupported(format!("{op} has no kernel on {} (tensor {})", self.kind, m.name))
        })?;
        let inputs = [
            Tensor::u8(vec![m.rows, m.row_bytes()], m.bytes(file).to_vec()),
            Tensor::f32(vec![tokens, m.rows], vec![0.0; tokens * m.rows]),
        ];
        let prepared = self.backend.prepare(kernel, &dims, &inputs).map_err(|e| ModelError::Backend {
            what: format!("uploading {} ({}×{}) as {}", m.name, m.rows, m.cols, kernel.id()),
            source: e,
        })?;
        Ok(ResidentGemvT { prepared, tokens })
    }
}

/// The registered GEMV for a `format` matrix of `rows × cols` on `backend`: tuned, else the
/// first registered.
fn pick(
    backend: &dyn Backend,
    format: WeightFormat,
    rows: usize,
    cols: usize,
    name: &str,
    tune: &TuneCache,
) -> Result<&'static KernelSpec, ModelError> {
    let kind = backend.kind();
    let Some(op) = gemv_op(format) else {
        return Err(ModelError::Unsupported(format!(
            "tensor {name}: {format:?} weights have no GEMV op (q4_0_gemv, q4_1_gemv, q8_0_gemv), so they cannot be \
             resident on {kind}; run this model with --backend cpu"
        )));
    };
    let dims = Dims(vec![("rows", rows), ("cols", cols), ("batch", 1)]);
    tune.pick(op, kind, backend.device(), &dims)
        .ok_or_else(|| ModelError::Unsupported(format!("{op} has no kernel on {kind} (tensor {name})")))
}

impl MatmulEngine for DeviceEngine<'_> {
    fn backend(&self) -> BackendKind {
        self.kind
    }

    fn describe(&self) -> String {
        let kernels: Vec<String> = self.kernels.iter().map(|(k, n)| format!("{n}× {k}")).collect();
        format!(
            "{} ({}): {} ({} of them stacks of products sharing an input); {:.1} MB of weights resident, uploaded \
             in {:.2} s",
            self.kind,
            self.device,
            kernels.join(", "),
            self.stacks,
            self.weight_bytes as f64 / 1e6,
            self.upload_s
        )
    }

    fn matvec(&self, _file: &GgufFile, m: &Matrix, x: &[f32], y: &mut [f32]) -> Result<(), ModelError> {
        let at = self.placement(m)?;
        assert_eq!(y.len(), m.rows, "matvec {}: y length", m.name);
        let mut g = self.lock(at.gemv);
        self.enqueue(&mut g, x)?;
        let out = self.finish(&mut g)?;
        y.copy_from_slice(&out[at.row0..at.row0 + m.rows]);
        Ok(())
    }

    /// The matrix's `*_gemv_t` op, prepared on first use for the next power of two of token
    /// rows (at least 4; dy padded with zero rows, whose dx rows are not read) and again when
    /// a call needs more, in chunks of at most the op's limit.
    fn matmul_t(
        &self,
        file: &GgufFile,
        m: &Matrix,
        dy: &[f32],
        dx: &mut [f32],
        tokens: usize,
    ) -> Result<(), ModelError> {
        self.placement(m)?;
        assert_eq!((dy.len(), dx.len()), (tokens * m.rows, tokens * m.cols), "matmul_t {}: lengths", m.name);
        let mut slot = self.transposed[m.index()].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let chunk = dfma_reference::ops::quant_gemv_t::MAX_TOKENS;
        for (dyc, dxc) in dy.chunks(chunk * m.rows).zip(dx.chunks_mut(chunk * m.cols)) {
            let n = dyc.len() / m.rows;
            if slot.as_ref().is_none_or(|g| g.tokens < n) {
                *slot = Some(self.prepare_t(file, m, n.next_power_of_two().clamp(4, chunk))?);
            }
            let g = slot.as_mut().expect("prepared above");
            let what = |e| ModelError::Backend { what: format!("{}ᵀ on {}", m.name, self.kind), source: e };
            let mut padded = vec![0.0f32; g.tokens * m.rows];
            padded[..dyc.len()].copy_from_slice(dyc);
            g.prepared.write_input(1, &Tensor::f32(vec![g.tokens, m.rows], padded)).map_err(what)?;
            g.prepared.launch().map_err(what)?;
            g.prepared.synchronize().map_err(what)?;
            let out = g.prepared.read_outputs().map_err(what)?;
            let got =
                out.first().and_then(Tensor::as_f32).filter(|v| v.len() == g.tokens * m.cols).ok_or_else(|| {
                    ModelError::Request(format!("{}ᵀ on {}: no {}×{} f32 output", m.name, self.kind, g.tokens, m.cols))
                })?;
            dxc.copy_from_slice(&got[..dxc.len()]);
        }
        Ok(())
    }

    /// Per token, each distinct GEMV among `ms` (a stack once for all its members) is written
    /// and launched, then each is waited for and read: one wait a token where the backend
    /// orders its launches on one queue.
    fn matmul_group(
        &self,
        _file: &GgufFile,
        ms: &[&Matrix],
        x: &[f32],
        ys: &mut [&mut [f32]],
        tokens: usize,
    ) -> Result<(), ModelError> {
        assert_eq!(ms.len(), ys.len(), "matmul_group: one output per matrix");
        if ms.is_empty() {
            return Ok(());
        }
        let at: Vec<Placement> = ms.iter().map(|m| self.placement(m)).collect::<Result<_, _>>()?;
        let mut distinct: Vec<usize> = at.iter().map(|p| p.gemv).collect();
        distinct.sort_unstable();
        distinct.dedup();
        // Locked in ascending order, so concurrent groups cannot deadlock.
        let mut guards: Vec<_> = distinct.iter().map(|&i| self.lock(i)).collect();
        let cols = guards[0].cols;
        assert_eq!(x.len(), tokens * cols, "matmul_group: x length");
        for ((m, p), y) in ms.iter().zip(&at).zip(ys.iter()) {
            assert_eq!(y.len(), tokens * m.rows, "matmul_group {}: y length", m.name);
            assert_eq!(guards[distinct.binary_search(&p.gemv).expect("listed")].cols, cols, "matmul_group: widths");
        }
        for (t, xt) in x.chunks_exact(cols).enumerate() {
            for g in &mut guards {
                self.enqueue(g, xt)?;
            }
            let outs: Vec<Vec<f32>> = guards.iter_mut().map(|g| self.finish(g)).collect::<Result<_, _>>()?;
            for ((m, p), y) in ms.iter().zip(&at).zip(ys.iter_mut()) {
                let out = &outs[distinct.binary_search(&p.gemv).expect("listed")];
                y[t * m.rows..(t + 1) * m.rows].copy_from_slice(&out[p.row0..p.row0 + m.rows]);
            }
        }
        Ok(())
    }
}
