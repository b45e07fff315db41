//! Kernel source files, embedded at build time: `kernels/ptx/*.ptx` and `kernels/wgsl/*.wgsl`.

/// One embedded source file.
#[derive(Clone, Copy, Debug)]
pub struct SourceFile {
    /// File name relative to its directory, e.g. `q8_0_gemv.ptx`.
    pub file: &'static str,
    /// The file's text.
    pub text: &'static str,
}

macro_rules! embed {
    ($dir:literal, $file:literal) => {
        SourceFile { file: $file, text: include_str!(concat!("../", $dir, "/", $file)) }
    };
}

/// `kernels/ptx/q8_0_gemv.ptx`.
pub const Q8_0_GEMV_PTX: SourceFile = embed!("ptx", "q8_0_gemv.ptx");
/// `kernels/wgsl/q8_0_gemv.wgsl`.
pub const Q8_0_GEMV_WGSL: SourceFile = embed!("wgsl", "q8_0_gemv.wgsl");

/// Every PTX file, for `dfma ptx check`.
pub const PTX_FILES: &[SourceFile] = &[Q8_0_GEMV_PTX];
/// Every WGSL file.
pub const WGSL_FILES: &[SourceFile] = &[Q8_0_GEMV_WGSL];
