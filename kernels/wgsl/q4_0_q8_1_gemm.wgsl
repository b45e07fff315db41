// q4_0_q8_1_gemm, variant tile8x8: y[t][r] = sum_b dw[r][b] * dx[t][b] * sum_i (n_i - 8) * qx_i,
// W in Q4_0, x in Q8_1, on the shared frame of lib/q8_1_gemm_tile8.wgsl (appended). Here: a
// block's 16 nibble bytes as GGML stores them (byte j: weight j low, weight j + 16 high) are 4
// words; each gives the low nibbles against x word k and the high nibbles against x word k + 4,
// recentred to n - 8 and multiplied in i32 (exact). Portable WGSL (see tile8x8_dot4).

// Sum over the four bytes of (nibble - 8) * code: `nibbles` holds one 4-bit code per byte (the
// byte's low four bits), `codes` four int8 activations. Exact in i32.
fn dot4_nibbles(nibbles: u32, codes: u32) -> i32 {
    let z = bitcast<i32>(codes);
    var s = 0;
    for (var k = 0u; k < 4u; k++) {
        let n = i32((nibbles >> (8u * k)) & 15u) - 8;
        let sh = 24u - 8u * k;
        s += n * ((z << sh) >> 24u);
    }
    return s;
}

fn block_dot(wb: u32, xb: u32) -> i32 {
    var dot = 0;
    for (var k = 0u; k < 4u; k++) {
        let v = w_codes[wb * 4u + k];
        dot += dot4_nibbles(v, x_codes[xb * 8u + k]);
        dot += dot4_nibbles(v >> 4u, x_codes[xb * 8u + 4u + k]);
    }
    return dot;
}
