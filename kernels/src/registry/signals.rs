//! Host entry points and launch glue of the signal-compression kernels added after the
//! projections: `topk`, `stochastic_quantize`, `stochastic_dequantize`, `srht`, `srht_t`. Each
//! unpacks the op's tensors and calls `dfma_reference::cpu`.

use dfma_reference::cpu::{srht, stochastic_quantize, topk};
use dfma_reference::ops::dense_project::key_of;
use dfma_reference::ops::stochastic_quantize::BLOCK;
use dfma_reference::{Dims, Tensor, TensorData};

use super::Grid;

fn f32_in(inputs: &[Tensor], i: usize) -> &[f32] {
    inputs[i].as_f32().expect("f32 input")
}

fn u32_in(inputs: &[Tensor], i: usize) -> &[u32] {
    inputs[i].as_u32().expect("u32 input")
}

/// The u32 output 0 and the f32 output 1 of a two-output op.
fn u32_and_f32_out(outputs: &mut [Tensor]) -> (&mut [u32], &mut [f32]) {
    let [a, b] = outputs else { panic!("two outputs") };
    let (TensorData::U32(a), TensorData::F32(b)) = (&mut a.data, &mut b.data) else { panic!("u32 then f32 outputs") };
    (a, b)
}

fn f32_out(outputs: &mut [Tensor]) -> &mut [f32] {
    let TensorData::F32(v) = &mut outputs[0].data else { panic!("output 0 is f32") };
    v
}

pub(super) fn topk_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (indices, values) = u32_and_f32_out(outputs);
    topk::topk(f32_in(inputs, 0), indices, values);
}

pub(super) fn stochastic_quantize_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let (codes, scales) = u32_and_f32_out(outputs);
    let key = key_of(&inputs[1]);
    stochastic_quantize::stochastic_quantize(key, f32_in(inputs, 0), dims.get("bits"), codes, scales);
}

pub(super) fn stochastic_dequantize_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    stochastic_quantize::stochastic_dequantize(
        u32_in(inputs, 0),
        f32_in(inputs, 1),
        dims.get("bits"),
        f32_out(outputs),
    );
}

pub(super) fn srht_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = key_of(&inputs[1]);
    srht::srht(key, f32_in(inputs, 0), f32_out(outputs));
}

pub(super) fn srht_t_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = key_of(&inputs[1]);
    srht::srht_t(key, f32_in(inputs, 0), f32_out(outputs));
}

/// `stochastic_quantize`'s GPU buffers: x and seed (bits travels as a dim).
pub(super) fn quantize_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    vec![inputs[0].as_bytes().to_vec(), inputs[1].as_bytes().to_vec()]
}

/// `stochastic_dequantize`'s GPU buffers: codes and scales (bits and n travel as dims).
pub(super) fn dequantize_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    vec![inputs[0].as_bytes().to_vec(), inputs[1].as_bytes().to_vec()]
}

fn quant_blocks(dims: &Dims) -> u32 {
    u32::try_from(dims.get("n").div_ceil(BLOCK)).expect("blocks exceed u32")
}

/// One block of 256 threads per 256 coordinates (one quantization block).
pub(super) fn quant_block_grid(dims: &Dims) -> Grid {
    Grid { blocks: [quant_blocks(dims), 1, 1], threads: [256, 1, 1] }
}

/// [`quant_block_grid`] folded into x and y for WGSL (at most 65535 workgroups a dimension);
/// shaders number blocks `x + y·width` and skip those past the end.
pub(super) fn quant_block_grid_2d(dims: &Dims) -> Grid {
    let blocks = quant_blocks(dims);
    let width = blocks.clamp(1, 32768);
    Grid { blocks: [width, blocks.div_ceil(width), 1], threads: [256, 1, 1] }
}

/// Coordinates of one `srht` chunk transform (a workgroup's shared-memory butterflies).
const SRHT_CHUNK: usize = 4096;

/// `srht`'s GPU buffers: g, seed, and zeroed scratch for the chunk transforms (n_pad f32) and
/// the sample permutation (n_pad u32).
pub(super) fn srht_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let n_pad = dims.get("n_pad");
    vec![inputs[0].as_bytes().to_vec(), inputs[1].as_bytes().to_vec(), vec![0; 4 * n_pad], vec![0; 4 * n_pad]]
}

/// `srht_t`'s GPU buffers: y, seed, and scratch the first pass fills: the sample permutation
/// (n_pad u32), the bucket ends (one u32 per coordinate of a chunk) and the samples sorted by
/// bucket (k u32 chunk indices, k f32 scaled values).
pub(super) fn srht_t_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let (n_pad, k) = (dims.get("n_pad"), dims.get("k"));
    vec![
        inputs[0].as_bytes().to_vec(),
        inputs[1].as_bytes().to_vec(),
        vec![0; 4 * n_pad],
        vec![0; 4 * SRHT_CHUNK.min(n_pad)],
        vec![0; 4 * k],
        vec![0; 4 * k],
    ]
}

/// One workgroup of 256 per chunk of min(4096, n_pad) coordinates, folded into x and y.
pub(super) fn srht_chunk_grid_2d(dims: &Dims) -> Grid {
    let n_pad = dims.get("n_pad");
    let chunks = u32::try_from(n_pad / SRHT_CHUNK.min(n_pad)).expect("chunks exceed u32");
    let width = chunks.clamp(1, 32768);
    Grid { blocks: [width, chunks.div_ceil(width), 1], threads: [256, 1, 1] }
}

/// [`srht_chunk_grid_2d`] unfolded, for PTX (2^31 − 1 blocks in x).
pub(super) fn srht_chunk_grid(dims: &Dims) -> Grid {
    let n_pad = dims.get("n_pad");
    let chunks = u32::try_from(n_pad / SRHT_CHUNK.min(n_pad)).expect("chunks exceed u32");
    Grid { blocks: [chunks, 1, 1], threads: [256, 1, 1] }
}

/// One workgroup of 256: the sequential sample, then the gather.
pub(super) fn single_workgroup_grid(_dims: &Dims) -> Grid {
    Grid { blocks: [1, 1, 1], threads: [256, 1, 1] }
}
