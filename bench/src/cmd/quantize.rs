//! `dfma quantize q8_0|q4_0|q4_1 IN.npy OUT.npy`: GGML block bytes as a u8 .npy.

use anyhow::Result;
use dfma_reference::DType;
use dfma_reference::quant::{q4_0, q4_1, q8_0};

use crate::cli::QuantizeArgs;
use crate::error::bad_input;
use crate::npy;

/// One GGML format: its name, bytes a row of `cols` weights takes, and its row-major quantizer.
struct Format {
    name: &'static str,
    row_bytes: fn(usize) -> Option<usize>,
    quantize: fn(&[f32], usize) -> Vec<u8>,
}

const FORMATS: &[Format] = &[
    Format { name: "q8_0", row_bytes: q8_0::row_bytes, quantize: q8_0::quantize },
    Format { name: "q4_0", row_bytes: q4_0::row_bytes, quantize: q4_0::quantize },
    Format { name: "q4_1", row_bytes: q4_1::row_bytes, quantize: q4_1::quantize },
];

pub fn run(args: &QuantizeArgs) -> Result<()> {
    let Some(format) = FORMATS.iter().find(|f| f.name == args.format) else {
        let have: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
        return Err(bad_input(format!("format {}: unknown (have {})", args.format, have.join(", "))));
    };
    let upper = format.name.to_uppercase();
    let name = args.input.display();
    let t = npy::read(&args.input)?;
    if t.dtype() != DType::F32 {
        return Err(bad_input(format!("{name}: dtype is {}, expected float32", t.dtype())));
    }
    let (rows, cols) = match t.shape.as_slice() {
        &[c] => (1, c),
        &[r, c] => (r, c),
        s => return Err(bad_input(format!("{name}: shape {s:?} is not [rows, cols] or [cols]"))),
    };
    let Some(row_bytes) = (format.row_bytes)(cols) else {
        return Err(bad_input(format!("{name}: {cols} columns is not a positive multiple of 32 ({upper} blocks)")));
    };
    let x = t.as_f32().expect("f32");
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad_input(format!("{name}: element {i} is {}, {upper} needs finite values", x[i])));
    }
    let blocks = (format.quantize)(x, cols);
    let out_shape = if t.shape.len() == 1 { vec![row_bytes] } else { vec![rows, row_bytes] };
    npy::write(&args.output, &dfma_reference::Tensor::u8(out_shape, blocks))?;
    Ok(())
}
