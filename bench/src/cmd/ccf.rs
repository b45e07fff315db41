//! `dfma ccf serve`: the CCF of one federated method of the experiment as a gRPC service
//! (see `dfma_runtime::federated::service`). It prints `listening ADDR` once bound, then one
//! JSON line per closed round, and exits after the experiment's last round.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use dfma_protocol::transport::grpc::{GrpcCcf, ServerTls};
use dfma_runtime::federated::service::serve as serve_rounds;
use dfma_runtime::reasoning::experiment::Method;
use dfma_runtime::reasoning::experiment::remote::ccf_service;

use super::experiment::with_experiment;
use crate::cli::CcfServeArgs;
use crate::error::bad_input;

/// Frames the CCF queues before instances are held back (by HTTP/2 flow control).
const QUEUE_FRAMES: usize = 256;

/// The federated method named by a `--method` flag.
pub(super) fn federated_method(name: &str) -> Result<Method> {
    match Method::parse(name).map_err(|e| bad_input(format!("--method: {e}")))? {
        m @ (Method::Collective | Method::FedAvg) => Ok(m),
        m => Err(bad_input(format!("--method {}: not a federated method (have collective, fedavg)", m.name()))),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The file `path`, given as `flag`, whole; unreadable is bad input naming it.
pub(super) fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| bad_input(format!("{flag} {}: {e}", path.display())))
}

/// The TLS identity of `--tls-cert` and `--tls-key`, checked; `None` for neither.
fn server_tls(args: &CcfServeArgs) -> Result<Option<ServerTls>> {
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => return Err(bad_input("--tls-cert needs --tls-key")),
        (None, Some(_)) => return Err(bad_input("--tls-key needs --tls-cert")),
    };
    let tls = ServerTls::new(read_file("--tls-cert", cert)?, read_file("--tls-key", key)?);
    tls.check().map_err(|e| bad_input(format!("--tls-cert {} --tls-key {}: {e}", cert.display(), key.display())))?;
    Ok(Some(tls))
}

pub fn serve(args: &CcfServeArgs) -> Result<()> {
    let method = federated_method(&args.method)?;
    if args.round_timeout_s == 0 {
        return Err(bad_input("--round-timeout-s: must be at least 1"));
    }
    let tls = server_tls(args)?;
    with_experiment(&args.experiment, |rt, p| {
        let c = rt.model.config.clone();
        let timeout = Duration::from_secs(args.round_timeout_s);
        let mut service =
            ccf_service(&p.cfg, method, &c, &p.base, p.base_hash, timeout).map_err(|e| anyhow!("ccf: {e}"))?;
        let mut transport = match &tls {
            Some(tls) => GrpcCcf::serve_tls(args.listen.as_str(), QUEUE_FRAMES, tls),
            None => GrpcCcf::serve(args.listen.as_str(), QUEUE_FRAMES),
        }
        .map_err(|e| bad_input(format!("--listen {}: {e}", args.listen)))?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", transport.local_addr())?;
        out.flush()?;
        eprintln!(
            "ccf: {} for {} instances x {} rounds on {}",
            method.name(),
            p.cfg.instances,
            p.cfg.rounds,
            transport.local_addr()
        );
        serve_rounds(&mut service, &mut transport, p.cfg.rounds, now_ms, |e| eprintln!("ccf: refused: {e}"))
            .map_err(|e| anyhow!("ccf: {e}"))?;
        for closed in service.closed() {
            writeln!(out, "{}", serde_json::to_string(closed)?)?;
        }
        out.flush()?;
        // Let the last updates reach their instances before the server goes away.
        let linger = std::time::Instant::now();
        while !transport.connections().is_empty() && linger.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("ccf: {} rounds closed, {} frames refused", service.closed().len(), service.refused());
        Ok(())
    })
}
