//! One warp: 32 lanes, each with its own program counter (independent thread scheduling).
//!
//! Scheduling: the lanes at the smallest program counter run together, one instruction for all
//! of them at a time, until they branch apart, reach a collective or a barrier, or catch up with
//! another group (then they merge). This keeps lanes converged wherever the code lets them —
//! loops reconverge at their exit, if/else at the join — so per-warp counters (coalescing, bank
//! conflicts, divergence) mean what they mean on a GPU, while a lane that waits at a collective or
//! barrier never blocks the others from reaching it.

use crate::alu;
use crate::collective::{mma, shfl_source};
use crate::counters::Counters;
use crate::error::{ExecError, Fault, Site};
use crate::inst::{Copy, Inst, Kind, SReg, Space, Src, VoteMode};
use crate::memory::{self, Generic, Global, Shared, atom_value};
use crate::ops_cmp::compare;
use crate::program::{KernelInfo, Program};

/// What is fixed for a whole launch.
pub(crate) struct Launch<'a> {
    pub prog: &'a Program,
    pub kernel: &'a KernelInfo,
    pub global: &'a Global,
    pub params: &'a [u8],
    pub ntid: [u32; 3],
    pub nctaid: [u32; 3],
    /// Warp-level instructions one warp may execute before the launch is declared runaway.
    pub step_limit: u64,
}

/// What one block owns.
pub(crate) struct BlockState {
    pub ctaid: [u32; 3],
    pub shared: Shared,
    pub counters: Counters,
    pub bar_arrived: [u32; 16],
    pub bar_expected: [u32; 16],
    pub nthreads: u32,
}

/// A lane's scheduling state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LaneState {
    Run,
    Exited,
    /// Waiting at barrier `id`.
    Bar(u8),
    /// Waiting at a warp collective (at its pc) for the rest of its member mask.
    Coll,
}

pub(crate) struct Warp {
    pub id: u32,
    /// Lanes that exist (the last warp of a block may be partial).
    pub valid: u32,
    pub regs: Vec<u64>,
    pub pc: [u32; 32],
    pub state: [LaneState; 32],
    pub coll_mask: [u32; 32],
    pub stack: Vec<Vec<u32>>,
    pub local: Vec<u8>,
    pub frame: Vec<u8>,
    pub steps: u64,
}

#[inline(always)]
fn rd(regs: &[u64], s: Src, lane: usize) -> u64 {
    match s {
        Src::Reg(r) => regs[r as usize * 32 + lane],
        Src::Imm(v) => v,
    }
}

/// Iterates the set bits of a lane mask.
#[inline(always)]
fn lanes(mut m: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if m == 0 {
            None
        } else {
            let l = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(l)
        }
    })
}

impl Warp {
    pub fn new(prog: &Program) -> Self {
        Self {
            id: 0,
            valid: 0,
            regs: vec![0; prog.nregs as usize * 32],
            pc: [0; 32],
            state: [LaneState::Exited; 32],
            coll_mask: [0; 32],
            stack: vec![Vec::new(); 32],
            local: vec![0; prog.local_bytes as usize * 32],
            frame: vec![0; prog.frame_bytes as usize * 32],
            steps: 0,
        }
    }

    /// Prepares the warp for a new block: `valid` lanes exist, all at `entry`.
    pub fn reset(&mut self, id: u32, valid: u32, entry: u32) {
        self.id = id;
        self.valid = valid;
        self.regs.fill(0);
        self.local.fill(0);
        self.frame.fill(0);
        for l in 0..32 {
            self.pc[l] = entry;
            self.state[l] = if valid >> l & 1 == 1 { LaneState::Run } else { LaneState::Exited };
            self.stack[l].clear();
        }
        self.steps = 0;
    }

    pub fn mask_of(&self, s: LaneState) -> u32 {
        (0..32).filter(|&l| self.state[l] == s).fold(0, |m, l| m | 1 << l)
    }

    pub fn site(&self, l: &Launch, b: &BlockState, pc: u32, lane: usize) -> Box<Site> {
        let t = self.id * 32 + lane as u32;
        let [nx, ny, _] = l.ntid;
        Box::new(Site {
            kernel: l.kernel.name.clone(),
            file: l.prog.file.clone(),
            line: l.prog.code.get(pc as usize).map_or(0, |i| i.line),
            inst: l.prog.opcodes.get(pc as usize).cloned().unwrap_or_default(),
            thread: [t % nx, (t / nx) % ny, t / (nx * ny)],
            block: b.ctaid,
        })
    }

    /// Runs until no lane can make progress without the block (all exited or waiting).
    pub fn run(&mut self, l: &Launch, b: &mut BlockState) -> Result<(), ExecError> {
        loop {
            let (mut pc, mut group, mut next_other) = (u32::MAX, 0u32, u32::MAX);
            for lane in 0..32 {
                if self.state[lane] != LaneState::Run {
                    continue;
                }
                let p = self.pc[lane];
                if p < pc {
                    next_other = next_other.min(pc);
                    pc = p;
                    group = 1 << lane;
                } else if p == pc {
                    group |= 1 << lane;
                } else {
                    next_other = next_other.min(p);
                }
            }
            if group == 0 {
                return Ok(());
            }
            self.run_group(l, b, pc, group, next_other)?;
        }
    }

    fn set_pc(&mut self, group: u32, pc: u32) {
        for lane in lanes(group) {
            self.pc[lane] = pc;
        }
    }

    /// Runs the lanes of `group`, all at `pc`, until they must be rescheduled.
    fn run_group(
        &mut self,
        l: &Launch,
        b: &mut BlockState,
        mut pc: u32,
        mut group: u32,
        next_other: u32,
    ) -> Result<(), ExecError> {
        let code = &l.prog.code;
        loop {
            let Some(inst) = code.get(pc as usize) else {
                return Err(Fault::Other("ran past the end of the function (missing ret)".into()).at(self.site(
                    l,
                    b,
                    pc.saturating_sub(1),
                    lanes(group).next().unwrap_or(0),
                )));
            };
            self.steps += 1;
            if self.steps > l.step_limit {
                return Err(Fault::Other(format!("runaway warp: more than {} instructions", l.step_limit))
                    .at(self.site(l, b, pc, lanes(group).next().unwrap_or(0))));
            }
            let exec = match inst.guard {
                None => group,
                Some((p, neg)) => {
                    let mut m = 0;
                    for lane in lanes(group) {
                        if (self.regs[p as usize * 32 + lane] & 1 != 0) != neg {
                            m |= 1 << lane;
                        }
                    }
                    m
                }
            };
            b.counters.issue(inst.class, exec.count_ones());
            match &inst.kind {
                Kind::Alu(a) => {
                    alu::run_lanes(a, &mut self.regs, inst.d[0], inst.s, exec);
                    pc += 1;
                }
                Kind::Setp { cmp, ty, ftz, bop, two } => {
                    let neg_c = inst.s[3] == Src::Imm(1);
                    for lane in lanes(exec) {
                        let t =
                            compare(*cmp, *ty, *ftz, rd(&self.regs, inst.s[0], lane), rd(&self.regs, inst.s[1], lane));
                        let c = (rd(&self.regs, inst.s[2], lane) & 1 != 0) != neg_c;
                        let comb = |x: bool| match bop {
                            None => x,
                            Some(crate::inst::BoolOp::And) => x && c,
                            Some(crate::inst::BoolOp::Or) => x || c,
                            Some(crate::inst::BoolOp::Xor) => x ^ c,
                        };
                        self.regs[inst.d[0] as usize * 32 + lane] = u64::from(comb(t));
                        if *two {
                            self.regs[inst.d[1] as usize * 32 + lane] = u64::from(comb(!t));
                        }
                    }
                    pc += 1;
                }
                Kind::Special(s) => {
                    for lane in lanes(exec) {
                        let v = self.special(l, b, *s, lane);
                        self.regs[inst.d[0] as usize * 32 + lane] = v;
                    }
                    pc += 1;
                }
                Kind::Pack { n, bits } => {
                    let m = if *bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                    for lane in lanes(exec) {
                        let mut v = 0u64;
                        for k in 0..usize::from(*n) {
                            v |= (rd(&self.regs, inst.s[k], lane) & m) << (k as u32 * u32::from(*bits));
                        }
                        self.regs[inst.d[0] as usize * 32 + lane] = v;
                    }
                    pc += 1;
                }
                Kind::Unpack { n, bits } => {
                    let m = if *bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                    for lane in lanes(exec) {
                        let v = rd(&self.regs, inst.s[0], lane);
                        for k in 0..usize::from(*n) {
                            self.regs[inst.d[k] as usize * 32 + lane] = (v >> (k as u32 * u32::from(*bits))) & m;
                        }
                    }
                    pc += 1;
                }
                Kind::Ld { .. } | Kind::St { .. } | Kind::Atom { .. } => {
                    self.memory(l, b, inst, pc, exec)?;
                    pc += 1;
                }
                Kind::Bra(target) => {
                    b.counters.branches += 1;
                    if exec == group {
                        pc = *target;
                    } else if exec == 0 {
                        pc += 1;
                    } else {
                        b.counters.divergent_branches += 1;
                        self.set_pc(exec, *target);
                        self.set_pc(group & !exec, pc + 1);
                        return Ok(());
                    }
                }
                Kind::Exit => {
                    for lane in lanes(exec) {
                        self.state[lane] = LaneState::Exited;
                    }
                    group &= !exec;
                    if group == 0 {
                        return Ok(());
                    }
                    pc += 1;
                }
                Kind::Ret => {
                    for lane in lanes(exec) {
                        match self.stack[lane].pop() {
                            None => self.state[lane] = LaneState::Exited,
                            Some(ret) => {
                                if let Some(Kind::Call { rets, .. }) =
                                    code.get(ret as usize - 1).map(|i: &Inst| &i.kind)
                                {
                                    self.copy(rets, lane);
                                }
                                self.pc[lane] = ret;
                            }
                        }
                    }
                    self.set_pc(group & !exec, pc + 1);
                    return Ok(());
                }
                Kind::Call { target, args, .. } => {
                    for lane in lanes(exec) {
                        if self.stack[lane].len() >= 64 {
                            return Err(
                                Fault::Other("call depth exceeds 64 (recursion?)".into()).at(self.site(l, b, pc, lane))
                            );
                        }
                        self.copy(args, lane);
                        self.stack[lane].push(pc + 1);
                    }
                    if exec == group {
                        pc = *target;
                    } else {
                        self.set_pc(exec, *target);
                        self.set_pc(group & !exec, pc + 1);
                        return Ok(());
                    }
                }
                Kind::Bar => {
                    for lane in lanes(exec) {
                        let id = rd(&self.regs, inst.s[0], lane);
                        let count = rd(&self.regs, inst.s[1], lane) as u32;
                        if id >= 16 {
                            return Err(
                                Fault::Other(format!("barrier {id} out of range 0..15")).at(self.site(l, b, pc, lane))
                            );
                        }
                        let expected = if count == 0 { b.nthreads } else { count };
                        let i = id as usize;
                        if b.bar_arrived[i] == 0 {
                            b.bar_expected[i] = expected;
                        } else if b.bar_expected[i] != expected {
                            return Err(ExecError::Barrier {
                                site: self.site(l, b, pc, lane),
                                what: format!(
                                    "barrier {id}: thread count {expected} differs from {} given by others",
                                    b.bar_expected[i]
                                ),
                            });
                        }
                        b.bar_arrived[i] += 1;
                        self.state[lane] = LaneState::Bar(id as u8);
                        self.pc[lane] = pc + 1;
                    }
                    self.set_pc(group & !exec, pc + 1);
                    return Ok(());
                }
                Kind::Activemask => {
                    for lane in lanes(exec) {
                        self.regs[inst.d[0] as usize * 32 + lane] = u64::from(group);
                    }
                    pc += 1;
                }
                Kind::Shfl { .. } | Kind::Vote { .. } | Kind::BarWarp | Kind::Mma(_) => {
                    self.set_pc(group & !exec, pc + 1);
                    self.collective(l, b, inst, pc, exec)?;
                    return Ok(());
                }
                Kind::Nop => pc += 1,
                Kind::Trap => {
                    if let Some(lane) = lanes(exec).next() {
                        return Err(Fault::Other("trap".into()).at(self.site(l, b, pc, lane)));
                    }
                    pc += 1;
                }
            }
            if pc >= next_other {
                self.set_pc(group, pc);
                return Ok(());
            }
        }
    }

    fn copy(&mut self, copies: &[Copy], lane: usize) {
        let fb = self.frame.len() / 32;
        for c in copies {
            match *c {
                Copy::Reg(from, to) => self.regs[to as usize * 32 + lane] = self.regs[from as usize * 32 + lane],
                Copy::Param(from, to, n) => {
                    let base = lane * fb;
                    self.frame.copy_within(base + from as usize..base + (from + n) as usize, base + to as usize);
                }
            }
        }
    }

    fn special(&self, l: &Launch, b: &BlockState, s: SReg, lane: usize) -> u64 {
        let t = self.id * 32 + lane as u32;
        let [nx, ny, _] = l.ntid;
        let lane32 = lane as u32;
        u64::from(match s {
            SReg::Tid(0) => t % nx,
            SReg::Tid(1) => (t / nx) % ny,
            SReg::Tid(_) => t / (nx * ny),
            SReg::Ntid(d) => l.ntid[usize::from(d)],
            SReg::Ctaid(d) => b.ctaid[usize::from(d)],
            SReg::Nctaid(d) => l.nctaid[usize::from(d)],
            SReg::LaneId => lane32,
            SReg::WarpId => self.id,
            SReg::NWarpId => b.nthreads.div_ceil(32),
            SReg::LaneMaskEq => 1 << lane32,
            SReg::LaneMaskLt => (1u32 << lane32) - 1,
            SReg::LaneMaskLe => ((1u64 << (lane32 + 1)) - 1) as u32,
            SReg::LaneMaskGt => !(((1u64 << (lane32 + 1)) - 1) as u32),
            SReg::LaneMaskGe => !((1u32 << lane32) - 1),
            SReg::Clock => self.steps as u32,
            SReg::Clock64 => return self.steps,
            SReg::SmId | SReg::GridId => 0,
        })
    }

    /// ld / st / atom / red for the lanes of `exec`.
    fn memory(&mut self, l: &Launch, b: &mut BlockState, inst: &Inst, pc: u32, exec: u32) -> Result<(), ExecError> {
        let (space, ty, vec, addr, kind, atom) = match &inst.kind {
            Kind::Ld { space, ty, vec, addr } => (*space, *ty, *vec, *addr, 0, None),
            Kind::St { space, ty, vec, addr } => (*space, *ty, *vec, *addr, 1, None),
            Kind::Atom { space, ty, addr, op, red } => (*space, *ty, 1, *addr, 2, Some((*op, *red))),
            _ => return Ok(()),
        };
        let esz = ty.bytes();
        let total = esz * u32::from(vec);
        let mut gacc = [(0u64, 0u32); 32];
        let mut sacc = [(0u64, 0u32); 32];
        let (mut ng, mut ns) = (0, 0);
        let lb = l.prog.local_bytes as usize;
        let fb = l.prog.frame_bytes as usize;
        for lane in lanes(exec) {
            let a = rd(&self.regs, addr.base, lane).wrapping_add(addr.off as u64);
            if !a.is_multiple_of(u64::from(total)) {
                let what = ["load", "store", "atomic"][kind];
                return Err(ExecError::Memory {
                    site: self.site(l, b, pc, lane),
                    what: format!("misaligned {what} of {total} bytes at {a:#x} (needs {total}-byte alignment)"),
                });
            }
            let (sp, off) = match space {
                Space::Generic => match memory::generic(a) {
                    Generic::Global(x) => (Space::Global, x),
                    Generic::Shared(x) => (Space::Shared, x),
                    Generic::Local(x) => (Space::Local, x),
                },
                s => (s, a),
            };
            match sp {
                Space::Global => {
                    gacc[ng] = (off, total);
                    ng += 1;
                }
                Space::Shared => {
                    sacc[ns] = (off, total);
                    ns += 1;
                }
                _ => {}
            }
            if let Some((op, red)) = atom {
                let (x, y) = (rd(&self.regs, inst.s[0], lane), rd(&self.regs, inst.s[1], lane));
                let old = match sp {
                    Space::Global => l.global.atomic(off, op, ty, x, y),
                    Space::Shared => b.shared.load(off, esz).and_then(|old| {
                        b.shared.store(off, esz, atom_value(op, ty, old, x, y))?;
                        Ok(old)
                    }),
                    _ => Err(Fault::Memory(format!("atomic on {sp:?} memory"))),
                }
                .map_err(|f| f.at(self.site(l, b, pc, lane)))?;
                if !red {
                    self.regs[inst.d[0] as usize * 32 + lane] = old;
                }
                continue;
            }
            for k in 0..u32::from(vec) {
                let ea = off + u64::from(k * esz);
                if kind == 0 {
                    let v = match sp {
                        Space::Global => l.global.load(ea, esz),
                        Space::Shared => b.shared.load(ea, esz),
                        Space::Local => memory::load_bytes(&self.local[lane * lb..(lane + 1) * lb], ea, esz, "local"),
                        Space::Param => memory::load_bytes(l.params, ea, esz, "param"),
                        Space::FuncParam => {
                            memory::load_bytes(&self.frame[lane * fb..(lane + 1) * fb], ea, esz, "param")
                        }
                        Space::Const => memory::load_bytes(&l.prog.const_bytes, ea, esz, "const"),
                        Space::Generic => Err(Fault::Memory("unresolved generic address".into())),
                    }
                    .map_err(|f| f.at(self.site(l, b, pc, lane)))?;
                    self.regs[inst.d[k as usize] as usize * 32 + lane] = ty.extend(v);
                } else {
                    let v = rd(&self.regs, inst.s[k as usize], lane);
                    match sp {
                        Space::Global => l.global.store(ea, esz, v),
                        Space::Shared => b.shared.store(ea, esz, v),
                        Space::Local => {
                            memory::store_bytes(&mut self.local[lane * lb..(lane + 1) * lb], ea, esz, v, "local")
                        }
                        Space::FuncParam => {
                            memory::store_bytes(&mut self.frame[lane * fb..(lane + 1) * fb], ea, esz, v, "param")
                        }
                        Space::Param | Space::Const => Err(Fault::Memory(format!("store to read-only {sp:?} space"))),
                        Space::Generic => Err(Fault::Memory("unresolved generic address".into())),
                    }
                    .map_err(|f| f.at(self.site(l, b, pc, lane)))?;
                }
            }
        }
        b.counters.global_access(pc as usize, &mut gacc[..ng]);
        b.counters.shared_access(&sacc[..ns]);
        Ok(())
    }

    /// A warp collective: park the arriving lanes until every member of the mask is here, then
    /// execute it for all members at once.
    fn collective(&mut self, l: &Launch, b: &mut BlockState, inst: &Inst, pc: u32, exec: u32) -> Result<(), ExecError> {
        if exec == 0 {
            return Ok(());
        }
        let first = lanes(exec).next().unwrap_or(0);
        let coll_err = |w: &Warp, b: &BlockState, lane: usize, what: String| ExecError::Collective {
            site: w.site(l, b, pc, lane),
            what,
        };
        let mask_src = match &inst.kind {
            Kind::Shfl { .. } => Some(inst.s[3]),
            Kind::Vote { .. } => Some(inst.s[1]),
            Kind::BarWarp => Some(inst.s[0]),
            _ => None,
        };
        let mask = match mask_src {
            Some(s) => rd(&self.regs, s, first) as u32,
            None => u32::MAX,
        };
        for lane in lanes(exec) {
            let m = match mask_src {
                Some(s) => rd(&self.regs, s, lane) as u32,
                None => u32::MAX,
            };
            if m != mask {
                return Err(coll_err(
                    self,
                    b,
                    lane,
                    format!("inconsistent member masks: lane {first} gives {mask:#010x}, lane {lane} gives {m:#010x}"),
                ));
            }
            if m >> lane & 1 == 0 {
                return Err(coll_err(
                    self,
                    b,
                    lane,
                    format!("lane {lane} executes it but is not in its member mask {m:#010x}"),
                ));
            }
        }
        let mut waiting = 0u32;
        for lane in 0..32 {
            if self.state[lane] == LaneState::Coll && self.pc[lane] == pc {
                if self.coll_mask[lane] != mask {
                    return Err(coll_err(
                        self,
                        b,
                        first,
                        format!(
                            "inconsistent member masks: lane {lane} waits with {:#010x}, lane {first} arrives with {mask:#010x}",
                            self.coll_mask[lane]
                        ),
                    ));
                }
                waiting |= 1 << lane;
            }
        }
        let arrived = exec | waiting;
        if arrived & mask != mask {
            let exited = mask & self.mask_of(LaneState::Exited) & self.valid;
            let absent = mask & !self.valid;
            if absent != 0 {
                return Err(coll_err(
                    self,
                    b,
                    first,
                    format!("member mask {mask:#010x} includes lanes {absent:#010x}, which the block does not have"),
                ));
            }
            if exited != 0 {
                return Err(coll_err(
                    self,
                    b,
                    first,
                    format!("member mask {mask:#010x} includes lanes {exited:#010x}, which have exited"),
                ));
            }
            for lane in lanes(exec) {
                self.state[lane] = LaneState::Coll;
                self.coll_mask[lane] = mask;
                self.pc[lane] = pc;
            }
            return Ok(());
        }
        match &inst.kind {
            Kind::Shfl { mode, pred } => {
                let mut out = [(0u64, false); 32];
                for lane in lanes(mask) {
                    let bv = rd(&self.regs, inst.s[1], lane) as u32;
                    let cv = rd(&self.regs, inst.s[2], lane) as u32;
                    let (j, p) = shfl_source(*mode, lane as u32, bv, cv);
                    if mask >> j & 1 == 0 {
                        return Err(coll_err(
                            self,
                            b,
                            lane,
                            format!("lane {lane} reads lane {j}, which is not in the member mask {mask:#010x}"),
                        ));
                    }
                    out[lane] = (rd(&self.regs, inst.s[0], j as usize) & 0xffff_ffff, p);
                }
                for lane in lanes(mask) {
                    self.regs[inst.d[0] as usize * 32 + lane] = out[lane].0;
                    if *pred {
                        self.regs[inst.d[1] as usize * 32 + lane] = u64::from(out[lane].1);
                    }
                }
            }
            Kind::Vote { mode, neg } => {
                let mut ballot = 0u32;
                for lane in lanes(mask) {
                    if (rd(&self.regs, inst.s[0], lane) & 1 != 0) != *neg {
                        ballot |= 1 << lane;
                    }
                }
                let v = match mode {
                    VoteMode::Ballot => u64::from(ballot),
                    VoteMode::All => u64::from(ballot == mask),
                    VoteMode::Any => u64::from(ballot != 0),
                    VoteMode::Uni => u64::from(ballot == mask || ballot == 0),
                };
                for lane in lanes(mask) {
                    self.regs[inst.d[0] as usize * 32 + lane] = v;
                }
            }
            Kind::Mma(m) => {
                let (mut a, mut bb, mut c) = ([[0u32; 4]; 32], [[0u32; 2]; 32], [[0u32; 4]; 32]);
                for lane in 0..32 {
                    for k in 0..4 {
                        a[lane][k] = rd(&self.regs, m.a[k], lane) as u32;
                        c[lane][k] = rd(&self.regs, m.c[k], lane) as u32;
                    }
                    for k in 0..2 {
                        bb[lane][k] = rd(&self.regs, m.b[k], lane) as u32;
                    }
                }
                let d = mma(m.kind, &a, &bb, &c);
                for lane in 0..32 {
                    for k in 0..4 {
                        self.regs[m.d[k] as usize * 32 + lane] = u64::from(d[lane][k]);
                    }
                }
            }
            _ => {}
        }
        for lane in lanes(mask) {
            self.state[lane] = LaneState::Run;
            self.pc[lane] = pc + 1;
        }
        Ok(())
    }
}
