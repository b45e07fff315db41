//! Adapter inputs that the ops' random test shapes never produce, run by every kernel of the op
//! on every backend that opens here (the others print "not run"): a fused op whose two adapters
//! are both absent (rank 0, so only the base product runs and the shrink pass has no rows), and
//! an `sgmv` segment table with empty segments, the last one among them, which a kernel must
//! skip when it looks up a token's segment. And a fused kernel prepared once and launched again
//! with new activations (as the model runtime drives it, token after token) recomputes its
//! adapters' shrink every launch: scratch state carried between launches (the overlapped
//! kernel's counters and t) must never leak a stale value into y. And the fused kernels whose
//! blocks wait for one another finish with their blocks run in reverse on one host thread, with
//! the bits they give in order.

use dfma_kernels::ptxvm::{BlockOrder, PtxvmBackend};
use dfma_kernels::registry::find;
use dfma_kernels::{BackendKind, BackendOptions, open, run_once};
use dfma_reference::compare::compare_tensors;
use dfma_reference::ops::lora::fused::{self, BaseFormat, LoraFused};
use dfma_reference::ops::lora::sgmv::{self, Sgmv};
use dfma_reference::seed::rng_for;
use dfma_reference::{Op, Tensor};

/// Runs every kernel of `op` on every backend that opens on `inputs`; returns what failed.
fn failures_of_every_kernel(op: &dyn Op, inputs: &[Tensor]) -> Vec<String> {
    let dims = op.dims_of(inputs).expect("the inputs are valid");
    let want = op.reference(&dims, inputs);
    let mut failures = Vec::new();
    for kind in BackendKind::ALL {
        let backend = match open(kind, &BackendOptions::default()) {
            Ok(b) => b,
            Err(e) => {
                println!("{kind} not run: {}", e.to_string().trim_start_matches("not available: "));
                continue;
            }
        };
        for kernel in find(op.name(), kind) {
            let got = match run_once(backend.as_ref(), kernel, &dims, inputs) {
                Ok(got) => got,
                Err(e) => {
                    failures.push(format!("{kind} {}: {e}", kernel.id()));
                    continue;
                }
            };
            if got.len() != want.len() {
                failures.push(format!("{kind} {}: {} outputs, expected {}", kernel.id(), got.len(), want.len()));
            }
            for (g, w) in got.iter().zip(&want) {
                let (passed, detail) = compare_tensors(g, w, op.tolerance());
                println!("{kind} {} {dims}: {}", kernel.id(), if passed { "PASS" } else { "FAIL" });
                if !passed {
                    failures.push(format!("{kind} {} {dims}: {detail}", kernel.id()));
                }
            }
        }
    }
    failures
}

#[test]
fn a_fused_op_whose_adapters_both_have_rank_0_is_the_base_product_alone() {
    let mut failures = Vec::new();
    for format in [BaseFormat::Q4_0, BaseFormat::Q8_0, BaseFormat::F16] {
        let op = LoraFused(format);
        let inputs = op.random_inputs(&fused::dims(37, 64, 3, 0, 0), &mut rng_for(21, 0));
        failures.extend(failures_of_every_kernel(&op, &inputs));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn sgmv_skips_empty_segments_when_finding_a_token_s_segment() {
    let mut inputs = Sgmv.random_inputs(&sgmv::dims(9, 33, 17, 4, 3, 4), &mut rng_for(22, 0));
    // Segments 1 and 3 are empty: tokens 0..3 take adapter 0, tokens 3..9 adapter 2.
    inputs[4] = Tensor::u32(vec![5], vec![0, 3, 3, 9, 9]);
    inputs[5] = Tensor::u32(vec![4], vec![0, 1, 2, 1]);
    let failures = failures_of_every_kernel(&Sgmv, &inputs);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_prepared_fused_kernel_relaunched_with_new_activations_matches_the_reference_each_time() {
    let op = LoraFused(BaseFormat::Q4_0);
    let dims = fused::dims(70, 256, 2, 8, 4);
    let first = op.random_inputs(&dims, &mut rng_for(23, 0));
    let mut failures = Vec::new();
    let mut relaunched = 0;
    for kind in BackendKind::ALL {
        let Ok(backend) = open(kind, &BackendOptions::default()) else { continue };
        for kernel in find(op.name(), kind) {
            let mut inputs = first.clone();
            let mut p = backend.prepare(kernel, &dims, &inputs).expect("prepares");
            for round in 0..4u64 {
                if round > 0 {
                    inputs[1] = op.random_inputs(&dims, &mut rng_for(24, round)).swap_remove(1);
                    if let Err(e) = p.write_input(1, &inputs[1]) {
                        println!("{kind} {}: x is repacked, not relaunched ({e})", kernel.id());
                        break;
                    }
                }
                p.poison_outputs().unwrap();
                p.launch().unwrap();
                p.synchronize().unwrap();
                let got = p.read_outputs().unwrap();
                let want = op.reference(&dims, &inputs);
                let (passed, detail) = compare_tensors(&got[0], &want[0], op.tolerance());
                println!("{kind} {} launch {round}: {}", kernel.id(), if passed { "PASS" } else { "FAIL" });
                if !passed {
                    failures.push(format!("{kind} {} launch {round}: {detail}", kernel.id()));
                }
                relaunched += usize::from(round > 0);
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(relaunched > 0, "no kernel was relaunched");
}

/// On one host thread in descending order, every row block of a fused kernel runs before any of
/// its shrink blocks (the lowest indices): a row block that only waited for t would spin until
/// the interpreter's step limit, so finishing shows it takes over the shrink (or, like the
/// overlapped kernel, takes its role by arrival). In ascending order the shrink blocks run
/// first. Both orders must give the reference, and the same bits: a row block that computes a
/// shrink pair itself must get the bits its shrink block would have.
#[test]
fn fused_kernels_finish_in_either_block_order_on_one_thread_with_the_same_bits() {
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
    let op = LoraFused(BaseFormat::Q4_0);
    let mut failures = Vec::new();
    let mut compared = 0;
    // Shapes: pairs fewer than 64 shrink blocks; more (blocks loop, k under one quad a thread);
    // k over one step of quads a thread.
    for (seed, dims) in
        [(25, fused::dims(70, 256, 2, 8, 4)), (26, fused::dims(9, 96, 3, 40, 0)), (27, fused::dims(5, 4160, 2, 8, 8))]
    {
        let inputs = op.random_inputs(&dims, &mut rng_for(seed, 0));
        let want = op.reference(&dims, &inputs);
        for kernel in find(op.name(), BackendKind::Ptxvm) {
            let mut bits = Vec::new();
            for order in [BlockOrder::Ascending, BlockOrder::Descending] {
                let backend = PtxvmBackend::with_block_order(order);
                let got = match one_thread.install(|| run_once(&backend, kernel, &dims, &inputs)) {
                    Ok(got) => got,
                    Err(e) => {
                        failures.push(format!("{} {order:?} {dims}: {e}", kernel.id()));
                        continue;
                    }
                };
                let (passed, detail) = compare_tensors(&got[0], &want[0], op.tolerance());
                println!("ptxvm {} {order:?} {dims}: {}", kernel.id(), if passed { "PASS" } else { "FAIL" });
                if !passed {
                    failures.push(format!("{} {order:?} {dims}: {detail}", kernel.id()));
                }
                bits.push(got[0].as_bytes().to_vec());
            }
            if let [ascending, descending] = &bits[..] {
                compared += 1;
                if ascending != descending {
                    failures.push(format!("{} {dims}: the two block orders give different bits", kernel.id()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(compared > 0, "no kernel ran in both orders");
}
