//! `dfma bench --gguf FILE`: the real quantized weight matrices of a model as GEMV cases.
//!
//! A model repeats each projection shape once per layer; timing every copy would say the same
//! thing thirty times. One case per distinct (type, rows, cols) uses the first tensor of that
//! shape and names how many share it. Tensors of a type without a GEMV op here are listed as
//! skipped, never silently dropped.

use std::path::Path;
use std::rc::Rc;

use anyhow::Result;
use dfma_reference::gguf::{GgmlType, GgufFile};
use dfma_reference::ops::q8_0_gemv::MAX_BATCH;
use dfma_reference::{Dims, Op, Tensor, ops};

use crate::error::bad_input;

/// A real weight matrix to benchmark an op on.
pub struct GgufWeights {
    /// The op that multiplies it (e.g. `q8_0_gemv`).
    pub op: &'static dyn Op,
    /// The problem: rows, cols, batch.
    pub dims: Dims,
    /// The weights in the op's input layout (GGML blocks, row-major: the file's bytes as they are).
    pub w: Tensor,
    /// Where they came from, for the report.
    pub source: String,
}

/// The GEMV op for a GGML type, if one is registered.
fn gemv_op(t: GgmlType) -> Option<&'static dyn Op> {
    match t {
        GgmlType::Q8_0 => ops::by_name("q8_0_gemv"),
        GgmlType::Q4_0 => ops::by_name("q4_0_gemv"),
        _ => None,
    }
}

/// Reads `path` and returns one weight set per distinct (type, shape) of its Q4_0/Q8_0 matrices,
/// and a line saying what was skipped. Bad files and files with nothing to run are bad input.
pub fn load(path: &Path, batch: usize) -> Result<(Vec<Rc<GgufWeights>>, Option<String>)> {
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(bad_input(format!("--gguf-batch {batch}: must be in 1..={MAX_BATCH}")));
    }
    let file = GgufFile::open(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let mut out: Vec<(GgmlType, u64, u64, usize, GgufWeights)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for t in &file.gguf.tensors {
        let (Some(op), Some((rows, cols))) = (gemv_op(t.ggml_type), t.matrix_shape()) else {
            if t.dims.len() == 2 && !skipped.contains(&t.ggml_type.to_string()) {
                skipped.push(t.ggml_type.to_string());
            }
            continue;
        };
        if let Some(seen) = out.iter_mut().find(|(ty, r, c, _, _)| (*ty, *r, *c) == (t.ggml_type, rows, cols)) {
            seen.3 += 1;
            continue;
        }
        let (rows, cols) = (usize::try_from(rows)?, usize::try_from(cols)?);
        let row_bytes = t.n_bytes as usize / rows;
        let w = Tensor::u8(vec![rows, row_bytes], file.data(t).to_vec());
        let dims = Dims(vec![("rows", rows), ("cols", cols), ("batch", batch)]);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let source = format!("gguf {name}: {}", t.name);
        out.push((t.ggml_type, rows as u64, cols as u64, 1, GgufWeights { op, dims, w, source }));
    }
    let skipped =
        (!skipped.is_empty()).then(|| format!("skipped 2-D tensors of types {} (no GEMV op)", skipped.join(", ")));
    if out.is_empty() {
        let mut types: Vec<String> = file.gguf.tensors.iter().map(|t| t.ggml_type.to_string()).collect();
        types.dedup();
        return Err(bad_input(format!(
            "{}: no Q4_0 or Q8_0 2-D tensors to benchmark (tensor types: {})",
            path.display(),
            if types.is_empty() { "none".into() } else { types.join(", ") }
        )));
    }
    Ok((
        out.into_iter()
            .map(|(_, _, _, n, mut w)| {
                if n > 1 {
                    w.source.push_str(&format!(" (+{} more of this type and shape)", n - 1));
                }
                Rc::new(w)
            })
            .collect(),
        skipped,
    ))
}
