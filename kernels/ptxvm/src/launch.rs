//! The public face: load a module once, allocate memory, launch kernels.

use std::time::Instant;

use rayon::prelude::*;

use crate::block::{BlockScratch, run_block};
use crate::counters::Counters;
use crate::decode::decode;
use crate::error::{ExecError, ParseError};
use crate::memory::Global;
use crate::parser::parse;
use crate::program::Program;
use crate::warp::Launch;

/// A PTX module, parsed and decoded once; launches share it.
#[derive(Clone, Debug)]
pub struct Module {
    prog: Program,
}

impl Module {
    /// Parses and decodes PTX text. `file` names the source in every later message.
    pub fn load(file: &str, text: &str) -> Result<Self, ParseError> {
        Ok(Self { prog: decode(&parse(file, text)?)? })
    }

    /// The decoded program.
    pub fn program(&self) -> &Program {
        &self.prog
    }

    /// Names of the module's kernels.
    pub fn kernels(&self) -> impl Iterator<Item = &str> {
        self.prog.kernels.iter().map(|k| k.name.as_str())
    }
}

/// Device memory for launches of one module: global buffers at synthetic device addresses.
/// The module's own `.global` variables are allocated first, at the addresses decoding assumed.
pub struct Memory {
    global: Global,
}

impl Memory {
    /// Memory holding `module`'s `.global` variables.
    pub fn new(module: &Module) -> Self {
        let mut global = Global::default();
        for g in &module.prog.globals {
            global.alloc(&g.init);
        }
        Self { global }
    }

    /// Copies `bytes` to a new buffer; returns its device address.
    pub fn alloc(&mut self, bytes: &[u8]) -> u64 {
        self.global.alloc(bytes)
    }

    /// The current bytes of the buffer at `addr`.
    pub fn read(&self, addr: u64) -> Option<Vec<u8>> {
        self.global.read(addr)
    }

    /// Overwrites the buffer at `addr`; false if no buffer of that length starts there.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> bool {
        self.global.write(addr, bytes)
    }
}

/// A kernel argument, in declaration order.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// `.u32`/`.s32`/`.b32` parameter.
    U32(u32),
    /// `.u64` parameter, e.g. a device address from [`Memory::alloc`].
    U64(u64),
    /// `.f32` parameter.
    F32(f32),
    /// Raw bytes (an `.align N .b8 p[M]` parameter).
    Bytes(Vec<u8>),
}

impl Arg {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Arg::U32(v) => v.to_le_bytes().to_vec(),
            Arg::U64(v) => v.to_le_bytes().to_vec(),
            Arg::F32(v) => v.to_le_bytes().to_vec(),
            Arg::Bytes(b) => b.clone(),
        }
    }
}

/// Launch geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z.
    pub block: [u32; 3],
    /// Warp-level instructions a single warp may execute before the launch is stopped as a
    /// runaway (an infinite loop would otherwise hang the test suite).
    pub step_limit: u64,
    /// The order in which blocks are handed to the host threads.
    pub block_order: BlockOrder,
}

/// The order in which a launch hands its blocks to the host threads. A GPU promises no order
/// and no co-residency, so a kernel whose blocks wait for each other must finish in any order;
/// on one host thread, [`BlockOrder::Descending`] runs every block before any block of a lower
/// index, which is how tests show that such a kernel does not rely on low blocks running first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BlockOrder {
    /// Linear block index 0, 1, ... (what GPUs happen to do).
    #[default]
    Ascending,
    /// The highest linear block index first.
    Descending,
}

impl LaunchConfig {
    /// `grid` blocks of `block` threads, with the default step limit (10^8 per warp), blocks in
    /// ascending order.
    pub fn new(grid: [u32; 3], block: [u32; 3]) -> Self {
        Self { grid, block, step_limit: 100_000_000, block_order: BlockOrder::Ascending }
    }
}

/// What a launch did.
#[derive(Clone, Debug)]
pub struct LaunchReport {
    /// Counters.
    pub counters: Counters,
    /// Wall-clock seconds of the launch (host clock around the whole grid).
    pub seconds: f64,
    /// Host threads that ran blocks.
    pub host_threads: usize,
}

impl LaunchReport {
    /// Interpreter speed: thread-level instructions per wall-clock second.
    pub fn thread_instructions_per_second(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.counters.thread_instructions() as f64 / self.seconds)
    }
}

/// Runs `kernel` over the grid, blocks in parallel on the current rayon pool.
pub fn launch(
    module: &Module,
    mem: &Memory,
    kernel: &str,
    cfg: LaunchConfig,
    args: &[Arg],
) -> Result<LaunchReport, ExecError> {
    let prog = &module.prog;
    let launch_err = |what: String| ExecError::Launch { kernel: kernel.to_string(), what };
    let k = prog.kernel(kernel).ok_or_else(|| launch_err(format!("no .entry {kernel} in {}", prog.file)))?;
    if args.len() != k.params.len() {
        return Err(launch_err(format!("{} arguments given, the kernel declares {}", args.len(), k.params.len())));
    }
    let mut params = vec![0u8; k.param_bytes as usize];
    for (a, p) in args.iter().zip(&k.params) {
        let b = a.bytes();
        if b.len() != p.size as usize {
            return Err(launch_err(format!(
                "parameter {} takes {} bytes, the argument has {}",
                p.name,
                p.size,
                b.len()
            )));
        }
        params[p.offset as usize..p.offset as usize + b.len()].copy_from_slice(&b);
    }
    let threads = cfg.block.iter().map(|&x| u64::from(x)).product::<u64>();
    if threads == 0 || threads > 1024 || cfg.grid.contains(&0) {
        return Err(launch_err(format!(
            "bad geometry: grid {:?}, block {:?} (1..=1024 threads a block)",
            cfg.grid, cfg.block
        )));
    }
    let l = Launch {
        prog,
        kernel: k,
        global: &mem.global,
        params: &params,
        ntid: cfg.block,
        nctaid: cfg.grid,
        step_limit: cfg.step_limit,
    };
    let [gx, gy, gz] = cfg.grid;
    let nblocks = u64::from(gx) * u64::from(gy) * u64::from(gz);
    let start = Instant::now();
    let counters = (0..nblocks)
        .into_par_iter()
        .try_fold(
            || BlockScratch::new(prog),
            |mut s, i| {
                let i = match cfg.block_order {
                    BlockOrder::Ascending => i,
                    BlockOrder::Descending => nblocks - 1 - i,
                };
                let ctaid = [
                    (i % u64::from(gx)) as u32,
                    ((i / u64::from(gx)) % u64::from(gy)) as u32,
                    (i / (u64::from(gx) * u64::from(gy))) as u32,
                ];
                run_block(&l, &mut s, ctaid)?;
                Ok::<_, ExecError>(s)
            },
        )
        .map(|s| s.map(|s| s.state.counters))
        .try_reduce(
            || Counters::new(prog.code.len()),
            |mut a, b| {
                a.merge(&b);
                Ok(a)
            },
        )?;
    Ok(LaunchReport { counters, seconds: start.elapsed().as_secs_f64(), host_threads: rayon::current_num_threads() })
}
