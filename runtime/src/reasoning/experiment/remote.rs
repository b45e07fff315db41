//! One federated method of the experiment with its instances and its CCF in separate
//! processes: each instance process runs [`run_instance`] for its own instance, the CCF process
//! runs [`ccf_service`] under [`crate::federated::service::serve`], and they talk through any
//! [`Transport`] (gRPC between processes).
//!
//! Both sides build the method's [`World`] from the same configuration and seed, so each
//! instance has the same questions, identity and adapters as in the in-process run, and the CCF
//! the same key. The instance does exactly what the in-process round loop does for it — join,
//! catch up, work, signal, catch up at the round's end, evaluate — with the catch-ups as
//! heartbeats answered by the CCF's service, whose rounds close when every member has reported.
//! The CCF combines signals in the order of their senders' keys, so the report is the same as
//! the in-process one for the same seed, except for wall time and joules (processes share the
//! cores differently).

use std::time::{Duration, Instant};

use dfma_protocol::transport::{Ccf as CcfPeer, Transport};

use super::config::{ExperimentConfig, Method};
use super::report::RoundRecord;
use super::run::{ExperimentError, Runtime, blank, dropped, evaluate_one, joined, now_ms, work};
use super::world::World;
use crate::federated::service::CcfService;
use crate::model::config::LlamaConfig;

/// The CCF of `method` (the same key, aggregation and layout as in the in-process run) in a
/// service that waits for all `cfg.instances` to join and closes a round at the latest
/// `round_timeout` after it opened.
pub fn ccf_service<P: Copy>(
    cfg: &ExperimentConfig,
    method: Method,
    c: &LlamaConfig,
    base_sha256: &str,
    base_hash: [u8; 32],
    round_timeout: Duration,
) -> Result<CcfService<P>, ExperimentError> {
    let world = World::new(cfg, method, c, base_sha256, base_hash)?;
    let ccf = world.ccf.ok_or_else(|| ExperimentError::Config(format!("method {} has no CCF", method.name())))?;
    Ok(CcfService::new(ccf, cfg.instances, round_timeout.as_millis() as u64, now_ms())?)
}

/// The next CCF update on `end`, waiting at most `timeout`.
fn next_update<T: Transport<Peer = CcfPeer>>(end: &mut T, timeout: Duration) -> Result<Vec<u8>, ExperimentError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match end.recv_timeout(left) {
            Ok(Some(incoming)) => return Ok(incoming.frame),
            Ok(None) if Instant::now() < deadline => {}
            Ok(None) => {
                return Err(ExperimentError::Config(format!("no update from the CCF within {} s", timeout.as_secs())));
            }
            Err(e) => return Err(ExperimentError::Config(format!("transport: {e}"))),
        }
    }
}

/// Runs instance `i` of `method` through every round over `end`, calling `on_round` with a
/// record that holds this instance's entries only (the others' are blank); an error from
/// `on_round` (its reader is gone) stops the run. `timeout` bounds each wait for the CCF (a
/// round's length, at most, plus its answer).
#[allow(clippy::too_many_arguments)]
pub fn run_instance<T: Transport<Peer = CcfPeer>>(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    method: Method,
    base_sha256: &str,
    base_hash: [u8; 32],
    i: usize,
    end: &mut T,
    timeout: Duration,
    mut on_round: impl FnMut(&RoundRecord) -> Result<(), ExperimentError>,
) -> Result<(), ExperimentError> {
    cfg.validate().map_err(ExperimentError::Config)?;
    if i >= cfg.instances {
        return Err(ExperimentError::Config(format!("instance {i} of {}", cfg.instances)));
    }
    let c = rt.model.config.clone();
    let mut world = World::new(cfg, method, &c, base_sha256, base_hash)?;
    if world.ccf.is_none() {
        return Err(ExperimentError::Config(format!("method {} has no CCF to connect to", method.name())));
    }
    // The join goes out at once, naming the first round the instance takes part in, so the CCF
    // holds that round open for it however late this process gets there.
    let first = (1..=cfg.rounds).find(|&r| joined(cfg, i, r)).unwrap_or(cfg.rounds);
    let send = |end: &mut T, frame: Vec<u8>| {
        end.send(CcfPeer, frame).map_err(|e| ExperimentError::Config(format!("transport: {e}")))
    };
    let sender = world.instances[i].sender.as_mut().expect("federated instances have senders");
    let join = sender.join([i as u8; 32], first as u64, now_ms() + 60_000)?;
    send(end, join)?;
    let sync = |world: &mut World, end: &mut T, round: usize| -> Result<(), ExperimentError> {
        let inst = &mut world.instances[i];
        let sender = inst.sender.as_mut().expect("federated instances have senders");
        let now = now_ms();
        let beat = sender.heartbeat(round as u64, inst.applied_version, now, now + 60_000)?;
        send(end, beat)?;
        let update = next_update(end, timeout)?;
        Ok(world.apply_update(i, &update, now_ms())?)
    };
    for round in 1..=cfg.rounds {
        let t0 = Instant::now();
        let mut rec = blank(cfg, round);
        if joined(cfg, i, round) {
            if !world.instances[i].joined {
                world.instances[i].joined = true;
                sync(&mut world, end, round)?;
            }
            let drops_out = dropped(cfg, round).contains(&i);
            if let Some(frame) = work(rt, cfg, &mut world, i, round, drops_out, &mut Vec::new(), &mut rec)? {
                send(end, frame)?;
            }
            sync(&mut world, end, round + 1)?;
            evaluate_one(rt, cfg, &world, i, &mut rec)?;
        }
        rec.bytes_sent[i] = world.instances[i].bytes_sent;
        rec.joules[i] = world.instances[i].joules;
        rec.seconds = t0.elapsed().as_secs_f64();
        on_round(&rec)?;
    }
    Ok(())
}
