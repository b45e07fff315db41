// q8_0_q8_1_gemm, variant tile8x8_dot4: as tile8x8 (the frame of lib/q8_1_gemm_tile8.wgsl,
// appended), each code word meeting its activation word in one `dot4I8Packed`: WGSL's packed
// 4x8 integer dot product: a native instruction where the device has one (SPIR-V OpSDot on
// Vulkan with VK_KHR_shader_integer_dot_product), else the shader compiler's exact polyfill.
// `dfma tune` picks between the two variants per device and shape.

fn block_dot(wb: u32, xb: u32) -> i32 {
    var dot = 0;
    for (var k = 0u; k < 8u; k++) {
        dot += dot4I8Packed(w_codes[wb * 8u + k], x_codes[xb * 8u + k]);
    }
    return dot;
}
