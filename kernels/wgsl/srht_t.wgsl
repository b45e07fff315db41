// srht_t: g[i] = (1/sqrt(k)) D[i] sum_t (-1)^popcount(s_t AND i) y[t], the transpose of srht
// with the same seeded signs and sample (kernels/SIGNALS.md, "srht and srht_t").
// H of order n_pad = H(n_pad / C) (x) H(C) with C = min(4096, n_pad); write s_t = hi_t C + lo_t.
// - srht_t_bucket: one workgroup writes the identity into the scratch perm; invocation 0 runs
//   the k Fisher-Yates swaps (a sequential recurrence), then a stable counting sort of the
//   samples by lo_t: bucket e holds (hi_t, y[t] / sqrt(k)) for the samples with lo_t = e, in
//   draw order, at hiv/val[start[e] .. start[e + 1]) (start[e] = cnt[e - 1], start[0] = 0).
// - srht_t_chunks: one workgroup per C outputs of chunk c: w[e] = sum over bucket e of
//   (-1)^popcount(c AND hi_t) val (the across-chunk factor: k/C terms on average), then the
//   log2(C) butterfly levels in workgroup memory, then the signs D of the chunk's coordinates.
// Work: k n_pad / C adds for the across-chunk factor, n_pad log2(C) for the butterflies; the
// first pass is one workgroup (the sample is a sequential recurrence).
// Bindings: y, seed, perm (n_pad u32), cnt (4096 u32), hiv (k u32), val (k f32), g,
// dims {n, k, n_pad}. Every entry touches every binding (they share one bind group).

struct Dims {
    n: u32,
    k: u32,
    n_pad: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> perm: array<u32>;
@group(0) @binding(3) var<storage, read_write> cnt: array<u32>;
@group(0) @binding(4) var<storage, read_write> hiv: array<u32>;
@group(0) @binding(5) var<storage, read_write> val: array<f32>;
@group(0) @binding(6) var<storage, read_write> g: array<f32>;
@group(0) @binding(7) var<uniform> dims: Dims;

const PURPOSE_SRHT_SIGNS: u32 = 5u;
const PURPOSE_SRHT_SAMPLE: u32 = 6u;
const C_MAX: u32 = 4096u;

var<workgroup> sh: array<f32, 4096>;
var<workgroup> sw: array<vec4<u32>, 32>;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

@compute @workgroup_size(256)
fn srht_t_bucket(@builtin(local_invocation_index) t: u32) {
    let c = min(C_MAX, dims.n_pad);
    for (var i = t; i < dims.n_pad; i += 256u) {
        perm[i] = i;
    }
    for (var e = t; e < c; e += 256u) {
        cnt[e] = 0u;
    }
    storageBarrier();
    if t == 0u {
        let key = vec2<u32>(seed[0], seed[1]);
        for (var s = 0u; s < dims.k; s++) {
            let w = philox(vec4<u32>(s, 0u, 0u, PURPOSE_SRHT_SAMPLE), key).x;
            let j = s + mulhi(w, dims.n_pad - s);
            let a = perm[s];
            perm[s] = perm[j];
            perm[j] = a;
        }
        for (var s = 0u; s < dims.k; s++) {
            let lo = perm[s] % c;
            cnt[lo] = cnt[lo] + 1u;
        }
        var start = 0u;
        for (var e = 0u; e < c; e++) {
            let m = cnt[e];
            cnt[e] = start;
            start = start + m;
        }
        let scale = 1.0 / sqrt(f32(dims.k));
        for (var s = 0u; s < dims.k; s++) {
            let lo = perm[s] % c;
            let pos = cnt[lo];
            cnt[lo] = pos + 1u;
            hiv[pos] = perm[s] / c;
            val[pos] = y[s] * scale;
        }
    }
    if dims.n == 0u {
        g[0] = 0.0;
    }
}

@compute @workgroup_size(256)
fn srht_t_chunks(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let c = min(C_MAX, dims.n_pad);
    let chunk = wg.x + wg.y * nwg.x;
    if chunk * c >= dims.n_pad {
        return;
    }
    let base = chunk * c;
    if t < (c + 127u) / 128u {
        let key = vec2<u32>(seed[0], seed[1]);
        sw[t] = philox(vec4<u32>(base / 128u + t, 0u, 0u, PURPOSE_SRHT_SIGNS), key);
    }
    for (var e = t; e < c; e += 256u) {
        var first = 0u;
        if e > 0u {
            first = cnt[e - 1u];
        }
        var acc = 0.0;
        for (var j = first; j < cnt[e]; j++) {
            let v = val[j];
            acc += select(v, -v, (countOneBits(chunk & hiv[j]) & 1u) == 1u);
        }
        sh[e] = acc;
    }
    workgroupBarrier();
    for (var h = 1u; h < c; h = h * 2u) {
        for (var p = t; p < c / 2u; p += 256u) {
            let lo = (p / h) * 2u * h + p % h;
            let a = sh[lo];
            let b = sh[lo + h];
            sh[lo] = a + b;
            sh[lo + h] = a - b;
        }
        workgroupBarrier();
    }
    for (var e = t; e < c; e += 256u) {
        let i = base + e;
        if i < dims.n {
            let w = sw[e / 128u][(e % 128u) / 32u];
            g[i] = bitcast<f32>(bitcast<u32>(sh[e]) ^ (((w >> (e % 32u)) & 1u) << 31u));
        }
    }
    if dims.k == 0u {
        g[0] = y[0] + f32(perm[0]);
    }
}
