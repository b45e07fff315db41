//! Expands `// @include lib/FILE.ptx` lines in `kernels/ptx/*.ptx` (a line of its own, the path
//! relative to `kernels/ptx/`) into `$OUT_DIR/ptx/`, where `src/sources.rs` embeds the kernels
//! from. PTX has no includes; this lets two kernels share one hand-written body (the rows4 Q4_0
//! base) instead of carrying copies that must be kept equal by hand. An included file may not
//! include another, and a missing one fails the build naming the kernel.

use std::path::Path;

const DIRECTIVE: &str = "// @include ";

fn main() {
    let src = Path::new("ptx");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ptx");
    std::fs::create_dir_all(&out).expect("create $OUT_DIR/ptx");
    println!("cargo::rerun-if-changed=ptx");
    let mut entries: Vec<_> =
        std::fs::read_dir(src).expect("read kernels/ptx").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for path in entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "ptx")) {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut expanded = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            match line.trim_end().strip_prefix(DIRECTIVE) {
                Some(rel) => {
                    let inc = src.join(rel.trim());
                    let body = std::fs::read_to_string(&inc)
                        .unwrap_or_else(|e| panic!("{}: include {}: {e}", path.display(), inc.display()));
                    assert!(!body.lines().any(|l| l.starts_with(DIRECTIVE)), "{}: nested include", inc.display());
                    expanded.push_str(&body);
                    if !body.ends_with('\n') {
                        expanded.push('\n');
                    }
                }
                None => expanded.push_str(line),
            }
        }
        let name = path.file_name().expect("a file");
        std::fs::write(out.join(name), expanded).unwrap_or_else(|e| panic!("write {name:?}: {e}"));
    }
}
