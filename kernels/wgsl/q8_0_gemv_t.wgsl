// q8_0_gemv_t: dx[t][c] = sum_r W[r][c] * dy[t][r], W in Q8_0 (w = d * q, q int8): the
// transposed product (the input gradient through a frozen layer).
//
// Device layout (kernels/src/layout.rs, q8_0_split): `scales` packs two f16 block scales per
// u32, `codes` each block's 32 int8 codes as eight u32, row-major over (row, block), so (row r,
// column c) is code byte r * cols + c.
//
// An invocation owns one column c and four tokens t0..t0+3 (t0 = 4 * workgroup_id.y; tokens past
// the end read the last token's dy and store nothing) and walks the rows in order, adding
// w * dy[t][r] to each token's f32 sum: every dx element is one sum in row order. Dispatch:
// ceil(cols/128) x ceil(tokens/4) workgroups of 128. Requires cols % 32 == 0.
//
// Bindings (registry calling convention): scales, codes, dy, dx, then the dims uniform
// {rows, cols, tokens}.

struct Dims {
    rows: u32,
    cols: u32,
    tokens: u32,
    pad: u32,
}

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

// The f16 of block `i` in a plane of two halves per u32.
fn half_at(plane_word: u32, i: u32) -> f32 {
    let pair = unpack2x16float(plane_word);
    return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(128)
fn q8_0_gemv_t(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= dims.cols {
        return;
    }
    let t0 = gid.y * 4u;
    let last = dims.tokens - 1u;
    let t = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last)) * dims.rows;
    let blocks = dims.cols / 32u;
    let b = c / 32u;
    let k = c % 32u;
    var acc = vec4<f32>(0.0);
    for (var r = 0u; r < dims.rows; r++) {
        let i = r * blocks + b;
        let w = weight(i, k);
        let g = vec4<f32>(dy[t.x + r], dy[t.y + r], dy[t.z + r], dy[t.w + r]);
        acc = fma(vec4<f32>(w), g, acc);
    }
    let out = t0 * dims.cols + c;
    let left = dims.tokens - t0;
    dx[out] = acc.x;
    if left > 1u {
        dx[out + dims.cols] = acc.y;
    }
    if left > 2u {
        dx[out + 2u * dims.cols] = acc.z;
    }
    if left > 3u {
        dx[out + 3u * dims.cols] = acc.w;
    }
}
