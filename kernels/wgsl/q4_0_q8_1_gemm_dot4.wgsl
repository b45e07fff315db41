// q4_0_q8_1_gemm, variant tile8x8_dot4: y[t][r] = sum_b dw[r][b] * dx[t][b] * sum_i (n_i - 8) * qx_i, W in Q4_0, x in Q8_1.
//
// Device layout (kernels/src/layout.rs `q4_0_q8_1_buffers`): two f16 scales per u32; W's 16
// nibble bytes a block as GGML stores them (byte j: weight j low, weight j + 16 high), four per
// u32; x's int8 codes four per u32; row-major, W as rows x blocks and x as tokens x blocks.
//
// A workgroup of 64 computes 8 rows x 8 tokens, one output per invocation. Per block, each of
// the 4 nibble words gives two words of four codes (low nibbles against x word k, high nibbles
// against x word k + 4), recentred to packed signed bytes n - 8 ((n | 0x80) - 8, then xor 0x80:
// no borrow crosses a byte), each meeting its activation word in one `dot4I8Packed` (a native
// instruction where the device has one, else the compiler's exact polyfill), summed in i32, then
// scaled by dw * dx in f32. `dfma tune` picks between this and the unpacked tile8x8 per device.
//
// Bindings (registry calling convention): w_scales, w_nibbles, x_scales, x_codes, y, then dims.

struct Dims {
    rows: u32,
    cols: u32,
    m: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> w_scales: array<u32>;
@group(0) @binding(1) var<storage, read> w_nibbles: array<u32>;
@group(0) @binding(2) var<storage, read> x_scales: array<u32>;
@group(0) @binding(3) var<storage, read> x_codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;

fn half_at(words: u32, index: u32) -> f32 {
    let pair = unpack2x16float(words);
    return select(pair.x, pair.y, (index & 1u) == 1u);
}

// Four nibbles (the low four bits of each byte) as four packed signed bytes n - 8.
fn recentred(nibbles: u32) -> u32 {
    return ((nibbles | 0x80808080u) - 0x08080808u) ^ 0x80808080u;
}

@compute @workgroup_size(64)
fn q4_0_q8_1_gemm_dot4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
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
        for (var k = 0u; k < 4u; k++) {
            let v = w_nibbles[wb * 4u + k];
            dot += dot4I8Packed(recentred(v & 0x0F0F0F0Fu), x_codes[xb * 8u + k]);
            dot += dot4I8Packed(recentred((v >> 4u) & 0x0F0F0F0Fu), x_codes[xb * 8u + 4u + k]);
        }
        let dw = half_at(w_scales[wb >> 1u], wb);
        let dx = half_at(x_scales[xb >> 1u], xb);
        acc += (dw * dx) * f32(dot);
    }
    y[t * dims.rows + r] = acc;
}
