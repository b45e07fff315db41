//! The decoded, executable form of an instruction: registers are indices into the warp's register
//! file, immediates are bit patterns, labels are instruction indices, and every type and modifier
//! is an enum, so the hot loop never looks at a string.

use crate::round::Rnd;
use crate::ty::Ty;

/// A register: an index into the warp's register file (`index * 32 + lane`).
pub type Reg = u32;

/// A source operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A register.
    Reg(Reg),
    /// An immediate, already converted to the operand's type.
    Imm(u64),
}

impl Default for Src {
    fn default() -> Self {
        Src::Imm(0)
    }
}

/// A PTX state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// `.global`.
    Global,
    /// `.shared` (per block).
    Shared,
    /// `.local` (per thread).
    Local,
    /// Kernel parameters (read-only, per launch).
    Param,
    /// `.param` variables of device functions and call sites (per thread).
    FuncParam,
    /// `.const`.
    Const,
    /// A generic address: global, or inside the shared or local window.
    Generic,
}

/// Integer operations; signedness and width come from the instruction's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum IntOp {
    Add,
    AddSat,
    Sub,
    SubSat,
    MulLo,
    MulHi,
    MulWide,
    MadLo,
    MadHi,
    MadWide,
    Mul24Lo,
    Div,
    Rem,
    Min,
    Max,
    Abs,
    Neg,
    Not,
    And,
    Or,
    Xor,
    CNot,
    Shl,
    Shr,
    Popc,
    Clz,
    Brev,
    Bfind,
    Bfe,
    Bfi,
    /// `prmt.b32` with its mode (0 = default, 1 = f4e, 2 = b4e, 3 = rc8, 4 = ecl, 5 = ecr, 6 = rc16).
    Prmt(u8),
    /// `lop3.b32 d, a, b, c, lut`.
    Lop3,
    /// `dp4a.atype.btype`: signedness of a and b.
    Dp4a(bool, bool),
    /// `dp2a.lo/.hi.atype.btype`: hi half of b, signedness of a and b.
    Dp2a(bool, bool, bool),
}

/// Floating-point operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FOp {
    Add,
    Sub,
    Mul,
    Fma,
    Div,
    DivApprox,
    Rcp,
    Sqrt,
    Rsqrt,
    Ex2,
    Lg2,
    Sin,
    Cos,
    Tanh,
    Min,
    Max,
    Abs,
    Neg,
}

/// A per-lane pure function of up to four sources into one destination.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Alu {
    /// Copy (`mov`, and `cvt` between same-width bit types).
    Mov,
    /// Integer operation on `ty`.
    Int(IntOp, Ty),
    /// Floating operation on `ty` (f32, f64, f16, f16x2, bf16, bf16x2).
    Float {
        /// Operation.
        op: FOp,
        /// Type.
        ty: Ty,
        /// Rounding.
        rnd: Rnd,
        /// Flush subnormal inputs and results to zero.
        ftz: bool,
        /// Clamp the result to [0, 1].
        sat: bool,
    },
    /// `cvt.dst.src` with its rounding and saturation.
    Cvt {
        /// Destination type.
        dst: Ty,
        /// Source type.
        src: Ty,
        /// Float rounding (`.rn/.rz/.rm/.rp`).
        rnd: Option<Rnd>,
        /// Integer rounding (`.rni/.rzi/.rmi/.rpi`).
        irnd: Option<Rnd>,
        /// `.ftz`.
        ftz: bool,
        /// `.sat`.
        sat: bool,
    },
    /// `selp.ty d, a, b, p`.
    Selp(Ty),
    /// `cvta.space` (`to` = false) or `cvta.to.space` (`to` = true).
    Cvta {
        /// Direction: generic → space.
        to: bool,
        /// The non-generic space.
        space: Space,
    },
}

/// Comparison of `setp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Lo,
    Ls,
    Hi,
    Hs,
    Equ,
    Neu,
    Ltu,
    Leu,
    Gtu,
    Geu,
    Num,
    Nan,
}

/// Boolean combination of setp with a third predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BoolOp {
    And,
    Or,
    Xor,
}

/// Special registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SReg {
    Tid(u8),
    Ntid(u8),
    Ctaid(u8),
    Nctaid(u8),
    LaneId,
    WarpId,
    NWarpId,
    LaneMaskEq,
    LaneMaskLt,
    LaneMaskLe,
    LaneMaskGt,
    LaneMaskGe,
    Clock,
    Clock64,
    SmId,
    GridId,
}

/// `shfl.sync` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ShflMode {
    Up,
    Down,
    Bfly,
    Idx,
}

/// `vote.sync` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum VoteMode {
    All,
    Any,
    Uni,
    Ballot,
}

/// `atom`/`red` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AtomOp {
    Add,
    Min,
    Max,
    Exch,
    Cas,
    And,
    Or,
    Xor,
    Inc,
    Dec,
}

/// `mma.sync` shapes and types the interpreter implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmaKind {
    /// m16n8k16, f16 × f16 + f32 → f32.
    F16,
    /// m16n8k16, bf16 × bf16 + f32 → f32.
    Bf16,
    /// m16n8k32, s8 × s8 + s32 → s32 (`satfinite` clamps).
    S8 {
        /// `.satfinite`.
        sat: bool,
    },
}

/// `mma.sync` operands: d[4], a[4], b[2], c[4].
#[derive(Clone, Debug, PartialEq)]
pub struct MmaOperands {
    /// Kind.
    pub kind: MmaKind,
    /// Accumulator out.
    pub d: [Reg; 4],
    /// A fragment.
    pub a: [Src; 4],
    /// B fragment.
    pub b: [Src; 2],
    /// Accumulator in.
    pub c: [Src; 4],
}

/// A memory operand: `[base + off]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addr {
    /// Register or absolute address.
    pub base: Src,
    /// Byte offset.
    pub off: i64,
}

/// What an instruction does.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `d[0] = alu(s[0], s[1], s[2], s[3])`.
    Alu(Alu),
    /// `setp.cmp[.bop].ty d0[|d1], s0, s1[, s2]`.
    Setp {
        /// Comparison.
        cmp: Cmp,
        /// Operand type.
        ty: Ty,
        /// `.ftz`.
        ftz: bool,
        /// Combination with s2.
        bop: Option<BoolOp>,
        /// Whether d1 (the complement) is written.
        two: bool,
    },
    /// `mov d, %special`.
    Special(SReg),
    /// `mov.bN d, {s0..s(n-1)}`: packs n elements of `bits` each.
    Pack {
        /// Elements.
        n: u8,
        /// Bits per element.
        bits: u8,
    },
    /// `mov.bN {d0..d(n-1)}, s0`: unpacks.
    Unpack {
        /// Elements.
        n: u8,
        /// Bits per element.
        bits: u8,
    },
    /// `ld.space.vN.ty {d..}, [addr]`.
    Ld {
        /// State space.
        space: Space,
        /// Element type.
        ty: Ty,
        /// Vector length (1, 2, 4).
        vec: u8,
        /// Address.
        addr: Addr,
    },
    /// `st.space.vN.ty [addr], {s..}`.
    St {
        /// State space.
        space: Space,
        /// Element type.
        ty: Ty,
        /// Vector length.
        vec: u8,
        /// Address.
        addr: Addr,
    },
    /// `atom.space.op.ty d, [addr], s0[, s1]` (`red` has no d).
    Atom {
        /// State space.
        space: Space,
        /// Operation.
        op: AtomOp,
        /// Type.
        ty: Ty,
        /// `red` (no result).
        red: bool,
        /// Address.
        addr: Addr,
    },
    /// `bra target`.
    Bra(u32),
    /// `call`: jump to function `func`; copy arguments (`args`: caller slot → callee slot).
    Call {
        /// Entry instruction index of the callee.
        target: u32,
        /// Argument copies, before the jump.
        args: Vec<Copy>,
        /// Return-value copies, after the return.
        rets: Vec<Copy>,
    },
    /// `ret` (from a kernel: the thread exits).
    Ret,
    /// `exit`.
    Exit,
    /// `bar.sync id[, count]` (s0 = id, s1 = count or Imm(0) for all).
    Bar,
    /// `bar.warp.sync mask` (s0).
    BarWarp,
    /// `shfl.sync.mode.b32 d0[|d1], s0 (a), s1 (b), s2 (c), s3 (mask)`.
    Shfl {
        /// Mode.
        mode: ShflMode,
        /// Whether d1 (the predicate) is written.
        pred: bool,
    },
    /// `vote.sync.mode d0, s0 (pred, possibly negated by `neg`), s1 (mask)`.
    Vote {
        /// Mode.
        mode: VoteMode,
        /// `!p`.
        neg: bool,
    },
    /// `activemask.b32 d0`.
    Activemask,
    /// `mma.sync.aligned...`.
    Mma(Box<MmaOperands>),
    /// `membar`, `fence`, `nanosleep`, `prefetch`: no effect on an interpreter's results.
    Nop,
    /// `trap`.
    Trap,
}

/// One copy of a call's argument or return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    /// Register to register.
    Reg(Reg, Reg),
    /// Bytes between per-thread `.param` slots: (from offset, to offset, bytes).
    Param(u32, u32, u32),
}

/// Instruction classes for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Class {
    Integer,
    Fp32,
    Fp64,
    Fp16,
    Conversion,
    Move,
    Compare,
    LoadGlobal,
    StoreGlobal,
    Shared,
    LocalParamConst,
    Atomic,
    Control,
    Barrier,
    WarpCollective,
    Mma,
    Other,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 17] = [
        Class::Integer,
        Class::Fp32,
        Class::Fp64,
        Class::Fp16,
        Class::Conversion,
        Class::Move,
        Class::Compare,
        Class::LoadGlobal,
        Class::StoreGlobal,
        Class::Shared,
        Class::LocalParamConst,
        Class::Atomic,
        Class::Control,
        Class::Barrier,
        Class::WarpCollective,
        Class::Mma,
        Class::Other,
    ];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Integer => "integer",
            Class::Fp32 => "fp32",
            Class::Fp64 => "fp64",
            Class::Fp16 => "fp16/bf16",
            Class::Conversion => "conversion",
            Class::Move => "move",
            Class::Compare => "compare/select",
            Class::LoadGlobal => "global load",
            Class::StoreGlobal => "global store",
            Class::Shared => "shared memory",
            Class::LocalParamConst => "local/param/const",
            Class::Atomic => "atomic",
            Class::Control => "control",
            Class::Barrier => "barrier",
            Class::WarpCollective => "warp collective",
            Class::Mma => "mma",
            Class::Other => "other",
        }
    }
}

/// A decoded instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct Inst {
    /// What it does.
    pub kind: Kind,
    /// Destinations.
    pub d: [Reg; 4],
    /// Sources.
    pub s: [Src; 4],
    /// `@p` / `@!p`: predicate register and negation.
    pub guard: Option<(Reg, bool)>,
    /// Counter class.
    pub class: Class,
    /// Source line.
    pub line: u32,
}
