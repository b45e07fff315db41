// lora_fused_q4_1: y[j][r] = sum_c W[r][c] * x[j][c] + s_p * B_p[r] . (A_p x[j])
//                                                    + s_c * B_c[r] . (A_c x[j]),
// W in Q4_1 (f16 scale d, f16 offset m and 32 4-bit codes q per block; w = d * q + m), the two
// adapters in f32, 1..=8 tokens; f32 accumulation. y is written once.
//
// Device layout (kernels/src/registry/lora_wgsl.rs, fused_q4_1_buffers): W split as
// q4_1_gemv.wgsl reads it (`scales` and `offsets`: two f16 block scales d, or offsets m, per
// u32; `nibbles`: each block's 16 code bytes in GGML's order as four u32); `x` f32 [tokens, k]
// read as vec4 (k is a multiple of 32); `a_p` [rank_p, k] and `a_c` [rank_c, k] read as vec4;
// `b_p` [n, rank_p], `b_c` [n, rank_c]; `ab_scales` = (s_p, s_c); `t` f32
// [tokens, rank_p + rank_c] is scratch the layout appends. A rank may be 0: its buffers are
// padded to 16 bytes (wgpu binds no empty buffer) and never read.
//
// Two passes on one bind group (so both entries name every binding):
// - lora_fused_q4_1_shrink: t[j] = [A_p x[j] ; A_c x[j]]. One workgroup of 64 per stacked
//   adapter row i (grid rank_p + rank_c, at least 1; a workgroup past the rows returns):
//   invocation l walks vec4 columns l, l+64, ... of the row, loading each once for all tokens;
//   a tree in workgroup memory sums the 8 x 64 partials.
// - lora_fused_q4_1: the base GEMV of q4_1_gemv.wgsl (32 invocations a row, 4 rows a workgroup
//   of 128, row groups folded into x and y since a dispatch dimension stops at 65535; per block
//   d * sum q*x + m * sum x) whose lanes also take the adapters' rank_p + rank_c terms of their
//   row, i = lane, lane+32, ..., before the tree sums the 32 partials: the epilogue costs no
//   extra reduction, and a rank-0 adapter's loop is empty.
//
// Bindings (registry calling convention): scales, offsets, nibbles, x, a_p, b_p, a_c, b_c,
// ab_scales, t, y, then the dims uniform {n, k, tokens, rank_p, rank_c}.

struct Dims {
    n: u32,
    k: u32,
    tokens: u32,
    rank_p: u32,
    rank_c: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> scales: array<u32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> nibbles: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> a_p: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b_p: array<f32>;
@group(0) @binding(6) var<storage, read> a_c: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> b_c: array<f32>;
@group(0) @binding(8) var<storage, read> ab_scales: array<f32>;
@group(0) @binding(9) var<storage, read_write> t: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;
@group(0) @binding(11) var<uniform> dims: Dims;

const LANES: u32 = 32u;
const ROWS_PER_GROUP: u32 = 4u;
const SHRINK_LANES: u32 = 64u;
const MAX_TOKENS: u32 = 8u;

// Shrink: partial[j * 64 + l]. GEMV: partial[tid] (128 used).
var<workgroup> partial: array<f32, 512>;

@compute @workgroup_size(64)
fn lora_fused_q4_1_shrink(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    // Name the bindings only the GEMV reads, so this entry's layout has every binding.
    _ = arrayLength(&scales);
    _ = arrayLength(&offsets);
    _ = arrayLength(&nibbles);
    _ = arrayLength(&b_p);
    _ = arrayLength(&b_c);
    _ = arrayLength(&ab_scales);
    _ = arrayLength(&y);
    let i = wg.x;
    let ranks = dims.rank_p + dims.rank_c;
    if i >= ranks {
        return;
    }
    let k4 = dims.k / 4u;
    let tokens = dims.tokens;
    var acc = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var c = lane; c < k4; c += SHRINK_LANES) {
        var w: vec4<f32>;
        if i < dims.rank_p {
            w = a_p[i * k4 + c];
        } else {
            w = a_c[(i - dims.rank_p) * k4 + c];
        }
        for (var j = 0u; j < MAX_TOKENS; j++) {
            if j < tokens {
                acc[j] += dot(w, x[j * k4 + c]);
            }
        }
    }
    for (var j = 0u; j < MAX_TOKENS; j++) {
        partial[j * SHRINK_LANES + lane] = acc[j];
    }
    workgroupBarrier();
    for (var stride = SHRINK_LANES / 2u; stride > 0u; stride >>= 1u) {
        if lane < stride {
            for (var j = 0u; j < MAX_TOKENS; j++) {
                partial[j * SHRINK_LANES + lane] += partial[j * SHRINK_LANES + lane + stride];
            }
        }
        workgroupBarrier();
    }
    if lane < tokens {
        t[lane * ranks + i] = partial[lane * SHRINK_LANES];
    }
}

// The low nibbles of a word's four bytes, lowest byte first, as f32 (0..15).
fn low_codes(w: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(15u));
}

// The f16 of block `i` in a plane of two halves per u32 (`scales` or `offsets`).
fn half_of(pair: vec2<f32>, i: u32) -> f32 {
    return select(pair.x, pair.y, (i & 1u) == 1u);
}

@compute @workgroup_size(128)
fn lora_fused_q4_1(
    @builtin(local_invocation_index) tid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    _ = arrayLength(&a_p);
    _ = arrayLength(&a_c);
    let lane = tid % LANES;
    let row = (wg.x + wg.y * groups.x) * ROWS_PER_GROUP + tid / LANES;
    let blocks = dims.k / 32u;
    let rank_p = dims.rank_p;
    let rank_c = dims.rank_c;
    let ranks = rank_p + rank_c;
    let s_p = ab_scales[0];
    let s_c = ab_scales[1];
    let ones = vec4<f32>(1.0);
    for (var j = 0u; j < dims.tokens; j++) {
        var acc = 0.0;
        if row < dims.n {
            for (var c = lane; c < blocks; c += LANES) {
                let b = row * blocks + c;
                let q = b * 4u;
                let xv = (j * dims.k + c * 32u) / 4u;
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
            // Epilogue: this lane's share of s_p B_p[row] . t_p[j] + s_c B_c[row] . t_c[j].
            for (var i = lane; i < ranks; i += LANES) {
                let tv = t[j * ranks + i];
                if i < rank_p {
                    acc += s_p * b_p[row * rank_p + i] * tv;
                } else {
                    acc += s_c * b_c[row * rank_c + i - rank_p] * tv;
                }
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
        if lane == 0u && row < dims.n {
            y[j * dims.n + row] = partial[tid];
        }
        workgroupBarrier();
    }
}
