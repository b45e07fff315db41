//! `dfma fuzz [--cases N] [--seed S]`: drive generated and mutated frames through every protocol
//! decoder (`dfma_protocol::fuzz::run_decoder_fuzz`) and check that none panics and none holds
//! more heap than its bound.
//!
//! Heap is measured by the counting allocator the `dfma` binary installs (see `main.rs`): the
//! peak of live bytes on the fuzzing thread during each decoder call, above what was live when
//! the call began. The bound is `allocation_bound_bytes(frame length)`. Exit 1 on any panic, any
//! call over its bound, or an allocator that counted nothing (the bound would be unchecked).

use std::time::Instant;

use anyhow::{Result, bail};
use dfma_protocol::fuzz::{allocation_bound_bytes, run_decoder_fuzz};
use dfma_protocol::limits::MAX_FRAME_BYTES;

use crate::cli::FuzzArgs;
use crate::error::bad_input;

/// Runs the fuzz campaign and prints its counts and rate.
pub fn run(args: &FuzzArgs) -> Result<()> {
    if args.cases == 0 {
        return Err(bad_input("--cases 0: nothing to fuzz (give at least 1)"));
    }
    let start = Instant::now();
    let report = run_decoder_fuzz(args.cases, args.seed, true);
    let seconds = start.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 { report.cases as f64 / seconds } else { f64::NAN };
    println!("decoder fuzz, seed {}", args.seed);
    println!("cases:                  {}", report.cases);
    println!("decoder calls:          {}", report.decoder_calls);
    println!("accepted by receiver:   {}", report.accepted);
    println!("wall time:              {seconds:.3} s (one thread, std::time::Instant)");
    println!("cases/s:                {rate:.0}");
    println!("panics:                 {}", report.panics);
    println!("allocation violations:  {}", report.allocation_violations);
    println!(
        "largest allocation:     {} bytes (peak live heap of one decoder call, counting allocator; bound {} + 4 bytes per frame byte, {} for a largest frame)",
        report.largest_peak_bytes,
        allocation_bound_bytes(0),
        allocation_bound_bytes(MAX_FRAME_BYTES)
    );
    if report.panics > 0 || report.allocation_violations > 0 {
        bail!(
            "{} panics and {} allocation-bound violations in {} cases (seed {})",
            report.panics,
            report.allocation_violations,
            report.cases,
            args.seed
        );
    }
    if report.largest_peak_bytes == 0 {
        bail!("the counting allocator measured nothing: allocation bounds were not checked");
    }
    Ok(())
}
