// The frame of the transposed products (q4_0_gemv_t, q4_1_gemv_t, q8_0_gemv_t), appended to each
// kernel's file (kernels/src/sources.rs, embed_on_frame!). The kernel's file declares the
// bindings (its weight planes, then `dy`, `dx` and the `dims` uniform, at the numbers its layout
// gives them) and `weight(i, k)`, the weight at position k of block i; the frame declares the
// dims struct and the entry `gemv_t`, which uses them by name.
//
// An invocation owns one column c and four tokens t0..t0+3 (t0 = 4 * workgroup_id.y; tokens past
// the end read the last token's dy and store nothing) and walks the rows in order, adding
// w * dy[t][r] to each token's f32 sum: every dx element is one sum in row order. Dispatch:
// ceil(cols/128) x ceil(tokens/4) workgroups of 128. Requires cols % 32 == 0.

struct Dims {
    rows: u32,
    cols: u32,
    tokens: u32,
    pad: u32,
}

// The f16 of block `i` in a plane of two halves per u32.
fn half_at(plane_word: u32, i: u32) -> f32 {
    let pair = unpack2x16float(plane_word);
    return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(128)
fn gemv_t(@builtin(global_invocation_id) gid: vec3<u32>) {
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
