//! `dfma list`: ops, their tensors and their kernels.

use anyhow::Result;
use dfma_kernels::registry::KERNELS;
use dfma_reference::ops;

pub fn run() -> Result<()> {
    for op in ops::all() {
        println!("{}: {}", op.name(), op.summary());
        for t in op.inputs() {
            println!("  in  {:<4} {:<8} {}", t.name, t.dtype, t.shape_doc);
        }
        for t in op.outputs() {
            println!("  out {:<4} {:<8} {}", t.name, t.dtype, t.shape_doc);
        }
        for k in KERNELS.iter().filter(|k| k.op.name() == op.name()) {
            let backends: Vec<&str> = k.backends().iter().map(|b| b.name()).collect();
            println!("  kernel {:<24} on {}", k.variant, backends.join(", "));
        }
    }
    Ok(())
}
