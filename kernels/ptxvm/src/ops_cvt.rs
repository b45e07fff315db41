//! `cvt` between every pair of scalar types, with the ISA's rules:
//! - float → int needs an integer rounding (`.rni/.rzi/.rmi/.rpi`) and always saturates to the
//!   destination range; NaN → 0;
//! - int → float and float → narrower float round with `.rn/.rz/.rm/.rp` (exactly once);
//! - float → float of the same type with an integer rounding rounds to an integral value;
//! - int → int truncates or extends; `.sat` clamps to the destination range;
//! - `.ftz` flushes f32 subnormals, `.sat` on a float destination clamps to [0, 1].

use crate::round::{Fmt, Rnd, round_f64, round_pair};
use crate::ty::Ty;

fn to_f64(ty: Ty, v: u64) -> f64 {
    match ty {
        Ty::F16 => half::f16::from_bits(v as u16).to_f64(),
        Ty::Bf16 => half::bf16::from_bits(v as u16).to_f64(),
        Ty::F32 => f64::from(f32::from_bits(v as u32)),
        _ => f64::from_bits(v),
    }
}

fn round_int(x: f64, r: Rnd) -> f64 {
    match r {
        Rnd::Rn => x.round_ties_even(),
        Rnd::Rz => x.trunc(),
        Rnd::Rm => x.floor(),
        Rnd::Rp => x.ceil(),
    }
}

fn int_range(ty: Ty) -> (i128, i128) {
    let bits = ty.bits();
    if ty.signed() { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) }
}

/// The exact value of an integer source as (high f64, low f64 remainder): exact for 64-bit values.
fn int_pair(v: i128) -> (f64, f64) {
    let hi = v as f64;
    // hi is within 2^11 of v for 64-bit v, so the remainder is exact.
    let lo = (v - hi as i128) as f64;
    (hi, lo)
}

/// Converts one value.
#[allow(clippy::too_many_arguments)]
pub fn eval(dst: Ty, src: Ty, rnd: Option<Rnd>, irnd: Option<Rnd>, ftz: bool, sat: bool, v: u64) -> u64 {
    let v = v & src.mask();
    if !src.is_float() {
        let x: i128 = if src.signed() { i128::from(src.extend(v) as i64) } else { i128::from(v) };
        if dst.is_float() {
            let r = rnd.unwrap_or(Rnd::Rn);
            let (s, e) = int_pair(x);
            let bits = match dst {
                Ty::F64 => {
                    if r == Rnd::Rn {
                        s.to_bits()
                    } else {
                        directed_f64(s, e, r)
                    }
                }
                Ty::F32 => round_pair(Fmt::F32, s, e, r),
                Ty::Bf16 => round_pair(Fmt::Bf16, s, e, r),
                _ => round_pair(Fmt::F16, s, e, r),
            };
            return float_sat(dst, bits, sat);
        }
        let (lo, hi) = int_range(dst);
        let y = if sat { x.clamp(lo, hi) } else { x };
        return (y as u64) & dst.mask();
    }
    let mut x = to_f64(src, v);
    if ftz && src == Ty::F32 && (x as f32).is_subnormal() {
        x = if x.is_sign_negative() { -0.0 } else { 0.0 };
    }
    if !dst.is_float() {
        if x.is_nan() {
            return 0;
        }
        let y = round_int(x, irnd.unwrap_or(Rnd::Rz));
        let (lo, hi) = int_range(dst);
        let i = if y <= lo as f64 {
            lo
        } else if y >= hi as f64 {
            hi
        } else {
            y as i128
        };
        return (i as u64) & dst.mask();
    }
    if let Some(ir) = irnd {
        // Same-type (or widening) round to integral.
        let y = round_int(x, ir);
        return float_sat(dst, from_f64_exact(dst, y), sat);
    }
    let r = rnd.unwrap_or(Rnd::Rn);
    let mut bits = match dst {
        Ty::F64 => {
            if x.is_nan() {
                0x7fff_ffff_ffff_ffff
            } else {
                x.to_bits()
            }
        }
        Ty::F32 => round_f64(Fmt::F32, x, r),
        Ty::Bf16 => round_f64(Fmt::Bf16, x, r),
        _ => round_f64(Fmt::F16, x, r),
    };
    if ftz && dst == Ty::F32 && f32::from_bits(bits as u32).is_subnormal() {
        bits &= 0x8000_0000;
    }
    float_sat(dst, bits, sat)
}

fn from_f64_exact(dst: Ty, y: f64) -> u64 {
    match dst {
        Ty::F64 => y.to_bits(),
        Ty::F32 => round_f64(Fmt::F32, y, Rnd::Rn),
        Ty::Bf16 => round_f64(Fmt::Bf16, y, Rnd::Rn),
        _ => round_f64(Fmt::F16, y, Rnd::Rn),
    }
}

/// s + e rounded into f64 with a directed mode (integer sources wider than 53 bits).
fn directed_f64(s: f64, e: f64, r: Rnd) -> u64 {
    if e == 0.0 {
        return s.to_bits();
    }
    let up = match r {
        Rnd::Rp => e > 0.0,
        Rnd::Rm => false,
        Rnd::Rz => e > 0.0 && s < 0.0,
        Rnd::Rn => return s.to_bits(),
    };
    let down = match r {
        Rnd::Rm => e < 0.0,
        Rnd::Rz => e < 0.0 && s > 0.0,
        _ => false,
    };
    if up {
        next_toward(s, true)
    } else if down {
        next_toward(s, false)
    } else {
        s.to_bits()
    }
}

/// The neighbouring f64 toward +∞ (`up`) or −∞, as bits (f64::next_up needs Rust 1.86).
fn next_toward(s: f64, up: bool) -> u64 {
    let b = s.to_bits();
    if s == 0.0 {
        return if up { 1 } else { (1 << 63) | 1 };
    }
    if (s > 0.0) == up { b + 1 } else { b - 1 }
}

fn float_sat(dst: Ty, bits: u64, sat: bool) -> u64 {
    if !sat {
        return bits;
    }
    let x = to_f64(dst, bits);
    let c = if x > 1.0 {
        1.0
    } else if x > 0.0 {
        return bits;
    } else {
        0.0
    };
    from_f64_exact(dst, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32b(x: f32) -> u64 {
        u64::from(x.to_bits())
    }

    #[test]
    fn float_to_int_rounds_by_mode_and_saturates_with_nan_to_zero() {
        let x = f32b(-2.5);
        assert_eq!(eval(Ty::S32, Ty::F32, None, Some(Rnd::Rn), false, false, x) as u32 as i32, -2);
        assert_eq!(eval(Ty::S32, Ty::F32, None, Some(Rnd::Rz), false, false, x) as u32 as i32, -2);
        assert_eq!(eval(Ty::S32, Ty::F32, None, Some(Rnd::Rm), false, false, x) as u32 as i32, -3);
        assert_eq!(eval(Ty::S32, Ty::F32, None, Some(Rnd::Rp), false, false, x) as u32 as i32, -2);
        assert_eq!(eval(Ty::U8, Ty::F32, None, Some(Rnd::Rn), false, false, f32b(300.0)), 255);
        assert_eq!(eval(Ty::U32, Ty::F32, None, Some(Rnd::Rn), false, false, x), 0);
        assert_eq!(eval(Ty::S32, Ty::F32, None, Some(Rnd::Rn), false, false, f32b(f32::NAN)), 0);
        assert_eq!(eval(Ty::S32, Ty::F32, None, Some(Rnd::Rn), false, false, f32b(3e9)), i32::MAX as u64);
    }

    #[test]
    fn int_to_float_rounds_once_in_each_mode() {
        let big = (1u64 << 24) + 1; // not representable in f32
        assert_eq!(eval(Ty::F32, Ty::U32, Some(Rnd::Rn), None, false, false, big), f32b(16777216.0));
        assert_eq!(eval(Ty::F32, Ty::U32, Some(Rnd::Rp), None, false, false, big), f32b(16777218.0));
        let neg = (-(big as i64)) as u64;
        assert_eq!(eval(Ty::F32, Ty::S64, Some(Rnd::Rm), None, false, false, neg), f32b(-16777218.0));
        assert_eq!(eval(Ty::F32, Ty::S64, Some(Rnd::Rz), None, false, false, neg), f32b(-16777216.0));
        // u64::MAX → f64 with rz must not round up to 2^64.
        assert_eq!(
            eval(Ty::F64, Ty::U64, Some(Rnd::Rz), None, false, false, u64::MAX),
            (2f64.powi(64)).next_down().to_bits()
        );
    }

    #[test]
    fn narrowing_float_conversions_honor_mode_and_saturation() {
        let x = f32b(1.0 + 1.0 / 4096.0); // between two f16 values
        assert_eq!(eval(Ty::F16, Ty::F32, Some(Rnd::Rn), None, false, false, x), 0x3c00);
        assert_eq!(eval(Ty::F16, Ty::F32, Some(Rnd::Rp), None, false, false, x), 0x3c01);
        assert_eq!(eval(Ty::F16, Ty::F32, Some(Rnd::Rn), None, false, true, f32b(7.0)), 0x3c00);
        assert_eq!(
            eval(Ty::F32, Ty::F16, None, None, false, false, 0x3555),
            f32b(half::f16::from_bits(0x3555).to_f32())
        );
        assert_eq!(eval(Ty::F32, Ty::F32, None, Some(Rnd::Rm), false, false, f32b(-0.5)), f32b(-1.0));
        assert_eq!(eval(Ty::F32, Ty::F32, Some(Rnd::Rn), None, true, false, 1), 0);
    }

    #[test]
    fn integer_narrowing_truncates_unless_saturated() {
        assert_eq!(eval(Ty::U8, Ty::U32, None, None, false, false, 0x1ff), 0xff);
        assert_eq!(eval(Ty::S8, Ty::S32, None, None, false, true, (-300i32) as u32 as u64), 0x80);
        assert_eq!(eval(Ty::S64, Ty::S32, None, None, false, false, 0xffff_ffff), u64::MAX);
        assert_eq!(eval(Ty::U64, Ty::U32, None, None, false, false, 0xffff_ffff), 0xffff_ffff);
    }
}
