//! Errors: a module that cannot be decoded names `file:line`; a launch that goes wrong names the
//! kernel, the instruction (`file:line` and its text), the thread and the block, so a planted bug
//! is reported as a bug and never as a wrong answer.

use std::fmt;

/// PTX text the interpreter cannot decode: a syntax error or an instruction it does not support.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{msg} at {file}:{line}")]
pub struct ParseError {
    /// Source file name.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// What is wrong, e.g. "unsupported: tex.2d.v4.f32.f32".
    pub msg: String,
}

impl ParseError {
    /// An error at `file:line`.
    pub fn new(file: &str, line: u32, msg: impl Into<String>) -> Self {
        Self { file: file.to_string(), line, msg: msg.into() }
    }
}

/// Where in a launch something went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Kernel (entry) name.
    pub kernel: String,
    /// Source file.
    pub file: String,
    /// 1-based source line of the instruction.
    pub line: u32,
    /// The instruction's opcode as written, e.g. `st.global.f32`.
    pub inst: String,
    /// Thread index within the block (x, y, z).
    pub thread: [u32; 3],
    /// Block index within the grid (x, y, z).
    pub block: [u32; 3],
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [tx, ty, tz] = self.thread;
        let [bx, by, bz] = self.block;
        write!(
            f,
            "{}:{}: `{}` in kernel {}, thread ({tx},{ty},{tz}) of block ({bx},{by},{bz})",
            self.file, self.line, self.inst, self.kernel
        )
    }
}

/// A launch that failed: the kernel did something a GPU would not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A load or store outside every allocation of its state space, or misaligned.
    #[error("{site}: {what}")]
    Memory {
        /// Where.
        site: Box<Site>,
        /// e.g. "out-of-bounds global store of 4 bytes at 0x7000_0000_1000".
        what: String,
    },
    /// A thread read shared memory no thread of its block had written.
    #[error("{site}: read of never-written shared memory: {what}")]
    UninitShared {
        /// Where.
        site: Box<Site>,
        /// Address and size.
        what: String,
    },
    /// A barrier that not every thread of the block reached.
    #[error("{site}: {what}")]
    Barrier {
        /// Where (a thread waiting at the barrier).
        site: Box<Site>,
        /// Who arrived and who did not.
        what: String,
    },
    /// A warp collective (shfl.sync, vote.sync, mma.sync, bar.warp.sync) with inconsistent or
    /// unsatisfiable member masks.
    #[error("{site}: {what}")]
    Collective {
        /// Where.
        site: Box<Site>,
        /// What is inconsistent.
        what: String,
    },
    /// Anything else a kernel must not do: trap, division by zero in a checked form, runaway loop.
    #[error("{site}: {what}")]
    Fault {
        /// Where.
        site: Box<Site>,
        /// What.
        what: String,
    },
    /// The launch itself is wrong: unknown entry, wrong parameter count, bad grid.
    #[error("launch of {kernel}: {what}")]
    Launch {
        /// Kernel name.
        kernel: String,
        /// What.
        what: String,
    },
}

impl ExecError {
    /// Where the error happened, if it happened inside a thread.
    pub fn site(&self) -> Option<&Site> {
        match self {
            ExecError::Memory { site, .. }
            | ExecError::UninitShared { site, .. }
            | ExecError::Barrier { site, .. }
            | ExecError::Collective { site, .. }
            | ExecError::Fault { site, .. } => Some(site),
            ExecError::Launch { .. } => None,
        }
    }
}

/// What went wrong inside a memory or arithmetic helper, before the executor attaches the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Out of bounds, misaligned, or a forbidden space.
    Memory(String),
    /// Read of never-written shared memory.
    UninitShared(String),
    /// Anything else.
    Other(String),
}

impl Fault {
    /// The error at `site`.
    pub fn at(self, site: Box<Site>) -> ExecError {
        match self {
            Fault::Memory(what) => ExecError::Memory { site, what },
            Fault::UninitShared(what) => ExecError::UninitShared { site, what },
            Fault::Other(what) => ExecError::Fault { site, what },
        }
    }
}
