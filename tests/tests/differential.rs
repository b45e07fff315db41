//! Differential test: every PTX kernel on `cuda` and on `ptxvm`, same inputs, same launch.
//! Integer outputs must be bit-equal; f32 outputs within 2 ulp (the interpreter's f32
//! arithmetic is IEEE-exact and our kernels use only `.rn` operations, so equality is expected;
//! the slack covers `.approx` functions, which the ISA does not define to the bit). Two kinds of
//! kernel are the exception, held to their op's tolerance instead: those on tensor cores (`mma`),
//! whose internal sum's order and rounding the ISA leaves to the hardware, and those that sum f32
//! with atomics (`atom`/`red` `.add.f32`), whose order is the order in which the GPU's threads
//! arrive (the interpreter's is its own; a sum of many terms differs in its last bits). Without a
//! GPU this prints "not run: <reason>" and succeeds — it is never reported as passed.

use std::process::ExitCode;

use dfma_kernels::registry::for_backend;
use dfma_kernels::{BackendKind, BackendOptions, open, run_once};
use dfma_reference::compare::{compare_exact, compare_f32};
use dfma_reference::seed::{rng_for, seed_from_env};

/// Largest f32 distance, in units in the last place, the two backends may differ by.
const MAX_ULP: u32 = 2;

/// Distance in representable f32 values (sign-magnitude mapped to a monotonic integer line).
fn ulp_distance(a: f32, b: f32) -> Option<u32> {
    if a.is_nan() || b.is_nan() {
        return None;
    }
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i64::from(i32::MIN) - i64::from(i) } else { i64::from(i) }
    };
    u32::try_from((key(a) - key(b)).unsigned_abs()).ok()
}

/// Why `kernel`'s f32 sums have an order the hardware picks, if they do: tensor cores (`mma`),
/// or f32 atomics (`atom`/`red` with `.add.f32`), whose order is the threads' arrival order.
fn hardware_ordered_sums(kernel: &dfma_kernels::registry::KernelSpec) -> Option<&'static str> {
    let dfma_kernels::registry::KernelImpl::Ptx(g) = kernel.imp else { return None };
    let code = g.source.text.lines().map(|l| l.split("//").next().unwrap_or(""));
    let mut atomics = code.filter(|l| {
        let op = l.split_whitespace().find(|w| !w.starts_with('@')).unwrap_or("");
        (op.starts_with("atom.") || op.starts_with("red.")) && op.contains(".add.f32")
    });
    if g.source.text.contains("mma.sync") {
        Some("mma")
    } else if atomics.next().is_some() {
        Some("f32 atomics")
    } else {
        None
    }
}

fn main() -> ExitCode {
    let seed = match seed_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cuda = match open(BackendKind::Cuda, &BackendOptions::default()) {
        Ok(b) => b,
        Err(e) => {
            println!("differential cuda vs ptxvm: not run: {}", e.to_string().trim_start_matches("not available: "));
            return ExitCode::SUCCESS;
        }
    };
    let vm = match open(BackendKind::Ptxvm, &BackendOptions::default()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ptxvm must always open: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "differential cuda ({}) vs ptxvm: seed {seed}, f32 within {MAX_ULP} ulp, integers bit-equal",
        cuda.device().name
    );
    let mut failures = 0;
    for (stream, kernel) in for_backend(BackendKind::Cuda).enumerate() {
        for (i, dims) in kernel.op.test_dims().into_iter().enumerate() {
            let inputs = kernel.op.random_inputs(&dims, &mut rng_for(seed, (stream * 1000 + i) as u64));
            let label = format!("{:<32} {dims}", kernel.id());
            let (a, b) = match (
                run_once(cuda.as_ref(), kernel, &dims, &inputs),
                run_once(vm.as_ref(), kernel, &dims, &inputs),
            ) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    println!("{label:<72} FAIL cuda: {:?} ptxvm: {:?}", a.err(), b.err());
                    failures += 1;
                    continue;
                }
            };
            let mut worst = 0u32;
            let mut ok = a.len() == b.len();
            if let Some(why) = hardware_ordered_sums(kernel) {
                // The order (and for mma the rounding) of these sums is the hardware's (PTX leaves
                // it undefined), so the two backends are held to the op's own tolerance instead.
                for (x, y) in a.iter().zip(&b) {
                    let c = compare_f32(x.as_f32().unwrap_or(&[]), y.as_f32().unwrap_or(&[]), kernel.op.tolerance());
                    ok &= c.passed && x.as_f32().is_some();
                    println!("{label:<72} {} ({why}: {c}, op tolerance)", if ok { "PASS" } else { "FAIL" });
                }
                failures += usize::from(!ok);
                continue;
            }
            for (x, y) in a.iter().zip(&b) {
                match (x.as_f32(), y.as_f32()) {
                    (Some(xs), Some(ys)) => {
                        for (&p, &q) in xs.iter().zip(ys) {
                            match ulp_distance(p, q) {
                                Some(d) => worst = worst.max(d),
                                None => ok = false,
                            }
                        }
                    }
                    _ => {
                        let c = compare_exact(x.as_bytes(), y.as_bytes());
                        if let Some((i, p, q)) = c.first_mismatch {
                            println!("{label:<72} first differing byte {i}: cuda {p:#x}, ptxvm {q:#x}");
                        }
                        ok &= c.passed;
                    }
                }
            }
            ok &= worst <= MAX_ULP;
            println!("{label:<72} {} (max {worst} ulp)", if ok { "PASS" } else { "FAIL" });
            failures += usize::from(!ok);
        }
    }
    if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
