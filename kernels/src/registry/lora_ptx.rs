//! Launch geometry and device buffers of the PTX adapter kernels (`kernels/ptx/lora_*.ptx`).

use dfma_reference::{Dims, Tensor};

use super::Grid;
use crate::layout;

/// A dim as the u32 the kernels take.
fn dim(dims: &Dims, name: &str) -> u32 {
    u32::try_from(dims.get(name)).unwrap_or_else(|_| panic!("{name} exceeds u32"))
}

/// `lora_shrink`: a warp per (rank row, 4 tokens), 4 warps a block, so A is streamed once per
/// four tokens and the token groups spread over grid y.
pub(super) fn shrink_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "rank").div_ceil(4), dim(dims, "tokens").div_ceil(4), 1], threads: [128, 1, 1] }
}

/// `lora_expand`: a thread per (output row, 4 tokens), 256 rows a block.
pub(super) fn expand_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "n").div_ceil(256), dim(dims, "tokens").div_ceil(4), 1], threads: [256, 1, 1] }
}

/// The inputs as they are, then a zeroed f32 scratch of `floats` elements (at least one, since a
/// device allocation of zero bytes is not portable).
fn with_scratch(inputs: &[Tensor], floats: usize) -> Vec<Vec<u8>> {
    let mut buffers: Vec<Vec<u8>> = inputs.iter().map(|t| t.as_bytes().to_vec()).collect();
    buffers.push(vec![0; 4 * floats.max(1)]);
    buffers
}

/// `bgmv` and `sgmv`: the inputs, then `h` `[tokens, rank]`, which the shrink pass fills and the
/// expand pass reads (every output row needs all of a token's `h`).
pub(super) fn batched_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    with_scratch(inputs, dims.get("tokens") * dims.get("rank"))
}

/// A warp per (rank row, token), 4 warps a block: the shrink pass of `bgmv` and `sgmv`, and
/// the H and U pass of the backward ops.
pub(super) fn rank_row_token_warps_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "rank").div_ceil(4), dim(dims, "tokens"), 1], threads: [128, 1, 1] }
}

/// Batched expand: a thread per (output row, token), 256 rows a block.
pub(super) fn batched_expand_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "n").div_ceil(256), dim(dims, "tokens"), 1], threads: [256, 1, 1] }
}

/// A tensor's bytes, padded to at least 4: a rank-0 adapter's factors are empty, and a
/// zero-byte device allocation is not portable (the kernels never read them).
fn padded(t: &Tensor) -> Vec<u8> {
    let mut bytes = t.as_bytes().to_vec();
    if bytes.len() < 4 {
        bytes.resize(4, 0);
    }
    bytes
}

/// `lora_fused_*` over a quantized base: W split by `tiles` (the base GEMV's warp-tile layout,
/// which names its dims rows/cols/batch), x, the four factors, the scales, then the scratch t
/// `[tokens, rank_p + rank_c]` the shrink pass fills and the row pass's epilogue reads.
fn fused_buffers(dims: &Dims, inputs: &[Tensor], tiles: fn(&Dims, &[Tensor]) -> Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let (n, k, tokens) = (dims.get("n"), dims.get("k"), dims.get("tokens"));
    let gemv_dims = Dims(vec![("rows", n), ("cols", k), ("batch", tokens)]);
    let mut buffers = tiles(&gemv_dims, &inputs[..2]);
    buffers.extend(inputs[2..7].iter().map(padded));
    buffers.push(vec![0; 4 * (tokens * (dims.get("rank_p") + dims.get("rank_c"))).max(1)]);
    buffers
}

/// `lora_fused_q4_0`'s device buffers: see [`fused_buffers`].
pub(super) fn fused_q4_0_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::q4_0_warp_tiles)
}

/// `lora_fused_q4_0/rows4_overlapped_shrink`'s device buffers: W in the rows4 warp-tile layout,
/// the adapter inputs as [`fused_buffers`], then the scratch: two u64 counters (arrivals, shrink
/// blocks done; zero at prepare) and t f32 `[tokens, rank_p + rank_c]` after them.
pub(super) fn fused_q4_0_overlapped_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let mut buffers = fused_buffers(dims, inputs, layout::q4_0_warp_tiles);
    if let Some(scratch) = buffers.last_mut() {
        scratch.splice(0..0, [0u8; 16]);
    }
    buffers
}

/// `lora_fused_q4_0/rows4_claimed_shrink`'s device buffers: as [`fused_buffers`], with the scratch
/// replaced by the kernel's (zero at prepare): a u32 ticket counter (8 bytes), 64 u32 claim words,
/// then the t words `[tokens, rank_p + rank_c]`, u64 each (f32 bits low, the launch's tag high).
pub(super) fn fused_q4_0_claimed_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let mut buffers = fused_buffers(dims, inputs, layout::q4_0_warp_tiles);
    let pairs = dims.get("tokens") * (dims.get("rank_p") + dims.get("rank_c"));
    if let Some(scratch) = buffers.last_mut() {
        *scratch = vec![0; 8 + 4 * 64 + 8 * pairs.max(1)];
    }
    buffers
}

/// Shrink blocks of the overlapped fused kernel: one block per (adapter row, token) pair, at least
/// 1 and at most 64 (blocks loop over the rest). The PTX computes the same.
fn overlapped_shrink_blocks(dims: &Dims) -> u32 {
    let pairs = (dim(dims, "rank_p") + dim(dims, "rank_c")) * dim(dims, "tokens");
    pairs.clamp(1, 64)
}

/// The overlapped fused kernel's grid: its shrink blocks plus one block per 4 output rows.
pub(super) fn fused_overlapped_grid(dims: &Dims) -> Grid {
    Grid { blocks: [overlapped_shrink_blocks(dims) + dim(dims, "n").div_ceil(4), 1, 1], threads: [128, 1, 1] }
}

/// `lora_fused_q4_1`'s device buffers: see [`fused_buffers`]; the base has three planes
/// (scales, offsets, codes), so the adapter buffers follow one later than Q4_0's.
pub(super) fn fused_q4_1_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::q4_1_warp_tiles)
}

/// `lora_fused_q8_0`'s device buffers: see [`fused_buffers`].
pub(super) fn fused_q8_0_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::q8_0_warp_tiles)
}

/// `lora_fused_f16`'s device buffers: W as it is (the kernel picks 128-bit or 16-bit loads
/// from k, so no repacking is needed), then x and the rest as [`fused_buffers`] lays them out.
pub(super) fn fused_f16_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::as_is)
}

/// Fused shrink: a warp per (row of the stacked [A_p ; A_c], token), 4 warps a block; one block
/// (doing nothing) when both ranks are 0, since a launch needs at least one.
pub(super) fn fused_shrink_grid(dims: &Dims) -> Grid {
    let rows = dim(dims, "rank_p") + dim(dims, "rank_c");
    Grid { blocks: [rows.div_ceil(4).max(1), dim(dims, "tokens"), 1], threads: [128, 1, 1] }
}

/// Fused rows: a warp per output row, 4 warps a block, as the base GEMVs.
pub(super) fn fused_rows_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "n").div_ceil(4), 1, 1], threads: [128, 1, 1] }
}

/// `lora_backward`: the inputs, then the scratch `hu` f32 `[2, tokens, rank]` (H = X·Aᵀ, then
/// U = G·B) the first pass fills for the second.
pub(super) fn backward_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    with_scratch(inputs, 2 * dims.get("tokens") * dims.get("rank"))
}

/// `lora_backward_dx`: the inputs, then the scratch `u` f32 `[tokens, rank]` (U = G·B).
pub(super) fn backward_dx_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    with_scratch(inputs, dims.get("tokens") * dims.get("rank"))
}

/// `lora_backward`'s second pass: a thread per element of dA (rank·k), then of dB (n·rank).
pub(super) fn backward_grads_grid(dims: &Dims) -> Grid {
    let (k, n, rank) = (dims.get("k"), dims.get("n"), dims.get("rank"));
    let elements = u32::try_from(rank * (k + n)).expect("rank·(k + n) exceeds u32");
    Grid { blocks: [elements.div_ceil(256), 1, 1], threads: [256, 1, 1] }
}

/// `lora_backward_dx`'s second pass: a thread per (column, token) of dX, 256 columns a block.
pub(super) fn backward_dx_rows_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "k").div_ceil(256), dim(dims, "tokens"), 1], threads: [256, 1, 1] }
}
