// q4_0_gemv_t: dx[t][c] = sum_r W[r][c] * dy[t][r], W in Q4_0 (w = d * (q - 8), q 4-bit): the
// transposed product (the input gradient through a frozen layer).
//
// Device layout (kernels/src/layout.rs, q4_0_split): `scales` packs two f16 block scales per
// u32, `nibbles` each block's 16 code bytes in GGML's order as four u32 (byte j: weight j in
// its low nibble, weight j + 16 in its high nibble), row-major over (row, block).
//
// An invocation owns one column c and four tokens t0..t0+3 (t0 = 4 * workgroup_id.y; tokens past
// the end read the last token's dy and store nothing) and walks the rows in order, adding
// w * dy[t][r] to each token's f32 sum: every dx element is one sum in row order. Dispatch:
// ceil(cols/128) x ceil(tokens/4) workgroups of 128. Requires cols % 32 == 0.
//
// Bindings (registry calling convention): scales, nibbles, dy, dx, then the dims uniform
// {rows, cols, tokens}.

struct Dims {
    rows: u32,
    cols: u32,
    tokens: u32,
    pad: u32,
}

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

// The f16 of block `i` in a plane of two halves per u32.
fn half_at(plane_word: u32, i: u32) -> f32 {
    let pair = unpack2x16float(plane_word);
    return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(128)
fn q4_0_gemv_t(@builtin(global_invocation_id) gid: vec3<u32>) {
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
