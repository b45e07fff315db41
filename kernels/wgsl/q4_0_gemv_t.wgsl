// q4_0_gemv_t: dx[t][c] = sum_r W[r][c] * dy[t][r], W in Q4_0 (w = d * (q - 8), q 4-bit): the
// transposed product (the input gradient through a frozen layer).
//
// Device layout (kernels/src/layout.rs, q4_0_split): `scales` packs two f16 block scales per
// u32, `nibbles` each block's 16 code bytes in GGML's order as four u32 (byte j: weight j in
// its low nibble, weight j + 16 in its high nibble), row-major over (row, block).
//
// On the frame lib/gemv_t_columns.wgsl (its entry `gemv_t`, one column and four tokens an
// invocation, rows summed in order).
//
// Bindings (registry calling convention): scales, nibbles, dy, dx, then the dims uniform
// {rows, cols, tokens}.

@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> nibbles: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

// W's weight at block i, position k.
fn weight(i: u32, k: u32) -> f32 {
    let byte = i * 16u + k % 16u;
    let q = (nibbles[byte / 4u] >> (8u * (byte % 4u) + 4u * (k / 16u))) & 15u;
    return half_at(scales[i / 2u], i) * (f32(q) - 8.0);
}
