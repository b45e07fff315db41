// The frame every Q8_1-activation product's WGSL kernel shares (appended to the kernel's file,
// which defines `block_dot(wb, xb) -> i32`: the exact integer dot of weight block wb with
// activation block xb, both counted from the start of their buffers).
//
// Device layout (kernels/src/layout.rs `q8_0_q8_1_buffers`, `q4_0_q8_1_buffers`): two f16 scales
// per u32, the weights' code (or nibble) bytes four per u32, row-major as rows x blocks; x's f16
// scales and int8 codes the same way as tokens x blocks.
//
// A workgroup of 64 computes 8 rows x 8 tokens, one output per invocation: per block the exact
// integer dot, scaled by dw * dx in f32 and summed in block order.
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
fn q8_1_gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
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
        let dot = block_dot(wb, xb);
        let dw = half_at(w_scales[wb >> 1u], wb);
        let dx = half_at(x_scales[xb >> 1u], xb);
        acc += (dw * dx) * f32(dot);
    }
    y[t * dims.rows + r] = acc;
}
