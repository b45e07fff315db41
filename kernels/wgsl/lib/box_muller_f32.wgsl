// The f32 Box-Muller of the Gaussian dense projection, shared by its WGSL kernels:
// `kernels/src/sources.rs` appends this file (after lib/philox.wgsl) to each of them.

// Box-Muller in f32, the steps of reference/src/signals/box_muller_f32.rs (a polynomial log
// after an exact exponent split, Taylor sine and cosine after an exact quarter-turn reduction):
// WGSL's own log, sin and cos may be off by 2^-21 and 2^-11 absolute, too coarse here.
const TWO_POW_M24: f32 = 5.9604645e-8f;

// sqrt(-2 ln u'), u' = ((wa >> 8) + 1) 2^-24 = x 2^e with x in [sqrt(2)/2, sqrt(2)).
fn radius(wa: u32) -> f32 {
    let u = f32((wa >> 8u) + 1u) * TWO_POW_M24;
    let bits = bitcast<u32>(u) + 0x004AFB0Du;
    let e = f32(i32(bits >> 23u) - 127);
    let x = bitcast<f32>((bits & 0x007FFFFFu) + 0x3F3504F3u);
    let f = x - 1.0f;
    let s = f / (2.0f + f);
    let z = s * s;
    let r = z * fma(fma(fma(fma(0.18181819f, z, 0.22222222f), z, 0.2857143f), z, 0.4f), z, 0.6666667f);
    let hfsq = 0.5f * (f * f);
    let log1p = fma(s, hfsq + r, -hfsq) + f;
    let ln_u = fma(e, 0.6931472f, log1p);
    return sqrt(-2.0f * ln_u);
}

// (cos, sin) of 2 pi v 2^-24, v = wb >> 8: nearest quarter turn n and remainder y in
// [-1/8, 1/8] in integers (exact), polynomials in y, then the quarter turn's swap and signs.
fn cos_sin(wb: u32) -> vec2<f32> {
    let v = wb >> 8u;
    let n = (v + 0x200000u) >> 22u;
    let y = f32(i32(v) - i32(n << 22u)) * TWO_POW_M24;
    let y2 = y * y;
    let sn = y * fma(fma(fma(fma(42.058693f, y2, -76.70586f), y2, 81.60525f), y2, -41.3417f), y2, 6.2831855f);
    let cs = fma(fma(fma(fma(fma(-26.426256f, y2, 60.24464f), y2, -85.45682f), y2, 64.93939f), y2, -19.739208f), y2, 1.0f);
    let q = n & 3u;
    var pair = vec2<f32>(cs, sn);
    if (q & 1u) == 1u {
        pair = vec2<f32>(sn, cs);
    }
    let signs = vec2<u32>(((q + 1u) & 2u) << 30u, (q & 2u) << 30u);
    return bitcast<vec2<f32>>(bitcast<vec2<u32>>(pair) ^ signs);
}

// The four unscaled entries of one Philox block: Box-Muller of words (x, y), then (z, w).
fn entries(w: vec4<u32>) -> vec4<f32> {
    let r0 = radius(w.x);
    let r1 = radius(w.z);
    return vec4<f32>(r0 * cos_sin(w.y), r1 * cos_sin(w.w));
}
