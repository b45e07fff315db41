// sgmv: y_out[t] = y[t] + s_i * B_i * (A_i * x[t]) with i the adapter of t's segment: segment g
// covers tokens starts[g] .. starts[g+1] and applies seg_adapter[g] (0xFFFFFFFF: none, y_out[t]
// = y[t]). f32 accumulation.
//
// Device layout: `x` f32 [tokens, k], `a` f32 [adapters, rank, k], `b` f32 [adapters, n, rank],
// `scales` f32 [adapters], `starts` u32 [segments + 1], `seg_adapter` u32 [segments], `y` f32
// [tokens, n], all as they are; `h` f32 [tokens, rank] is scratch the layout appends; `y_out`
// f32 [tokens, n].
//
// The work split is that of bgmv.wgsl, with each token's adapter found in the shader by a binary
// search of the segment table (the last segment starting at or before t, so empty segments are
// skipped), not spelled out per token on the host:
// - sgmv_shrink: one workgroup of 64 per (row r, token t), grid (rank, tokens): invocation l
//   walks columns l, l+64, ... of A_i[r] and x[t]; a tree in workgroup memory sums the 64
//   partials into h[t][r]. Tokens without an adapter return at once.
// - sgmv_expand: one invocation per output o of token t, 256 a workgroup, blocks folded into x
//   and y (a dispatch dimension stops at 65535), token in z. The workgroup stages h[t] in
//   workgroup memory; each invocation dots B_i[o] with it, scales and adds y[t][o].
// Both passes share one bind group, so both entries name every binding.
//
// Bindings (registry calling convention): x, a, b, scales, starts, seg_adapter, y, h, y_out,
// then the dims uniform {tokens, k, n, rank, adapters, segments}.

struct Dims {
    tokens: u32,
    k: u32,
    n: u32,
    rank: u32,
    adapters: u32,
    segments: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> starts: array<u32>;
@group(0) @binding(5) var<storage, read> seg_adapter: array<u32>;
@group(0) @binding(6) var<storage, read> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;
@group(0) @binding(8) var<storage, read_write> y_out: array<f32>;
@group(0) @binding(9) var<uniform> dims: Dims;

const NO_ADAPTER: u32 = 0xFFFFFFFFu;
const LANES: u32 = 64u;
const THREADS: u32 = 256u;

var<workgroup> partial: array<f32, 64>;
// h[t] of the expanding token (the ops' largest rank is 256).
var<workgroup> ht: array<f32, 256>;

// Token t's adapter: seg_adapter[g] for the last g with starts[g] <= t. starts[0] = 0 and
// starts[segments] = tokens > t, so g is in 0..segments.
fn adapter_of(t: u32) -> u32 {
    var lo = 0u;
    var hi = dims.segments + 1u;
    // Invariant: starts[p] <= t for p < lo, starts[p] > t for p >= hi.
    while lo < hi {
        let mid = (lo + hi) / 2u;
        if starts[mid] <= t {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return seg_adapter[lo - 1u];
}

@compute @workgroup_size(64)
fn sgmv_shrink(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    // Name the bindings only the expand reads, so this entry's layout has every binding.
    _ = arrayLength(&b);
    _ = arrayLength(&scales);
    _ = arrayLength(&y);
    _ = arrayLength(&y_out);
    let r = wg.x;
    let t = wg.y;
    let i = adapter_of(t);
    if i == NO_ADAPTER {
        return;
    }
    let k = dims.k;
    let row = (i * dims.rank + r) * k;
    var acc = 0.0;
    for (var c = lane; c < k; c += LANES) {
        acc += a[row + c] * x[t * k + c];
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
        h[t * dims.rank + r] = partial[0];
    }
}

@compute @workgroup_size(256)
fn sgmv_expand(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    _ = arrayLength(&x);
    _ = arrayLength(&a);
    let t = wg.z;
    let i = adapter_of(t);
    let rank = dims.rank;
    if i != NO_ADAPTER {
        for (var r = lid; r < rank; r += THREADS) {
            ht[r] = h[t * rank + r];
        }
    }
    workgroupBarrier();
    let o = (wg.x + wg.y * groups.x) * THREADS + lid;
    if o >= dims.n {
        return;
    }
    let at = t * dims.n + o;
    if i == NO_ADAPTER {
        y_out[at] = y[at];
        return;
    }
    let row = (i * dims.n + o) * rank;
    var acc = 0.0;
    for (var r = 0u; r < rank; r++) {
        acc += b[row + r] * ht[r];
    }
    y_out[at] = y[at] + scales[i] * acc;
}
