// q8_0_gemv: y[j][r] = sum_c W[r][c] * x[j][c], W in Q8_0 (f16 scale + 32 int8 per block).
//
// Device layout (kernels/src/layout.rs): `scales` packs two f16 block scales per u32, `codes`
// four int8 codes per u32, both row-major over (row, block). 32 invocations share a row and a
// workgroup of 128 computes 4 rows. Invocation l of a row walks half-blocks l, l+32, ...: four
// u32 of codes and four vec4 of activations each, partial dot in f32, then acc += d * partial.
// The 32 partials are summed by a tree in workgroup memory (no subgroup feature needed).
//
// Bindings (registry calling convention): scales, codes, x, y, then the dims uniform.

struct Dims {
    rows: u32,
    cols: u32,
    batch: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const LANES: u32 = 32u;
const ROWS_PER_GROUP: u32 = 4u;

var<workgroup> partial: array<f32, 128>;

// Four int8 codes of a u32 as f32, lowest byte first.
fn widen(w: u32) -> vec4<f32> {
    let v = bitcast<i32>(w);
    return vec4<f32>(
        f32((v << 24u) >> 24u),
        f32((v << 16u) >> 24u),
        f32((v << 8u) >> 24u),
        f32(v >> 24u),
    );
}

// f16 scale of block `i`.
fn scale(i: u32) -> f32 {
    let pair = unpack2x16float(scales[i >> 1u]);
    return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(128)
fn q8_0_gemv(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let lane = tid % LANES;
    let row = group.x * ROWS_PER_GROUP + tid / LANES;
    let blocks = dims.cols / 32u;
    let halves = 2u * blocks;
    for (var j = 0u; j < dims.batch; j++) {
        var acc = 0.0;
        if row < dims.rows {
            for (var c = lane; c < halves; c += LANES) {
                let q = (row * blocks * 32u + c * 16u) / 4u;
                let xv = (j * dims.cols + c * 16u) / 4u;
                var p = dot(widen(codes[q]), x[xv]);
                p += dot(widen(codes[q + 1u]), x[xv + 1u]);
                p += dot(widen(codes[q + 2u]), x[xv + 2u]);
                p += dot(widen(codes[q + 3u]), x[xv + 3u]);
                acc += scale(row * blocks + c / 2u) * p;
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
