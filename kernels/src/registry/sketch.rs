//! Host entry points, device layouts and launch geometry of the count-sketch family
//! (`count_sketch`, `count_unsketch`) and of `topk`'s GPU kernels.

use dfma_reference::cpu::count_unsketch;
use dfma_reference::ops::dense_project::key_of;
use dfma_reference::{Dims, Tensor, TensorData};

use super::{Grid, SecondPass};

fn u32_dim(dims: &Dims, name: &str) -> u32 {
    u32::try_from(dims.get(name)).unwrap_or_else(|_| panic!("{name} exceeds u32"))
}

/// `count` workgroups of 256 folded into x and y (WGSL stops at 65535 a dimension; PTX shares
/// the geometry): kernels number workgroups `x + y·width` and skip those past the end.
fn folded(count: u32) -> Grid {
    let width = count.clamp(1, 32768);
    Grid { blocks: [width, count.div_ceil(width), 1], threads: [256, 1, 1] }
}

/// One workgroup of 256: the sequential steps of a multi-pass kernel (`topk_init` first).
pub(super) fn one_workgroup(_dims: &Dims) -> Grid {
    Grid { blocks: [1, 1, 1], threads: [256, 1, 1] }
}

pub(super) fn count_unsketch_cpu(dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = key_of(&inputs[1]);
    let TensorData::F32(g) = &mut outputs[0].data else { panic!("output 0 is f32") };
    count_unsketch::count_unsketch(key, inputs[0].as_f32().expect("sketch is f32"), dims.get("c"), g);
}

/// `count_sketch`'s zeroing pass: one invocation a bucket of the r × c sketch.
pub(super) fn sketch_buckets_grid(dims: &Dims) -> Grid {
    folded((u32_dim(dims, "r") * u32_dim(dims, "c")).div_ceil(256))
}

/// One invocation a coordinate of n, 256 a workgroup.
pub(super) fn coordinates_grid(dims: &Dims) -> Grid {
    folded(u32_dim(dims, "n").div_ceil(256))
}

/// `count_sketch`'s second pass (`count_sketch_add`), the one that hashes and adds.
pub(super) const COUNT_SKETCH_ADD_PTX: SecondPass = SecondPass {
    entry: "count_sketch_add",
    grid: coordinates_grid,
    // RED.E.ADD.F32.FTZ.RN (sm_80..89) or REDG.E.ADD.F32.FTZ.RN (sm_90): an f32 add in L2.
    sass_must_contain: &["IMAD.WIDE.U32", "E.ADD.F32.FTZ.RN"],
};
/// [`COUNT_SKETCH_ADD_PTX`] for WGSL (no SASS).
pub(super) const COUNT_SKETCH_ADD_WGSL: SecondPass =
    SecondPass { entry: "count_sketch_add", grid: coordinates_grid, sass_must_contain: &[] };

/// Coordinates one workgroup of `topk`'s streaming passes reads (`CHUNK` in the sources).
const TOPK_CHUNK: usize = 4096;
/// Candidates one workgroup sorts (`TILE` in the sources).
const TOPK_TILE: usize = 1024;
/// Words of `topk`'s work buffer before the per-chunk tie counts: three histograms of 2048
/// bins and 16 state words (`TIE_COUNTS` in the sources).
const TOPK_WORK_HEAD: usize = 3 * 2048 + 16;

/// `topk`'s GPU buffers: g and k as they are; the work buffer (histograms, state, one tie
/// count a chunk of 4096); the candidates (k_pad keys, then k_pad indices, k_pad = k rounded
/// up to whole tiles of 1024). The kernels' first pass initializes what they read.
pub(super) fn topk_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let chunks = dims.get("n").div_ceil(TOPK_CHUNK);
    let k_pad = dims.get("k").next_multiple_of(TOPK_TILE);
    vec![
        inputs[0].as_bytes().to_vec(),
        inputs[1].as_bytes().to_vec(),
        vec![0; 4 * (TOPK_WORK_HEAD + chunks)],
        vec![0; 8 * k_pad],
    ]
}

/// One workgroup a chunk of 4096 coordinates.
fn topk_chunks_grid(dims: &Dims) -> Grid {
    folded(u32::try_from(dims.get("n").div_ceil(TOPK_CHUNK)).expect("chunks exceed u32"))
}

/// One workgroup a tile of 1024 candidates.
fn topk_tiles_grid(dims: &Dims) -> Grid {
    folded(u32::try_from(dims.get("k").div_ceil(TOPK_TILE)).expect("tiles exceed u32"))
}

/// One invocation a candidate.
fn topk_candidates_grid(dims: &Dims) -> Grid {
    folded(u32_dim(dims, "k").div_ceil(256))
}

/// The passes after `topk_init`, in order; `sass` picks each entry's SASS checks (empty for WGSL).
macro_rules! topk_passes {
    ($hist:expr, $select:expr, $ties:expr, $tie_select:expr, $compact:expr, $sort:expr, $rank:expr) => {
        &[
            SecondPass { entry: "topk_hist", grid: topk_chunks_grid, sass_must_contain: $hist },
            SecondPass { entry: "topk_select", grid: one_workgroup, sass_must_contain: $select },
            SecondPass { entry: "topk_hist", grid: topk_chunks_grid, sass_must_contain: $hist },
            SecondPass { entry: "topk_select", grid: one_workgroup, sass_must_contain: $select },
            SecondPass { entry: "topk_hist", grid: topk_chunks_grid, sass_must_contain: $hist },
            SecondPass { entry: "topk_select", grid: one_workgroup, sass_must_contain: $select },
            SecondPass { entry: "topk_ties", grid: topk_chunks_grid, sass_must_contain: $ties },
            SecondPass { entry: "topk_tie_select", grid: one_workgroup, sass_must_contain: $tie_select },
            SecondPass { entry: "topk_compact", grid: topk_chunks_grid, sass_must_contain: $compact },
            SecondPass { entry: "topk_tile_sort", grid: topk_tiles_grid, sass_must_contain: $sort },
            SecondPass { entry: "topk_rank", grid: topk_candidates_grid, sass_must_contain: $rank },
        ]
    };
}

/// `topk`'s PTX passes after `topk_init`, each with the SASS that proves its design: shared-memory
/// histogram atomics and global reductions, the barriers of the single-block selects, the block's
/// slot reservation, the shared-memory sort, the rank pass's global gathers.
pub(super) const TOPK_PTX_PASSES: &[SecondPass] = topk_passes!(
    // RED.E.ADD.STRONG.GPU (sm_80..89) or REDG.E.ADD.STRONG.GPU (sm_90).
    &["ATOMS", ".E.ADD.STRONG.GPU"],
    &["BAR.SYNC"],
    &["ATOMS.ADD"],
    &["BAR.SYNC"],
    &["ATOMG.E.ADD", "ATOMS.ADD"],
    &["LDS", "STS", "BAR.SYNC"],
    &["LDG.E", "STG.E"]
);

/// `topk`'s WGSL passes after `topk_init`.
pub(super) const TOPK_WGSL_PASSES: &[SecondPass] = topk_passes!(&[], &[], &[], &[], &[], &[], &[]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_grids_cover_every_workgroup_within_the_dimension_limit() {
        for count in [1u32, 255, 32768, 32769, 65536, 1 << 22] {
            let g = folded(count);
            assert!(g.blocks[0] <= 65535 && g.blocks[1] <= 65535, "{count}: {:?}", g.blocks);
            assert!(g.blocks[0] * g.blocks[1] >= count, "{count}: {:?}", g.blocks);
            assert!(g.blocks[0] * (g.blocks[1] - 1) < count, "{count}: a whole idle row {:?}", g.blocks);
        }
    }

    #[test]
    fn topk_buffers_hold_a_tie_count_per_chunk_and_whole_tiles_of_candidates() {
        let dims = dfma_reference::ops::topk::dims(4097, 1025);
        let inputs = [Tensor::f32(vec![4097], vec![1.0; 4097]), Tensor::u32(vec![1], vec![1025])];
        let b = topk_buffers(&dims, &inputs);
        assert_eq!(b[2].len(), 4 * (TOPK_WORK_HEAD + 2));
        assert_eq!(b[3].len(), 8 * 2048);
    }
}
