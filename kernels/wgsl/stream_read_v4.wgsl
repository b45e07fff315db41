// stream_read, variant v4_per_workgroup: y[i] = sum of x over chunk i of 4096 elements
// (calibration: streaming read), with four 16-byte loads in flight an invocation.
//
// Why a second variant: workgroup_per_chunk reads 4-byte words one after another. Here x is
// bound as 16-byte vectors (its buffer padded with zeros to whole vectors, which add nothing):
// an invocation of a whole chunk loads vectors t, t+256, t+512 and t+768 of the chunk before it
// adds any; a partial last chunk goes vector by vector. The bench takes the faster variant's
// rate as the peak, so a variant can only raise it. The workgroup's sum:
// lib/workgroup_sum_store.wgsl, appended.
// Bindings: x (vectors), y, dims {n}.

struct Dims {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> dims: Dims;

const CHUNK_VECTORS: u32 = 1024u;
const THREADS: u32 = 256u;

@compute @workgroup_size(256)
fn stream_read_v4(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3<u32>) {
    let base = group.x * CHUNK_VECTORS;
    let end = min(base + CHUNK_VECTORS, (dims.n + 3u) / 4u);
    var acc = vec4<f32>(0.0);
    if end - base == CHUNK_VECTORS {
        let a = x[base + tid];
        let b = x[base + tid + THREADS];
        let c = x[base + tid + 2u * THREADS];
        let d = x[base + tid + 3u * THREADS];
        acc = (a + b) + (c + d);
    } else {
        for (var i = base + tid; i < end; i += THREADS) {
            acc += x[i];
        }
    }
    store_workgroup_sum(tid, group.x, (acc.x + acc.y) + (acc.z + acc.w));
}
