// dense_project_gaussian: s = R g, R (k x n) with N(0, 1/k) entries from Philox4x32-10 and
// Box-Muller exactly as kernels/SIGNALS.md specifies (counter (column group q, row, 0, 2), key =
// seed; one block gives columns 4q .. 4q+3 of a row); never stored.
// Two passes so the result does not depend on workgroup scheduling (no float atomics):
// dense_project_gaussian_partials stages 1024 columns of g in workgroup memory (g read once)
// and invocation t sweeps rows t, t+256, ...: one Philox call per column group gives the row's
// four entries, FMA'd with the group's columns. Workgroups are numbered x + y * width (a
// dispatch dimension holds at most 65535); those past n return. dense_project_gaussian_reduce
// adds the partials of each row in workgroup order and scales by 1/sqrt(k).
// Bindings: g, seed, partial (scratch, blocks x k), s, dims {n, k}. Both entries use every
// binding because the two passes share one bind group.

struct Dims {
    n: u32,
    k: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> s: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const CHUNK: u32 = 1024u;
const THREADS: u32 = 256u;

var<workgroup> gs: array<vec4<f32>, 256>;

const PURPOSE_DENSE_GAUSSIAN: u32 = 2u;
// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

// Box-Muller in f32, the steps of reference/src/signals/box_muller_f32.rs (a polynomial log
// after an exact exponent split, Taylor sine and cosine after an exact quarter-turn reduction):
// WGSL's own log, sin and cos may be off by 2^-21 and 2^-11 absolute, too coarse here.
const TWO_POW_M24: f32 = 5.9604645e-8f;

// sqrt(-2 ln u'), u' = ((wa >> 8) + 1) 2^-24 = x 2^e with x in [sqrt(2)/2, sqrt(2)).
fn radius(wa: u32) -> f32 {
    let u = f32((wa >> 8u) + 1u) * TWO_POW_M24;
    let bits = bitcast<u32>(u) + 0x004AFB0Du;
    let e = f32(i32(bits >> 23u) - 127);
    let x = bitcast<f32>((bits & 0x007FFFFFu) + 0x3F3504F3u);
    let f = x - 1.0f;
    let s = f / (2.0f + f);
    let z = s * s;
    let r = z * fma(fma(fma(fma(0.18181819f, z, 0.22222222f), z, 0.2857143f), z, 0.4f), z, 0.6666667f);
    let hfsq = 0.5f * (f * f);
    let log1p = fma(s, hfsq + r, -hfsq) + f;
    let ln_u = fma(e, 0.6931472f, log1p);
    return sqrt(-2.0f * ln_u);
}

// (cos, sin) of 2 pi v 2^-24, v = wb >> 8: nearest quarter turn n and remainder y in
// [-1/8, 1/8] in integers (exact), polynomials in y, then the quarter turn's swap and signs.
fn cos_sin(wb: u32) -> vec2<f32> {
    let v = wb >> 8u;
    let n = (v + 0x200000u) >> 22u;
    let y = f32(i32(v) - i32(n << 22u)) * TWO_POW_M24;
    let y2 = y * y;
    let sn = y * fma(fma(fma(fma(42.058693f, y2, -76.70586f), y2, 81.60525f), y2, -41.3417f), y2, 6.2831855f);
    let cs = fma(fma(fma(fma(fma(-26.426256f, y2, 60.24464f), y2, -85.45682f), y2, 64.93939f), y2, -19.739208f), y2, 1.0f);
    let q = n & 3u;
    var pair = vec2<f32>(cs, sn);
    if (q & 1u) == 1u {
        pair = vec2<f32>(sn, cs);
    }
    let signs = vec2<u32>(((q + 1u) & 2u) << 30u, (q & 2u) << 30u);
    return bitcast<vec2<f32>>(bitcast<vec2<u32>>(pair) ^ signs);
}

// The four unscaled entries of one Philox block: Box-Muller of words (x, y), then (z, w).
fn entries(w: vec4<u32>) -> vec4<f32> {
    let r0 = radius(w.x);
    let r1 = radius(w.z);
    return vec4<f32>(r0 * cos_sin(w.y), r1 * cos_sin(w.w));
}

@compute @workgroup_size(256)
fn dense_project_gaussian_partials(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let block = wg.x + wg.y * nwg.x;
    let base = block * CHUNK;
    if base >= dims.n {
        return;
    }
    // Stage columns 4t .. 4t+3 of the chunk, zero past n.
    var x = vec4<f32>(0.0);
    let c = base + 4u * t;
    for (var i = 0u; i < 4u; i++) {
        if c + i < dims.n {
            x[i] = g[c + i];
        }
    }
    gs[t] = x;
    workgroupBarrier();
    // Name the output so this entry's bind group layout has every binding (see the header).
    _ = arrayLength(&s);
    let groups = min(CHUNK / 4u, (dims.n - base + 3u) / 4u);
    let key = vec2<u32>(seed[0], seed[1]);
    for (var j = t; j < dims.k; j += THREADS) {
        var acc = vec4<f32>(0.0);
        for (var p = 0u; p < groups; p++) {
            let w = philox(vec4<u32>(block * (CHUNK / 4u) + p, j, 0u, PURPOSE_DENSE_GAUSSIAN), key);
            acc = fma(entries(w), gs[p], acc);
        }
        partial[block * dims.k + j] = (acc.x + acc.y) + (acc.z + acc.w);
    }
}

@compute @workgroup_size(256)
fn dense_project_gaussian_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    _ = arrayLength(&g);
    _ = seed[0];
    let j = gid.x;
    if j >= dims.k {
        return;
    }
    let blocks = (dims.n + CHUNK - 1u) / CHUNK;
    var acc = 0.0;
    for (var b = 0u; b < blocks; b++) {
        acc += partial[b * dims.k + j];
    }
    s[j] = acc * (1.0 / sqrt(f32(dims.k)));
}
