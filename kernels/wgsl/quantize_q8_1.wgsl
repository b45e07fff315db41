// quantize_q8_1, variant invocation_per_block: GGML's Q8_1 blocks of x, one invocation per block.
//
// The same correctly rounded steps as the reference (amax ignoring NaN, d = amax / 127, id = 1 / d
// or 0, v = x * id, round half away from zero, f16 d and f16 (d * sum q)), with two done in
// integers: WGSL's `/` may be off by 2.5 ulp, so the two divisions are long divisions of the
// mantissas with round-to-nearest-even, and `pack2x16float` leaves the f16 rounding to the device,
// so the f16 conversions are written out. Multiplication, subtraction and truncation are exact
// or correctly rounded in WGSL. Assumes normal scales: a block's max |x| is 0 or at least
// 127 * 2^-126 (below that WGSL may flush subnormals anyway).
//
// Layout: x f32 [m, cols], blocks contiguous; xq as u32 words, 9 a block: (f16 d, f16 s), then
// 8 words of four int8 codes.
//
// Bindings (registry calling convention): x, xq, then dims.

struct Dims {
    cols: u32,
    m: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> xq: array<u32>;
@group(0) @binding(2) var<uniform> dims: Dims;

// a / b rounded to nearest even, for positive normal a and b with a normal quotient.
fn div_rn(a: f32, b: f32) -> f32 {
    let ua = bitcast<u32>(a);
    let ub = bitcast<u32>(b);
    var e = i32(ua >> 23u) - i32(ub >> 23u) + 127;
    var r = (ua & 0x7FFFFFu) | 0x800000u;
    let mb = (ub & 0x7FFFFFu) | 0x800000u;
    if (r < mb) {
        r = r << 1u;
        e = e - 1;
    }
    // 24 quotient bits and a guard bit; what remains in r is the sticky part.
    var q = 0u;
    for (var i = 0u; i < 25u; i++) {
        q = q << 1u;
        if (r >= mb) {
            r = r - mb;
            q = q | 1u;
        }
        r = r << 1u;
    }
    let guard = q & 1u;
    q = q >> 1u;
    if (guard == 1u && (r != 0u || (q & 1u) == 1u)) {
        q = q + 1u;
    }
    if (q == 0x1000000u) {
        q = q >> 1u;
        e = e + 1;
    }
    return bitcast<f32>((u32(e) << 23u) | (q & 0x7FFFFFu));
}

// The f16 bits of f, rounded to nearest even (as IEEE conversion does).
fn f16_bits(f: f32) -> u32 {
    let u = bitcast<u32>(f);
    let sign = (u >> 16u) & 0x8000u;
    let a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) {
        return sign | 0x7E00u | ((a >> 13u) & 0x3FFu);
    }
    if (a >= 0x477FF000u) {
        return sign | 0x7C00u; // at least 65520: infinity
    }
    if (a >= 0x38800000u) {
        // Normal f16: rebias the exponent, keep 10 mantissa bits, round on the 13 dropped.
        var h = (((a >> 23u) - 112u) << 10u) | ((a >> 13u) & 0x3FFu);
        let rest = a & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) {
            h = h + 1u;
        }
        return sign | h;
    }
    if (a < 0x33000000u) {
        return sign; // below half the smallest subnormal (2^-25): zero
    }
    // Subnormal f16: units of 2^-24.
    let shift = 126u - (a >> 23u);
    let m = (a & 0x7FFFFFu) | 0x800000u;
    var h = m >> shift;
    let rest = m & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (h & 1u) == 1u)) {
        h = h + 1u;
    }
    return sign | h;
}

@compute @workgroup_size(64)
fn quantize_q8_1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let block = gid.x;
    if (block >= (dims.cols / 32u) * dims.m) {
        return;
    }
    let base = block * 32u;
    var amax = 0.0;
    for (var i = 0u; i < 32u; i++) {
        let a = abs(x[base + i]);
        if (a > amax) {
            amax = a;
        }
    }
    var d = 0.0;
    var id = 0.0;
    if (amax > 0.0) {
        if (amax == bitcast<f32>(0x7F800000u)) {
            d = amax; // infinity: every product is 0 or NaN, coded 0
        } else {
            d = div_rn(amax, 127.0);
            id = div_rn(1.0, d);
        }
    }
    var sum = 0;
    for (var k = 0u; k < 8u; k++) {
        var word = 0u;
        for (var j = 0u; j < 4u; j++) {
            let v = x[base + 4u * k + j] * id;
            var t = trunc(v);
            if (abs(v - t) >= 0.5) {
                t = t + select(1.0, -1.0, v < 0.0);
            }
            var q = i32(t);
            if (v != v) {
                q = 0;
            }
            sum = sum + q;
            word = word | ((bitcast<u32>(q) & 0xFFu) << (8u * j));
        }
        xq[block * 9u + 1u + k] = word;
    }
    xq[block * 9u] = f16_bits(d) | (f16_bits(d * f32(sum)) << 16u);
}
