// lora_shrink: t[j][i] = sum_c A[i][c] * x[j][c], an adapter's shrink (k wide activations down to
// rank r), f32 accumulation.
//
// Device layout: `a` f32 [rank, k] and `x` f32 [tokens, k] as they are (k may be any width, so
// both are read as scalars); `t` f32 [tokens, rank].
//
// One workgroup of 64 invocations per (row i of A, group of 8 tokens): grid (rank, tokens/8).
// Invocation l walks columns l, l+64, ...: it loads A[i][c] once and multiplies it with column c
// of up to 8 token rows, one accumulator a token, so A is read once per 8 tokens. The 8 x 64
// partials are summed by one tree in workgroup memory (no subgroup feature needed).
//
// Bindings (registry calling convention): a, x, t, then the dims uniform {rank, k, tokens}.

struct Dims {
    rank: u32,
    k: u32,
    tokens: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> t: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const LANES: u32 = 64u;
const TOKENS: u32 = 8u;

// partial[j * LANES + l]: invocation l's sum for token j of the group.
var<workgroup> partial: array<f32, 512>;

@compute @workgroup_size(64)
fn lora_shrink(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let i = wg.x;
    let j0 = wg.y * TOKENS;
    let count = min(TOKENS, dims.tokens - j0);
    let k = dims.k;
    var acc = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var c = lane; c < k; c += LANES) {
        let w = a[i * k + c];
        for (var j = 0u; j < TOKENS; j++) {
            if j < count {
                acc[j] += w * x[(j0 + j) * k + c];
            }
        }
    }
    for (var j = 0u; j < TOKENS; j++) {
        partial[j * LANES + lane] = acc[j];
    }
    workgroupBarrier();
    for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
        if lane < stride {
            for (var j = 0u; j < TOKENS; j++) {
                partial[j * LANES + lane] += partial[j * LANES + lane + stride];
            }
        }
        workgroupBarrier();
    }
    if lane < count {
        t[(j0 + lane) * dims.rank + i] = partial[lane * LANES];
    }
}
