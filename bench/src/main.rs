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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => exit_on_usage_error(e),
    };
    if let Err(e) = cmd::run(cli) {
        eprintln!("error: {e:#}");
        let code = if e.downcast_ref::<BadInput>().is_some() { 2 } else { 1 };
        std::process::exit(code);
    }
}

/// Help and version print as clap writes them; a usage error (unknown flag, bad value, missing
/// argument) is one line naming the flag and the problem, exit code 2, like every other bad
/// input (clap's own message adds a usage block and tips over several lines).
fn exit_on_usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("error: bad arguments");
    eprintln!("{first} (see --help)");
    std::process::exit(2);
}
