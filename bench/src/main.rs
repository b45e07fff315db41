//! `dfma`: run bench suites, list devices, check PTX, and run any op on .npy files.
//!
//! Exit codes: 0 success, 1 a failure (a check failed, a driver error), 2 bad input
//! (unknown flag, wrong shape or dtype, unreadable file).

mod bars;
mod cli;
mod cmd;
mod compression;
mod error;
mod files;
mod model_suite;
mod npy;
mod output;
mod peer_gemv;
mod peers;
mod report;
mod roofline;
mod sampling;
mod stats;

use clap::Parser;

use crate::error::BadInput;

/// Counts heap bytes per thread so that `dfma fuzz` can check each decoder call's allocation
/// bound. A global allocator can only be chosen by the binary. Every command pays for it: a
/// thread-local add per allocation on top of the system allocator, small next to the
/// allocation itself.
#[global_allocator]
static ALLOCATOR: dfma_protocol::fuzz::CountingAllocator = dfma_protocol::fuzz::CountingAllocator;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = cmd::run(cli) {
        eprintln!("error: {e:#}");
        let code = if e.downcast_ref::<BadInput>().is_some() { 2 } else { 1 };
        std::process::exit(code);
    }
}
