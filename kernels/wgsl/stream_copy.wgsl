// stream_copy: y = x (calibration: copy bandwidth). A grid-stride loop: the dispatch is capped
// (the registry sizes it), each invocation copies every (workgroups*256)-th element.
// Bindings: x, y, dims {n}.

struct Dims {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> dims: Dims;

@compute @workgroup_size(256)
fn stream_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * 256u;
    for (var i = gid.x; i < dims.n; i += stride) {
        y[i] = x[i];
    }
}
