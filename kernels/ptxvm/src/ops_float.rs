//! Floating-point semantics: f32 and f64 arithmetic, f16/bf16 scalar and packed x2.
//!
//! - `.rn` f32 add/mul/div/sqrt use the host's IEEE operations (correctly rounded); `fma.rn` uses
//!   `f32::mul_add` (one rounding). The directed modes compute the exact result as an f64 pair and
//!   round it once ([`crate::round`]).
//! - f16/bf16 compute the exact value in f64 and round once into the format.
//! - Arithmetic NaN results are NVIDIA's canonical NaN (f32 `0x7fffffff`), `.ftz` flushes subnormal
//!   inputs and results to a zero of the same sign, `.sat` clamps to [0, 1] with NaN → +0.
//! - `.approx` operations (div.approx, rcp/sqrt/rsqrt/ex2/lg2/sin/cos/tanh.approx) return the
//!   correctly rounded (or libm) value: within the ISA's stated error bound of the hardware's
//!   answer, not bit-equal to it. The differential test against real GPUs states that bound.

use crate::inst::FOp;
use crate::round::{Fmt, Rnd, round_f64, round_pair, two_sum};
use crate::ty::Ty;

const F32_NAN: u32 = 0x7fff_ffff;
const F64_NAN: u64 = 0x7fff_ffff_ffff_ffff;

#[inline]
fn flush32(x: f32) -> f32 {
    if x.is_subnormal() { f32::from_bits(x.to_bits() & 0x8000_0000) } else { x }
}

#[inline]
fn sat01(x: f64) -> f64 {
    if x > 1.0 {
        1.0
    } else if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Evaluates a float op on `ty` for one lane.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn eval(op: FOp, ty: Ty, rnd: Rnd, ftz: bool, sat: bool, a: u64, b: u64, c: u64) -> u64 {
    match ty {
        Ty::F32 => u64::from(f32_op(op, rnd, ftz, sat, a as u32, b as u32, c as u32)),
        Ty::F64 => f64_op(op, sat, a, b, c),
        Ty::F16 => u64::from(half_op(Fmt::F16, op, rnd, sat, a as u16, b as u16, c as u16)),
        Ty::Bf16 => u64::from(half_op(Fmt::Bf16, op, rnd, sat, a as u16, b as u16, c as u16)),
        Ty::F16x2 | Ty::Bf16x2 => {
            let fmt = if ty == Ty::F16x2 { Fmt::F16 } else { Fmt::Bf16 };
            let lo = half_op(fmt, op, rnd, sat, a as u16, b as u16, c as u16);
            let hi = half_op(fmt, op, rnd, sat, (a >> 16) as u16, (b >> 16) as u16, (c >> 16) as u16);
            u64::from(lo) | (u64::from(hi) << 16)
        }
        _ => 0,
    }
}

/// IEEE minimum/maximum as PTX defines them: a NaN operand yields the other; −0 < +0.
fn minmax(x: f64, y: f64, max: bool) -> Option<f64> {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => None,
        (true, false) => Some(y),
        (false, true) => Some(x),
        _ => {
            if x == y {
                // ±0: min prefers −0, max prefers +0.
                let neg = if max {
                    x.is_sign_negative() && y.is_sign_negative()
                } else {
                    x.is_sign_negative() || y.is_sign_negative()
                };
                Some(if neg { -x.abs() } else { x.abs() })
            } else if (x < y) != max {
                Some(x)
            } else {
                Some(y)
            }
        }
    }
}

/// One f32 operation.
#[allow(clippy::too_many_arguments)]
pub fn f32_op(op: FOp, rnd: Rnd, ftz: bool, sat: bool, a: u32, b: u32, c: u32) -> u32 {
    let (mut x, mut y, mut z) = (f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
    if ftz {
        (x, y, z) = (flush32(x), flush32(y), flush32(z));
    }
    let (xd, yd, zd) = (f64::from(x), f64::from(y), f64::from(z));
    let r: f32 = match op {
        FOp::Abs => return flush_bits(f32::from_bits(x.to_bits() & 0x7fff_ffff), ftz),
        FOp::Neg => return flush_bits(f32::from_bits(x.to_bits() ^ 0x8000_0000), ftz),
        FOp::Add | FOp::Sub => {
            let yy = if op == FOp::Sub { -y } else { y };
            if rnd == Rnd::Rn {
                x + yy
            } else {
                let (s, e) = two_sum(xd, f64::from(yy));
                f32::from_bits(round_pair(Fmt::F32, s, e, rnd) as u32)
            }
        }
        FOp::Mul => {
            if rnd == Rnd::Rn {
                x * y
            } else {
                f32::from_bits(round_f64(Fmt::F32, xd * yd, rnd) as u32)
            }
        }
        FOp::Fma => {
            if rnd == Rnd::Rn {
                x.mul_add(y, z)
            } else {
                let (s, e) = two_sum(xd * yd, zd);
                f32::from_bits(round_pair(Fmt::F32, s, e, rnd) as u32)
            }
        }
        FOp::Div | FOp::DivApprox => directed_div(x, y, rnd),
        FOp::Rcp => directed_div(1.0, x, rnd),
        FOp::Sqrt => {
            if rnd == Rnd::Rn {
                x.sqrt()
            } else {
                let q = xd.sqrt();
                let res = (-q).mul_add(q, xd);
                f32::from_bits(
                    round_pair(Fmt::F32, q, res.signum() * f64::MIN_POSITIVE * f64::from(res != 0.0), rnd) as u32
                )
            }
        }
        FOp::Rsqrt => (1.0 / xd.sqrt()) as f32,
        FOp::Ex2 => x.exp2(),
        FOp::Lg2 => x.log2(),
        FOp::Sin => x.sin(),
        FOp::Cos => x.cos(),
        FOp::Tanh => x.tanh(),
        FOp::Min | FOp::Max => match minmax(xd, yd, op == FOp::Max) {
            Some(v) => v as f32,
            None => f32::from_bits(F32_NAN),
        },
    };
    let mut r = if r.is_nan() { f32::from_bits(F32_NAN) } else { r };
    if sat {
        r = sat01(f64::from(r)) as f32;
    }
    flush_bits(r, ftz)
}

fn flush_bits(r: f32, ftz: bool) -> u32 {
    if ftz { flush32(r).to_bits() } else { r.to_bits() }
}

/// x / y rounded with `rnd`: the f64 quotient's residual gives the direction of its error.
fn directed_div(x: f32, y: f32, rnd: Rnd) -> f32 {
    if rnd == Rnd::Rn {
        return x / y;
    }
    let (xd, yd) = (f64::from(x), f64::from(y));
    let q = xd / yd;
    if !q.is_finite() || q == 0.0 {
        return f32::from_bits(round_f64(Fmt::F32, q, rnd) as u32);
    }
    // x - q*y exactly; the true quotient is q + res/y.
    let res = (-q).mul_add(yd, xd);
    let e = if res == 0.0 { 0.0 } else { (res / yd).signum() * f64::MIN_POSITIVE };
    f32::from_bits(round_pair(Fmt::F32, q, e, rnd) as u32)
}

fn f64_op(op: FOp, sat: bool, a: u64, b: u64, c: u64) -> u64 {
    let (x, y, z) = (f64::from_bits(a), f64::from_bits(b), f64::from_bits(c));
    let r = match op {
        FOp::Abs => return a & !(1 << 63),
        FOp::Neg => return a ^ (1 << 63),
        FOp::Add => x + y,
        FOp::Sub => x - y,
        FOp::Mul => x * y,
        FOp::Fma => x.mul_add(y, z),
        FOp::Div | FOp::DivApprox => x / y,
        FOp::Rcp => 1.0 / x,
        FOp::Sqrt => x.sqrt(),
        FOp::Rsqrt => 1.0 / x.sqrt(),
        FOp::Ex2 => x.exp2(),
        FOp::Lg2 => x.log2(),
        FOp::Sin => x.sin(),
        FOp::Cos => x.cos(),
        FOp::Tanh => x.tanh(),
        FOp::Min | FOp::Max => match minmax(x, y, op == FOp::Max) {
            Some(v) => v,
            None => return F64_NAN,
        },
    };
    let r = if sat { sat01(r) } else { r };
    if r.is_nan() { F64_NAN } else { r.to_bits() }
}

fn half_to_f64(fmt: Fmt, v: u16) -> f64 {
    match fmt {
        Fmt::Bf16 => half::bf16::from_bits(v).to_f64(),
        _ => half::f16::from_bits(v).to_f64(),
    }
}

/// One f16 or bf16 operation: the exact result in f64 (or an f64 pair), rounded once.
#[allow(clippy::too_many_arguments)]
pub fn half_op(fmt: Fmt, op: FOp, rnd: Rnd, sat: bool, a: u16, b: u16, c: u16) -> u16 {
    let sign = 0x8000u16;
    let (x, y, z) = (half_to_f64(fmt, a), half_to_f64(fmt, b), half_to_f64(fmt, c));
    let (s, e) = match op {
        FOp::Abs => return a & !sign,
        FOp::Neg => return a ^ sign,
        FOp::Add => two_sum(x, y),
        FOp::Sub => two_sum(x, -y),
        FOp::Mul => (x * y, 0.0),
        FOp::Fma => two_sum(x * y, z),
        FOp::Min | FOp::Max => match minmax(x, y, op == FOp::Max) {
            Some(v) => (v, 0.0),
            None => return fmt.canonical_nan() as u16,
        },
        FOp::Ex2 => (x.exp2(), 0.0),
        FOp::Tanh => (x.tanh(), 0.0),
        FOp::Rcp => (1.0 / x, 0.0),
        FOp::Sqrt => (x.sqrt(), 0.0),
        FOp::Rsqrt => (1.0 / x.sqrt(), 0.0),
        FOp::Lg2 => (x.log2(), 0.0),
        FOp::Sin => (x.sin(), 0.0),
        FOp::Cos => (x.cos(), 0.0),
        FOp::Div | FOp::DivApprox => (x / y, 0.0),
    };
    let r = round_pair(fmt, s, e, rnd) as u16;
    if sat {
        let v = half_to_f64(fmt, r);
        if v.is_nan() || v <= 0.0 {
            return 0;
        }
        if v > 1.0 {
            return round_f64(fmt, 1.0, Rnd::Rn) as u16;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f32) -> u64 {
        u64::from(x.to_bits())
    }

    #[test]
    fn fma_rounds_once_where_mul_then_add_rounds_twice() {
        // a*b = 1 + 2^-12 + 2^-24 (exact), c = -1: fused keeps the 2^-24 term, unfused loses it.
        let a = 1.0 + 2f32.powi(-12);
        let (b, c) = (a, -1.0f32);
        let fused = f32::from_bits(eval(FOp::Fma, Ty::F32, Rnd::Rn, false, false, f(a), f(b), f(c)) as u32);
        let mul = f32::from_bits(eval(FOp::Mul, Ty::F32, Rnd::Rn, false, false, f(a), f(b), 0) as u32);
        let unfused = f32::from_bits(eval(FOp::Add, Ty::F32, Rnd::Rn, false, false, f(mul), f(c), 0) as u32);
        assert_eq!(fused, 2f32.powi(-11) + 2f32.powi(-24));
        assert_eq!(unfused, 2f32.powi(-11));
    }

    #[test]
    fn directed_fma_and_add_round_the_exact_result_toward_their_mode() {
        let one = f(1.0);
        let tiny = f(2f32.powi(-30));
        assert_eq!(eval(FOp::Add, Ty::F32, Rnd::Rz, false, false, one, tiny, 0), one);
        assert_eq!(eval(FOp::Add, Ty::F32, Rnd::Rp, false, false, one, tiny, 0), one + 1);
        assert_eq!(eval(FOp::Add, Ty::F32, Rnd::Rm, false, false, f(-1.0), f(-(2f32.powi(-30))), 0), f(-1.0) + 1);
        assert_eq!(eval(FOp::Fma, Ty::F32, Rnd::Rp, false, false, one, one, tiny), one + 1);
        // 1/3 rounds up to nearest (0x3eaaaaab): toward zero is one ulp below, upward is nearest.
        assert_eq!(eval(FOp::Div, Ty::F32, Rnd::Rz, false, false, one, f(3.0), 0), 0x3eaa_aaaa);
        assert_eq!(eval(FOp::Div, Ty::F32, Rnd::Rp, false, false, one, f(3.0), 0), 0x3eaa_aaab);
        // sqrt(2) rounds down to nearest (0x3fb504f3): toward zero agrees, upward is one ulp above.
        assert_eq!(eval(FOp::Sqrt, Ty::F32, Rnd::Rz, false, false, f(2.0), 0, 0), 0x3fb5_04f3);
        assert_eq!(eval(FOp::Sqrt, Ty::F32, Rnd::Rp, false, false, f(2.0), 0, 0), 0x3fb5_04f4);
    }

    #[test]
    fn ftz_flushes_subnormals_and_sat_clamps_with_nan_to_zero() {
        let sub = f(f32::from_bits(1));
        assert_eq!(eval(FOp::Add, Ty::F32, Rnd::Rn, true, false, sub, 0, 0), 0);
        assert_eq!(eval(FOp::Add, Ty::F32, Rnd::Rn, false, false, sub, 0, 0), 1);
        assert_eq!(eval(FOp::Mul, Ty::F32, Rnd::Rn, false, true, f(3.0), f(2.0), 0), f(1.0));
        assert_eq!(eval(FOp::Add, Ty::F32, Rnd::Rn, false, true, f(f32::INFINITY), f(f32::NEG_INFINITY), 0), 0);
        assert_eq!(
            eval(FOp::Add, Ty::F32, Rnd::Rn, false, false, f(f32::INFINITY), f(f32::NEG_INFINITY), 0),
            0x7fff_ffff
        );
    }

    #[test]
    fn min_and_max_ignore_a_single_nan_and_order_signed_zeros() {
        let nan = f(f32::NAN);
        assert_eq!(eval(FOp::Min, Ty::F32, Rnd::Rn, false, false, nan, f(2.0), 0), f(2.0));
        assert_eq!(eval(FOp::Min, Ty::F32, Rnd::Rn, false, false, f(0.0), f(-0.0), 0), f(-0.0));
        assert_eq!(eval(FOp::Max, Ty::F32, Rnd::Rn, false, false, f(-0.0), f(0.0), 0), f(0.0));
    }

    #[test]
    fn packed_f16x2_operates_on_each_half_with_one_rounding() {
        let h = |x: f32| half::f16::from_f32(x).to_bits() as u64;
        let a = h(1.0) | (h(2.0) << 16);
        let b = h(0.5) | (h(-3.0) << 16);
        let r = eval(FOp::Add, Ty::F16x2, Rnd::Rn, false, false, a, b, 0);
        assert_eq!(r, h(1.5) | (h(-1.0) << 16));
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10 in f16: fma with a tiny addend breaks it up.
        let t = eval(FOp::Fma, Ty::F16, Rnd::Rn, false, false, h(1.0), h(1.0 + 1.0 / 2048.0 * 0.0), h(1.0 / 2048.0));
        assert_eq!(t, h(1.0));
        let bf = |x: f32| half::bf16::from_f32(x).to_bits() as u64;
        assert_eq!(
            eval(FOp::Mul, Ty::Bf16, Rnd::Rz, false, false, bf(1.0 + 1.0 / 128.0), bf(1.0 + 1.0 / 128.0), 0),
            bf(1.0 + 2.0 / 128.0)
        );
    }
}
