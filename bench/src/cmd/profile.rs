//! `dfma profile OP --backend ptxvm [--rows R --cols C --batch B] [--dim NAME=N]`: runs the op's
//! PTX kernel once on random inputs through the interpreter, checks it against the reference and
//! prints the launch counters — instructions by class, global-memory coalescing (overall and per
//! instruction), shared-memory bank conflicts, divergent branches — and the interpreter's speed.

use anyhow::{Result, anyhow};
use dfma_kernels::Prepared;
use dfma_kernels::ptxvm::{Class, LaunchReport, PtxvmBackend};
use dfma_kernels::registry::{KernelImpl, find};
use dfma_reference::compare::compare_f32;
use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_reference::{Dims, ops};

use super::parse_backend;
use crate::cli::ProfileArgs;
use crate::error::bad_input;

/// The op's largest test shape, with the sizes given on the command line.
fn dims_for(args: &ProfileArgs, base: &Dims) -> Result<Dims> {
    let mut dims = base.clone();
    let mut set = |name: &str, value: usize| -> Result<()> {
        let slot = dims.0.iter_mut().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = base.0.iter().map(|(n, _)| *n).collect();
            bad_input(format!("--{name}: this op has no such size (has {})", names.join(", ")))
        })?;
        slot.1 = value;
        Ok(())
    };
    for (name, v) in [("rows", args.rows), ("cols", args.cols), ("batch", args.batch)] {
        if let Some(v) = v {
            set(name, v)?;
        }
    }
    for d in &args.dim {
        let (n, v) = d.split_once('=').ok_or_else(|| bad_input(format!("--dim {d}: expected NAME=N")))?;
        let v = v.parse().map_err(|_| bad_input(format!("--dim {d}: {v} is not a size")))?;
        set(n, v)?;
    }
    Ok(dims)
}

pub fn run(args: &ProfileArgs) -> Result<()> {
    let op = ops::by_name(&args.op).ok_or_else(|| {
        let names: Vec<&str> = ops::all().iter().map(|o| o.name()).collect();
        bad_input(format!("op {}: unknown (have {})", args.op, names.join(", ")))
    })?;
    let kind = parse_backend(&args.backend)?;
    if kind != dfma_kernels::BackendKind::Ptxvm {
        return Err(bad_input(format!(
            "--backend {kind}: profiling counters come from the interpreter; use --backend ptxvm"
        )));
    }
    let kernel =
        find(op.name(), kind).find(|k| args.variant.as_ref().is_none_or(|v| k.variant == v)).ok_or_else(|| {
            bad_input(format!(
                "{} has no PTX kernel{}",
                op.name(),
                args.variant.as_ref().map_or(String::new(), |v| format!(" named {v}"))
            ))
        })?;
    let base = op.test_dims().into_iter().last().ok_or_else(|| anyhow!("{} has no test shapes", op.name()))?;
    let dims = dims_for(args, &base)?;
    let seed = seed_from_env().map_err(bad_input)?;
    let inputs =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.random_inputs(&dims, &mut rng_for(seed, 0))))
            .map_err(|_| bad_input(format!("{dims}: not a valid shape for {}", op.name())))?;
    let checked = op.dims_of(&inputs).map_err(|e| bad_input(format!("{dims}: {e}")))?;
    if checked != dims {
        return Err(bad_input(format!("{dims}: not a valid shape for {} (inputs describe {checked})", op.name())));
    }
    let backend = PtxvmBackend::new();
    let mut p = backend.prepare_ptx(kernel, &dims, &inputs)?;
    p.poison_outputs()?;
    p.launch()?;
    let got = p.read_outputs()?;
    let want = op.reference(&dims, &inputs);
    let KernelImpl::Ptx(k) = &kernel.imp else { unreachable!("find(.., Ptxvm) yields PTX kernels") };
    let g = (k.grid)(&dims);
    println!(
        "{} on {}: {dims} (seed {seed}; DFMA_SEED reproduces)",
        kernel.id(),
        dfma_kernels::Backend::device(&backend).name
    );
    println!("source {}, grid {:?} blocks of {:?} threads", k.source.file, g.blocks, g.threads);
    for ((gt, wt), spec) in got.iter().zip(&want).zip(op.outputs()) {
        match (gt.as_f32(), wt.as_f32()) {
            (Some(gv), Some(wv)) => {
                let c = compare_f32(gv, wv, op.tolerance());
                println!("check against the reference: {}: {c} {}", spec.name, if c.passed { "PASS" } else { "FAIL" });
            }
            _ => println!("check against the reference: {}: not an f32 output, not compared", spec.name),
        }
    }
    let rep = p.last_launch().ok_or_else(|| anyhow!("the launch left no report"))?;
    print_report(rep, p.module().program());
    Ok(())
}

fn print_report(rep: &LaunchReport, prog: &dfma_kernels::ptxvm::Program) {
    let c = &rep.counters;
    let speed = rep.thread_instructions_per_second().map_or("n/a".to_string(), |s| format!("{:.1} M", s / 1e6));
    println!(
        "interpreter: {} thread-instructions ({} warp-instructions) in {:.3} s wall clock on {} host threads = {speed} thread-instructions/s",
        c.thread_instructions(),
        c.warp_instructions(),
        rep.seconds,
        rep.host_threads
    );
    println!("\ninstructions by class      warp-level    thread-level");
    for (i, class) in Class::ALL.iter().enumerate() {
        if c.warp_insts[i] > 0 {
            println!("  {:<22} {:>12} {:>15}", class.name(), c.warp_insts[i], c.thread_insts[i]);
        }
    }
    let eff = |e: Option<f64>| e.map_or("n/a".to_string(), |e| format!("{e:.3}"));
    println!(
        "\nglobal memory: {} warp-level requests, {} bytes requested, {} sectors of 32 B touched: coalescing efficiency {}",
        c.global.requests,
        c.global.bytes,
        c.global.sectors,
        eff(c.global.efficiency())
    );
    println!(
        "  (efficiency = distinct bytes requested / bytes of the 32-byte sectors they touch, per warp-level instruction)"
    );
    for (pc, s) in c.global_by_pc.iter().enumerate() {
        if s.requests > 0 {
            let line = prog.code.get(pc).map_or(0, |i| i.line);
            let opcode = prog.opcodes.get(pc).map_or("", String::as_str);
            println!(
                "  {}:{:<5} {:<24} {:>10} requests {:>8.1} B/request {:>6.2} sectors/request  efficiency {}",
                prog.file,
                line,
                opcode,
                s.requests,
                s.bytes as f64 / s.requests as f64,
                s.sectors as f64 / s.requests as f64,
                eff(s.efficiency())
            );
        }
    }
    println!(
        "shared memory: {} warp-level requests, {} wavefronts, {} bank conflicts",
        c.shared_requests, c.shared_wavefronts, c.bank_conflicts
    );
    println!("branches: {} warp-level, {} divergent", c.branches, c.divergent_branches);
}
