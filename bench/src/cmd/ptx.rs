//! `dfma ptx check`: assemble every PTX file for every target and check resources and SASS.

use anyhow::{Result, anyhow, bail};
use dfma_kernels::ptxas::{ARCHS, Toolchain, check_all};

pub fn check() -> Result<()> {
    let tools = Toolchain::find().map_err(|e| anyhow!(e))?;
    println!("ptxas: {} ({})", tools.ptxas.display(), tools.version);
    println!("cuobjdump: {}", tools.cuobjdump.display());
    println!("targets: {}", ARCHS.join(", "));
    let reports = check_all(&tools)?;
    let mut failed = 0;
    for r in &reports {
        for k in &r.kernels {
            println!(
                "{:<20} {:<6} {:<16} registers {:>3}  smem {:>6} B  stack {:>4} B  spills {}/{} B",
                r.file,
                r.arch,
                k.name,
                k.registers,
                k.shared_bytes,
                k.stack_bytes,
                k.spill_store_bytes,
                k.spill_load_bytes
            );
        }
        for s in &r.sass {
            println!("{:<20} {:<6} {:<16} SASS {}: {} instruction(s)", r.file, r.arch, s.kernel, s.pattern, s.count);
        }
        for f in &r.failures {
            println!("{:<20} {:<6} FAIL {f}", r.file, r.arch);
        }
        if !r.passed() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("ptx check: {failed} of {} file/target pairs failed", reports.len());
    }
    println!("ptx check: {} file/target pairs passed", reports.len());
    Ok(())
}
