//! [`crate::ast::Module`] → [`crate::program::Program`]: names become register indices and
//! addresses, labels become instruction indices, opcodes become [`Kind`]s. Every opcode or
//! modifier the interpreter cannot execute exactly is rejected here as
//! "unsupported: <instruction> at <file>:<line>", never at run time.

use std::collections::HashMap;

use crate::ast::{self, Instr, Operand, Stmt, VarDecl};
use crate::error::ParseError;
use crate::inst::{
    Addr, Alu, AtomOp, BoolOp, Class, Cmp, Copy, FOp, Inst, IntOp, Kind, MmaKind, MmaOperands, Reg, SReg, ShflMode,
    Space, Src, VoteMode,
};
use crate::literal::{float_bits, parse_float, parse_int};
use crate::memory::{GLOBAL_BASE, next_base};
use crate::program::{GlobalVar, KernelInfo, ParamInfo, Program};
use crate::round::{Fmt, Rnd, round_f64};
use crate::ty::Ty;

/// Where a name lives.
#[derive(Clone, Copy, Debug)]
enum Sym {
    Reg(Reg),
    Var(Space, u64),
}

struct FuncSig {
    entry: u32,
    /// Formal parameters: frame slot (offset, size) or register.
    params: Vec<Slot>,
    rets: Vec<Slot>,
}

#[derive(Clone, Copy)]
enum Slot {
    Frame(u32, u32),
    Reg(Reg),
}

struct Ctx<'a> {
    file: &'a str,
    syms: HashMap<String, Sym>,
    labels: HashMap<String, u32>,
    funcs: &'a HashMap<String, FuncSig>,
}

fn elem_bytes(ty: &str) -> u64 {
    Ty::parse(ty).map_or(1, |t| u64::from(t.bytes()))
}

fn var_size(v: &VarDecl) -> u64 {
    elem_bytes(&v.ty) * v.elems
}

fn var_align(v: &VarDecl) -> u64 {
    v.align.unwrap_or_else(|| elem_bytes(&v.ty)).max(1)
}

fn init_bytes(file: &str, v: &VarDecl) -> Result<Vec<u8>, ParseError> {
    let size = var_size(v) as usize;
    let eb = elem_bytes(&v.ty) as usize;
    let ty = Ty::parse(&v.ty).unwrap_or(Ty::B8);
    let mut out = vec![0u8; size];
    for (i, lit) in v.init.iter().enumerate() {
        if (i + 1) * eb > size {
            return Err(ParseError::new(file, v.line, format!("too many initializers for {}", v.name)));
        }
        let bits = imm_bits(ty, lit).ok_or_else(|| ParseError::new(file, v.line, format!("bad initializer {lit}")))?;
        out[i * eb..(i + 1) * eb].copy_from_slice(&bits.to_le_bytes()[..eb]);
    }
    Ok(out)
}

/// An immediate of type `ty` as bits.
fn imm_bits(ty: Ty, s: &str) -> Option<u64> {
    if ty.is_float() {
        if let Some((w, b)) = float_bits(s) {
            return Some(match (ty, w) {
                (Ty::F64, 32) => f64::from(f32::from_bits(b as u32)).to_bits(),
                (Ty::F32, 64) => u64::from((f64::from_bits(b) as f32).to_bits()),
                (_, _) => b,
            });
        }
        let x = parse_float(s)?;
        return Some(match ty {
            Ty::F64 => x.to_bits(),
            Ty::F32 => round_f64(Fmt::F32, x, Rnd::Rn),
            Ty::Bf16 | Ty::Bf16x2 => round_f64(Fmt::Bf16, x, Rnd::Rn),
            _ => round_f64(Fmt::F16, x, Rnd::Rn),
        });
    }
    let v = parse_int(s)?;
    Some(v as u64)
}

/// Decodes a parsed module.
pub fn decode(m: &ast::Module) -> Result<Program, ParseError> {
    let file = m.file.as_str();
    let mut shared_bytes = 0u64;
    let mut const_bytes: Vec<u8> = Vec::new();
    let mut globals = Vec::new();
    let mut module_syms: HashMap<String, Sym> = HashMap::new();
    let mut next_global = GLOBAL_BASE;
    let place = |top: &mut u64, v: &VarDecl| -> u64 {
        let at = top.next_multiple_of(var_align(v));
        *top = at + var_size(v);
        at
    };
    for v in &m.vars {
        match v.space.as_str() {
            ".shared" => {
                let at = place(&mut shared_bytes, v);
                module_syms.insert(v.name.clone(), Sym::Var(Space::Shared, at));
            }
            ".const" => {
                let mut top = const_bytes.len() as u64;
                let at = place(&mut top, v);
                const_bytes.resize(at as usize, 0);
                const_bytes.extend(init_bytes(file, v)?);
                module_syms.insert(v.name.clone(), Sym::Var(Space::Const, at));
            }
            _ => {
                let init = init_bytes(file, v)?;
                module_syms.insert(v.name.clone(), Sym::Var(Space::Global, next_global));
                next_global = next_base(next_global, init.len() as u64);
                globals.push(GlobalVar { name: v.name.clone(), init });
            }
        }
    }

    // Pass 1: entry points of functions and the per-thread frame layout of `.param` variables.
    let mut funcs: HashMap<String, FuncSig> = HashMap::new();
    let mut frame_syms: HashMap<(usize, String), (u32, u32)> = HashMap::new();
    let mut frame_top = 0u64;
    let mut local_bytes = 0u64;
    let mut nregs = 0u32;
    let mut pc = 0u32;
    let mut func_regs: Vec<HashMap<String, Sym>> = Vec::new();
    for (fi, f) in m.functions.iter().enumerate() {
        let mut syms = HashMap::new();
        let mut reg = |name: &str, syms: &mut HashMap<String, Sym>| {
            syms.insert(name.to_string(), Sym::Reg(nregs));
            nregs += 1;
            nregs - 1
        };
        for r in &f.regs {
            Ty::parse(&r.ty)
                .ok_or_else(|| ParseError::new(file, r.line, format!("unsupported: register type {}", r.ty)))?;
            match r.count {
                Some(n) => {
                    for i in 0..n {
                        reg(&format!("{}{i}", r.name), &mut syms);
                    }
                }
                None => {
                    reg(&r.name, &mut syms);
                }
            }
        }
        let mut slot_of = |v: &VarDecl, syms: &mut HashMap<String, Sym>| -> Result<Slot, ParseError> {
            if v.space == ".reg" {
                Ty::parse(&v.ty).ok_or_else(|| ParseError::new(file, v.line, format!("unsupported: {}", v.ty)))?;
                return Ok(Slot::Reg(reg(&v.name, syms)));
            }
            let at = frame_top.next_multiple_of(var_align(v));
            frame_top = at + var_size(v);
            frame_syms.insert((fi, v.name.clone()), (at as u32, var_size(v) as u32));
            Ok(Slot::Frame(at as u32, var_size(v) as u32))
        };
        let mut params = Vec::new();
        let mut rets = Vec::new();
        if !f.entry {
            for v in &f.params {
                params.push(slot_of(v, &mut syms)?);
            }
            for v in &f.rets {
                rets.push(slot_of(v, &mut syms)?);
            }
        }
        for v in &f.vars {
            match v.space.as_str() {
                ".param" => {
                    slot_of(v, &mut syms)?;
                }
                ".shared" => {
                    let at = place(&mut shared_bytes, v);
                    syms.insert(v.name.clone(), Sym::Var(Space::Shared, at));
                }
                ".local" => {
                    let at = place(&mut local_bytes, v);
                    syms.insert(v.name.clone(), Sym::Var(Space::Local, at));
                }
                ".const" => {
                    let mut top = const_bytes.len() as u64;
                    let at = place(&mut top, v);
                    const_bytes.resize(at as usize, 0);
                    const_bytes.extend(init_bytes(file, v)?);
                    syms.insert(v.name.clone(), Sym::Var(Space::Const, at));
                }
                s => return Err(ParseError::new(file, v.line, format!("unsupported: {s} variable in a function"))),
            }
        }
        let n = f.body.as_ref().map_or(0, |b| b.iter().filter(|s| matches!(s, Stmt::Instr(_))).count() as u32);
        if f.body.is_some() {
            funcs.insert(f.name.clone(), FuncSig { entry: pc, params, rets });
        }
        pc += n;
        func_regs.push(syms);
    }

    // Pass 2: instructions.
    let mut code = Vec::new();
    let mut opcodes = Vec::new();
    let mut kernels = Vec::new();
    for (fi, f) in m.functions.iter().enumerate() {
        let Some(body) = &f.body else { continue };
        let mut syms = module_syms.clone();
        syms.extend(func_regs[fi].clone());
        let mut kparams = Vec::new();
        let mut ptop = 0u32;
        if f.entry {
            for v in &f.params {
                let size = var_size(v) as u32;
                let at = ptop.next_multiple_of(var_align(v) as u32);
                ptop = at + size;
                syms.insert(v.name.clone(), Sym::Var(Space::Param, u64::from(at)));
                kparams.push(ParamInfo { name: v.name.clone(), offset: at, size });
            }
        }
        for ((fj, name), (at, _)) in &frame_syms {
            if *fj == fi {
                syms.insert(name.clone(), Sym::Var(Space::FuncParam, u64::from(*at)));
            }
        }
        let entry = code.len() as u32;
        let mut labels = HashMap::new();
        let mut k = entry;
        for s in body {
            match s {
                Stmt::Label(l, _) => {
                    labels.insert(l.clone(), k);
                }
                Stmt::Instr(_) => k += 1,
            }
        }
        let ctx = Ctx { file, syms, labels, funcs: &funcs };
        for s in body {
            if let Stmt::Instr(i) = s {
                code.push(ctx.instr(i, f.entry)?);
                opcodes.push(i.opcode.clone());
            }
        }
        if f.entry {
            kernels.push(KernelInfo { name: f.name.clone(), entry_pc: entry, params: kparams, param_bytes: ptop });
        }
    }
    Ok(Program {
        file: file.to_string(),
        code,
        opcodes,
        kernels,
        nregs,
        shared_bytes: shared_bytes as u32,
        local_bytes: local_bytes as u32,
        frame_bytes: frame_top as u32,
        const_bytes,
        globals,
    })
}

fn rnd_of(m: &str) -> Option<Rnd> {
    Some(match m {
        "rn" => Rnd::Rn,
        "rz" => Rnd::Rz,
        "rm" => Rnd::Rm,
        "rp" => Rnd::Rp,
        _ => return None,
    })
}

fn irnd_of(m: &str) -> Option<Rnd> {
    Some(match m {
        "rni" => Rnd::Rn,
        "rzi" => Rnd::Rz,
        "rmi" => Rnd::Rm,
        "rpi" => Rnd::Rp,
        _ => return None,
    })
}

fn space_of(m: &str) -> Option<Space> {
    Some(match m {
        "global" => Space::Global,
        "shared" | "shared::cta" => Space::Shared,
        "local" => Space::Local,
        "param" => Space::Param,
        "const" => Space::Const,
        _ => return None,
    })
}

fn int_op(name: &str, mods: &[&str]) -> Option<IntOp> {
    let has = |m: &str| mods.contains(&m);
    Some(match name {
        "add" if has("sat") => IntOp::AddSat,
        "add" => IntOp::Add,
        "sub" if has("sat") => IntOp::SubSat,
        "sub" => IntOp::Sub,
        "mul" if has("hi") => IntOp::MulHi,
        "mul" if has("wide") => IntOp::MulWide,
        "mul" => IntOp::MulLo,
        "mad" if has("hi") => IntOp::MadHi,
        "mad" if has("wide") => IntOp::MadWide,
        "mad" => IntOp::MadLo,
        "mul24" if has("lo") => IntOp::Mul24Lo,
        "div" => IntOp::Div,
        "rem" => IntOp::Rem,
        "min" => IntOp::Min,
        "max" => IntOp::Max,
        "abs" => IntOp::Abs,
        "neg" => IntOp::Neg,
        "not" => IntOp::Not,
        "and" => IntOp::And,
        "or" => IntOp::Or,
        "xor" => IntOp::Xor,
        "cnot" => IntOp::CNot,
        "shl" => IntOp::Shl,
        "shr" => IntOp::Shr,
        "popc" => IntOp::Popc,
        "clz" => IntOp::Clz,
        "brev" => IntOp::Brev,
        "bfind" if !has("shiftamt") => IntOp::Bfind,
        "bfe" => IntOp::Bfe,
        "bfi" => IntOp::Bfi,
        "lop3" => IntOp::Lop3,
        "prmt" => IntOp::Prmt(match mods.iter().find(|m| **m != "b32") {
            None => 0,
            Some(&"f4e") => 1,
            Some(&"b4e") => 2,
            Some(&"rc8") => 3,
            Some(&"ecl") => 4,
            Some(&"ecr") => 5,
            Some(&"rc16") => 6,
            Some(_) => return None,
        }),
        _ => return None,
    })
}

fn float_op(name: &str, mods: &[&str]) -> Option<FOp> {
    let has = |m: &str| mods.contains(&m);
    Some(match name {
        "add" => FOp::Add,
        "sub" => FOp::Sub,
        "mul" => FOp::Mul,
        "fma" | "mad" => FOp::Fma,
        "div" if has("approx") || has("full") => FOp::DivApprox,
        "div" => FOp::Div,
        "rcp" => FOp::Rcp,
        "sqrt" => FOp::Sqrt,
        "rsqrt" => FOp::Rsqrt,
        "ex2" => FOp::Ex2,
        "lg2" => FOp::Lg2,
        "sin" => FOp::Sin,
        "cos" => FOp::Cos,
        "tanh" => FOp::Tanh,
        "min" => FOp::Min,
        "max" => FOp::Max,
        "abs" => FOp::Abs,
        "neg" => FOp::Neg,
        _ => return None,
    })
}

fn cmp_of(m: &str) -> Option<Cmp> {
    Some(match m {
        "eq" => Cmp::Eq,
        "ne" => Cmp::Ne,
        "lt" => Cmp::Lt,
        "le" => Cmp::Le,
        "gt" => Cmp::Gt,
        "ge" => Cmp::Ge,
        "lo" => Cmp::Lo,
        "ls" => Cmp::Ls,
        "hi" => Cmp::Hi,
        "hs" => Cmp::Hs,
        "equ" => Cmp::Equ,
        "neu" => Cmp::Neu,
        "ltu" => Cmp::Ltu,
        "leu" => Cmp::Leu,
        "gtu" => Cmp::Gtu,
        "geu" => Cmp::Geu,
        "num" => Cmp::Num,
        "nan" => Cmp::Nan,
        _ => return None,
    })
}

fn sreg(name: &str) -> Option<SReg> {
    let dim = |s: &str| match s {
        "x" => Some(0),
        "y" => Some(1),
        "z" => Some(2),
        _ => None,
    };
    let (base, d) = name.split_once('.').map_or((name, None), |(b, d)| (b, dim(d)));
    Some(match (base, d) {
        ("%tid", Some(d)) => SReg::Tid(d),
        ("%ntid", Some(d)) => SReg::Ntid(d),
        ("%ctaid", Some(d)) => SReg::Ctaid(d),
        ("%nctaid", Some(d)) => SReg::Nctaid(d),
        ("%laneid", None) => SReg::LaneId,
        ("%warpid", None) => SReg::WarpId,
        ("%nwarpid", None) => SReg::NWarpId,
        ("%lanemask_eq", None) => SReg::LaneMaskEq,
        ("%lanemask_lt", None) => SReg::LaneMaskLt,
        ("%lanemask_le", None) => SReg::LaneMaskLe,
        ("%lanemask_gt", None) => SReg::LaneMaskGt,
        ("%lanemask_ge", None) => SReg::LaneMaskGe,
        ("%clock", None) => SReg::Clock,
        ("%clock64", None) => SReg::Clock64,
        ("%smid", None) => SReg::SmId,
        ("%gridid", None) => SReg::GridId,
        _ => return None,
    })
}

impl Ctx<'_> {
    fn err(&self, i: &Instr, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.file, i.line, msg)
    }

    fn unsupported(&self, i: &Instr) -> ParseError {
        self.err(i, format!("unsupported: {}", i.opcode))
    }

    fn reg(&self, i: &Instr, o: &Operand) -> Result<Reg, ParseError> {
        match o {
            Operand::Name(n) => match self.syms.get(n) {
                Some(Sym::Reg(r)) => Ok(*r),
                _ => Err(self.err(i, format!("{}: {n} is not a declared register", i.opcode))),
            },
            _ => Err(self.err(i, format!("{}: expected a register, found {o:?}", i.opcode))),
        }
    }

    /// A source of type `ty`: register, immediate or a variable's address.
    fn src(&self, i: &Instr, o: &Operand, ty: Ty) -> Result<Src, ParseError> {
        match o {
            Operand::Name(n) => match self.syms.get(n) {
                Some(Sym::Reg(r)) => Ok(Src::Reg(*r)),
                Some(Sym::Var(_, a)) => Ok(Src::Imm(*a)),
                None if n == "WARP_SZ" => Ok(Src::Imm(32)),
                None => Err(self.err(i, format!("{}: unknown name {n}", i.opcode))),
            },
            Operand::Num(s) => imm_bits(ty, s).map(Src::Imm).ok_or_else(|| self.err(i, format!("bad literal {s}"))),
            _ => Err(self.err(i, format!("{}: unexpected operand {o:?}", i.opcode))),
        }
    }

    fn addr(&self, i: &Instr, o: &Operand, space: Space) -> Result<(Space, Addr), ParseError> {
        let Operand::Addr(base, off) = o else {
            return Err(self.err(i, format!("{}: expected [address], found {o:?}", i.opcode)));
        };
        match base.as_ref() {
            Operand::Name(n) => match self.syms.get(n) {
                Some(Sym::Reg(r)) => Ok((space, Addr { base: Src::Reg(*r), off: *off })),
                Some(Sym::Var(vs, a)) => {
                    // A variable's own space wins for generic accesses; a kernel parameter read
                    // with ld.param stays Param, a frame parameter stays FuncParam.
                    let sp = match (space, vs) {
                        (Space::Generic, s) => *s,
                        (Space::Param, Space::FuncParam) => Space::FuncParam,
                        (s, _) => s,
                    };
                    Ok((sp, Addr { base: Src::Imm(*a), off: *off }))
                }
                None => Err(self.err(i, format!("{}: unknown name {n}", i.opcode))),
            },
            Operand::Num(s) => {
                let v = parse_int(s).ok_or_else(|| self.err(i, format!("bad address {s}")))?;
                Ok((space, Addr { base: Src::Imm(v as u64), off: *off }))
            }
            _ => Err(self.err(i, "bad address")),
        }
    }

    fn regs_of(&self, i: &Instr, o: &Operand) -> Result<Vec<Reg>, ParseError> {
        match o {
            Operand::List(items) => items.iter().map(|x| self.reg(i, x)).collect(),
            _ => Ok(vec![self.reg(i, o)?]),
        }
    }

    fn srcs_of(&self, i: &Instr, o: &Operand, ty: Ty) -> Result<Vec<Src>, ParseError> {
        match o {
            Operand::List(items) => items.iter().map(|x| self.src(i, x, ty)).collect(),
            _ => Ok(vec![self.src(i, o, ty)?]),
        }
    }

    fn guard(&self, i: &Instr) -> Result<Option<(Reg, bool)>, ParseError> {
        match &i.guard {
            None => Ok(None),
            Some((p, neg)) => Ok(Some((self.reg(i, &Operand::Name(p.clone()))?, *neg))),
        }
    }

    fn label(&self, i: &Instr, o: &Operand) -> Result<u32, ParseError> {
        match o {
            Operand::Name(n) => self.labels.get(n).copied().ok_or_else(|| self.err(i, format!("unknown label {n}"))),
            _ => Err(self.err(i, "bra needs a label")),
        }
    }

    fn instr(&self, i: &Instr, in_entry: bool) -> Result<Inst, ParseError> {
        let parts: Vec<&str> = i.opcode.split('.').collect();
        let name = parts[0];
        if let Some(e) = &i.syntax_error {
            return Err(if KNOWN.contains(&name) { self.err(i, e.clone()) } else { self.unsupported(i) });
        }
        let mods: Vec<&str> = parts[1..].to_vec();
        let has = |m: &str| mods.contains(&m);
        let tys: Vec<Ty> = mods.iter().filter_map(|m| Ty::parse(m)).collect();
        let ty = tys.last().copied();
        let ops = &i.operands;
        let nops = |n: usize| -> Result<(), ParseError> {
            if ops.len() == n {
                Ok(())
            } else {
                Err(self.err(i, format!("{} takes {n} operands, got {}", i.opcode, ops.len())))
            }
        };
        let mut inst = Inst {
            kind: Kind::Nop,
            d: [0; 4],
            s: [Src::Imm(0); 4],
            guard: self.guard(i)?,
            class: Class::Other,
            line: i.line,
        };
        let rnd = mods.iter().find_map(|m| rnd_of(m));
        let ftz = has("ftz");
        let sat = has("sat") || has("satfinite");
        // Modifiers that do not change results in an interpreter.
        let unsupported_mods = ["cc", "shiftamt", "relu", "NaN", "xorsign", "oob"];
        if mods.iter().any(|m| unsupported_mods.contains(m)) {
            return Err(self.unsupported(i));
        }
        match name {
            "add" | "sub" | "mul" | "mad" | "div" | "rem" | "min" | "max" | "abs" | "neg" | "fma" | "rcp" | "sqrt"
            | "rsqrt" | "ex2" | "lg2" | "sin" | "cos" | "tanh" | "not" | "and" | "or" | "xor" | "cnot" | "shl"
            | "shr" | "popc" | "clz" | "brev" | "bfind" | "bfe" | "bfi" | "prmt" | "lop3" | "mul24" => {
                let ty = ty.ok_or_else(|| self.unsupported(i))?;
                let alu = if ty.is_float() {
                    let op = float_op(name, &mods).ok_or_else(|| self.unsupported(i))?;
                    if ty == Ty::F64 && rnd.is_some_and(|r| r != Rnd::Rn) {
                        return Err(self.unsupported(i));
                    }
                    if ty != Ty::F32 && ftz {
                        return Err(self.unsupported(i));
                    }
                    inst.class = match ty {
                        Ty::F32 => Class::Fp32,
                        Ty::F64 => Class::Fp64,
                        _ => Class::Fp16,
                    };
                    Alu::Float { op, ty, rnd: rnd.unwrap_or(Rnd::Rn), ftz, sat }
                } else {
                    let op = int_op(name, &mods).ok_or_else(|| self.unsupported(i))?;
                    inst.class = Class::Integer;
                    Alu::Int(op, ty)
                };
                let n = ops.len();
                if !(2..=5).contains(&n) {
                    return Err(self.err(i, format!("{}: wrong operand count {n}", i.opcode)));
                }
                inst.d[0] = self.reg(i, &ops[0])?;
                // Source types: shift amounts, bfe/bfi positions and prmt selectors are u32;
                // mad.wide's addend is the wide type.
                for (k, o) in ops[1..].iter().enumerate() {
                    let sty = match (name, k) {
                        ("shl" | "shr", 1) | ("bfe", 1 | 2) | ("bfi", 2 | 3) | ("lop3", 3) => Ty::U32,
                        ("mad", 2) if has("wide") => Ty::U64,
                        _ => ty,
                    };
                    inst.s[k] = self.src(i, o, sty)?;
                }
                inst.kind = Kind::Alu(alu);
            }
            "dp4a" | "dp2a" => {
                if tys.len() != 2 {
                    return Err(self.unsupported(i));
                }
                let (sa, sb) = (tys[0].signed(), tys[1].signed());
                let op = if name == "dp4a" { IntOp::Dp4a(sa, sb) } else { IntOp::Dp2a(has("hi"), sa, sb) };
                nops(4)?;
                inst.d[0] = self.reg(i, &ops[0])?;
                for k in 0..3 {
                    inst.s[k] = self.src(i, &ops[k + 1], Ty::B32)?;
                }
                inst.kind = Kind::Alu(Alu::Int(op, if sa || sb { Ty::S32 } else { Ty::U32 }));
                inst.class = Class::Integer;
            }
            "setp" => {
                let ty = ty.ok_or_else(|| self.unsupported(i))?;
                let cmp = mods.iter().find_map(|m| cmp_of(m)).ok_or_else(|| self.unsupported(i))?;
                let bop = mods.iter().find_map(|m| match *m {
                    "and" => Some(BoolOp::And),
                    "or" => Some(BoolOp::Or),
                    "xor" => Some(BoolOp::Xor),
                    _ => None,
                });
                let two = match &ops[0] {
                    Operand::Pair(p, q) => {
                        inst.d[0] = self.reg(i, &Operand::Name(p.clone()))?;
                        inst.d[1] = self.reg(i, &Operand::Name(q.clone()))?;
                        true
                    }
                    o => {
                        inst.d[0] = self.reg(i, o)?;
                        false
                    }
                };
                nops(if bop.is_some() { 4 } else { 3 })?;
                inst.s[0] = self.src(i, &ops[1], ty)?;
                inst.s[1] = self.src(i, &ops[2], ty)?;
                let mut neg_c = false;
                if bop.is_some() {
                    inst.s[2] = match &ops[3] {
                        Operand::Not(p) => {
                            neg_c = true;
                            Src::Reg(self.reg(i, &Operand::Name(p.clone()))?)
                        }
                        o => self.src(i, o, Ty::Pred)?,
                    };
                }
                inst.s[3] = Src::Imm(u64::from(neg_c));
                inst.kind = Kind::Setp { cmp, ty, ftz, bop, two };
                inst.class = Class::Compare;
            }
            "selp" => {
                let ty = ty.ok_or_else(|| self.unsupported(i))?;
                nops(4)?;
                inst.d[0] = self.reg(i, &ops[0])?;
                inst.s[0] = self.src(i, &ops[1], ty)?;
                inst.s[1] = self.src(i, &ops[2], ty)?;
                inst.s[2] = self.src(i, &ops[3], Ty::Pred)?;
                inst.kind = Kind::Alu(Alu::Selp(ty));
                inst.class = Class::Compare;
            }
            "mov" => {
                let ty = ty.ok_or_else(|| self.unsupported(i))?;
                nops(2)?;
                inst.class = Class::Move;
                match (&ops[0], &ops[1]) {
                    (Operand::List(ds), src) => {
                        let n = ds.len() as u8;
                        for (k, d) in ds.iter().enumerate() {
                            inst.d[k] = self.reg(i, d)?;
                        }
                        inst.s[0] = self.src(i, src, ty)?;
                        inst.kind = Kind::Unpack { n, bits: (ty.bits() / u32::from(n)) as u8 };
                    }
                    (d, Operand::List(ss)) => {
                        let n = ss.len() as u8;
                        inst.d[0] = self.reg(i, d)?;
                        let ety = match ty.bits() / u32::from(n) {
                            8 => Ty::B8,
                            16 => Ty::B16,
                            _ => Ty::B32,
                        };
                        for (k, s) in ss.iter().enumerate() {
                            inst.s[k] = self.src(i, s, ety)?;
                        }
                        inst.kind = Kind::Pack { n, bits: (ty.bits() / u32::from(n)) as u8 };
                    }
                    (d, Operand::Name(n)) if n.starts_with('%') && sreg(n).is_some() => {
                        inst.d[0] = self.reg(i, d)?;
                        inst.kind = Kind::Special(sreg(n).unwrap_or(SReg::LaneId));
                    }
                    (d, s) => {
                        inst.d[0] = self.reg(i, d)?;
                        inst.s[0] = self.src(i, s, ty)?;
                        inst.kind = Kind::Alu(Alu::Mov);
                    }
                }
            }
            "cvt" => {
                if tys.len() != 2 {
                    return Err(self.unsupported(i));
                }
                let (dst, src) = (tys[0], tys[1]);
                let irnd = mods.iter().find_map(|m| irnd_of(m));
                if irnd.is_some() && !src.is_float() {
                    return Err(self.unsupported(i));
                }
                if dst.is_float() && src.is_float() && dst.bits() < src.bits() && rnd.is_none() {
                    return Err(
                        self.err(i, format!("{}: a narrowing float conversion needs a rounding mode", i.opcode))
                    );
                }
                inst.d[0] = self.reg(i, &ops[0])?;
                if matches!(dst, Ty::F16x2 | Ty::Bf16x2) {
                    nops(3)?;
                    inst.s[1] = self.src(i, &ops[2], src)?;
                } else {
                    nops(2)?;
                }
                inst.s[0] = self.src(i, &ops[1], src)?;
                inst.kind = Kind::Alu(Alu::Cvt { dst, src, rnd, irnd, ftz, sat });
                inst.class = Class::Conversion;
            }
            "cvta" => {
                nops(2)?;
                let to = has("to");
                let space = mods.iter().find_map(|m| space_of(m)).ok_or_else(|| self.unsupported(i))?;
                inst.d[0] = self.reg(i, &ops[0])?;
                inst.s[0] = self.src(i, &ops[1], Ty::U64)?;
                inst.kind = Kind::Alu(Alu::Cvta { to, space });
                inst.class = Class::Integer;
            }
            "ld" | "ldu" | "st" => {
                let ty = ty.ok_or_else(|| self.unsupported(i))?;
                let space = mods.iter().find_map(|m| space_of(m)).unwrap_or(Space::Generic);
                let vec: u8 = if has("v4") {
                    4
                } else if has("v2") {
                    2
                } else if has("v8") {
                    return Err(self.unsupported(i));
                } else {
                    1
                };
                nops(2)?;
                let (space, addr) =
                    if name == "st" { self.addr(i, &ops[0], space)? } else { self.addr(i, &ops[1], space)? };
                if name == "st" {
                    let ss = self.srcs_of(i, &ops[1], ty)?;
                    if ss.len() != usize::from(vec) {
                        return Err(self.err(i, "vector width does not match the operand list"));
                    }
                    inst.s[..ss.len()].copy_from_slice(&ss);
                    inst.kind = Kind::St { space, ty, vec, addr };
                } else {
                    let ds = self.regs_of(i, &ops[0])?;
                    if ds.len() != usize::from(vec) {
                        return Err(self.err(i, "vector width does not match the operand list"));
                    }
                    inst.d[..ds.len()].copy_from_slice(&ds);
                    inst.kind = Kind::Ld { space, ty, vec, addr };
                }
                inst.class = mem_class(space, name == "st");
            }
            "atom" | "red" => {
                let ty = ty.ok_or_else(|| self.unsupported(i))?;
                if !matches!(ty.bits(), 32 | 64) {
                    return Err(self.unsupported(i));
                }
                let space = mods.iter().find_map(|m| space_of(m)).unwrap_or(Space::Generic);
                let op = mods
                    .iter()
                    .find_map(|m| match *m {
                        "add" => Some(AtomOp::Add),
                        "min" => Some(AtomOp::Min),
                        "max" => Some(AtomOp::Max),
                        "exch" => Some(AtomOp::Exch),
                        "cas" => Some(AtomOp::Cas),
                        "and" => Some(AtomOp::And),
                        "or" => Some(AtomOp::Or),
                        "xor" => Some(AtomOp::Xor),
                        "inc" => Some(AtomOp::Inc),
                        "dec" => Some(AtomOp::Dec),
                        _ => None,
                    })
                    .ok_or_else(|| self.unsupported(i))?;
                let red = name == "red";
                let first = usize::from(!red);
                let want = first + 2 + usize::from(op == AtomOp::Cas);
                nops(want)?;
                if !red {
                    inst.d[0] = self.reg(i, &ops[0])?;
                }
                let (space, addr) = self.addr(i, &ops[first], space)?;
                if !matches!(space, Space::Global | Space::Shared | Space::Generic) {
                    return Err(self.unsupported(i));
                }
                inst.s[0] = self.src(i, &ops[first + 1], ty)?;
                if op == AtomOp::Cas {
                    inst.s[1] = self.src(i, &ops[first + 2], ty)?;
                }
                inst.kind = Kind::Atom { space, op, ty, red, addr };
                inst.class = Class::Atomic;
            }
            "bra" | "brx" => {
                if name == "brx" {
                    return Err(self.unsupported(i));
                }
                nops(1)?;
                inst.kind = Kind::Bra(self.label(i, &ops[0])?);
                inst.class = Class::Control;
            }
            "ret" => {
                inst.kind = if in_entry { Kind::Exit } else { Kind::Ret };
                inst.class = Class::Control;
            }
            "exit" => {
                inst.kind = Kind::Exit;
                inst.class = Class::Control;
            }
            "call" => {
                inst.kind = self.call(i)?;
                inst.class = Class::Control;
            }
            "bar" | "barrier" => {
                if has("warp") {
                    nops(1)?;
                    inst.s[0] = self.src(i, &ops[0], Ty::B32)?;
                    inst.kind = Kind::BarWarp;
                    inst.class = Class::WarpCollective;
                } else {
                    if !(has("sync") || mods.is_empty() || mods == ["cta"]) || has("arrive") || has("red") {
                        return Err(self.unsupported(i));
                    }
                    if ops.is_empty() || ops.len() > 2 {
                        return Err(self.err(i, "bar.sync takes a barrier and an optional thread count"));
                    }
                    inst.s[0] = self.src(i, &ops[0], Ty::U32)?;
                    inst.s[1] = if ops.len() == 2 { self.src(i, &ops[1], Ty::U32)? } else { Src::Imm(0) };
                    inst.kind = Kind::Bar;
                    inst.class = Class::Barrier;
                }
            }
            "shfl" => {
                if !has("sync") {
                    return Err(self.unsupported(i));
                }
                let mode = mods
                    .iter()
                    .find_map(|m| match *m {
                        "up" => Some(ShflMode::Up),
                        "down" => Some(ShflMode::Down),
                        "bfly" => Some(ShflMode::Bfly),
                        "idx" => Some(ShflMode::Idx),
                        _ => None,
                    })
                    .ok_or_else(|| self.unsupported(i))?;
                nops(5)?;
                let pred = match &ops[0] {
                    Operand::Pair(d, p) => {
                        inst.d[0] = self.reg(i, &Operand::Name(d.clone()))?;
                        inst.d[1] = self.reg(i, &Operand::Name(p.clone()))?;
                        true
                    }
                    o => {
                        inst.d[0] = self.reg(i, o)?;
                        false
                    }
                };
                for k in 0..4 {
                    inst.s[k] = self.src(i, &ops[k + 1], Ty::B32)?;
                }
                inst.kind = Kind::Shfl { mode, pred };
                inst.class = Class::WarpCollective;
            }
            "vote" => {
                if !has("sync") {
                    return Err(self.unsupported(i));
                }
                let mode = mods
                    .iter()
                    .find_map(|m| match *m {
                        "all" => Some(VoteMode::All),
                        "any" => Some(VoteMode::Any),
                        "uni" => Some(VoteMode::Uni),
                        "ballot" => Some(VoteMode::Ballot),
                        _ => None,
                    })
                    .ok_or_else(|| self.unsupported(i))?;
                nops(3)?;
                inst.d[0] = self.reg(i, &ops[0])?;
                let neg = match &ops[1] {
                    Operand::Not(p) => {
                        inst.s[0] = Src::Reg(self.reg(i, &Operand::Name(p.clone()))?);
                        true
                    }
                    o => {
                        inst.s[0] = self.src(i, o, Ty::Pred)?;
                        false
                    }
                };
                inst.s[1] = self.src(i, &ops[2], Ty::B32)?;
                inst.kind = Kind::Vote { mode, neg };
                inst.class = Class::WarpCollective;
            }
            "activemask" => {
                nops(1)?;
                inst.d[0] = self.reg(i, &ops[0])?;
                inst.kind = Kind::Activemask;
                inst.class = Class::WarpCollective;
            }
            "mma" => {
                inst.kind = self.mma(i, &mods, &tys)?;
                inst.class = Class::Mma;
            }
            "membar" | "fence" | "nanosleep" | "prefetch" | "prefetchu" | "pmevent" => {
                inst.kind = Kind::Nop;
                inst.class = Class::Other;
            }
            "trap" => {
                inst.kind = Kind::Trap;
                inst.class = Class::Control;
            }
            _ => return Err(self.unsupported(i)),
        }
        Ok(inst)
    }

    fn call(&self, i: &Instr) -> Result<Kind, ParseError> {
        // call[.uni] [(rets),] func[, (args)];
        let ops = &i.operands;
        let (rets, fname, args) = match ops.as_slice() {
            [Operand::Name(f)] => (&[][..], f, &[][..]),
            [Operand::Name(f), Operand::List(a)] => (&[][..], f, a.as_slice()),
            [Operand::List(r), Operand::Name(f)] => (r.as_slice(), f, &[][..]),
            [Operand::List(r), Operand::Name(f), Operand::List(a)] => (r.as_slice(), f, a.as_slice()),
            _ => return Err(self.err(i, "unsupported: call form (indirect calls and prototypes)")),
        };
        let sig = self.funcs.get(fname).ok_or_else(|| self.err(i, format!("call of undefined function {fname}")))?;
        if args.len() != sig.params.len() || rets.len() != sig.rets.len() {
            return Err(self.err(i, format!("call of {fname}: argument count does not match its declaration")));
        }
        let copy = |caller: &Operand, callee: Slot, into_callee: bool| -> Result<Copy, ParseError> {
            let Operand::Name(n) = caller else { return Err(self.err(i, "call arguments must be names")) };
            match (self.syms.get(n), callee) {
                (Some(Sym::Reg(r)), Slot::Reg(cr)) => {
                    Ok(if into_callee { Copy::Reg(*r, cr) } else { Copy::Reg(cr, *r) })
                }
                (Some(Sym::Var(Space::FuncParam, at)), Slot::Frame(cat, size)) => Ok(if into_callee {
                    Copy::Param(*at as u32, cat, size)
                } else {
                    Copy::Param(cat, *at as u32, size)
                }),
                _ => Err(self.err(i, format!("call argument {n} does not match the callee's parameter kind"))),
            }
        };
        let args = args.iter().zip(&sig.params).map(|(a, s)| copy(a, *s, true)).collect::<Result<_, _>>()?;
        let rets = rets.iter().zip(&sig.rets).map(|(a, s)| copy(a, *s, false)).collect::<Result<_, _>>()?;
        Ok(Kind::Call { target: sig.entry, args, rets })
    }

    fn mma(&self, i: &Instr, mods: &[&str], tys: &[Ty]) -> Result<Kind, ParseError> {
        let shape = mods.iter().find(|m| m.starts_with('m')).copied().unwrap_or("");
        let kind = match (shape, tys) {
            ("m16n8k16", [Ty::F32, Ty::F16, Ty::F16, Ty::F32]) => MmaKind::F16,
            ("m16n8k16", [Ty::F32, Ty::Bf16, Ty::Bf16, Ty::F32]) => MmaKind::Bf16,
            ("m16n8k32", [Ty::S32, Ty::S8, Ty::S8, Ty::S32]) => MmaKind::S8 { sat: mods.contains(&"satfinite") },
            _ => return Err(self.unsupported(i)),
        };
        if !mods.contains(&"row") || !mods.contains(&"col") || !mods.contains(&"sync") || !mods.contains(&"aligned") {
            return Err(self.unsupported(i));
        }
        let [d, a, b, c] = i.operands.as_slice() else {
            return Err(self.err(i, "mma.sync takes d, a, b, c"));
        };
        let d = self.regs_of(i, d)?;
        let a = self.srcs_of(i, a, Ty::B32)?;
        let b = self.srcs_of(i, b, Ty::B32)?;
        let c = self.srcs_of(i, c, Ty::B32)?;
        let (Ok(d), Ok(a), Ok(b), Ok(c)) = (d.try_into(), a.try_into(), b.try_into(), c.try_into()) else {
            return Err(self.err(i, "mma.sync fragments: d and c take 4 registers, a 4, b 2"));
        };
        Ok(Kind::Mma(Box::new(MmaOperands { kind, d, a, b, c })))
    }
}

/// Opcodes the decoder knows (with some modifier combinations).
const KNOWN: &[&str] = &[
    "add",
    "sub",
    "mul",
    "mad",
    "div",
    "rem",
    "min",
    "max",
    "abs",
    "neg",
    "fma",
    "rcp",
    "sqrt",
    "rsqrt",
    "ex2",
    "lg2",
    "sin",
    "cos",
    "tanh",
    "not",
    "and",
    "or",
    "xor",
    "cnot",
    "shl",
    "shr",
    "popc",
    "clz",
    "brev",
    "bfind",
    "bfe",
    "bfi",
    "prmt",
    "lop3",
    "mul24",
    "dp4a",
    "dp2a",
    "setp",
    "selp",
    "mov",
    "cvt",
    "cvta",
    "ld",
    "ldu",
    "st",
    "atom",
    "red",
    "bra",
    "ret",
    "exit",
    "call",
    "bar",
    "barrier",
    "shfl",
    "vote",
    "activemask",
    "mma",
    "membar",
    "fence",
    "nanosleep",
    "prefetch",
    "prefetchu",
    "pmevent",
    "trap",
];

fn mem_class(space: Space, store: bool) -> Class {
    match space {
        Space::Global | Space::Generic => {
            if store {
                Class::StoreGlobal
            } else {
                Class::LoadGlobal
            }
        }
        Space::Shared => Class::Shared,
        _ => Class::LocalParamConst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn dec(body: &str) -> Result<Program, ParseError> {
        let src = format!(
            ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry k(.param .u64 p)\n{{\n.reg .b32 %r<4>;\n.reg .pred %p<2>;\n{body}\n}}\n"
        );
        decode(&parse("t.ptx", &src)?)
    }

    #[test]
    fn registers_become_indices_and_immediates_bit_patterns() {
        let p = dec("add.s32 %r1, %r2, -1;\nret;").unwrap();
        assert_eq!(p.code[0].kind, Kind::Alu(Alu::Int(IntOp::Add, Ty::S32)));
        assert_eq!(p.code[0].d[0], 1);
        assert_eq!(p.code[0].s[0], Src::Reg(2));
        assert_eq!(p.code[0].s[1], Src::Imm(u64::MAX));
        assert_eq!(p.code[1].kind, Kind::Exit);
    }

    #[test]
    fn an_unsupported_instruction_names_itself_and_its_line() {
        let e = dec("ret;\ntex.2d.v4.f32.f32 {%r0, %r1, %r2, %r3}, [t, {%r0, %r1}];").unwrap_err();
        assert_eq!(e.to_string(), "unsupported: tex.2d.v4.f32.f32 at t.ptx:9");
        let e = dec("add.cc.u32 %r1, %r2, %r3;").unwrap_err();
        assert_eq!(e.to_string(), "unsupported: add.cc.u32 at t.ptx:8");
    }

    #[test]
    fn a_kernel_parameter_read_resolves_to_its_offset_in_the_parameter_space() {
        let p = dec("ld.param.u32 %r1, [p+4];\nret;").unwrap();
        assert_eq!(
            p.code[0].kind,
            Kind::Ld { space: Space::Param, ty: Ty::U32, vec: 1, addr: Addr { base: Src::Imm(0), off: 4 } }
        );
    }
}
