// q8_0_q8_1_gemm: y[t][r] = sum_b dw[r][b] * dx[t][b] * sum_i qw * qx, W in Q8_0, x in Q8_1.
//
// Device layout (kernels/src/layout.rs `q8_0_q8_1_buffers`): two f16 scales per u32 and four
// int8 codes per u32, row-major, for W (rows x blocks) and for x (tokens x blocks).
//
// A workgroup of 64 computes 8 rows x 8 tokens, one output per invocation. Per block, the
// 8 words of codes are unpacked and multiplied in i32 (exact), then scaled by dw * dx in f32.
// Portable WGSL: no packed-integer-dot extension is assumed (dot4I8Packed would fuse the four
// products of a word where an adapter offers it).
//
// Bindings (registry calling convention): w_scales, w_codes, x_scales, x_codes, y, then dims.

struct Dims {
    rows: u32,
    cols: u32,
    m: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> w_scales: array<u32>;
@group(0) @binding(1) var<storage, read> w_codes: array<u32>;
@group(0) @binding(2) var<storage, read> x_scales: array<u32>;
@group(0) @binding(3) var<storage, read> x_codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;

fn half_at(words: u32, index: u32) -> f32 {
    let pair = unpack2x16float(words);
    return select(pair.x, pair.y, (index & 1u) == 1u);
}

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

@compute @workgroup_size(64)
fn q8_0_q8_1_gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let r = wg.x * 8u + (li % 8u);
    let t = wg.y * 8u + (li / 8u);
    if (r >= dims.rows || t >= dims.m) {
        return;
    }
    let blocks = dims.cols / 32u;
    var acc = 0.0;
    for (var b = 0u; b < blocks; b++) {
        let wb = r * blocks + b;
        let xb = t * blocks + b;
        var dot = 0;
        for (var k = 0u; k < 8u; k++) {
            dot += dot4(w_codes[wb * 8u + k], x_codes[xb * 8u + k]);
        }
        let dw = half_at(w_scales[wb >> 1u], wb);
        let dx = half_at(x_scales[xb >> 1u], xb);
        acc += (dw * dx) * f32(dot);
    }
    y[t * dims.rows + r] = acc;
}
