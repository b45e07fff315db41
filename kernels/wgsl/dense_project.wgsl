// dense_project: s = R g, R (k x n) Rademacher +-1/sqrt(k), signs from Philox4x32-10 exactly as
// kernels/SIGNALS.md specifies (counter (column block, row, 0, 1), key = seed); never stored.
// Two passes so the result does not depend on workgroup scheduling (no float atomics):
// dense_project_partials stages 4096 columns of g in workgroup memory (g read once), and
// invocation t sweeps rows t, t+256, ...: one Philox call a 128-column block gives the row's
// signs, applied by xoring the sign bit; one accumulator per Philox word. dense_project_reduce
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

const CHUNK: u32 = 4096u;
const THREADS: u32 = 256u;
const PURPOSE_DENSE_RADEMACHER: u32 = 1u;

var<workgroup> gs: array<f32, 4096>;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

@compute @workgroup_size(256)
fn dense_project_partials(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let base = wg.x * CHUNK;
    for (var i = 0u; i < CHUNK; i += THREADS) {
        let c = base + i + t;
        var v = 0.0;
        if c < dims.n {
            v = g[c];
        }
        gs[i + t] = v;
    }
    workgroupBarrier();
    // Name the output so this entry's bind group layout has every binding (see the header).
    _ = arrayLength(&s);
    let blocks = min(32u, (dims.n - base + 127u) / 128u);
    let key = vec2<u32>(seed[0], seed[1]);
    for (var j = t; j < dims.k; j += THREADS) {
        var acc = vec4<f32>(0.0);
        for (var cb = 0u; cb < blocks; cb++) {
            let w = philox(vec4<u32>(wg.x * 32u + cb, j, 0u, PURPOSE_DENSE_RADEMACHER), key);
            let off = cb * 128u;
            for (var b = 0u; b < 32u; b++) {
                // Bit b of word q signs column 32q + b: move it to bit 31 and xor it in.
                let m = (w << vec4<u32>(31u - b)) & vec4<u32>(0x80000000u);
                let v = vec4<u32>(
                    bitcast<u32>(gs[off + b]),
                    bitcast<u32>(gs[off + 32u + b]),
                    bitcast<u32>(gs[off + 64u + b]),
                    bitcast<u32>(gs[off + 96u + b]),
                );
                acc += bitcast<vec4<f32>>(v ^ m);
            }
        }
        partial[wg.x * dims.k + j] = (acc.x + acc.y) + (acc.z + acc.w);
    }
}

@compute @workgroup_size(256)
fn dense_project_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
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
