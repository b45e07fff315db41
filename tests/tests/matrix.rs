//! The test matrix: every registered (op, backend, variant) × the op's test shapes, on fresh
//! random inputs (seed printed; `DFMA_SEED` reproduces), outputs poisoned before the launch (NaN
//! for f32, all-ones bits for integers), compared with the reference: f32 under the op's
//! tolerance, integer outputs bit for bit (naming the first mismatching index). A backend that
//! cannot run here prints "not run: <reason>"; under `CI=true`, wgpu must run.

use std::process::ExitCode;

use dfma_kernels::registry::for_backend;
use dfma_kernels::{BackendKind, BackendOptions, open, run_once};
use dfma_reference::compare::compare_tensors;
use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_tests::in_ci;

/// Backends CI must be able to run.
const REQUIRED_IN_CI: &[BackendKind] = &[BackendKind::Reference, BackendKind::Cpu, BackendKind::Wgpu];

fn main() -> ExitCode {
    let seed = match seed_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `DFMA_OPS=a,b` narrows the matrix to some ops while working on them; CI runs it whole.
    let only: Vec<String> = std::env::var("DFMA_OPS")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if !only.is_empty() {
        println!("test matrix: only ops {only:?} (DFMA_OPS)");
    }
    println!("test matrix: seed {seed} (DFMA_SEED={seed} reproduces)");
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
        println!("{kind:<9} on {} ({})", backend.device().name, backend.device().driver);
        for (stream, kernel) in for_backend(kind).enumerate() {
            let op = kernel.op;
            if !only.is_empty() && !only.iter().any(|o| o == op.name()) {
                continue;
            }
            for (i, dims) in op.test_dims().into_iter().enumerate() {
                let inputs = op.random_inputs(&dims, &mut rng_for(seed, (stream * 1000 + i) as u64));
                let want = op.reference(&dims, &inputs);
                let label = format!("{kind:<9} {:<32} {dims}", kernel.id());
                match run_once(backend.as_ref(), kernel, &dims, &inputs) {
                    Ok(got) => {
                        let mut ok = got.len() == want.len();
                        let mut detail = String::new();
                        for ((g, w), spec) in got.iter().zip(&want).zip(op.outputs()) {
                            // f32 under the op's tolerance; integer outputs bit for bit.
                            let (passed, c) = compare_tensors(g, w, op.tolerance());
                            ok &= passed;
                            detail.push_str(&format!("{}: {c} ", spec.name));
                        }
                        if ok {
                            passed += 1;
                            println!("{label:<80} PASS {detail}");
                        } else {
                            println!("{label:<80} FAIL {detail}");
                            failures.push(format!("{label}: {detail}"));
                        }
                    }
                    Err(e) => {
                        println!("{label:<80} FAIL {e}");
                        failures.push(format!("{label}: {e}"));
                    }
                }
            }
        }
    }
    println!("test matrix: {passed} passed, {} failed (seed {seed})", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("FAILED {f}");
        }
        ExitCode::FAILURE
    }
}
