// q4_0_gemm, variant tile16x16: y[t][r] = sum_c W[r][c] * x[t][c], W in Q4_0, for m token rows
// (prefill), on the shared frame of lib/quant_gemm_tile16.wgsl (appended: bindings, tiles,
// staging). Here: a Q4_0 block's 16 nibble bytes as GGML stores them (byte j: weight j low,
// weight j + 16 high), four u32 words a block, each weight recentred to n - 8.

fn code(block: u32, c: u32) -> f32 {
    let j = c & 15u;
    let byte = (codes[block * 4u + (j >> 2u)] >> (8u * (j & 3u))) & 255u;
    let n = select(byte & 15u, byte >> 4u, c >= 16u);
    return f32(i32(n) - 8);
}
