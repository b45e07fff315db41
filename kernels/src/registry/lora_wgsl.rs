//! Device layouts and launch grids of the WGSL adapter kernels (`kernels/wgsl/lora_*.wgsl`,
//! `bgmv.wgsl`, `sgmv.wgsl`): each grid matches its shader's `@workgroup_size` and work split.

use dfma_reference::{Dims, Tensor};

use super::Grid;
use crate::layout;

/// One dimension of a dispatch stops at 65535 workgroups; folded grids stay under half that.
const FOLD_WIDTH: u32 = 32768;

/// `dims[name]` as u32: the shaders index in u32, so a dimension past it cannot launch.
fn dim(dims: &Dims, name: &str) -> u32 {
    u32::try_from(dims.get(name)).unwrap_or_else(|_| panic!("{name} exceeds u32"))
}

/// `blocks` workgroups as `[width, height]` with width ≤ [`FOLD_WIDTH`], so a 1-D count of any
/// size dispatches; the shader numbers blocks `x + y·width` and skips those past the end.
fn folded(blocks: u32) -> [u32; 2] {
    let width = blocks.clamp(1, FOLD_WIDTH);
    [width, blocks.div_ceil(width).max(1)]
}

/// `lora_shrink`: a workgroup of 64 per (row of A, 8 tokens).
pub(super) fn shrink_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "rank"), dim(dims, "tokens").div_ceil(8), 1], threads: [64, 1, 1] }
}

/// `lora_expand`: 256 outputs of one token a workgroup, blocks folded into x·y, token in z.
pub(super) fn expand_grid(dims: &Dims) -> Grid {
    let [x, y] = folded(dim(dims, "n").div_ceil(256));
    Grid { blocks: [x, y, dim(dims, "tokens")], threads: [256, 1, 1] }
}

/// Every input as it is, then a zeroed scratch of `floats` f32 (at least one, since wgpu binds
/// no empty buffer) where a two-pass kernel's first pass leaves what its second reads.
fn as_is_then_scratch(inputs: &[Tensor], floats: usize) -> Vec<Vec<u8>> {
    let mut buffers: Vec<Vec<u8>> = inputs.iter().map(|t| t.as_bytes().to_vec()).collect();
    buffers.push(vec![0; 4 * floats.max(1)]);
    buffers
}

/// `bgmv` and `sgmv`: inputs as they are, then scratch for the shrink pass's `h = A_i·x[t]`
/// (`tokens · rank`), which their second pass expands.
pub(super) fn stacked_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    as_is_then_scratch(inputs, dims.get("tokens") * dims.get("rank"))
}

/// A workgroup of 64 per (rank row, token): the first pass of `bgmv`, `sgmv` (a row of A_i
/// against x[t]) and `lora_backward_dx` (G[t] against a column of B).
pub(super) fn rank_by_tokens_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "rank"), dim(dims, "tokens"), 1], threads: [64, 1, 1] }
}

/// A copy of `bytes` grown to at least 16 bytes: wgpu binds no empty buffer (an absent adapter's
/// `[0, k]` factor), and a buffer a shader reads as `array<vec4<f32>>` must hold one element.
fn at_least_16(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(v.len().max(16), 0);
    v
}

/// `lora_fused_*`'s buffers after the base's (`base`, in the base GEMV's layout): x, a_p, b_p,
/// a_c, b_c, scales as they are (each at least 16 bytes), then a zeroed f32 scratch of
/// `tokens · (rank_p + rank_c)` for the shrink pass's `t = [A_p·x ; A_c·x]`.
fn fused_buffers(dims: &Dims, inputs: &[Tensor], base: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let ranks = dims.get("rank_p") + dims.get("rank_c");
    let mut buffers = base;
    buffers.extend(inputs[1..].iter().map(|t| at_least_16(t.as_bytes())));
    buffers.push(at_least_16(&vec![0; 4 * dims.get("tokens") * ranks]));
    buffers
}

/// `lora_fused_q4_0`: W split as `q4_0_gemv.wgsl` reads it, then [`fused_buffers`].
pub(super) fn fused_q4_0_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::q4_0_split(inputs[0].as_bytes()).into())
}

/// `lora_fused_q4_1`: W split as `q4_1_gemv.wgsl` reads it (scales, offsets, nibbles), then
/// [`fused_buffers`].
pub(super) fn fused_q4_1_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::q4_1_split(inputs[0].as_bytes()).into())
}

/// `lora_fused_q8_0`: W split as `q8_0_gemv.wgsl` reads it, then [`fused_buffers`].
pub(super) fn fused_q8_0_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, layout::q8_0_split(inputs[0].as_bytes()).into())
}

/// `lora_fused_f16`: W as it is (the shader reads it as words of two halves), then
/// [`fused_buffers`].
pub(super) fn fused_f16_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    fused_buffers(dims, inputs, vec![inputs[0].as_bytes().to_vec()])
}

/// `lora_fused_*` shrink pass: a workgroup of 64 per stacked adapter row, at least one (both
/// ranks may be 0; the shader skips rows past the end).
pub(super) fn fused_shrink_grid(dims: &Dims) -> Grid {
    let rows = dim(dims, "rank_p") + dim(dims, "rank_c");
    Grid { blocks: [rows.max(1), 1, 1], threads: [64, 1, 1] }
}

/// `lora_fused_*` GEMV pass: 32 invocations a base row, 4 rows a workgroup, folded into x·y.
pub(super) fn fused_rows4_grid(dims: &Dims) -> Grid {
    let [x, y] = folded(dim(dims, "n").div_ceil(4));
    Grid { blocks: [x, y, 1], threads: [128, 1, 1] }
}

/// `lora_backward`: inputs as they are, then scratch for `H = X·Aᵀ` and `U = G·B` (`2 · tokens ·
/// rank`), which the gradient pass reads.
pub(super) fn backward_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    as_is_then_scratch(inputs, 2 * dims.get("tokens") * dims.get("rank"))
}

/// `lora_backward` first pass: a workgroup of 64 per (rank row, token, factor H or U).
pub(super) fn backward_factors_grid(dims: &Dims) -> Grid {
    Grid { blocks: [dim(dims, "rank"), dim(dims, "tokens"), 2], threads: [64, 1, 1] }
}

/// `lora_backward` gradient pass: one invocation per element of dA and dB, 256 a workgroup,
/// folded into x·y.
pub(super) fn backward_grads_grid(dims: &Dims) -> Grid {
    let elements = dim(dims, "rank") * (dim(dims, "k") + dim(dims, "n"));
    let [x, y] = folded(elements.div_ceil(256));
    Grid { blocks: [x, y, 1], threads: [256, 1, 1] }
}

/// `lora_backward_dx`: inputs as they are, then scratch for `U = G·B` (`tokens · rank`).
pub(super) fn backward_dx_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    as_is_then_scratch(inputs, dims.get("tokens") * dims.get("rank"))
}

/// `lora_backward_dx` second pass: 256 columns of one token a workgroup, folded into x·y,
/// token in z.
pub(super) fn backward_dx_grads_grid(dims: &Dims) -> Grid {
    let [x, y] = folded(dim(dims, "k").div_ceil(256));
    Grid { blocks: [x, y, dim(dims, "tokens")], threads: [256, 1, 1] }
}

#[cfg(test)]
mod tests {
    use dfma_reference::Op;
    use dfma_reference::ops::lora::fused::{self, BaseFormat, LoraFused};
    use dfma_reference::seed::rng_for;

    use super::*;

    #[test]
    fn a_folded_grid_covers_every_block_and_stays_under_the_dispatch_limit() {
        // No blocks still dispatch one workgroup, which the shader skips.
        assert_eq!(folded(0), [1, 1]);
        for blocks in [1, 255, 32768, 32769, 65535, 65536, 1 << 24] {
            let [x, y] = folded(blocks);
            assert!(x <= 65535 && y <= 65535, "{blocks}: {x} x {y}");
            assert!(x * y >= blocks && (x * y - blocks) < x, "{blocks}: {x} x {y}");
        }
    }

    #[test]
    fn an_absent_adapter_s_factors_and_scratch_are_padded_to_one_vec4() {
        let dims = fused::dims(3, 64, 2, 0, 0);
        let inputs = LoraFused(BaseFormat::Q4_0).random_inputs(&dims, &mut rng_for(1, 0));
        let buffers = fused_q4_0_buffers(&dims, &inputs);
        // scales, nibbles, x, a_p, b_p, a_c, b_c, ab_scales, t.
        assert_eq!(buffers.len(), 9);
        assert!(buffers[3..].iter().all(|b| b.len() >= 16), "{:?}", buffers.iter().map(Vec::len).collect::<Vec<_>>());
        assert_eq!(fused_shrink_grid(&dims).blocks, [1, 1, 1]);
    }
}
