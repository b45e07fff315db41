//! `setp` comparisons: signed, unsigned (`lo/ls/hi/hs`), bit (`eq/ne`) and float, where the
//! ordered forms are false on NaN and the `u` forms true.

use crate::inst::Cmp;
use crate::ty::Ty;

fn float(ty: Ty, v: u64, ftz: bool) -> f64 {
    match ty {
        Ty::F16 => half::f16::from_bits(v as u16).to_f64(),
        Ty::Bf16 => half::bf16::from_bits(v as u16).to_f64(),
        Ty::F32 => {
            let x = f32::from_bits(v as u32);
            f64::from(if ftz && x.is_subnormal() { 0.0 } else { x })
        }
        _ => f64::from_bits(v),
    }
}

/// Compares `a` and `b` of type `ty`.
#[inline]
pub fn compare(cmp: Cmp, ty: Ty, ftz: bool, a: u64, b: u64) -> bool {
    if ty.is_float() {
        let (x, y) = (float(ty, a, ftz), float(ty, b, ftz));
        let nan = x.is_nan() || y.is_nan();
        return match cmp {
            Cmp::Eq => x == y,
            Cmp::Ne => !nan && x != y,
            Cmp::Lt | Cmp::Lo => x < y,
            Cmp::Le | Cmp::Ls => x <= y,
            Cmp::Gt | Cmp::Hi => x > y,
            Cmp::Ge | Cmp::Hs => x >= y,
            Cmp::Equ => nan || x == y,
            Cmp::Neu => nan || x != y,
            Cmp::Ltu => nan || x < y,
            Cmp::Leu => nan || x <= y,
            Cmp::Gtu => nan || x > y,
            Cmp::Geu => nan || x >= y,
            Cmp::Num => !nan,
            Cmp::Nan => nan,
        };
    }
    let (ua, ub) = (a & ty.mask(), b & ty.mask());
    let (sa, sb) = (Ty::extend(signed_of(ty), a) as i64, Ty::extend(signed_of(ty), b) as i64);
    let signed = ty.signed();
    match cmp {
        Cmp::Eq | Cmp::Equ => ua == ub,
        Cmp::Ne | Cmp::Neu => ua != ub,
        Cmp::Lt | Cmp::Ltu => {
            if signed {
                sa < sb
            } else {
                ua < ub
            }
        }
        Cmp::Le | Cmp::Leu => {
            if signed {
                sa <= sb
            } else {
                ua <= ub
            }
        }
        Cmp::Gt | Cmp::Gtu => {
            if signed {
                sa > sb
            } else {
                ua > ub
            }
        }
        Cmp::Ge | Cmp::Geu => {
            if signed {
                sa >= sb
            } else {
                ua >= ub
            }
        }
        Cmp::Lo => ua < ub,
        Cmp::Ls => ua <= ub,
        Cmp::Hi => ua > ub,
        Cmp::Hs => ua >= ub,
        Cmp::Num => true,
        Cmp::Nan => false,
    }
}

fn signed_of(ty: Ty) -> Ty {
    match ty.bits() {
        8 => Ty::S8,
        16 => Ty::S16,
        32 => Ty::S32,
        _ => Ty::S64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_float_comparisons_are_false_on_nan_and_unordered_ones_true() {
        let nan = u64::from(f32::NAN.to_bits());
        let one = u64::from(1f32.to_bits());
        assert!(!compare(Cmp::Lt, Ty::F32, false, nan, one));
        assert!(compare(Cmp::Ltu, Ty::F32, false, nan, one));
        assert!(!compare(Cmp::Ne, Ty::F32, false, nan, one));
        assert!(compare(Cmp::Nan, Ty::F32, false, nan, one));
    }

    #[test]
    fn signed_and_unsigned_comparisons_read_the_same_bits_differently() {
        assert!(compare(Cmp::Lt, Ty::S32, false, 0xffff_ffff, 0));
        assert!(!compare(Cmp::Lt, Ty::U32, false, 0xffff_ffff, 0));
        assert!(compare(Cmp::Hi, Ty::S32, false, 0xffff_ffff, 0));
    }
}
