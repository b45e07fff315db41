//! One module per subcommand.

mod bench;
mod bench_model;
mod ccf;
mod compare;
mod devices;
mod experiment;
mod experiment_grpc;
mod experiment_plots;
mod finetune;
mod fuzz;
mod generate;
mod gguf_weights;
mod heart;
mod instance;
mod list;
mod load;
mod model_args;
mod op;
mod profile;
mod ptx;
mod quantize;
mod schedule;
mod timed;
mod tune;

use anyhow::Result;
use dfma_kernels::{BackendKind, BackendOptions};

use crate::cli::{CcfCommand, Cli, Command, PtxCommand, RunCommand};
use crate::error::bad_input;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let opts = BackendOptions { wgpu_adapter: cli.adapter.clone(), cuda_device: cli.cuda_device };
    match cli.command {
        Command::Bench(args) => bench::run(&args, &opts),
        Command::Ccf { command: CcfCommand::Serve(args) } => ccf::serve(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Devices => devices::run(&opts),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Finetune(args) => finetune::run(&args, &opts),
        Command::Generate(args) => generate::run(&args, &opts),
        Command::Instance(args) => instance::run(&args),
        Command::List => list::run(),
        Command::Load(args) => load::run(&args),
        Command::Op(args) => op::run(&args, &opts),
        Command::Profile(args) => profile::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Run { command: RunCommand::Experiment(args) } => experiment::run(&args),
        Command::Run { command: RunCommand::Heart(args) } => heart::run(&args),
        Command::Schedule(args) => schedule::run(&args),
        Command::Tune(args) => tune::run(&args, &opts),
        Command::Ptx { command: PtxCommand::Check } => ptx::check(),
    }
}

/// Parses a backend name, or a bad-input error listing the valid ones.
pub fn parse_backend(name: &str) -> Result<BackendKind> {
    BackendKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = BackendKind::ALL.iter().map(|k| k.name()).collect();
        bad_input(format!("--backend {name}: unknown backend (have {})", names.join(", ")))
    })
}
