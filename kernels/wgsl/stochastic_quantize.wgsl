// stochastic_quantize: b-bit unbiased stochastic rounding with a max-abs scale per block of 256
// coordinates, bit for bit as kernels/SIGNALS.md ("stochastic_quantize") specifies.
// One workgroup of 256 invocations per block: the block's largest magnitude by an atomic max
// of the |x| bits (exact, order-free), 64 invocations draw the block's 64 Philox dither blocks
// (purpose 4) into workgroup memory, every invocation computes its code with separately rounded
// f32 operations (t = (x + m) * q: an add, then a multiply, so nothing can fuse into an FMA),
// then 8*b invocations pack 32/b codes each into a word. q = h / m comes from div_rn, an
// integer long division, because WGSL's `/` may be 2.5 ulp off and q must be correctly rounded.
// Bindings: x, seed, codes, scales, dims {n, bits}. Blocks are numbered x + y * width.

struct Dims {
    n: u32,
    bits: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> codes: array<u32>;
@group(0) @binding(3) var<storage, read_write> scales: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

const PURPOSE_QUANTIZE_DITHER: u32 = 4u;
// Bits of 2^-64 and 2^64: blocks are quantized iff their largest magnitude is in between.
const NEGLIGIBLE_BITS: u32 = 0x1F800000u;
const HUGE_BITS: u32 = 0x5F800000u;

var<workgroup> wmax: atomic<u32>;
var<workgroup> dither: array<vec4<u32>, 64>;
var<workgroup> csh: array<u32, 256>;

// philox(ctr, key): kernels/wgsl/lib/philox.wgsl, appended by kernels/src/sources.rs.

// a / b correctly rounded (to nearest, ties to even) for positive normal a and b whose quotient
// is a normal f32: long division of the 24-bit significands, 25 quotient bits (the last is the
// rounding bit) and a sticky bit from the remainder.
fn div_rn(a: f32, b: f32) -> f32 {
    let ab = bitcast<u32>(a);
    let bb = bitcast<u32>(b);
    var ma = (ab & 0x7FFFFFu) | 0x800000u;
    let mb = (bb & 0x7FFFFFu) | 0x800000u;
    var e = i32(ab >> 23u) - i32(bb >> 23u);
    if ma < mb {
        ma = ma << 1u;
        e = e - 1;
    }
    var q = 0u;
    var r = ma;
    for (var i = 0u; i < 25u; i++) {
        q = q << 1u;
        if r >= mb {
            r = r - mb;
            q = q | 1u;
        }
        r = r << 1u;
    }
    var mant = q >> 1u;
    if (q & 1u) == 1u && (r != 0u || (mant & 1u) == 1u) {
        mant = mant + 1u;
    }
    if mant == 0x1000000u {
        mant = mant >> 1u;
        e = e + 1;
    }
    return bitcast<f32>((u32(e + 127) << 23u) | (mant & 0x7FFFFFu));
}

@compute @workgroup_size(256)
fn stochastic_quantize(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let block = wg.x + wg.y * nwg.x;
    if block * 256u >= dims.n {
        return;
    }
    let i = block * 256u + t;
    var v = 0.0;
    if i < dims.n {
        v = x[i];
    }
    if t == 0u {
        atomicStore(&wmax, 0u);
    }
    workgroupBarrier();
    atomicMax(&wmax, bitcast<u32>(v) & 0x7FFFFFFFu);
    if t < 64u {
        let key = vec2<u32>(seed[0], seed[1]);
        dither[t] = philox(vec4<u32>(block * 64u + t, 0u, 0u, PURPOSE_QUANTIZE_DITHER), key);
    }
    workgroupBarrier();
    let mbits = atomicLoad(&wmax);
    let m = bitcast<f32>(mbits);
    let top = (1u << dims.bits) - 1u;
    var code = 0u;
    if mbits >= NEGLIGIBLE_BITS && mbits <= HUGE_BITS && i < dims.n {
        let q = div_rn(f32(top) * 0.5, m);
        let tt = (v + m) * q;
        let f = floor(tt);
        let r = tt - f;
        let u = f32(dither[t / 4u][t % 4u] >> 8u) * (1.0 / 16777216.0);
        code = u32(f);
        if u < r {
            code = code + 1u;
        }
        code = min(code, top);
    }
    csh[t] = code;
    if t == 0u {
        var s = m;
        if mbits < NEGLIGIBLE_BITS {
            s = 0.0;
        }
        scales[block] = s;
    }
    workgroupBarrier();
    let per = 32u / dims.bits;
    let words_per_block = 8u * dims.bits;
    let wi = block * words_per_block + t;
    if t < words_per_block && wi < (dims.n * dims.bits + 31u) / 32u {
        var word = 0u;
        for (var j = 0u; j < per; j++) {
            word = word | (csh[t * per + j] << (j * dims.bits));
        }
        codes[wi] = word;
    }
}
