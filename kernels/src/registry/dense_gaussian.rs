//! Host entry points and launch glue of the Gaussian dense projection kernels
//! (`dense_project_gaussian`, `dense_project_gaussian_t`).

use dfma_reference::cpu::dense_project_gaussian as cpu;
use dfma_reference::ops::dense_project::key_of;
use dfma_reference::{Dims, Tensor};

use super::{Grid, f32_out, n_u32};

/// Columns of g one block of the forward GPU kernels stages and reduces (256 column groups of
/// 4, one Philox block each): smaller than the Rademacher kernels' 4096 because each column
/// costs a Box–Muller half, so more blocks keep the GPU busy at moderate n.
const CHUNK: u32 = 1024;
/// Columns one block of the transpose GPU kernels owns: 128 threads × 4 columns.
const T_COLUMNS: u32 = 512;
/// Blocks a row of the folded 2-D grids holds. WGSL dispatch dimensions stop at 65535, so the
/// block index is `x + y·width`; a fold this narrow is exercised by test sizes of a few
/// hundred thousand columns and still reaches n = 2^32 (256 × 65535 blocks of 512 columns).
const FOLD_WIDTH: u32 = 256;

pub(super) fn forward_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = key_of(&inputs[1]);
    cpu::dense_project_gaussian(key, inputs[0].as_f32().expect("g is f32"), f32_out(outputs));
}

pub(super) fn transpose_cpu(_dims: &Dims, inputs: &[Tensor], outputs: &mut [Tensor]) {
    let key = key_of(&inputs[1]);
    cpu::dense_project_gaussian_t(key, inputs[0].as_f32().expect("s is f32"), f32_out(outputs));
}

/// The forward GPU buffers: g, seed, and a zeroed scratch of ceil(n/1024) × k f32 partials.
pub(super) fn forward_buffers(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let partials = dims.get("n").div_ceil(CHUNK as usize) * dims.get("k");
    vec![inputs[0].as_bytes().to_vec(), inputs[1].as_bytes().to_vec(), vec![0; 4 * partials]]
}

/// `blocks` blocks of `threads`, folded into rows of [`FOLD_WIDTH`]; the kernels skip blocks
/// numbered past the last.
fn folded(blocks: u32, threads: u32) -> Grid {
    let width = blocks.clamp(1, FOLD_WIDTH);
    Grid { blocks: [width, blocks.div_ceil(width), 1], threads: [threads, 1, 1] }
}

/// Forward first pass: one block of 256 threads per 1024 columns of g.
pub(super) fn chunk_grid(dims: &Dims) -> Grid {
    folded(n_u32(dims).div_ceil(CHUNK), 256)
}

/// Transpose: one block of 128 threads per 512 columns.
pub(super) fn transpose_grid(dims: &Dims) -> Grid {
    folded(n_u32(dims).div_ceil(T_COLUMNS), 128)
}

#[cfg(test)]
mod tests {
    use dfma_reference::ops::dense_project::dims;
    use dfma_reference::signals::box_muller_f32::{ATANH, COS, LN2, SIN};

    use super::*;
    use crate::sources;

    fn constants() -> Vec<f32> {
        ATANH.iter().chain(&SIN).chain(&COS).copied().chain([LN2]).collect()
    }

    #[test]
    fn the_ptx_kernels_use_the_reference_polynomial_coefficients() {
        for file in [sources::DENSE_PROJECT_GAUSSIAN_PTX, sources::DENSE_PROJECT_GAUSSIAN_T_PTX] {
            for c in constants() {
                let hex = format!("0f{:08X}", c.to_bits());
                assert!(file.text.contains(&hex), "{} lacks {c} ({hex})", file.file);
            }
        }
    }

    #[test]
    fn the_wgsl_kernels_use_the_reference_polynomial_coefficients() {
        for file in [sources::DENSE_PROJECT_GAUSSIAN_WGSL, sources::DENSE_PROJECT_GAUSSIAN_T_WGSL] {
            for c in constants() {
                // Rust's shortest round-trip form, which WGSL parses back to the same f32.
                let lit = format!("{c:?}f");
                assert!(file.text.contains(&lit), "{} lacks {lit}", file.file);
            }
        }
    }

    #[test]
    fn cpu_and_ptx_agree_bit_for_bit_on_the_transpose_and_on_every_entry() {
        // The transpose adds rows in the same order with the same f32 operations on both, so
        // its outputs are equal; s = e_j makes them row j of R, i.e. the entries themselves.
        use dfma_reference::Op;
        use dfma_reference::ops::dense_project_gaussian::DenseProjectGaussianT;

        use crate::backend::BackendKind;
        use crate::ptxvm::PtxvmBackend;
        use crate::registry::find;

        let vm = PtxvmBackend::new();
        let ptx = find("dense_project_gaussian_t", BackendKind::Ptxvm).next().expect("a PTX transpose");
        let (n, k) = (1031, 5);
        let d = dims(n, k);
        let seed = Tensor::u32(vec![2], vec![0xdead_beef, 0x0123_4567]);
        let mut inputs: Vec<Vec<f32>> = (0..k).map(|j| (0..k).map(|i| f32::from(u8::from(i == j))).collect()).collect();
        inputs.push(vec![0.75, -1.5, 0.125, 2.0, -0.3]);
        for s in inputs {
            let ins = [Tensor::f32(vec![k], s.clone()), seed.clone()];
            let got = crate::run_once(&vm, ptx, &d, &ins).expect("ptxvm runs the transpose");
            let mut want = DenseProjectGaussianT
                .output_shapes(&d)
                .iter()
                .map(|sh| Tensor::f32(sh.clone(), vec![f32::NAN; sh[0]]))
                .collect::<Vec<_>>();
            transpose_cpu(&d, &ins, &mut want);
            let (g, w) = (got[0].as_f32().unwrap(), want[0].as_f32().unwrap());
            let first = g.iter().zip(w).position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first, None, "s = {s:?}: first differing column {first:?}");
        }
    }

    #[test]
    fn folded_grids_cover_every_block_once_and_stay_under_the_dispatch_limit() {
        for n in [1usize, 1024, 1025, 262_144, 263_169, 1 << 26, u32::MAX as usize] {
            let d = dims(n, 1);
            for (grid, per_block) in [(chunk_grid(&d), CHUNK), (transpose_grid(&d), T_COLUMNS)] {
                let needed = (n as u64).div_ceil(u64::from(per_block));
                let launched = u64::from(grid.blocks[0]) * u64::from(grid.blocks[1]);
                assert!(launched >= needed && launched < needed + u64::from(grid.blocks[0]), "n {n}: {grid:?}");
                assert!(grid.blocks[0] <= 65_535 && grid.blocks[1] <= 65_535, "n {n}: {grid:?}");
            }
        }
    }
}
