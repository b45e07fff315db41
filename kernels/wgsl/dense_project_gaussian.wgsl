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

// radius, angle and entries (the f32 Box-Muller): kernels/wgsl/lib/box_muller_f32.wgsl.

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
