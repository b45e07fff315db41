//! Which kernels the bench holds to the matrix-unit peak: exactly the PTX kernels built on
//! tensor cores (their SASS must hold HMMA), whatever their pass.

use dfma_kernels::registry::KERNELS;

#[test]
fn the_tensor_core_kernels_and_only_they_use_matrix_units() {
    let on_units: Vec<String> = KERNELS.iter().filter(|k| k.uses_matrix_units()).map(|k| k.id()).collect();
    for id in ["q8_0_gemm/mma_m16n8k16", "q4_0_gemm/mma_m16n8k16", "mma_peak/mma_m16n8k16_x4"] {
        assert!(on_units.contains(&id.to_string()), "{id} missing from {on_units:?}");
    }
    for id in ["q8_0_gemv/warp_per_row", "q8_0_gemm/tile16x16", "q8_0_gemm/rayon_band16", "fma_peak/reference"] {
        assert!(!on_units.contains(&id.to_string()), "{id} should not use matrix units");
    }
}
