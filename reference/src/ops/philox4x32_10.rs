//! `philox4x32_10`: y[i] = Philox4x32-10(base + i, key), the generator every signal op draws from,
//! as an op so each backend's implementation is checked bit for bit against the reference and
//! Random123's known answers.
//!
//! - Inputs: `key` u32 `[2]`, `ctr` u32 `[4]` (the counter base, word 0 least significant).
//! - Output: `y` u32 `[n, 4]`, row i = the four output words of counter base + i, where the add
//!   is 128-bit with carry from word 0 up through word 3 (wrapping at 2^128), so consecutive
//!   blocks never repeat a counter even when word 0 overflows.
//! - `n` is not carried by the inputs: `dfma op` draws one block (n = 1); the test matrix and
//!   the bench choose n.
//!
//! Cost model: bytes = 16·n written + 24 read; ops = 100·n (per round two 32×32→64 multiplies
//! counted as four operations, four xors, two key adds).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::signals::philox::{counter_add, philox4x32_10};
use crate::tensor::{DType, Tensor};

/// The `philox4x32_10` op.
pub struct Philox4x32_10;

/// Problem size: `n` Philox blocks.
pub fn dims(n: usize) -> Dims {
    Dims(vec![("n", n)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "key", dtype: DType::U32, shape_doc: "[2]" },
    TensorSpec { name: "ctr", dtype: DType::U32, shape_doc: "[4] counter base, word 0 least significant" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::U32, shape_doc: "[n, 4]" }];

/// The key and counter base of validated inputs.
pub fn key_and_base(inputs: &[Tensor]) -> ([u32; 2], [u32; 4]) {
    let k = inputs[0].as_u32().expect("key is u32");
    let c = inputs[1].as_u32().expect("ctr is u32");
    ([k[0], k[1]], [c[0], c[1], c[2], c[3]])
}

impl Op for Philox4x32_10 {
    fn name(&self) -> &'static str {
        "philox4x32_10"
    }

    fn summary(&self) -> &'static str {
        "y[i] = Philox4x32-10(ctr + i, key), 128-bit counter add with carry"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [key, ctr] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (key, ctr), got {}", inputs.len())));
        };
        expect_dtype("key", key, DType::U32)?;
        expect_dtype("ctr", ctr, DType::U32)?;
        if key.shape != [2] {
            return Err(OpError::new("key", format!("shape {:?} is not [2]", key.shape)));
        }
        if ctr.shape != [4] {
            return Err(OpError::new("ctr", format!("shape {:?} is not [4]", ctr.shape)));
        }
        Ok(dims(1))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n"), 4]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (key, base) = key_and_base(inputs);
        let n = dims.get("n");
        let y = (0..n as u64).flat_map(|i| philox4x32_10(counter_add(base, i), key)).collect();
        vec![Tensor::u32(vec![n, 4], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        // Word 0 of the base sits just below 2^32 so the run of counters carries into word 1,
        // and word 1 is often all ones so the carry ripples on into word 2.
        let n = dims.get("n") as u32;
        let c1 = if rng.random_bool(0.5) { u32::MAX } else { rng.random() };
        let base = [u32::MAX - rng.random_range(0..n), c1, rng.random(), rng.random()];
        vec![Tensor::u32(vec![2], vec![rng.random(), rng.random()]), Tensor::u32(vec![4], base.to_vec())]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1), dims(3), dims(257), dims(1000), dims(65_537)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // 64 MiB of output.
        vec![dims(1 << 22)]
    }

    fn tolerance(&self) -> Tolerance {
        // Integer output: compared bit for bit; the tolerance is never consulted.
        Tolerance { rel_l2: 0.0, max_abs_scaled: 0.0 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let n = dims.get("n") as u64;
        Cost { bytes: 16 * n + 24, weight_bytes: 0, flops: 100 * n }
    }
}
