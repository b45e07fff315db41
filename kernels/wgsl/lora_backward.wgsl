// lora_backward: an adapter's parameter gradients over T tokens, given X [T, k], G = dL/dY
// [T, n], A [r, k], B [n, r] and the scale s of Y = s * (X A^T) B^T:
//   H = X A^T, U = G B (both [T, r]),
//   dA[i][c] = s * sum_t U[t][i] * X[t][c],   dB[o][i] = s * sum_t G[t][o] * H[t][i].
// f32 accumulation.
//
// Device layout: `x`, `g`, `a`, `b`, `scale` f32 as they are; `hu` f32 [2, T, r] is scratch the
// layout appends (H, then U); outputs `da` f32 [r, k], `db` f32 [n, r].
//
// Two passes on one bind group (so both entries name every binding), no float atomics, so the
// sums do not depend on scheduling:
// - lora_backward_factors: one workgroup of 64 per (i, t, factor), grid (r, T, 2): factor 0
//   dots A[i] with X[t] (k long), factor 1 dots G[t] with column i of B (n long); invocation l
//   takes elements l, l+64, ... and a tree in workgroup memory sums the 64 partials.
// - lora_backward_grads: one invocation per gradient element, 256 a workgroup, blocks folded
//   into x and y (a dispatch dimension stops at 65535): elements 0 .. r*k are dA row-major
//   (neighbours share i and read neighbouring columns of X), then n*r of dB row-major; each
//   sums its T products in token order.
//
// Bindings (registry calling convention): x, g, a, b, scale, hu, da, db, then the dims uniform
// {tokens, k, n, rank}.

struct Dims {
    tokens: u32,
    k: u32,
    n: u32,
    rank: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> hu: array<f32>;
@group(0) @binding(6) var<storage, read_write> da: array<f32>;
@group(0) @binding(7) var<storage, read_write> db: array<f32>;
@group(0) @binding(8) var<uniform> dims: Dims;

const LANES: u32 = 64u;
const THREADS: u32 = 256u;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn lora_backward_factors(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    // Name the bindings only the second pass reads, so this entry's layout has every binding.
    _ = arrayLength(&scale);
    _ = arrayLength(&da);
    _ = arrayLength(&db);
    let i = wg.x;
    let t = wg.y;
    let rank = dims.rank;
    var acc = 0.0;
    if wg.z == 0u {
        let k = dims.k;
        for (var c = lane; c < k; c += LANES) {
            acc += a[i * k + c] * x[t * k + c];
        }
    } else {
        let n = dims.n;
        for (var o = lane; o < n; o += LANES) {
            acc += g[t * n + o] * b[o * rank + i];
        }
    }
    partial[lane] = acc;
    workgroupBarrier();
    for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
        if lane < stride {
            partial[lane] += partial[lane + stride];
        }
        workgroupBarrier();
    }
    if lane == 0u {
        hu[(wg.z * dims.tokens + t) * rank + i] = partial[0];
    }
}

@compute @workgroup_size(256)
fn lora_backward_grads(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    _ = arrayLength(&a);
    _ = arrayLength(&b);
    let e = (wg.x + wg.y * groups.x) * THREADS + lid;
    let tokens = dims.tokens;
    let k = dims.k;
    let n = dims.n;
    let rank = dims.rank;
    let s = scale[0];
    if e < rank * k {
        let i = e / k;
        let c = e % k;
        // U starts after H in the scratch.
        let u = tokens * rank;
        var acc = 0.0;
        for (var t = 0u; t < tokens; t++) {
            acc += hu[u + t * rank + i] * x[t * k + c];
        }
        da[e] = s * acc;
    } else if e < rank * (k + n) {
        let f = e - rank * k;
        let o = f / rank;
        let i = f % rank;
        var acc = 0.0;
        for (var t = 0u; t < tokens; t++) {
            acc += g[t * n + o] * hu[t * rank + i];
        }
        db[f] = s * acc;
    }
}
