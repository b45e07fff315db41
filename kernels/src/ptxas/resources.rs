//! Parsing `ptxas -v` resource lines.

/// What `ptxas -v` reports for one kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelResources {
    /// Entry or function name.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    /// Static shared memory per block, bytes.
    pub shared_bytes: u32,
    /// Stack frame per thread, bytes.
    pub stack_bytes: u32,
    /// Register spill stores, bytes.
    pub spill_store_bytes: u32,
    /// Register spill loads, bytes.
    pub spill_load_bytes: u32,
}

/// The number right before `unit` in `line` (`"30 registers"` → 30).
fn number_before(line: &str, unit: &str) -> Option<u32> {
    let i = line.find(unit)?;
    line[..i].split(|c: char| !c.is_ascii_digit()).rev().find(|s| !s.is_empty())?.parse().ok()
}

/// Parses `ptxas -v` output into one record per function, in order of appearance.
pub fn parse_resources(log: &str) -> Vec<KernelResources> {
    let mut out: Vec<KernelResources> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            out.push(KernelResources { name: rest.trim().to_string(), ..Default::default() });
        } else if let Some(k) = out.last_mut() {
            if line.contains("stack frame") {
                k.stack_bytes = number_before(line, "bytes stack frame").unwrap_or(0);
                k.spill_store_bytes = number_before(line, "bytes spill stores").unwrap_or(0);
                k.spill_load_bytes = number_before(line, "bytes spill loads").unwrap_or(0);
            } else if line.contains("Used") && line.contains("registers") {
                k.registers = number_before(line, "registers").unwrap_or(0);
                k.shared_bytes = number_before(line, "bytes smem").unwrap_or(0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ptxas_log_parses_into_resources() {
        let log = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'k' for 'sm_90'\n\
ptxas info    : Function properties for k\n\
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
ptxas info    : Used 40 registers, 1024 bytes smem, 392 bytes cmem[0]\n";
        let r = parse_resources(log);
        assert_eq!(
            r,
            vec![KernelResources {
                name: "k".into(),
                registers: 40,
                shared_bytes: 1024,
                stack_bytes: 8,
                spill_store_bytes: 4,
                spill_load_bytes: 12
            }]
        );
    }
}
