//! The model's tensors: where each lives in the memory-mapped GGUF file, in which format, with
//! which shape — validated against the configuration when the model is loaded, so a forward
//! pass never meets a surprise.

use std::ops::Range;

use dfma_reference::gguf::{GgmlType, GgufFile, TensorInfo};
use dfma_reference::ops::lora::fused::BaseFormat;

use super::config::LlamaConfig;
use super::error::ModelError;

/// How a weight matrix is stored (the GGML types the runtime multiplies by).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// f32.
    F32,
    /// IEEE f16.
    F16,
    /// GGML Q4_0.
    Q4_0,
    /// GGML Q4_1.
    Q4_1,
    /// GGML Q8_0.
    Q8_0,
}

impl WeightFormat {
    /// The same format as the kernels' [`BaseFormat`] (the `lora_fused` and `*_gemv_t` ops'
    /// weights); f32 weights have none.
    pub fn base_format(self) -> Option<BaseFormat> {
        match self {
            WeightFormat::Q4_0 => Some(BaseFormat::Q4_0),
            WeightFormat::Q4_1 => Some(BaseFormat::Q4_1),
            WeightFormat::Q8_0 => Some(BaseFormat::Q8_0),
            WeightFormat::F16 => Some(BaseFormat::F16),
            WeightFormat::F32 => None,
        }
    }

    fn of(t: GgmlType) -> Option<WeightFormat> {
        Some(match t {
            GgmlType::F32 => WeightFormat::F32,
            GgmlType::F16 => WeightFormat::F16,
            GgmlType::Q4_0 => WeightFormat::Q4_0,
            GgmlType::Q4_1 => WeightFormat::Q4_1,
            GgmlType::Q8_0 => WeightFormat::Q8_0,
            _ => return None,
        })
    }
}

/// A row-major weight matrix `rows × cols` (y = W·x maps `cols` inputs to `rows` outputs), its
/// bytes a range of the mapped file.
#[derive(Clone, Debug)]
pub struct Matrix {
    /// Tensor name in the file.
    pub name: String,
    /// Storage format.
    pub format: WeightFormat,
    /// Output width.
    pub rows: usize,
    /// Input width.
    pub cols: usize,
    range: Range<usize>,
    /// Position among the model's matrices ([`Weights::matrices`]): the key under which a
    /// matmul engine keeps this matrix's device-resident state.
    index: usize,
}

impl Matrix {
    /// The matrix's bytes in `file`.
    pub fn bytes<'a>(&self, file: &'a GgufFile) -> &'a [u8] {
        &file.bytes()[self.range.clone()]
    }

    /// Position among the model's matrices, in [`Weights::matrices`] order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        (self.range.end - self.range.start) / self.rows
    }

    /// Columns `first..first + out.len()` of row `r` as f32 into `out`, without allocating (the
    /// training backward's transposed products). For the block formats `first` and the range's
    /// end are on 32-weight block boundaries.
    pub fn widen_row_range(&self, file: &GgufFile, r: usize, first: usize, out: &mut [f32]) {
        let row = &self.bytes(file)[r * self.row_bytes()..(r + 1) * self.row_bytes()];
        match self.format.base_format() {
            Some(format) => format.decode_columns_into(row, first, out),
            None => {
                for (o, c) in out.iter_mut().zip(row[4 * first..].chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
    }

    /// Row `r` as f32 (the embedding lookup).
    pub fn row_f32(&self, file: &GgufFile, r: usize) -> Vec<f32> {
        let rb = self.row_bytes();
        let b = &self.bytes(file)[r * rb..(r + 1) * rb];
        match self.format {
            WeightFormat::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            WeightFormat::F16 => b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            WeightFormat::Q4_0 => dfma_reference::quant::q4_0::dequantize(b),
            WeightFormat::Q4_1 => dfma_reference::quant::q4_1::dequantize(b),
            WeightFormat::Q8_0 => dfma_reference::quant::q8_0::dequantize(b),
        }
    }
}

/// One transformer block's weights.
#[derive(Clone, Debug)]
pub struct Layer {
    /// RMSNorm gain before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection, dim → dim.
    pub q: Matrix,
    /// Key projection, dim → kv_dim.
    pub k: Matrix,
    /// Value projection, dim → kv_dim.
    pub v: Matrix,
    /// Attention output projection, dim → dim.
    pub o: Matrix,
    /// RMSNorm gain before the MLP.
    pub ffn_norm: Vec<f32>,
    /// SwiGLU gate, dim → ffn_dim.
    pub gate: Matrix,
    /// SwiGLU up, dim → ffn_dim.
    pub up: Matrix,
    /// SwiGLU down, ffn_dim → dim.
    pub down: Matrix,
}

/// All of a Llama model's weights.
#[derive(Clone, Debug)]
pub struct Weights {
    /// Token embeddings, vocab × dim.
    pub token_embd: Matrix,
    /// Final RMSNorm gain.
    pub output_norm: Vec<f32>,
    /// Output head, vocab × dim; `None` when tied to the embeddings.
    pub output: Option<Matrix>,
    /// The blocks.
    pub layers: Vec<Layer>,
}

fn info<'a>(file: &'a GgufFile, name: &str) -> Result<&'a TensorInfo, ModelError> {
    file.gguf.tensor(name).ok_or_else(|| ModelError::tensor(name, "missing"))
}

fn range(file: &GgufFile, t: &TensorInfo) -> Range<usize> {
    let start = (file.gguf.data_offset + t.offset) as usize;
    start..start + t.n_bytes as usize
}

/// The matrix `name`, which must be `rows × cols` in a supported format.
fn matrix(file: &GgufFile, name: &str, rows: usize, cols: usize) -> Result<Matrix, ModelError> {
    let t = info(file, name)?;
    let format = WeightFormat::of(t.ggml_type).ok_or_else(|| {
        ModelError::tensor(name, format!("type {} is not supported (F32, F16, Q4_0, Q4_1, Q8_0)", t.ggml_type.name()))
    })?;
    match t.matrix_shape() {
        Some((r, c)) if r as usize == rows && c as usize == cols => {}
        _ => {
            return Err(ModelError::tensor(
                name,
                format!("sizes {:?} (ne0 first), expected {rows} rows of {cols} (ne = [{cols}, {rows}])", t.dims),
            ));
        }
    }
    Ok(Matrix { name: name.into(), format, rows, cols, range: range(file, t), index: 0 })
}

/// The f32 vector `name` of length `len`.
fn vector(file: &GgufFile, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let t = info(file, name)?;
    if t.ggml_type != GgmlType::F32 || t.dims != [len as u64] {
        return Err(ModelError::tensor(name, format!("{} {:?}, expected F32 [{len}]", t.ggml_type.name(), t.dims)));
    }
    Ok(file.data(t).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

impl Weights {
    /// Finds and checks every tensor `c` implies.
    pub fn load(file: &GgufFile, c: &LlamaConfig) -> Result<Weights, ModelError> {
        let (dim, kv, ffn) = (c.dim, c.kv_dim(), c.ffn_dim);
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            let n = |part: &str| format!("blk.{l}.{part}.weight");
            layers.push(Layer {
                attn_norm: vector(file, &n("attn_norm"), dim)?,
                q: matrix(file, &n("attn_q"), dim, dim)?,
                k: matrix(file, &n("attn_k"), kv, dim)?,
                v: matrix(file, &n("attn_v"), kv, dim)?,
                o: matrix(file, &n("attn_output"), dim, dim)?,
                ffn_norm: vector(file, &n("ffn_norm"), dim)?,
                gate: matrix(file, &n("ffn_gate"), ffn, dim)?,
                up: matrix(file, &n("ffn_up"), ffn, dim)?,
                down: matrix(file, &n("ffn_down"), dim, ffn)?,
            });
        }
        let output = match file.gguf.tensor("output.weight") {
            Some(_) => Some(matrix(file, "output.weight", c.vocab, dim)?),
            None => None,
        };
        let mut w = Weights {
            token_embd: matrix(file, "token_embd.weight", c.vocab, dim)?,
            output_norm: vector(file, "output_norm.weight", dim)?,
            output,
            layers,
        };
        let mut index = 0;
        w.for_each_matrix_mut(|m| {
            m.index = index;
            index += 1;
        });
        Ok(w)
    }

    /// The matrix the logits come from: `output`, else the tied embeddings.
    pub fn head(&self) -> &Matrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    /// Every matrix, in index order: the embeddings, the untied head if any, then each
    /// block's q, k, v, o, gate, up, down.
    pub fn matrices(&self) -> impl Iterator<Item = &Matrix> {
        let blocks = self.layers.iter().flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]);
        std::iter::once(&self.token_embd).chain(self.output.as_ref()).chain(blocks)
    }

    /// The matrices the forward pass multiplies by (every block's projections and the head;
    /// the embeddings only when tied): what a device engine uploads.
    pub fn products(&self) -> impl Iterator<Item = &Matrix> {
        let blocks = self.layers.iter().flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]);
        blocks.chain(std::iter::once(self.head()))
    }

    fn for_each_matrix_mut(&mut self, mut f: impl FnMut(&mut Matrix)) {
        f(&mut self.token_embd);
        if let Some(o) = &mut self.output {
            f(o);
        }
        for l in &mut self.layers {
            for m in [&mut l.q, &mut l.k, &mut l.v, &mut l.o, &mut l.gate, &mut l.up, &mut l.down] {
                f(m);
            }
        }
    }
}
