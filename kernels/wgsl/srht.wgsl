// srht: y[t] = (1/sqrt(k)) (H D g)[s_t], the subsampled randomized Hadamard transform of
// kernels/SIGNALS.md ("srht and srht_t"): signs D of purpose 5, unnormalized Walsh-Hadamard H of
// order n_pad, sample s_t from the partial Fisher-Yates shuffle of purpose 6.
// H of order n_pad = H(n_pad / C) (x) H(C) with C = min(4096, n_pad):
// - srht_chunks: one workgroup per C coordinates loads +-g (signs from 32 Philox blocks computed
//   into workgroup memory), runs the log2(C) butterfly levels in workgroup memory and writes the
//   chunk's transform to the scratch z; it also writes the identity into the scratch perm.
// - srht_gather: one workgroup; invocation 0 runs the k Fisher-Yates swaps on perm (a sequential
//   recurrence), then every invocation computes samples t, t+256, ..:
//   y[t] = (1/sqrt(k)) sum_q (-1)^popcount(hi AND q) z[q C + lo], (hi, lo) = (s_t div C, s_t mod C).
// The second pass is one workgroup, so this is a correct, not a fast, kernel for large k.
// Bindings: g, seed, z (scratch, n_pad f32), perm (scratch, n_pad u32), y, dims {n, k, n_pad}.
// Every entry touches every binding (they share one bind group).

struct Dims {
    n: u32,
    k: u32,
    n_pad: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> perm: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;

const PURPOSE_SRHT_SIGNS: u32 = 5u;
const PURPOSE_SRHT_SAMPLE: u32 = 6u;
const C_MAX: u32 = 4096u;

var<workgroup> sh: array<f32, 4096>;
var<workgroup> sw: array<vec4<u32>, 32>;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

@compute @workgroup_size(256)
fn srht_chunks(
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
    workgroupBarrier();
    for (var e = t; e < c; e += 256u) {
        let i = base + e;
        var v = 0.0;
        if i < dims.n {
            let w = sw[e / 128u][(e % 128u) / 32u];
            v = bitcast<f32>(bitcast<u32>(g[i]) ^ (((w >> (e % 32u)) & 1u) << 31u));
        }
        sh[e] = v;
        perm[i] = i;
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
        z[base + e] = sh[e];
    }
    if dims.k == 0u {
        y[0] = 0.0;
    }
}

@compute @workgroup_size(256)
fn srht_gather(@builtin(local_invocation_index) t: u32) {
    if t == 0u {
        let key = vec2<u32>(seed[0], seed[1]);
        for (var s = 0u; s < dims.k; s++) {
            let w = philox(vec4<u32>(s, 0u, 0u, PURPOSE_SRHT_SAMPLE), key).x;
            let j = s + mulhi(w, dims.n_pad - s);
            let a = perm[s];
            perm[s] = perm[j];
            perm[j] = a;
        }
    }
    storageBarrier();
    workgroupBarrier();
    let c = min(C_MAX, dims.n_pad);
    let chunks = dims.n_pad / c;
    let scale = 1.0 / sqrt(f32(dims.k));
    for (var s = t; s < dims.k; s += 256u) {
        let a = perm[s];
        let hi = a / c;
        let lo = a % c;
        var acc = 0.0;
        for (var q = 0u; q < chunks; q++) {
            let v = z[q * c + lo];
            acc += select(v, -v, (countOneBits(hi & q) & 1u) == 1u);
        }
        y[s] = acc * scale;
    }
    if dims.n == 0u {
        y[0] = g[0];
    }
}
