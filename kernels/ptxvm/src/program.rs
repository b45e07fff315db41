//! A decoded module: one instruction array for all its functions, the register count, and the
//! layout of its variables in each state space. Built once per PTX file, shared by every launch.

use crate::inst::Inst;

/// One kernel parameter.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    /// Name as declared.
    pub name: String,
    /// Byte offset in the parameter buffer.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// One `.entry`.
#[derive(Clone, Debug)]
pub struct KernelInfo {
    /// Name.
    pub name: String,
    /// Index of its first instruction.
    pub entry_pc: u32,
    /// Parameters in order.
    pub params: Vec<ParamInfo>,
    /// Total parameter bytes.
    pub param_bytes: u32,
}

/// A module-scope `.global` variable, allocated afresh for each launch.
#[derive(Clone, Debug)]
pub struct GlobalVar {
    /// Name.
    pub name: String,
    /// Initial bytes.
    pub init: Vec<u8>,
}

/// A decoded PTX module.
#[derive(Clone, Debug)]
pub struct Program {
    /// Source file name.
    pub file: String,
    /// All instructions; functions are contiguous ranges.
    pub code: Vec<Inst>,
    /// Each instruction's opcode as written, for messages.
    pub opcodes: Vec<String>,
    /// Kernels.
    pub kernels: Vec<KernelInfo>,
    /// Registers per thread (all functions).
    pub nregs: u32,
    /// Static shared bytes per block.
    pub shared_bytes: u32,
    /// Local bytes per thread.
    pub local_bytes: u32,
    /// Per-thread `.param` frame bytes (device-function and call-site parameters).
    pub frame_bytes: u32,
    /// `.const` bytes.
    pub const_bytes: Vec<u8>,
    /// Module `.global` variables, in the order their addresses are patched (see `global_slots`).
    pub globals: Vec<GlobalVar>,
}

impl Program {
    /// The kernel called `name`.
    pub fn kernel(&self, name: &str) -> Option<&KernelInfo> {
        self.kernels.iter().find(|k| k.name == name)
    }
}
