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
