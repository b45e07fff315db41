// dense_project_gaussian_t: g = R^T s, the transpose of dense_project_gaussian with the same
// seeded N(0, 1/k) entries (kernels/SIGNALS.md). Invocation t of workgroup b owns column group
// q = 128b + t (columns 4q .. 4q+3): per tile of 128 rows, s is staged in workgroup memory,
// then for each row j in order the invocation draws Philox((q, j, 0, 2), K), turns it into four
// entries and adds z * s[j] with fma, then scales by 1/sqrt(k). Workgroups are numbered
// x + y * width (a dispatch dimension holds at most 65535); those past n return.
// Bindings: s, seed, g, dims {n, k}.

struct Dims {
    n: u32,
    k: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

var<workgroup> ssh: array<f32, 128>;

const PURPOSE_DENSE_GAUSSIAN: u32 = 2u;
// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

// radius, angle and entries (the f32 Box-Muller): kernels/wgsl/lib/box_muller_f32.wgsl.

@compute @workgroup_size(128)
fn dense_project_gaussian_t(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let block = wg.x + wg.y * nwg.x;
    if block * 512u >= dims.n {
        return;
    }
    let key = vec2<u32>(seed[0], seed[1]);
    let q = block * 128u + t;
    var acc = vec4<f32>(0.0);
    for (var r0 = 0u; r0 < dims.k; r0 += 128u) {
        if r0 + t < dims.k {
            ssh[t] = s[r0 + t];
        }
        workgroupBarrier();
        let rows = min(128u, dims.k - r0);
        for (var i = 0u; i < rows; i++) {
            let w = philox(vec4<u32>(q, r0 + i, 0u, PURPOSE_DENSE_GAUSSIAN), key);
            acc = fma(entries(w), vec4<f32>(ssh[i]), acc);
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(f32(dims.k));
    let c = 4u * q;
    for (var i = 0u; i < 4u; i++) {
        if c + i < dims.n {
            g[c + i] = acc[i] * scale;
        }
    }
}
