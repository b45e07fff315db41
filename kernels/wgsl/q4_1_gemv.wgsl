// q4_1_gemv: y[j][r] = sum_c W[r][c] * x[j][c], W in Q4_1 (f16 scale d, f16 offset m and 32
// 4-bit codes q per block; w = d * q + m).
//
// Device layout (kernels/src/layout.rs, q4_1_split): `scales` packs two f16 block scales d per
// u32, `offsets` two f16 block offsets m per u32; `nibbles` holds each block's 16 code bytes in
// GGML's order as four u32, row-major over (row, block). Byte t of word k holds weight 4k+t in
// its low nibble and weight 16+4k+t in its high nibble, so word k gives weights 4k..4k+3 (low
// nibbles) and 16+4k..16+4k+3 (high).
//
// 32 invocations share a row and a workgroup of 128 computes 4 rows. Invocation l of a row
// walks blocks l, l+32, ...: four u32 of codes and eight vec4 of activations each; per block
// the offset factors out, sum (d*q + m) * x = d * sum q*x + m * sum x, so the lane forms
// p = sum q*x and sx = sum x in f32 and adds d * p + m * sx. The 32 partials are summed by a
// tree in workgroup memory (no subgroup feature needed).
//
// Bindings (registry calling convention): scales, offsets, nibbles, x, y, then the dims
// uniform {rows, cols, batch}. Dispatch: ceil(rows/4) workgroups of 128.

struct Dims {
    rows: u32,
    cols: u32,
    batch: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> nibbles: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;

const LANES: u32 = 32u;
const ROWS_PER_GROUP: u32 = 4u;

var<workgroup> partial: array<f32, 128>;

// The low nibbles of a word's four bytes, lowest byte first, as f32 (0..15).
fn low_codes(w: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(15u));
}

// The f16 of block `i` in a plane of two halves per u32 (`scales` or `offsets`).
fn half_of(pair: vec2<f32>, i: u32) -> f32 {
    return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(128)
fn q4_1_gemv(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let lane = tid % LANES;
    let row = group.x * ROWS_PER_GROUP + tid / LANES;
    let blocks = dims.cols / 32u;
    let ones = vec4<f32>(1.0);
    for (var j = 0u; j < dims.batch; j++) {
        var acc = 0.0;
        if row < dims.rows {
            for (var c = lane; c < blocks; c += LANES) {
                let b = row * blocks + c;
                let q = b * 4u;
                let xv = (j * dims.cols + c * 32u) / 4u;
                var p = 0.0;
                var sx = 0.0;
                for (var k = 0u; k < 4u; k++) {
                    let w = nibbles[q + k];
                    let lo = x[xv + k];
                    let hi = x[xv + 4u + k];
                    p += dot(low_codes(w), lo) + dot(low_codes(w >> 4u), hi);
                    sx += dot(lo + hi, ones);
                }
                let d = half_of(unpack2x16float(scales[b >> 1u]), b);
                let m = half_of(unpack2x16float(offsets[b >> 1u]), b);
                acc += d * p + m * sx;
            }
        }
        partial[tid] = acc;
        workgroupBarrier();
        for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
            if lane < stride {
                partial[tid] += partial[tid + stride];
            }
            workgroupBarrier();
        }
        if lane == 0u && row < dims.rows {
            y[j * dims.rows + row] = partial[tid];
        }
        workgroupBarrier();
    }
}
