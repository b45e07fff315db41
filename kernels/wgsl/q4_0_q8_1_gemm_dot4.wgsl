// q4_0_q8_1_gemm, variant tile8x8_dot4: as tile8x8 (the frame of lib/q8_1_gemm_tile8.wgsl,
// appended), each nibble word's low and high nibbles recentred to packed signed bytes n - 8
// ((n | 0x80) - 8, then xor 0x80: no borrow crosses a byte) and each meeting its activation word
// in one `dot4I8Packed` (a native instruction where the device has one, else the shader
// compiler's exact polyfill). `dfma tune` picks between the two variants per device and shape.

// Four nibbles (the low four bits of each byte) as four packed signed bytes n - 8.
fn recentred(nibbles: u32) -> u32 {
    return ((nibbles | 0x80808080u) - 0x08080808u) ^ 0x80808080u;
}

fn block_dot(wb: u32, xb: u32) -> i32 {
    var dot = 0;
    for (var k = 0u; k < 4u; k++) {
        let v = w_codes[wb * 4u + k];
        dot += dot4I8Packed(recentred(v & 0x0F0F0F0Fu), x_codes[xb * 8u + k]);
        dot += dot4I8Packed(recentred((v >> 4u) & 0x0F0F0F0Fu), x_codes[xb * 8u + 4u + k]);
    }
    return dot;
}
