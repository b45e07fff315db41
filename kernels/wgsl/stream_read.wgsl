// stream_read: y[i] = sum of x over chunk i of 4096 elements (calibration: streaming read).
// One workgroup of 256 invocations per chunk; invocation t reads elements t, t+256, ... of its
// chunk (adjacent invocations read adjacent words), then a tree in workgroup memory sums
// (lib/workgroup_sum_store.wgsl, appended).
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

const CHUNK: u32 = 4096u;
const THREADS: u32 = 256u;

@compute @workgroup_size(256)
fn stream_read(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let base = group.x * CHUNK;
    let end = min(base + CHUNK, dims.n);
    var acc = 0.0;
    for (var i = base + tid; i < end; i += THREADS) {
        acc += x[i];
    }
    store_workgroup_sum(tid, group.x, acc);
}
