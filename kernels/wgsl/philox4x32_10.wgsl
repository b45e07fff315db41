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

const M0: u32 = 0xD2511F53u;
const M1: u32 = 0xCD9E8D57u;
const W0: u32 = 0x9E3779B9u;
const W1: u32 = 0xBB67AE85u;

// High 32 bits of the 64-bit product a*b. With a = ah*2^16 + al and b = bh*2^16 + bl:
// a*b = ah*bh*2^32 + (ah*bl + al*bh)*2^16 + al*bl. The middle terms and the high half of al*bl
// are summed in 32 bits split into 16-bit pieces, so no carry is lost.
fn mulhi(a: u32, b: u32) -> u32 {
    let al = a & 0xFFFFu;
    let ah = a >> 16u;
    let bl = b & 0xFFFFu;
    let bh = b >> 16u;
    let ll = al * bl;
    let lh = al * bh;
    let hl = ah * bl;
    let hh = ah * bh;
    // Bits 16..47 of the product, low 16 bits of each term first.
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox(c_in: vec4<u32>, k_in: vec2<u32>) -> vec4<u32> {
    var c = c_in;
    var k = k_in;
    for (var r = 0u; r < 10u; r++) {
        if r > 0u {
            k = k + vec2<u32>(W0, W1);
        }
        let hi0 = mulhi(M0, c.x);
        let lo0 = M0 * c.x;
        let hi1 = mulhi(M1, c.z);
        let lo1 = M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

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
