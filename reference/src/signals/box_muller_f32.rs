//! Box–Muller in f32, the evaluation every Gaussian-projection kernel of this repository
//! performs (cpu here, PTX and WGSL in `kernels/`), step for step.
//!
//! `kernels/SIGNALS.md` specifies the Gaussian pair of two words in exact arithmetic
//! ([`super::derive::box_muller`] evaluates it in f64). Hardware and shading-language
//! transcendentals are not accurate enough to follow it in f32: PTX `lg2.approx` has an
//! absolute error of 2^-22 near 1, so the radius √(−2 ln u) of a uniform u close to 1 is off by
//! up to ~6e-4; Vulkan only requires 2^-11 absolute of `sin` and `cos`. So the kernels compute
//! the logarithm, sine and cosine with polynomials after an exact range reduction, using only
//! IEEE-754 binary32 operations that every backend rounds correctly (add, multiply, fused
//! multiply-add, divide, square root, integer to float conversion; round to nearest even).
//! A backend that performs exactly these operations (cpu, PTX with `.rn` and `fma.rn`) gets
//! the same bits; WGSL, whose `/` and `sqrt` may be off by 2.5 ulp and whose `fma` may round
//! twice, lands a few ulp away.
//!
//! Accuracy against the exact transform, measured over every possible input by this module's
//! tests (each uniform has 2^24 values): radius relative error ≤ [`RADIUS_REL_ERR`], cosine
//! and sine absolute error ≤ [`TRIG_ABS_ERR`]; so an entry z = r·cos t (|z| ≤ r ≤ 5.77) is
//! within [`ENTRY_ABS_ERR`] of the f64 value.
//!
//! Radius: u' = ((wa >> 8) + 1)·2^-24 = x·2^e with x in [√2/2, √2) (exponent and mantissa from
//! the bits), f = x − 1 (exact), ln u' = e·ln 2 + log1p(f), where log1p(f) = 2 atanh(s) with
//! s = f/(2+f), |s| ≤ 0.172, evaluated as f − (f²/2 − s(f²/2 + R)) with
//! R = s²(2/3 + 2s²/5 + 2s⁴/7 + 2s⁶/9 + 2s⁸/11) (the atanh series; the next term is under
//! 2e-9 relative). Near u' = 1, where ln u' is small, f is exact and the result stays relative.
//!
//! Angle: t = 2π v·2^-24 with v = wb >> 8. The nearest quarter turn n = round(4 v 2^-24) and the
//! remainder y = v·2^-24 − n/4 in [−1/8, 1/8] come from integer arithmetic (exact); sin(2πy)
//! and cos(2πy) are Taylor polynomials in y (|2πy| ≤ π/4; the first omitted terms are under
//! 3e-9), then the quarter turn swaps and negates them.

use std::f64::consts::TAU as TAU64;

/// 2^-24: the weight of the last of the 24 bits a uniform keeps.
const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
/// Bits of √2/2 rounded to f32: mantissas at or above it keep their exponent.
pub const SQRT_HALF_BITS: u32 = 0x3f35_04f3;
/// Added to the bits of u' so that the exponent field reads e with x in [√2/2, √2).
pub const EXPONENT_SHIFT_BITS: u32 = 0x3f80_0000 - SQRT_HALF_BITS;
/// ln 2 rounded to f32; |e| ≤ 24 and |ln u'| ≥ 0.34 whenever e ≠ 0, so its rounding (2e-9
/// absolute) contributes under 1e-8 relative.
pub const LN2: f32 = std::f32::consts::LN_2;
/// Coefficients 2/(2i+1) of the atanh series, i = 1..5.
pub const ATANH: [f32; 5] = [2.0 / 3.0, 2.0 / 5.0, 2.0 / 7.0, 2.0 / 9.0, 2.0 / 11.0];
/// Taylor coefficients of sin(2πy) in y: (−1)^i (2π)^(2i+1) / (2i+1)!, i = 0..4.
pub const SIN: [f32; 5] = [
    TAU64 as f32,
    (-(TAU64 * TAU64 * TAU64) / 6.0) as f32,
    (TAU64 * TAU64 * TAU64 * TAU64 * TAU64 / 120.0) as f32,
    (-(TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64) / 5040.0) as f32,
    (TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 / 362_880.0) as f32,
];
/// Taylor coefficients of cos(2πy) in y past the constant 1: (−1)^i (2π)^(2i) / (2i)!, i = 1..5.
pub const COS: [f32; 5] = [
    (-(TAU64 * TAU64) / 2.0) as f32,
    (TAU64 * TAU64 * TAU64 * TAU64 / 24.0) as f32,
    (-(TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64) / 720.0) as f32,
    (TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 / 40_320.0) as f32,
    (-(TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64 * TAU64) / 3_628_800.0) as f32,
];

/// Bound on the relative error of [`radius`] against √(−2 ln u') in f64 over all 2^24 inputs;
/// the tests measure 9.93e-8 (1.7·2^-24).
pub const RADIUS_REL_ERR: f64 = 1.0e-7;
/// Bound on the absolute error of [`cos_sin`]'s values against f64 cos and sin over all 2^24
/// inputs; the tests measure 8.84e-8.
pub const TRIG_ABS_ERR: f64 = 9.0e-8;
/// Bound on |z − z_f64| for an entry of [`box_muller`]: r ≤ √(48 ln 2) < 5.77, so
/// 5.77·([`RADIUS_REL_ERR`] + [`TRIG_ABS_ERR`] + 2^-24) (the last for the final product): 1.44e-6.
pub const ENTRY_ABS_ERR: f64 = 5.77 * (RADIUS_REL_ERR + TRIG_ABS_ERR + 6.0e-8);

/// √(−2 ln u') with u' = ((wa >> 8) + 1)·2^-24, the Box–Muller radius (module docs: steps).
#[inline(always)]
pub fn radius(wa: u32) -> f32 {
    let u = (((wa >> 8) + 1) as i32 as f32) * TWO_POW_M24;
    let bits = u.to_bits().wrapping_add(EXPONENT_SHIFT_BITS);
    let e = ((bits >> 23) as i32 - 127) as f32;
    let x = f32::from_bits((bits & 0x007f_ffff) + SQRT_HALF_BITS);
    let f = x - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * ATANH[4].mul_add(z, ATANH[3]).mul_add(z, ATANH[2]).mul_add(z, ATANH[1]).mul_add(z, ATANH[0]);
    let hfsq = 0.5 * (f * f);
    let log1p = s.mul_add(hfsq + r, -hfsq) + f;
    let ln_u = e.mul_add(LN2, log1p);
    (-2.0 * ln_u).sqrt()
}

/// (cos 2πu, sin 2πu) with u = (wb >> 8)·2^-24 (module docs: steps).
#[inline(always)]
pub fn cos_sin(wb: u32) -> (f32, f32) {
    let v = wb >> 8;
    let n = (v + (1 << 21)) >> 22;
    let y = (v as i32 - (n << 22) as i32) as f32 * TWO_POW_M24;
    let y2 = y * y;
    let sin = y * SIN[4].mul_add(y2, SIN[3]).mul_add(y2, SIN[2]).mul_add(y2, SIN[1]).mul_add(y2, SIN[0]);
    let cos = COS[4].mul_add(y2, COS[3]).mul_add(y2, COS[2]).mul_add(y2, COS[1]).mul_add(y2, COS[0]).mul_add(y2, 1.0);
    // Quarter turn q: (cos, sin)(qπ/2 + θ) = (cos θ, sin θ), (−sin θ, cos θ), (−cos θ, −sin θ),
    // (sin θ, −cos θ) for q = 0, 1, 2, 3; as a swap and two sign flips, branch-free.
    let q = n & 3;
    let (c, s) = if q & 1 == 1 { (sin, cos) } else { (cos, sin) };
    let c = f32::from_bits(c.to_bits() ^ ((((q + 1) >> 1) & 1) << 31));
    let s = f32::from_bits(s.to_bits() ^ ((q >> 1) << 31));
    (c, s)
}

/// The Gaussian pair (r cos t, r sin t) of two words, as every kernel computes it in f32.
#[inline(always)]
pub fn box_muller(wa: u32, wb: u32) -> (f32, f32) {
    let r = radius(wa);
    let (c, s) = cos_sin(wb);
    (r * c, r * s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::derive::{self, uniform, uniform_open0};

    /// Words whose top 24 bits are `v`, low bits set so that dropping them is exercised.
    fn word(v: u32) -> u32 {
        (v << 8) | 0xa5
    }

    #[test]
    fn the_radius_is_within_its_stated_relative_error_for_every_input() {
        let mut worst = (0.0f64, 0);
        for v in 0..1u32 << 24 {
            let want = (-2.0 * uniform_open0(word(v)).ln()).sqrt();
            let got = f64::from(radius(word(v)));
            let err = if want == 0.0 { got.abs() } else { ((got - want) / want).abs() };
            assert!(!err.is_nan(), "v {v}: radius {got}");
            if err > worst.0 {
                worst = (err, v);
            }
        }
        println!("radius: max relative error {:.3e} at v = {}", worst.0, worst.1);
        assert!(worst.0 <= RADIUS_REL_ERR, "max relative error {:.3e} at v = {}", worst.0, worst.1);
    }

    #[test]
    fn cosine_and_sine_are_within_their_stated_absolute_error_for_every_input() {
        let mut worst = (0.0f64, 0);
        for v in 0..1u32 << 24 {
            let t = std::f64::consts::TAU * uniform(word(v));
            let (c, s) = cos_sin(word(v));
            let err = (f64::from(c) - t.cos()).abs().max((f64::from(s) - t.sin()).abs());
            assert!(!err.is_nan(), "v {v}: ({c}, {s})");
            if err > worst.0 {
                worst = (err, v);
            }
        }
        println!("cos/sin: max absolute error {:.3e} at v = {}", worst.0, worst.1);
        assert!(worst.0 <= TRIG_ABS_ERR, "max absolute error {:.3e} at v = {}", worst.0, worst.1);
    }

    #[test]
    fn pairs_match_the_exact_transform_within_the_entry_bound() {
        // Extremes of both words and a pseudo-random sweep.
        let mut words = vec![0u32, 0xff, 0x100, 0x7fff_ffff, 0x8000_0000, 0xffff_feff, u32::MAX];
        let mut x = 0x1234_5678u32;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            words.push(x);
        }
        let mut worst = 0.0f64;
        for (i, &wa) in words.iter().enumerate() {
            let wb = words[(i * 7 + 3) % words.len()];
            let (c, s) = box_muller(wa, wb);
            let (wc, ws) = derive::box_muller(wa, wb);
            let err = (f64::from(c) - wc).abs().max((f64::from(s) - ws).abs());
            assert!(err <= ENTRY_ABS_ERR, "words ({wa:#x}, {wb:#x}): ({c}, {s}) vs ({wc}, {ws})");
            worst = worst.max(err);
        }
        println!("entries: max absolute error {worst:.3e} over {} pairs", words.len());
    }

    #[test]
    fn quarter_turns_land_on_the_axes_exactly() {
        // u = 0, 1/4, 1/2, 3/4: y = 0, so the values are exactly ±1 and ±0.
        let axes = [(0u32, (1.0, 0.0)), (1 << 22, (0.0, 1.0)), (2 << 22, (-1.0, 0.0)), (3 << 22, (0.0, -1.0))];
        for (v, want) in axes {
            assert_eq!(cos_sin(word(v)), want, "v {v}");
        }
        assert_eq!(radius(u32::MAX), 0.0, "u' = 1 gives a zero radius");
    }

    #[test]
    fn the_series_coefficients_are_the_stated_ones() {
        let tau = std::f64::consts::TAU;
        let fact = |m: u32| (1..=m).map(f64::from).product::<f64>();
        for i in 0..5 {
            let sin = (-1f64).powi(i) * tau.powi(2 * i + 1) / fact(2 * i as u32 + 1);
            let cos = (-1f64).powi(i + 1) * tau.powi(2 * i + 2) / fact(2 * i as u32 + 2);
            let (sin32, cos32) = (SIN[i as usize], COS[i as usize]);
            assert!((f64::from(sin32) - sin).abs() <= sin.abs() * 6e-8, "sin coefficient {i}: {sin32} vs {sin}");
            assert!((f64::from(cos32) - cos).abs() <= cos.abs() * 6e-8, "cos coefficient {i}: {cos32} vs {cos}");
            let atanh = 2.0 / f64::from(2 * i + 3);
            assert!((f64::from(ATANH[i as usize]) - atanh).abs() <= atanh * 6e-8, "atanh coefficient {i}");
        }
        assert_eq!(f32::from_bits(SQRT_HALF_BITS), std::f32::consts::FRAC_1_SQRT_2);
    }
}
