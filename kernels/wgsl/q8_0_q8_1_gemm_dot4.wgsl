// q8_0_q8_1_gemm, variant tile8x8_dot4: y[t][r] = sum_b dw[r][b] * dx[t][b] * sum_i qw * qx, W in Q8_0, x in Q8_1.
//
// Device layout (kernels/src/layout.rs `q8_0_q8_1_buffers`): two f16 scales per u32 and four
// int8 codes per u32, row-major, for W (rows x blocks) and for x (tokens x blocks).
//
// A workgroup of 64 computes 8 rows x 8 tokens, one output per invocation. Per block, each of
// the 8 code words meets its activation word in one `dot4I8Packed` (WGSL's packed 4x8 integer
// dot product: a native instruction where the device has one, e.g. SPIR-V OpSDot on Vulkan with
// VK_KHR_shader_integer_dot_product, else the compiler's exact polyfill), summed in i32, then
// scaled by dw * dx in f32. `dfma tune` picks between this and the unpacked tile8x8 per device.
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

@compute @workgroup_size(64)
fn q8_0_q8_1_gemm_dot4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
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
            dot += dot4I8Packed(w_codes[wb * 8u + k], x_codes[xb * 8u + k]);
        }
        let dw = half_at(w_scales[wb >> 1u], wb);
        let dx = half_at(x_scales[xb >> 1u], xb);
        acc += (dw * dx) * f32(dot);
    }
    y[t * dims.rows + r] = acc;
}
