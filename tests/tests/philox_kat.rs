//! Random123's Philox4x32-10 known answers on every backend that opens here: each registered
//! `philox4x32_10` kernel (reference, cpu, wgpu, PTX on cuda and ptxvm) must reproduce the
//! three vectors bit for bit. A backend that cannot open prints "not run: <reason>"; under
//! `CI=true` wgpu must run.

use std::process::ExitCode;

use dfma_kernels::registry::find;
use dfma_kernels::{BackendKind, BackendOptions, open, run_once};
use dfma_reference::Tensor;
use dfma_reference::ops::philox4x32_10::dims;
use dfma_reference::signals::philox::KNOWN_ANSWERS;
use dfma_tests::in_ci;

/// Backends CI must be able to run.
const REQUIRED_IN_CI: &[BackendKind] = &[BackendKind::Reference, BackendKind::Cpu, BackendKind::Wgpu];

fn main() -> ExitCode {
    let mut failures = Vec::new();
    let mut passed = 0;
    for kind in BackendKind::ALL {
        let backend = match open(kind, &BackendOptions::default()) {
            Ok(b) => b,
            Err(e) => {
                println!("{kind:<9} not run: {}", e.to_string().trim_start_matches("not available: "));
                if in_ci() && REQUIRED_IN_CI.contains(&kind) {
                    failures.push(format!("{kind} is required under CI=true: {e}"));
                }
                continue;
            }
        };
        let kernels: Vec<_> = find("philox4x32_10", kind).collect();
        if kernels.is_empty() {
            failures.push(format!("{kind}: no philox4x32_10 kernel registered"));
        }
        for kernel in kernels {
            for (ctr, key, want) in KNOWN_ANSWERS {
                let inputs = [Tensor::u32(vec![2], key.to_vec()), Tensor::u32(vec![4], ctr.to_vec())];
                let label = format!("{kind:<9} {:<32} ctr={ctr:08x?} key={key:08x?}", kernel.id());
                match run_once(backend.as_ref(), kernel, &dims(1), &inputs) {
                    Ok(out) if out[0].as_u32() == Some(&want[..]) => {
                        passed += 1;
                        println!("{label} PASS");
                    }
                    Ok(out) => {
                        println!("{label} FAIL got {:08x?}, expected {want:08x?}", out[0].as_u32());
                        failures.push(label);
                    }
                    Err(e) => {
                        println!("{label} FAIL {e}");
                        failures.push(format!("{label}: {e}"));
                    }
                }
            }
        }
    }
    println!("philox known answers: {passed} passed, {} failed", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("FAILED {f}");
        }
        ExitCode::FAILURE
    }
}
