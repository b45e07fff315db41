//! What the quantized GEMV ops (`q8_0_gemv`, `q4_0_gemv`, `q4_1_gemv`) share: one product
//! y[j] = W·x[j] for 1..8 activation columns, W in a GGUF block format, so the shape checks,
//! reference, random inputs and cost model are written once and differ only by format.
//!
//! Layout (the same as GGML's `ggml_mul_mat(W, x)`): `w` u8 `[rows, row_bytes]`, `x` f32
//! `[batch, cols]` (or `[cols]`), `y` f32 `[batch, rows]`. Cost model: bytes = weights + x + y;
//! flops = 2·rows·cols·batch.

use rand::Rng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::op::{Cost, Dims, OpError, expect_dtype};
use crate::quant::format::BaseFormat;
use crate::tensor::{DType, Tensor};

/// Most activation columns one launch takes (decode batches; prefill is a GEMM).
pub const MAX_BATCH: usize = 8;

/// Problem sizes of a quantized GEMV.
pub fn dims(rows: usize, cols: usize, batch: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("batch", batch)])
}

/// Checks `[w, x]` for a GEMV over `format` and derives its sizes.
pub(crate) fn dims_of(format: BaseFormat, inputs: &[Tensor]) -> Result<Dims, OpError> {
    let [w, x] = inputs else {
        return Err(OpError::new("inputs", format!("expected 2 tensors (w, x), got {}", inputs.len())));
    };
    let (rows, cols) = weight_shape(format, w)?;
    expect_dtype("x", x, DType::F32)?;
    let row_bytes = w.shape[1];
    let (batch, x_cols) = match x.shape.as_slice() {
        &[c] => (1, c),
        &[b, c] => (b, c),
        s => return Err(OpError::new("x", format!("shape {s:?} is not [batch, cols] or [cols]"))),
    };
    if x_cols != cols {
        return Err(OpError::new(
            "x",
            format!("has {x_cols} columns but w's rows hold {cols} weights ({row_bytes} bytes)"),
        ));
    }
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(OpError::new("x", format!("batch {batch} is outside 1..={MAX_BATCH}")));
    }
    Ok(dims(rows, cols, batch))
}

/// Checks a weight matrix `w` stored in `format` (u8 `[rows, row_bytes]`, whole blocks a row) and
/// gives its (rows, cols): what every op over a quantized matrix checks first.
pub(crate) fn weight_shape(format: BaseFormat, w: &Tensor) -> Result<(usize, usize), OpError> {
    expect_dtype("w", w, DType::U8)?;
    let (name, block) = (format.ggml_name(), format.block_bytes());
    let &[rows, row_bytes] = w.shape.as_slice() else {
        return Err(OpError::new("w", format!("shape {:?} is not 2-D [rows, cols/32*{block}]", w.shape)));
    };
    let cols = format.k_of(row_bytes).filter(|_| rows > 0).ok_or_else(|| {
        OpError::new("w", format!("shape {:?}: need rows ≥ 1 and a row of whole {block}-byte {name} blocks", w.shape))
    })?;
    Ok((rows, cols))
}

/// The plain reference: W decoded to f32, each product accumulated in f64.
pub(crate) fn reference(format: BaseFormat, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = format.decode(inputs[0].as_u8().expect("w is u8"));
    let x = inputs[1].as_f32().expect("x is f32");
    vec![Tensor::f32(vec![batch, rows], f64_products(&w, x, rows, cols, batch))]
}

/// `y[t·rows + r] = Σ_c w[r·cols + c]·x[t·cols + c]`, each accumulated in f64 and rounded once:
/// the reference of every weight-matrix product (tokens in parallel only because prefill shapes
/// are large).
pub(crate) fn f64_products(w: &[f32], x: &[f32], rows: usize, cols: usize, tokens: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; tokens * rows];
    y.par_chunks_mut(rows).enumerate().for_each(|(t, yt)| {
        let xt = &x[t * cols..(t + 1) * cols];
        for (r, out) in yt.iter_mut().enumerate() {
            let wr = &w[r * cols..(r + 1) * cols];
            *out = wr.iter().zip(xt).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() as f32;
        }
    });
    y
}

/// Random weights whose per-row magnitudes vary over two decades (so scales differ from block to
/// block), encoded in `format`: u8 `[rows, row_bytes]`.
pub(crate) fn random_weights(format: BaseFormat, rows: usize, cols: usize, rng: &mut StdRng) -> Tensor {
    let mut w = Vec::with_capacity(rows * cols);
    for _ in 0..rows {
        let row_scale = 10f32.powf(rng.random_range(-1.0..1.0));
        w.extend((0..cols).map(|_| row_scale * rng.random_range(-1.0f32..1.0)));
    }
    Tensor::u8(vec![rows, format.row_bytes(cols).expect("cols fits the format")], format.encode(&w, cols))
}

/// [`random_weights`] in `format`, and activations in (−1, 1).
pub(crate) fn random_inputs(format: BaseFormat, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let w = random_weights(format, rows, cols, rng);
    let x: Vec<f32> = (0..batch * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    vec![w, Tensor::f32(vec![batch, cols], x)]
}

/// bytes = weights + x + y; flops = 2·rows·cols·batch.
pub(crate) fn cost(format: BaseFormat, dims: &Dims) -> Cost {
    let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
    let weight_bytes = (rows * format.row_bytes(cols).expect("cols fits the format")) as u64;
    let (rows, cols, batch) = (rows as u64, cols as u64, batch as u64);
    Cost { bytes: weight_bytes + 4 * batch * cols + 4 * batch * rows, weight_bytes, flops: 2 * rows * cols * batch }
}
