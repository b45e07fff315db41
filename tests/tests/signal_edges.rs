//! Inputs of the sketch and top-k ops that the random test shapes never produce, run by every
//! kernel of the op on every backend that opens here (the others print "not run"), compared bit
//! for bit with the reference — NaN payloads, signed zeros and infinities included, which the
//! test matrix's f32 comparison cannot check (a NaN never passes it):
//! - `topk` with NaNs (ranked above +inf, returned with their bits), ±inf, ±0 and subnormals;
//!   with every key tied, so the tie rule alone picks the lowest indices across chunks of 4096;
//! - `count_unsketch` of sketches holding ±0, ±inf and NaN (odd rows: the median is a copy) and
//!   ±0 and large finite values (even rows: the mean of the middle two).

use dfma_kernels::registry::find;
use dfma_kernels::{BackendKind, BackendOptions, open, run_once};
use dfma_reference::ops::count_unsketch::CountUnsketch;
use dfma_reference::ops::topk::TopK;
use dfma_reference::{Op, Tensor};

/// The bits of every output element, u32 and f32 alike.
fn bits(t: &Tensor) -> Vec<u32> {
    t.as_bytes().chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect()
}

/// Runs every kernel of `op` on every backend that opens on `inputs`; returns what differs from
/// the reference in any bit.
fn bit_failures_of_every_kernel(op: &dyn Op, inputs: &[Tensor]) -> Vec<String> {
    let dims = op.dims_of(inputs).expect("the inputs are valid");
    let want = op.reference(&dims, inputs);
    let mut failures = Vec::new();
    let mut kernels_run = 0;
    for kind in BackendKind::ALL {
        let backend = match open(kind, &BackendOptions::default()) {
            Ok(b) => b,
            Err(e) => {
                println!("{kind} not run: {}", e.to_string().trim_start_matches("not available: "));
                continue;
            }
        };
        for kernel in find(op.name(), kind) {
            kernels_run += 1;
            let got = match run_once(backend.as_ref(), kernel, &dims, inputs) {
                Ok(got) => got,
                Err(e) => {
                    failures.push(format!("{kind} {}: {e}", kernel.id()));
                    continue;
                }
            };
            for ((g, w), spec) in got.iter().zip(&want).zip(op.outputs()) {
                let (g, w) = (bits(g), bits(w));
                let bad = g.iter().zip(&w).position(|(a, b)| a != b);
                if g.len() != w.len() || bad.is_some() {
                    let at = bad.unwrap_or(g.len().min(w.len()));
                    failures.push(format!(
                        "{kind} {} {dims}: {} differs at {at}: {:08x?} vs reference {:08x?}",
                        kernel.id(),
                        spec.name,
                        g.get(at),
                        w.get(at)
                    ));
                }
            }
            println!("{kind} {} {dims}: ran", kernel.id());
        }
    }
    // The reference and cpu backends always open, so an empty run means the op has no kernels.
    assert!(kernels_run >= 2, "{}: only {kernels_run} kernels ran", op.name());
    failures
}

fn topk_inputs(g: Vec<f32>, k: u32) -> [Tensor; 2] {
    [Tensor::f32(vec![g.len()], g), Tensor::u32(vec![1], vec![k])]
}

#[test]
fn topk_ranks_nans_above_infinity_and_keeps_every_bit_on_every_backend() {
    let specials = [
        f32::from_bits(0x7FC0_0001),
        -f32::from_bits(0x7FC0_0000),
        f32::from_bits(0x7F80_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::from_bits(1),
        -f32::from_bits(0x0000_0100),
        f32::MIN_POSITIVE,
        -3.5,
        3.5,
        f32::MAX,
        -f32::MAX,
    ];
    // Specials spread over three chunks of 4096 among ordinary values.
    let g: Vec<f32> = (0..9000)
        .map(|i| if i % 641 == 0 { specials[(i / 641) % specials.len()] } else { (i % 97) as f32 * 0.25 - 12.0 })
        .collect();
    let mut failures = Vec::new();
    for k in [1u32, 14, 600, 9000] {
        failures.extend(bit_failures_of_every_kernel(&TopK, &topk_inputs(g.clone(), k)));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn topk_of_tied_keys_takes_the_lowest_indices_across_chunks() {
    let mut failures = Vec::new();
    // Every key equal: the answer is 0..k in index order, the take-th tie in a later chunk.
    let flat = vec![-1.25f32; 20_000];
    for k in [1u32, 4096, 4097, 12_345, 20_000] {
        failures.extend(bit_failures_of_every_kernel(&TopK, &topk_inputs(flat.clone(), k)));
    }
    // Larger keys in the last chunk only, then ties at the threshold in the first chunks.
    let mut stepped = vec![2.0f32; 20_000];
    for x in &mut stepped[16_384..] {
        *x = -7.0;
    }
    for k in [3616u32, 3617, 9000] {
        failures.extend(bit_failures_of_every_kernel(&TopK, &topk_inputs(stepped.clone(), k)));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn unsketch_inputs(values: &[f32], r: usize, c: usize, n: u32) -> [Tensor; 3] {
    let s = (0..r * c).map(|j| values[(j * 7 + j / 3) % values.len()]).collect();
    [Tensor::f32(vec![r, c], s), Tensor::u32(vec![2], vec![0xDEAD_BEEF, 42]), Tensor::u32(vec![1], vec![n])]
}

#[test]
fn count_unsketch_of_zeros_infinities_and_nans_is_bit_equal_on_every_backend() {
    let odd =
        [0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::from_bits(0x7FC0_1234), 1.5, -2.25, f32::from_bits(3)];
    // Even rows average the middle two: no NaN and no infinity (the row signs turn inf into
    // -inf, and inf + -inf is a NaN: a NaN's payload after an add is the hardware's), no
    // subnormal (a GPU may flush the halved sum).
    let even = [0.0f32, -0.0, f32::MAX / 4.0, 1.5, -2.25, 0.75];
    let mut failures = Vec::new();
    for (values, r) in [(&odd[..], 3), (&odd[..], 5), (&even[..], 2), (&even[..], 6)] {
        failures.extend(bit_failures_of_every_kernel(&CountUnsketch, &unsketch_inputs(values, r, 13, 5000)));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
