//! `dfma quantize q8_0 IN.npy OUT.npy`: GGML block bytes as a u8 .npy.

use anyhow::Result;
use dfma_reference::DType;
use dfma_reference::quant::q8_0;

use crate::cli::QuantizeArgs;
use crate::error::bad_input;
use crate::npy;

pub fn run(args: &QuantizeArgs) -> Result<()> {
    if args.format != "q8_0" {
        return Err(bad_input(format!("format {}: unknown (have q8_0)", args.format)));
    }
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
    let Some(row_bytes) = q8_0::row_bytes(cols) else {
        return Err(bad_input(format!("{name}: {cols} columns is not a positive multiple of 32 (Q8_0 blocks)")));
    };
    let x = t.as_f32().expect("f32");
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad_input(format!("{name}: element {i} is {}, Q8_0 needs finite values", x[i])));
    }
    let blocks = q8_0::quantize(x, cols);
    let out_shape = if t.shape.len() == 1 { vec![row_bytes] } else { vec![rows, row_bytes] };
    npy::write(&args.output, &dfma_reference::Tensor::u8(out_shape, blocks))?;
    Ok(())
}
