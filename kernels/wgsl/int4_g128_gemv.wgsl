// int4_g128_gemv: y[j][r] = sum_c W[r][c] * x[j][c], W asymmetric group-wise int4: per group of
// 128 weights an f16 scale s and f16 zero point z, 4-bit codes q, w = s * (q - z).
//
// Buffers are the host tensors as they are: `codes` 8 codes a u32 (nibble i of word k is
// weight 8k + i), `sz` one u32 a group (f16 s low, f16 z high), both row-major.
//
// 32 invocations share a row and a workgroup of 128 computes 4 rows. Invocation l of a row walks
// groups l, l+32, ...: per group 16 words of codes, each shifted by 0, 4, ..., 28 into two vec4
// of (q - z) and dotted with two vec4 of activations; then acc += s * partial. The 32 partials
// are summed by a tree in workgroup memory (no subgroup feature needed).
//
// Bindings (registry calling convention): sz, codes, x, y, then the dims uniform.

struct Dims {
    rows: u32,
    cols: u32,
    batch: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> sz: array<u32>;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const LANES: u32 = 32u;
const ROWS_PER_GROUP: u32 = 4u;

var<workgroup> partial: array<f32, 128>;

// Codes 0..3 (nibbles 0..3) of `w` minus the zero point, as f32.
fn codes_minus_zero(w: u32, z: f32) -> vec4<f32> {
    let q = (vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
    return vec4<f32>(q) - vec4<f32>(z);
}

@compute @workgroup_size(128)
fn int4_g128_gemv(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let lane = tid % LANES;
    let row = group.x * ROWS_PER_GROUP + tid / LANES;
    let groups = dims.cols / 128u;
    for (var j = 0u; j < dims.batch; j++) {
        var acc = 0.0;
        if row < dims.rows {
            for (var g = lane; g < groups; g += LANES) {
                let sz_g = unpack2x16float(sz[row * groups + g]);
                let c = (row * groups + g) * 16u;
                let xv = (j * dims.cols + g * 128u) / 4u;
                var p = 0.0;
                for (var k = 0u; k < 16u; k++) {
                    let w = codes[c + k];
                    p += dot(codes_minus_zero(w, sz_g.y), x[xv + 2u * k]);
                    p += dot(codes_minus_zero(w >> 16u, sz_g.y), x[xv + 2u * k + 1u]);
                }
                acc += sz_g.x * p;
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
