// q8_0_gemm, variant tile16x16: y[t][r] = sum_c W[r][c] * x[t][c], W in Q8_0, for m token rows
// (prefill), on the shared frame of lib/quant_gemm_tile16.wgsl (appended: bindings, tiles,
// staging). Here: a Q8_0 block's codes, four int8 per u32 word.

fn code(block: u32, c: u32) -> f32 {
    let index = block * 32u + c;
    let word = bitcast<i32>(codes[index >> 2u]);
    let shift = 24u - 8u * (index & 3u);
    return f32((word << shift) >> 24u);
}
