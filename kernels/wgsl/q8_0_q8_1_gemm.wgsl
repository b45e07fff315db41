// q8_0_q8_1_gemm, variant tile8x8: y[t][r] = sum_b dw[r][b] * dx[t][b] * sum_i qw * qx, W in
// Q8_0, x in Q8_1, on the shared frame of lib/q8_1_gemm_tile8.wgsl (appended: bindings, tiles,
// scaling). Here: a block's exact integer dot, its 8 code words unpacked by shifts and multiplied
// in i32. Portable WGSL: no packed-integer-dot extension assumed (see tile8x8_dot4).

// Sum of the four int8 products of two words, exact in i32.
fn dot4(a: u32, b: u32) -> i32 {
    let x = bitcast<i32>(a);
    let z = bitcast<i32>(b);
    var s = 0;
    for (var k = 0u; k < 4u; k++) {
        let sh = 24u - 8u * k;
        s += ((x << sh) >> 24u) * ((z << sh) >> 24u);
    }
    return s;
}

fn block_dot(wb: u32, xb: u32) -> i32 {
    var dot = 0;
    for (var k = 0u; k < 8u; k++) {
        dot += dot4(w_codes[wb * 8u + k], x_codes[xb * 8u + k]);
    }
    return dot;
}
