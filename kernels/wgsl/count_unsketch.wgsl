// count_unsketch: g[i] = median over rows r of sign_r(i) S[r, h_r(i)], the decode of count_sketch
// with the same hashes (kernels/SIGNALS.md, "count_sketch" and "count_unsketch").
// One invocation a coordinate: for each row, Philox((i, 0, r, 3), key) gives the bucket
// (mulhi(y0, c)) and the sign (bit 31 of y1); the bucket's bits, sign bit flipped by an xor, become
// a totalOrder key (negative: all bits inverted; otherwise the top bit set), so unsigned order of
// keys is IEEE totalOrder and -0 sorts below +0. The r <= 16 keys are insertion-sorted in a
// private array; odd r returns the middle value's bits, even r the f32 (a + b) * 0.5 of the middle
// two (one rounded add, an exact halving), as the reference computes it: bit-equal outputs.
// Bindings: sketch (f32 bits), seed, n (unused: n travels in dims), g (the output, as bits),
// dims {n, r, c}. Workgroups are numbered x + y * width.

struct Dims {
    n: u32,
    r: u32,
    c: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read> sketch: array<u32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read> n_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> g: array<u32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const PURPOSE_COUNT_SKETCH: u32 = 3u;
const MAX_ROWS: u32 = 16u;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

// The totalOrder key of float bits, and back.
fn order_key(bits: u32) -> u32 {
    return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

fn from_order_key(k: u32) -> u32 {
    return select(~k, k & 0x7FFFFFFFu, (k >> 31u) == 1u);
}

@compute @workgroup_size(256)
fn count_unsketch(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + t;
    if i >= dims.n {
        _ = n_in[0];
        return;
    }
    let key = vec2<u32>(seed[0], seed[1]);
    let r = min(dims.r, MAX_ROWS);
    var keys: array<u32, 16>;
    for (var row = 0u; row < r; row++) {
        // Counter (i mod 2^32, i div 2^32, row, 3); i < n < 2^32.
        let y = philox(vec4<u32>(i, 0u, row, PURPOSE_COUNT_SKETCH), key);
        let bucket = mulhi(y.x, dims.c);
        let k = order_key(sketch[row * dims.c + bucket] ^ (y.y & 0x80000000u));
        // Insertion: shift larger keys up one place.
        var m = row;
        while m > 0u && keys[m - 1u] > k {
            keys[m] = keys[m - 1u];
            m = m - 1u;
        }
        keys[m] = k;
    }
    let mid = r / 2u;
    if (r & 1u) == 1u {
        g[i] = from_order_key(keys[mid]);
    } else {
        let a = bitcast<f32>(from_order_key(keys[mid - 1u]));
        let b = bitcast<f32>(from_order_key(keys[mid]));
        g[i] = bitcast<u32>((a + b) * 0.5);
    }
}
