// stochastic_dequantize: x[i] = scale[i / 256] * (2 code[i] - (2^b - 1)) / (2^b - 1), the
// inverse map of stochastic_quantize (kernels/SIGNALS.md). One invocation per coordinate, 256 a
// workgroup, workgroups numbered x + y * width. Bindings: codes, scales, x, dims {n, bits}.

struct Dims {
    n: u32,
    bits: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> codes: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

@compute @workgroup_size(256)
fn stochastic_dequantize(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + t;
    if i >= dims.n {
        return;
    }
    let top = (1u << dims.bits) - 1u;
    let at = i * dims.bits;
    let code = (codes[at / 32u] >> (at % 32u)) & top;
    let levels = f32(top);
    x[i] = scales[i / 256u] * (f32(2u * code) - levels) / levels;
}
