//! `dfma instance`: one personal instance of the experiment in its own process, learning with a
//! CCF over gRPC (`dfma_runtime::reasoning::experiment::remote`). Prints one JSON record per
//! round on stdout: this instance's entries of the round's record.

use std::io::Write;
use std::time::Duration;

use anyhow::{Result, anyhow};
use dfma_protocol::transport::grpc::{GrpcInstance, check_ca_pem};
use dfma_runtime::reasoning::experiment::ExperimentError;
use dfma_runtime::reasoning::experiment::remote::run_instance;

use super::ccf::{federated_method, read_file};
use super::experiment::with_experiment;
use crate::cli::InstanceArgs;
use crate::error::bad_input;

pub fn run(args: &InstanceArgs) -> Result<()> {
    let method = federated_method(&args.method)?;
    if args.timeout_s == 0 {
        return Err(bad_input("--timeout-s: must be at least 1"));
    }
    if args.index >= args.experiment.instances {
        return Err(bad_input(format!(
            "--index {}: the experiment has {} instances",
            args.index, args.experiment.instances
        )));
    }
    let ca_pem = match &args.tls_ca {
        Some(path) => {
            let pem = read_file("--tls-ca", path)?;
            check_ca_pem(&pem).map_err(|e| bad_input(format!("--tls-ca {}: {e}", path.display())))?;
            Some(pem)
        }
        None if args.tls_domain.is_some() => return Err(bad_input("--tls-domain needs --tls-ca")),
        None => None,
    };
    with_experiment(&args.experiment, |rt, p| {
        let mut end = match &ca_pem {
            Some(pem) => GrpcInstance::connect_tls(&args.ccf, pem, args.tls_domain.as_deref()),
            None => GrpcInstance::connect(&args.ccf),
        }
        .map_err(|e| bad_input(format!("--ccf {}: {e}", args.ccf)))?;
        let mut out = std::io::stdout().lock();
        run_instance(
            rt,
            &p.cfg,
            method,
            &p.base,
            p.base_hash,
            args.index,
            &mut end,
            Duration::from_secs(args.timeout_s),
            |rec| {
                let line = serde_json::to_string(rec).map_err(|e| ExperimentError::Config(e.to_string()))?;
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(|e| ExperimentError::Config(format!("writing the round's record: {e}")))
            },
        )
        .map_err(|e| anyhow!("instance {}: {e}", args.index))
    })
}
