// q8_0_gemv_t: dx[t][c] = sum_r W[r][c] * dy[t][r], W in Q8_0 (w = d * q, q int8): the
// transposed product (the input gradient through a frozen layer).
//
// Device layout (kernels/src/layout.rs, q8_0_split): `scales` packs two f16 block scales per
// u32, `codes` each block's 32 int8 codes as eight u32, row-major over (row, block), so (row r,
// column c) is code byte r * cols + c.
//
// On the frame lib/gemv_t_columns.wgsl (its entry `gemv_t`, one column and four tokens an
// invocation, rows summed in order).
//
// Bindings (registry calling convention): scales, codes, dy, dx, then the dims uniform
// {rows, cols, tokens}.

@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

// W's weight at block i, position k: the code byte sign-extended, times the block's scale.
fn weight(i: u32, k: u32) -> f32 {
    let byte = i * 32u + k;
    let q = i32(codes[byte / 4u] << (24u - 8u * (byte % 4u))) >> 24u;
    return half_at(scales[i / 2u], i) * f32(q);
}
