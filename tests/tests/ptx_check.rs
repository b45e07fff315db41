//! Runs the `dfma ptx check` logic: every PTX file assembles for sm_80/86/89/90 with no spill and
//! the SASS each kernel asserts. Without ptxas it prints "not run: <reason>", except under
//! `CI=true`, where it fails.

use std::process::ExitCode;

use dfma_kernels::ptxas::{ARCHS, Toolchain, check_all};
use dfma_kernels::sources::PTX_FILES;
use dfma_tests::in_ci;

fn main() -> ExitCode {
    let tools = match Toolchain::find() {
        Ok(t) => t,
        Err(e) if in_ci() => {
            eprintln!("FAILED ptx check is required under CI=true: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            println!("ptx check not run: {e}");
            return ExitCode::SUCCESS;
        }
    };
    println!("ptx check with {} ({})", tools.ptxas.display(), tools.version);
    let reports = match check_all(&tools) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("FAILED ptx check: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    assert_eq!(reports.len(), PTX_FILES.len() * ARCHS.len(), "one report per file and target");
    for r in &reports {
        let kernels: Vec<String> =
            r.kernels.iter().map(|k| format!("{} {} regs {} B smem", k.name, k.registers, k.shared_bytes)).collect();
        let sass: Vec<String> = r.sass.iter().map(|s| format!("{} {}×{}", s.kernel, s.pattern, s.count)).collect();
        if r.passed() && !r.kernels.is_empty() {
            println!("{:<20} {:<6} PASS {} | SASS {}", r.file, r.arch, kernels.join(", "), sass.join(", "));
        } else {
            failed += 1;
            println!("{:<20} {:<6} FAIL {}", r.file, r.arch, r.failures.join("; "));
        }
    }
    if failed > 0 {
        eprintln!("FAILED ptx check: {failed} file/target pairs");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
