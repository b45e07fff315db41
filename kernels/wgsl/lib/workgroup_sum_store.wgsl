// The end of the stream_read kernels (stream_read.wgsl, stream_read_v4.wgsl), appended to each:
// the workgroup's 256 partial sums are added by a tree in workgroup memory and invocation 0
// stores y[group]. Expects the kernel's `y` binding and a workgroup of 256 invocations; call it
// from uniform control flow (it holds barriers).

var<workgroup> partial: array<f32, 256>;

fn store_workgroup_sum(tid: u32, group: u32, v: f32) {
    partial[tid] = v;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            partial[tid] += partial[tid + stride];
        }
        workgroupBarrier();
    }
    if tid == 0u {
        y[group] = partial[0];
    }
}
