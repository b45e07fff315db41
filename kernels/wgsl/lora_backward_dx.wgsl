// lora_backward_dx: the adapter's share of the input gradient over T tokens, given G = dL/dY
// [T, n], A [r, k], B [n, r] and the scale s of Y = s * (X A^T) B^T:
//   U = G B [T, r],   dX[t][c] = s * sum_i U[t][i] * A[i][c].
// f32 accumulation.
//
// Device layout: `g`, `a`, `b`, `scale` f32 as they are; `u` f32 [T, r] is scratch the layout
// appends; output `dx` f32 [T, k].
//
// Two passes on one bind group (so both entries name every binding):
// - lora_backward_dx_u: one workgroup of 64 per (i, t), grid (r, T): invocation l takes
//   o = l, l+64, ... of G[t][o] * B[o][i]; a tree in workgroup memory sums the 64 partials.
// - lora_backward_dx_grads: one invocation per column c of token t, 256 a workgroup, column
//   blocks folded into x and y (a dispatch dimension stops at 65535), token in z. The workgroup
//   stages U[t] (r <= 256) in workgroup memory; neighbours read neighbouring columns of A.
//
// Bindings (registry calling convention): g, a, b, scale, u, dx, then the dims uniform
// {tokens, k, n, rank}.

struct Dims {
    tokens: u32,
    k: u32,
    n: u32,
    rank: u32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> dims: Dims;

const LANES: u32 = 64u;
const THREADS: u32 = 256u;

var<workgroup> partial: array<f32, 64>;
// U[t] of the workgroup's token (the ops' largest rank is 256).
var<workgroup> ut: array<f32, 256>;

@compute @workgroup_size(64)
fn lora_backward_dx_u(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    // Name the bindings only the second pass reads, so this entry's layout has every binding.
    _ = arrayLength(&a);
    _ = arrayLength(&scale);
    _ = arrayLength(&dx);
    let i = wg.x;
    let t = wg.y;
    let n = dims.n;
    let rank = dims.rank;
    var acc = 0.0;
    for (var o = lane; o < n; o += LANES) {
        acc += g[t * n + o] * b[o * rank + i];
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
        u[t * rank + i] = partial[0];
    }
}

@compute @workgroup_size(256)
fn lora_backward_dx_grads(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    _ = arrayLength(&g);
    _ = arrayLength(&b);
    let t = wg.z;
    let k = dims.k;
    let rank = dims.rank;
    for (var i = lid; i < rank; i += THREADS) {
        ut[i] = u[t * rank + i];
    }
    workgroupBarrier();
    let c = (wg.x + wg.y * groups.x) * THREADS + lid;
    if c >= k {
        return;
    }
    var acc = 0.0;
    for (var i = 0u; i < rank; i++) {
        acc += ut[i] * a[i * k + c];
    }
    dx[t * k + c] = scale[0] * acc;
}
