// dense_project_t: g = R^T s, the transpose of dense_project with the same seeded signs
// (kernels/SIGNALS.md). One workgroup of 128 invocations per 128-column Philox block: per tile
// of 128 rows, invocation t computes the Philox words of row r0 + t (the row's 128 signs over
// this block's columns) into workgroup memory, then every invocation adds +-s[j] over the
// tile's rows in row order, reading word t / 32 of row j and its bit t mod 32.
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

const PURPOSE_DENSE_RADEMACHER: u32 = 1u;

var<workgroup> wsh: array<vec4<u32>, 128>;
var<workgroup> ssh: array<f32, 128>;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

@compute @workgroup_size(128)
fn dense_project_t(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Column blocks are numbered across a 2-D grid (a dispatch dimension holds at most 65535).
    let block = wg.x + wg.y * nwg.x;
    if block * 128u >= dims.n {
        return;
    }
    let key = vec2<u32>(seed[0], seed[1]);
    let word = t / 32u;
    let bit = t % 32u;
    var acc = 0.0;
    for (var r0 = 0u; r0 < dims.k; r0 += 128u) {
        let j = r0 + t;
        if j < dims.k {
            wsh[t] = philox(vec4<u32>(block, j, 0u, PURPOSE_DENSE_RADEMACHER), key);
            ssh[t] = s[j];
        }
        workgroupBarrier();
        let rows = min(128u, dims.k - r0);
        for (var i = 0u; i < rows; i++) {
            let sign = ((wsh[i][word] >> bit) & 1u) << 31u;
            acc += bitcast<f32>(bitcast<u32>(ssh[i]) ^ sign);
        }
        workgroupBarrier();
    }
    let col = block * 128u + t;
    if col < dims.n {
        g[col] = acc * (1.0 / sqrt(f32(dims.k)));
    }
}
