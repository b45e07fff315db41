// lora_expand: y_out[j][o] = y[j][o] + s * sum_i B[o][i] * t[j][i], an adapter's expand (rank r
// back up to n), f32 accumulation.
//
// Device layout: `b` f32 [n, rank], `t` f32 [tokens, rank], `y` f32 [tokens, n], `scale` f32 [1],
// all as they are; `y_out` f32 [tokens, n].
//
// One invocation per output, 256 a workgroup: workgroup (bx + by * width, j) covers outputs
// o = 256 * block .. +256 of token j (blocks folded into x and y, since a dispatch dimension
// stops at 65535; token in z). The workgroup stages t[j] (rank <= 256 floats) in workgroup
// memory, then each invocation dots its own B row with it and adds s times that to y.
//
// Bindings (registry calling convention): b, t, y, scale, y_out, then the dims uniform
// {n, rank, tokens}.

struct Dims {
    n: u32,
    rank: u32,
    tokens: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> b: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> y_out: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;

const THREADS: u32 = 256u;

// t[j], the token's rank-r activations (the ops' largest rank is 256).
var<workgroup> tj: array<f32, 256>;

@compute @workgroup_size(256)
fn lora_expand(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let j = wg.z;
    let rank = dims.rank;
    for (var i = lid; i < rank; i += THREADS) {
        tj[i] = t[j * rank + i];
    }
    workgroupBarrier();
    let o = (wg.x + wg.y * groups.x) * THREADS + lid;
    if o >= dims.n {
        return;
    }
    var acc = 0.0;
    for (var i = 0u; i < rank; i++) {
        acc += b[o * rank + i] * tj[i];
    }
    y_out[j * dims.n + o] = y[j * dims.n + o] + scale[0] * acc;
}
