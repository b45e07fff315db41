// fma_peak: y[i] = `iters` steps of a = fma(a, 0.9999, 0.0001) from x[i] (calibration: peak FMA
// rate). Each invocation runs four independent chains (elements g, g+T, g+2T, g+3T with T the
// number of invocations) so consecutive FMAs do not wait on each other.
// Bindings: x, y, dims {n, iters}.

struct Dims {
    n: u32,
    iters: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> dims: Dims;

const M: f32 = 0.9999;
const C: f32 = 0.0001;

@compute @workgroup_size(256)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = groups.x * 256u;
    var idx = vec4<u32>(gid.x, gid.x + t, gid.x + 2u * t, gid.x + 3u * t);
    let valid = idx < vec4<u32>(dims.n);
    let safe = select(vec4<u32>(0u), idx, valid);
    var a = vec4<f32>(x[safe.x], x[safe.y], x[safe.z], x[safe.w]);
    let m = vec4<f32>(M);
    let c = vec4<f32>(C);
    for (var k = 0u; k < dims.iters; k++) {
        a = fma(a, m, c);
    }
    if valid.x { y[idx.x] = a.x; }
    if valid.y { y[idx.y] = a.y; }
    if valid.z { y[idx.z] = a.z; }
    if valid.w { y[idx.w] = a.w; }
}
