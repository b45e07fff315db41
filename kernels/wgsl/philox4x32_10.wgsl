// philox4x32_10: y[i] = Philox4x32-10(ctr + i, key) (Random123; see kernels/SIGNALS.md).
// One invocation a block of four words. WGSL has no 32x32->64 multiply, so mulhilo is built
// from 16-bit halves: every partial product fits 32 bits and the carries are added exactly.
// The counter base + i is a 128-bit add with carry from word 0 up through word 3.
// Bindings: key, ctr, y, dims {n}.

struct Dims {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> key: array<u32>;
@group(0) @binding(1) var<storage, read> ctr: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<u32>>;
@group(0) @binding(3) var<uniform> dims: Dims;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

@compute @workgroup_size(256)
fn philox4x32_10(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= dims.n {
        return;
    }
    // 128-bit add of i, carry rippling up through the words.
    var c = vec4<u32>(ctr[0], ctr[1], ctr[2], ctr[3]);
    let c0 = c.x + i;
    var carry = select(0u, 1u, c0 < i);
    c.x = c0;
    let c1 = c.y + carry;
    carry = select(0u, 1u, c1 < carry);
    c.y = c1;
    let c2 = c.z + carry;
    carry = select(0u, 1u, c2 < carry);
    c.z = c2;
    c.w = c.w + carry;
    y[i] = philox(c, vec2<u32>(key[0], key[1]));
}
