//! `dfma ptx check`: assembles every PTX file with NVIDIA's `ptxas` for each target architecture,
//! reports registers, shared memory, stack and spills per kernel, and checks the SASS
//! (through `cuobjdump`) for the instructions each kernel is meant to use.
//!
//! No GPU is needed: ptxas, cuobjdump and nvdisasm come from NVIDIA's PyPI wheels.

mod resources;
mod toolchain;

use std::path::Path;
use std::process::Command;

pub use resources::{KernelResources, parse_resources};
pub use toolchain::{Toolchain, find_tool};

use crate::registry::{KERNELS, KernelImpl};
use crate::sources::SourceFile;

/// The architectures every PTX file must assemble for.
pub const ARCHS: [&str; 4] = ["sm_80", "sm_86", "sm_89", "sm_90"];

/// One SASS assertion: `pattern` must occur in `kernel`'s SASS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SassCheck {
    /// Entry point.
    pub kernel: String,
    /// Required substring, e.g. `LDG.E.128`.
    pub pattern: String,
    /// How many SASS lines of the kernel contain it.
    pub count: usize,
}

/// The result of assembling one file for one architecture.
#[derive(Clone, Debug)]
pub struct FileArchReport {
    /// PTX file name.
    pub file: String,
    /// Target, e.g. `sm_90`.
    pub arch: String,
    /// Per-kernel resources from `ptxas -v`.
    pub kernels: Vec<KernelResources>,
    /// SASS assertions and what was found.
    pub sass: Vec<SassCheck>,
    /// Problems that fail the check: assembly errors, spills, missing SASS patterns.
    pub failures: Vec<String>,
}

impl FileArchReport {
    /// True when the file assembled with no spill and every SASS pattern was found.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// SASS patterns of the PTX files that are not ops' kernels, as (file, entry, pattern): the cache
/// flush must read through L2 only, in 16-byte loads, and leave its xor as a reduction (no load
/// of the old value).
const SUPPORT_SASS: &[(&str, &str, &str)] =
    &[("cache_flush.ptx", "cache_flush", "LDG.E.128.STRONG.GPU"), ("cache_flush.ptx", "cache_flush", "XOR.STRONG.GPU")];

/// SASS patterns the registry requires of the kernels in `file`, as (entry, pattern), each pair
/// once: each kernel's first entry and every later pass of a multi-pass kernel too, since a later
/// pass may be the one that streams the op's bytes. A support file's come from [`SUPPORT_SASS`].
fn sass_expectations(file: &str) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> =
        SUPPORT_SASS.iter().filter(|(f, _, _)| *f == file).map(|(_, entry, pattern)| (*entry, *pattern)).collect();
    for k in KERNELS {
        let KernelImpl::Ptx(g) = &k.imp else { continue };
        if g.source.file != file {
            continue;
        }
        let first = g.sass_must_contain.iter().map(|p| (g.entry, *p));
        let later = g.later_passes().flat_map(|t| t.sass_must_contain.iter().map(|p| (t.entry, *p)));
        for e in first.chain(later) {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

/// Splits `cuobjdump -sass` output into (function name, its text).
fn sass_by_function(sass: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in sass.lines() {
        if let Some(name) = line.trim().strip_prefix("Function : ") {
            out.push((name.trim().to_string(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// The 1-based number of the first line holding a non-ASCII byte.
pub fn first_non_ascii_line(text: &str) -> Option<usize> {
    text.lines().position(|l| !l.is_ascii()).map(|i| i + 1)
}

/// Assembles `src` for `arch` in `dir` and checks it.
pub fn check_file(tools: &Toolchain, src: &SourceFile, arch: &str, dir: &Path) -> FileArchReport {
    let mut report =
        FileArchReport { file: src.file.into(), arch: arch.into(), kernels: vec![], sass: vec![], failures: vec![] };
    if let Some(line) = first_non_ascii_line(src.text) {
        // ptxas before 13.1 and the drivers' JIT of that age reject any non-ASCII byte, comments
        // included; newer ptxas accept it, so the rule is checked here, on every machine.
        report.failures.push(format!("line {line}: non-ASCII character (older ptxas and driver JITs reject it)"));
    }
    let ptx_path = dir.join(src.file);
    let cubin = dir.join(format!("{}.{arch}.cubin", src.file));
    if let Err(e) = std::fs::write(&ptx_path, src.text) {
        report.failures.push(format!("cannot write {}: {e}", ptx_path.display()));
        return report;
    }
    let out = Command::new(&tools.ptxas)
        .arg(format!("-arch={arch}"))
        .args(["-v", "--warn-on-spills", "-o"])
        .arg(&cubin)
        .arg(&ptx_path)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            report.failures.push(format!("cannot run {}: {e}", tools.ptxas.display()));
            return report;
        }
    };
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        // ptxas ends with a generic "aborted due to errors"; the lines before it say why.
        let why: Vec<&str> =
            log.lines().filter(|l| l.contains("error") || l.contains("fatal")).map(str::trim).take(3).collect();
        let why = if why.is_empty() { log.trim().to_string() } else { why.join("; ") };
        report.failures.push(format!("ptxas failed: {why}"));
        return report;
    }
    report.kernels = parse_resources(&log);
    for k in &report.kernels {
        if k.spill_store_bytes > 0 || k.spill_load_bytes > 0 {
            report.failures.push(format!(
                "{} spills ({} bytes stored, {} loaded)",
                k.name, k.spill_store_bytes, k.spill_load_bytes
            ));
        }
    }
    let expectations = sass_expectations(src.file);
    if expectations.is_empty() {
        return report;
    }
    let sass = match Command::new(&tools.cuobjdump).arg("-sass").arg(&cubin).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            report.failures.push(format!("cuobjdump failed: {}", String::from_utf8_lossy(&o.stderr).trim()));
            return report;
        }
        Err(e) => {
            report.failures.push(format!("cannot run {}: {e}", tools.cuobjdump.display()));
            return report;
        }
    };
    let functions = sass_by_function(&sass);
    for (kernel, pattern) in expectations {
        let count = functions
            .iter()
            .filter(|(name, _)| name == kernel)
            .map(|(_, text)| text.lines().filter(|l| l.contains(pattern)).count())
            .sum();
        if count == 0 {
            report.failures.push(format!("{kernel}: SASS has no {pattern}"));
        }
        report.sass.push(SassCheck { kernel: kernel.into(), pattern: pattern.into(), count });
    }
    report
}

/// Assembles every embedded PTX file for every architecture in [`ARCHS`].
pub fn check_all(tools: &Toolchain) -> std::io::Result<Vec<FileArchReport>> {
    let dir = tempfile::tempdir()?;
    Ok(crate::sources::PTX_FILES
        .iter()
        .flat_map(|src| ARCHS.iter().map(move |arch| (src, arch)))
        .map(|(src, arch)| check_file(tools, src, arch, dir.path()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_source_is_ascii() {
        assert_eq!(first_non_ascii_line("a\nb // x\nc \u{d7} d\n"), Some(3));
        for src in crate::sources::PTX_FILES.iter().chain(crate::sources::WGSL_FILES) {
            assert_eq!(first_non_ascii_line(src.text), None, "{} holds a non-ASCII character", src.file);
        }
    }

    #[test]
    fn sass_is_split_per_function() {
        let sass = "\n\tcode for sm_80\n\t\tFunction : a\n  LDG.E.128 R0\n\t\tFunction : b\n  LDG.E R1\n";
        let f = sass_by_function(sass);
        assert_eq!(f.len(), 2);
        assert!(f[0].1.contains("LDG.E.128") && !f[1].1.contains("LDG.E.128"));
    }

    #[test]
    fn a_two_pass_kernel_s_second_entry_has_its_own_sass_checks() {
        let fused = sass_expectations("lora_fused_q4_1.ptx");
        assert!(fused.contains(&("lora_fused_q4_1_shrink", "SHFL.BFLY")), "{fused:?}");
        assert!(fused.contains(&("lora_fused_q4_1_rows", "LDG.E.128")), "{fused:?}");
        // Every later PTX pass in the registry names at least one instruction.
        for k in KERNELS {
            if let KernelImpl::Ptx(g) = &k.imp {
                for t in g.later_passes() {
                    assert!(!t.sass_must_contain.is_empty(), "{k:?}: later entry {} has no SASS check", t.entry);
                }
            }
        }
    }

    #[test]
    fn every_pass_of_a_many_pass_kernel_is_checked_once_per_pattern() {
        let topk = sass_expectations("topk.ptx");
        let want =
            [("topk_init", "STG.E"), ("topk_hist", "ATOMS"), ("topk_compact", "ATOMG.E.ADD"), ("topk_rank", "LDG.E")];
        for e in want {
            assert!(topk.contains(&e), "{e:?} missing from {topk:?}");
        }
        // topk_hist and topk_select run three times each; their patterns are listed once.
        let hist = topk.iter().filter(|e| **e == ("topk_hist", "ATOMS")).count();
        assert_eq!(hist, 1, "{topk:?}");
    }

    #[test]
    fn q8_0_gemv_requires_128_bit_loads() {
        assert!(sass_expectations("q8_0_gemv.ptx").contains(&("q8_0_gemv", "LDG.E.128")));
        assert!(sass_expectations("q4_0_gemv.ptx").contains(&("q4_0_gemv", "LDG.E.128")));
    }
}
