//! Reading and writing tensors as .npy files, with one-line errors that name the file.
//!
//! Supported: C-order float32 (`<f4`), uint8 (`|u1`) and uint32 (`<u4`). Writes go to a temporary file in the
//! destination directory and are renamed into place, so a failed write leaves nothing behind.

use std::path::Path;

use anyhow::Result;
use dfma_reference::{DType, Tensor};
use npyz::WriterBuilder;

use crate::error::bad_input;
use crate::files::write_atomic_with;

/// Reads `path` into a tensor.
pub fn read(path: &Path) -> Result<Tensor> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| bad_input(format!("{name}: cannot read: {e}")))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad_input(format!("{name}: not a valid .npy file: {e}")))?;
    let type_str = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => return Err(bad_input(format!("{name}: structured dtype {other:?} is not supported"))),
    };
    let dtype = match type_str.as_str() {
        "<f4" => DType::F32,
        "|u1" | "<u1" => DType::U8,
        "<u4" => DType::U32,
        other => {
            return Err(bad_input(format!(
                "{name}: dtype {other} is not supported (need float32 <f4, uint8 |u1 or uint32 <u4)"
            )));
        }
    };
    if npy.order() != npyz::Order::C {
        return Err(bad_input(format!("{name}: Fortran-ordered arrays are not supported (save with C order)")));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let need = n.and_then(|n| n.checked_mul(dtype.size_bytes()));
    let data = npy.into_inner();
    let Some(need) = need else {
        return Err(bad_input(format!("{name}: shape {shape:?} overflows")));
    };
    if data.len() < need {
        return Err(bad_input(format!(
            "{name}: truncated: shape {shape:?} of {dtype} needs {need} data bytes, file has {}",
            data.len()
        )));
    }
    if data.len() > need {
        return Err(bad_input(format!(
            "{name}: {} bytes after the data of shape {shape:?} (corrupt or not one array)",
            data.len() - need
        )));
    }
    Ok(Tensor::from_bytes(dtype, shape, data).expect("length checked"))
}

/// Writes `t` to `path` atomically (temporary file, then rename).
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    write_atomic_with(path, |file| {
        let out = std::io::BufWriter::new(file);
        match t.dtype() {
            DType::F32 => {
                let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(&shape).writer(out).begin_nd()?;
                w.extend(t.as_f32().expect("f32").iter().copied())?;
                w.finish()?;
            }
            DType::U8 => {
                let mut w = npyz::WriteOptions::<u8>::new().default_dtype().shape(&shape).writer(out).begin_nd()?;
                w.extend(t.as_u8().expect("u8").iter().copied())?;
                w.finish()?;
            }
            DType::U32 => {
                let mut w = npyz::WriteOptions::<u32>::new().default_dtype().shape(&shape).writer(out).begin_nd()?;
                w.extend(t.as_u32().expect("u32").iter().copied())?;
                w.finish()?;
            }
        }
        Ok(())
    })
}
