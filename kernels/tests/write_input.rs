//! `Prepared::write_input`: one prepared GEMV, its weights uploaded once, run again and again on
//! new activations must give the reference's y every time — on every backend that runs here
//! (cpu, wgpu on lavapipe, the PTX interpreter; cuda where a GPU is present). Outputs are
//! poisoned before each launch, so a launch that did not see the new x, or did not write y,
//! cannot pass on the previous round's result.

use dfma_kernels::registry::{KERNELS, KernelImpl, find};
use dfma_kernels::{Backend, BackendKind, BackendOptions, Error, open};
use dfma_reference::compare::compare_tensors;
use dfma_reference::seed::rng_for;
use dfma_reference::{Dims, Tensor, ops};

const GEMV_OPS: [&str; 3] = ["q4_0_gemv", "q4_1_gemv", "q8_0_gemv"];
/// Fresh activations per prepared kernel: enough to catch a stale or misplaced rewrite.
const ROUNDS: u64 = 3;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Opens `kind`, or prints "not run" (and fails under CI for the backends CI must run).
fn backend(kind: BackendKind) -> Option<Box<dyn Backend>> {
    match open(kind, &BackendOptions::default()) {
        Ok(b) => Some(b),
        Err(e) if in_ci() && kind != BackendKind::Cuda => panic!("{kind} is required under CI=true: {e}"),
        Err(e) => {
            println!("{kind}: not run: {}", e.to_string().trim_start_matches("not available: "));
            None
        }
    }
}

/// A few shapes: ragged, batched, and the model's 576-wide rows.
fn shapes() -> Vec<Dims> {
    let d = |rows, cols, batch| Dims(vec![("rows", rows), ("cols", cols), ("batch", batch)]);
    vec![d(7, 96, 1), d(33, 160, 3), d(192, 576, 1)]
}

fn repeated_runs_with_new_x_match_the_reference(kind: BackendKind) {
    let Some(backend) = backend(kind) else { return };
    let mut checked = 0;
    for op_name in GEMV_OPS {
        let op = ops::by_name(op_name).expect("registered op");
        for (ki, kernel) in find(op_name, kind).enumerate() {
            for (si, dims) in shapes().into_iter().enumerate() {
                let stream = (ki * 100 + si * 10) as u64;
                let inputs = op.random_inputs(&dims, &mut rng_for(7, stream));
                let mut p = backend.prepare(kernel, &dims, &inputs).expect("prepare");
                for round in 1..=ROUNDS {
                    let fresh = op.random_inputs(&dims, &mut rng_for(7, stream + round));
                    let x = &fresh[1];
                    p.write_input(1, x).expect("write_input");
                    p.poison_outputs().unwrap();
                    p.launch().unwrap();
                    p.synchronize().unwrap();
                    let got = p.read_outputs().unwrap();
                    let want = op.reference(&dims, &[inputs[0].clone(), x.clone()]);
                    let (ok, detail) = compare_tensors(&got[0], &want[0], op.tolerance());
                    assert!(ok, "{kind} {} {dims} round {round}: {detail}", kernel.id());
                    checked += 1;
                }
            }
        }
    }
    println!("{kind}: {checked} rewritten runs matched the reference");
    assert!(checked > 0, "{kind} has no GEMV kernel");
}

#[test]
fn cpu_gemv_reruns_on_new_activations_match_the_reference() {
    repeated_runs_with_new_x_match_the_reference(BackendKind::Cpu);
}

#[test]
fn wgpu_gemv_reruns_on_new_activations_match_the_reference() {
    repeated_runs_with_new_x_match_the_reference(BackendKind::Wgpu);
}

#[test]
fn ptxvm_gemv_reruns_on_new_activations_match_the_reference() {
    repeated_runs_with_new_x_match_the_reference(BackendKind::Ptxvm);
}

#[test]
fn cuda_gemv_reruns_on_new_activations_match_the_reference() {
    repeated_runs_with_new_x_match_the_reference(BackendKind::Cuda);
}

/// Every `inputs_as_is` declaration is true of its layout: the named device buffer holds the
/// op input's bytes unchanged (else a rewrite would put x where the kernel reads weights).
#[test]
fn every_declared_as_is_input_is_copied_unchanged_by_its_layout() {
    let mut declared = 0;
    for kernel in KERNELS {
        let (KernelImpl::Ptx(k) | KernelImpl::Wgsl(k)) = &kernel.imp else { continue };
        if k.inputs_as_is.is_empty() {
            continue;
        }
        let op = kernel.op;
        for (i, dims) in op.test_dims().into_iter().take(3).enumerate() {
            let inputs = op.random_inputs(&dims, &mut rng_for(11, i as u64));
            let buffers = (k.buffers)(&dims, &inputs);
            for &(input, buffer) in k.inputs_as_is {
                let bytes = inputs[input].as_bytes();
                let got = buffers.get(buffer).unwrap_or_else(|| panic!("{}: no buffer {buffer}", kernel.id()));
                assert_eq!(got.as_slice(), bytes, "{} {dims}: buffer {buffer} is not input {input}", kernel.id());
                declared += 1;
            }
        }
    }
    assert!(declared > 0, "no kernel declares an as-is input");
}

#[test]
fn a_rewrite_of_another_shape_or_of_repacked_weights_is_refused() {
    let Some(backend) = backend(BackendKind::Ptxvm) else { return };
    let op = ops::by_name("q8_0_gemv").unwrap();
    let kernel = find("q8_0_gemv", BackendKind::Ptxvm).next().unwrap();
    let dims = Dims(vec![("rows", 4), ("cols", 64), ("batch", 1)]);
    let inputs = op.random_inputs(&dims, &mut rng_for(3, 0));
    let mut p = backend.prepare(kernel, &dims, &inputs).unwrap();
    let short = Tensor::f32(vec![32], vec![0.5; 32]);
    let e = p.write_input(1, &short).unwrap_err();
    assert!(matches!(&e, Error::Input { message, .. } if message.contains("shape")), "{e}");
    // The weights are split into scale and code planes: not rewritable in place.
    let e = p.write_input(0, &inputs[0]).unwrap_err();
    assert!(matches!(&e, Error::Input { message, .. } if message.contains("repacks")), "{e}");
    let e = p.write_input(2, &inputs[1]).unwrap_err();
    assert!(matches!(e, Error::Input { .. }), "{e}");
}
