//! `dfma load --instances N --signal-kib K --rounds R --transport tcp|in-process|grpc [--seed S]`:
//! many concurrent instances against one CCF receiver, every envelope verified.
//!
//! Each instance is a thread (256 KiB stack) with its own Ed25519 identity, derived from the seed
//! and its index. It sends a join, then R signal envelopes whose payload is K KiB of seeded
//! random f32 values, and ends. The CCF side (this thread) runs every frame through the
//! protocol's [`Receiver`] and counts accepted and rejected frames; memory stays bounded by the
//! transport's queue ([`QUEUE_FRAMES`] frames): a full queue blocks senders (in-process) or stops
//! the socket (TCP) or the HTTP/2 stream (gRPC) being read, so nothing is dropped.
//!
//! Latency of a signal is from just before its instance seals it to just after the receiver
//! accepted it (`std::time::Instant` on both sides, one process): it includes signing, the
//! transport, queueing behind other instances and verification. CPU time is the whole process's
//! user + system time from `/proc/self/stat`. Exit 1 if any frame is lost or rejected or any
//! instance fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::limits::MAX_FRAME_BYTES;
use dfma_protocol::messages::{AdapterShape, Compression, CompressionMethod, Join, Message, Signal};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};
use dfma_protocol::transport::grpc::{GrpcCcf, GrpcCounts, GrpcInstance};
use dfma_protocol::transport::in_process::in_process;
use dfma_protocol::transport::tcp::{TcpCcf, TcpCounts, TcpInstance};
use dfma_protocol::transport::{Ccf, ConnectionId, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cli::LoadArgs;
use crate::error::bad_input;

/// Frames the CCF's queue holds: 256 × 64 KiB signals is 16 MiB of frames in flight at most.
pub const QUEUE_FRAMES: usize = 256;

/// Stack of each instance thread: sealing and sending need little; the payload is on the heap.
const INSTANCE_STACK_BYTES: usize = 256 * 1024;

/// How long the CCF waits with nothing arriving, once every instance has finished, before it
/// counts the missing frames as lost.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// How long the CCF waits with nothing arriving while instances are still running.
const STALL_WAIT: Duration = Duration::from_secs(60);

/// Envelope lifetime: well inside the receiver's 10-minute horizon, well beyond a run.
const EXPIRY_MS: u64 = 5 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransportKind {
    Tcp,
    InProcess,
    Grpc,
}

/// What every instance thread shares with the CCF side.
struct Shared {
    seed: u64,
    rounds: usize,
    values_per_signal: usize,
    epoch: Instant,
    /// Per (instance, round): nanoseconds after `epoch` when sealing began.
    sealed_at_ns: Vec<AtomicU64>,
    finished: AtomicUsize,
}

/// Runs the load and prints its figures.
pub fn run(args: &LoadArgs) -> Result<()> {
    let kind = match args.transport.as_str() {
        "tcp" => TransportKind::Tcp,
        "in-process" => TransportKind::InProcess,
        "grpc" => TransportKind::Grpc,
        other => return Err(bad_input(format!("--transport {other}: unknown transport (have tcp, in-process, grpc)"))),
    };
    if args.instances == 0 || args.rounds == 0 || args.signal_kib == 0 {
        return Err(bad_input(format!(
            "--instances {} --rounds {} --signal-kib {}: each must be at least 1",
            args.instances, args.rounds, args.signal_kib
        )));
    }
    // Header, signature and signal fields take well under 64 KiB.
    let largest_kib = (MAX_FRAME_BYTES - 64 * 1024) / 1024;
    if args.signal_kib > largest_kib {
        return Err(bad_input(format!(
            "--signal-kib {}: above the largest that fits one frame ({largest_kib})",
            args.signal_kib
        )));
    }
    let shared = Arc::new(Shared {
        seed: args.seed,
        rounds: args.rounds,
        values_per_signal: args.signal_kib * 1024 / 4,
        epoch: Instant::now(),
        sealed_at_ns: (0..args.instances * args.rounds).map(|_| AtomicU64::new(0)).collect(),
        finished: AtomicUsize::new(0),
    });
    let keys: HashMap<[u8; 32], usize> =
        (0..args.instances).map(|index| (identity(args.seed, index).public_key(), index)).collect();
    println!(
        "load: {} instances × {} rounds × {} KiB signals over {}, seed {}",
        args.instances, args.rounds, args.signal_kib, args.transport, args.seed
    );
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let (outcome, instance_errors, counts) = match kind {
        TransportKind::InProcess => {
            let (mut ccf, connector) = in_process(QUEUE_FRAMES);
            let handles = spawn_instances(args.instances, &shared, move |_| Ok(connector.connect()))?;
            let outcome = receive_all(&mut ccf, &shared, &keys, args.instances);
            (outcome, join_instances(handles), None)
        }
        TransportKind::Tcp => {
            let mut ccf = TcpCcf::bind("127.0.0.1:0", QUEUE_FRAMES)?;
            let addr = ccf.local_addr();
            let handles = spawn_instances(args.instances, &shared, move |_| {
                TcpInstance::connect(addr).map_err(|e| format!("connecting to {addr}: {e}"))
            })?;
            let outcome = receive_all(&mut ccf, &shared, &keys, args.instances);
            (outcome, join_instances(handles), Some(Counts::Tcp(ccf.counts())))
        }
        TransportKind::Grpc => {
            let mut ccf = GrpcCcf::serve("127.0.0.1:0", QUEUE_FRAMES)?;
            let url = format!("http://{}", ccf.local_addr());
            let handles = spawn_instances(args.instances, &shared, move |_| {
                GrpcInstance::connect(&url).map_err(|e| e.to_string())
            })?;
            let outcome = receive_all(&mut ccf, &shared, &keys, args.instances);
            (outcome, join_instances(handles), Some(Counts::Grpc(ccf.counts())))
        }
    };
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    report(args, &outcome, wall_s, cpu_s, counts.as_ref());
    let signals_expected = (args.instances * args.rounds) as u64;
    let frames_expected = (args.instances * (args.rounds + 1)) as u64;
    let lost = frames_expected.saturating_sub(outcome.accepted + outcome.rejected);
    if !instance_errors.is_empty() || outcome.rejected > 0 || lost > 0 || outcome.signals != signals_expected {
        let first_error = instance_errors.first().map(|e| format!("; first instance error: {e}")).unwrap_or_default();
        bail!(
            "{lost} frames lost, {} rejected, {} of {signals_expected} signals accepted, {} instances failed{first_error}",
            outcome.rejected,
            outcome.signals,
            instance_errors.len()
        );
    }
    Ok(())
}

/// Instance `index`'s identity under `seed`: the CCF side derives the same keys to map a
/// sender key back to its instance.
fn identity(seed: u64, index: usize) -> Identity {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&seed.to_le_bytes());
    secret[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    secret[16] = 0x10;
    Identity::from_secret_bytes(secret)
}

fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

type InstanceHandle = thread::JoinHandle<Result<(), String>>;

fn spawn_instances<T, F>(instances: usize, shared: &Arc<Shared>, connect: F) -> Result<Vec<InstanceHandle>>
where
    T: Transport<Peer = Ccf> + 'static,
    F: Fn(usize) -> Result<T, String> + Clone + Send + 'static,
{
    let mut handles = Vec::with_capacity(instances);
    for index in 0..instances {
        let shared = shared.clone();
        let connect = connect.clone();
        let handle = thread::Builder::new()
            .name(format!("instance-{index}"))
            .stack_size(INSTANCE_STACK_BYTES)
            .spawn(move || {
                let result = connect(index).and_then(|link| run_instance(link, index, &shared));
                shared.finished.fetch_add(1, Ordering::Release);
                result
            })
            .map_err(|e| anyhow::anyhow!("spawning instance thread {index}: {e}"))?;
        handles.push(handle);
    }
    Ok(handles)
}

fn join_instances(handles: Vec<InstanceHandle>) -> Vec<String> {
    handles
        .into_iter()
        .filter_map(|handle| match handle.join() {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(_) => Some("an instance thread panicked".into()),
        })
        .collect()
}

/// One instance: a join, then `rounds` signals with fresh seeded payloads.
fn run_instance<T: Transport<Peer = Ccf>>(mut link: T, index: usize, shared: &Shared) -> Result<(), String> {
    let mut sealer = Sealer::new(identity(shared.seed, index));
    let join = Message::Join(Join {
        agreement_public_key: vec![0x42; 32],
        capabilities: None,
        client_name: format!("load-{index}"),
    });
    let frame = sealer.seal(0, now_unix_ms() + EXPIRY_MS, &join).map_err(|e| format!("sealing a join: {e}"))?;
    link.send(Ccf, frame).map_err(|e| format!("instance {index} join: {e}"))?;
    let mut rng = StdRng::seed_from_u64(shared.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for round in 0..shared.rounds {
        let values: Vec<f32> = (0..shared.values_per_signal).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let signal = Message::Signal(Signal {
            base_model_hash: vec![0xab; 32],
            adapter_shapes: vec![AdapterShape {
                name: "load".into(),
                rows: shared.values_per_signal as u32,
                cols: 1,
                rank: 1,
            }],
            compression: Some(Compression { method: CompressionMethod::None as i32, seed: 0, parameters: vec![] }),
            privacy: None,
            payload: Some(TensorPayload::from_f32(&values)),
        });
        drop(values);
        let sealed_at = shared.epoch.elapsed().as_nanos() as u64;
        shared.sealed_at_ns[index * shared.rounds + round].store(sealed_at, Ordering::Release);
        let frame = sealer
            .seal(round as u64 + 1, now_unix_ms() + EXPIRY_MS, &signal)
            .map_err(|e| format!("sealing a signal: {e}"))?;
        link.send(Ccf, frame).map_err(|e| format!("instance {index} round {round}: {e}"))?;
    }
    Ok(())
}

/// What a network transport's CCF end counted.
enum Counts {
    Tcp(TcpCounts),
    Grpc(GrpcCounts),
}

#[derive(Debug, Default)]
struct Outcome {
    accepted: u64,
    rejected: u64,
    signals: u64,
    payload_bytes: u64,
    latencies_s: Vec<f64>,
    first_rejection: Option<String>,
}

/// Receives until every expected frame came, or nothing came for [`DRAIN_WAIT`] after every
/// instance finished (or [`STALL_WAIT`] before).
fn receive_all<C: Transport<Peer = ConnectionId>>(
    ccf: &mut C,
    shared: &Shared,
    keys: &HashMap<[u8; 32], usize>,
    instances: usize,
) -> Outcome {
    let expected = (instances * (shared.rounds + 1)) as u64;
    let mut receiver = Receiver::new(ReceiverPolicy::for_ccf());
    let mut outcome = Outcome { latencies_s: Vec::with_capacity(instances * shared.rounds), ..Outcome::default() };
    let mut last_arrival = Instant::now();
    while outcome.accepted + outcome.rejected < expected {
        let incoming = match ccf.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => {
                let all_done = shared.finished.load(Ordering::Acquire) == instances;
                let idle = last_arrival.elapsed();
                if (all_done && idle > DRAIN_WAIT) || idle > STALL_WAIT {
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        last_arrival = Instant::now();
        match receiver.receive(&incoming.frame, now_unix_ms()) {
            Ok(accepted) => {
                outcome.accepted += 1;
                if let Message::Signal(signal) = accepted.message {
                    let arrived = shared.epoch.elapsed().as_nanos() as u64;
                    outcome.signals += 1;
                    outcome.payload_bytes += signal.payload.map_or(0, |p| p.data.len() as u64);
                    let round = accepted.header.round_id.wrapping_sub(1) as usize;
                    if let Some(&index) = keys.get(&accepted.header.sender_key)
                        && round < shared.rounds
                    {
                        let sealed = shared.sealed_at_ns[index * shared.rounds + round].load(Ordering::Acquire);
                        outcome.latencies_s.push(arrived.saturating_sub(sealed) as f64 * 1e-9);
                    }
                }
            }
            Err(error) => {
                outcome.rejected += 1;
                outcome.first_rejection.get_or_insert_with(|| error.to_string());
            }
        }
    }
    outcome
}

/// The `q`-quantile of sorted samples by nearest rank; NaN when there are none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// User + system CPU seconds of this process so far, from `/proc/self/stat` (clock ticks of
/// USER_HZ = 100, the fixed Linux ABI value); `None` where that file does not exist.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of this process, MiB, from `/proc/self/status` (`VmHWM`).
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib / 1024.0)
}

fn report(args: &LoadArgs, outcome: &Outcome, wall_s: f64, cpu_s: Option<f64>, counts: Option<&Counts>) {
    let mut latencies = outcome.latencies_s.clone();
    latencies.sort_by(f64::total_cmp);
    let per_s = |count: f64| if wall_s > 0.0 { count / wall_s } else { f64::NAN };
    let frames_expected = (args.instances * (args.rounds + 1)) as u64;
    let lost = frames_expected.saturating_sub(outcome.accepted + outcome.rejected);
    println!(
        "frames expected:  {frames_expected} ({} joins + {} signals)",
        args.instances,
        args.instances * args.rounds
    );
    println!("accepted:         {} ({} signals)", outcome.accepted, outcome.signals);
    println!("rejected:         {}", outcome.rejected);
    if let Some(reason) = &outcome.first_rejection {
        println!("first rejection:  {reason}");
    }
    println!("lost:             {lost}");
    println!("wall time:        {wall_s:.3} s (std::time::Instant, first instance spawned to last frame verified)");
    println!("signals/s:        {:.0}", per_s(outcome.signals as f64));
    println!(
        "payload MB/s:     {:.1} (10^6 bytes of signal payload accepted per second)",
        per_s(outcome.payload_bytes as f64) / 1e6
    );
    println!(
        "latency p50:      {:.1} ms (seal start to receiver accept, {} signals)",
        quantile(&latencies, 0.5) * 1e3,
        latencies.len()
    );
    println!("latency p99:      {:.1} ms", quantile(&latencies, 0.99) * 1e3);
    match cpu_s {
        Some(cpu) => println!("cpu time:         {cpu:.2} s (user + system, whole process, /proc/self/stat)"),
        None => println!("cpu time:         unavailable (no /proc/self/stat)"),
    }
    match peak_resident_mib() {
        Some(mib) => println!("peak resident:    {mib:.0} MiB (VmHWM)"),
        None => println!("peak resident:    unavailable (no /proc/self/status)"),
    }
    match counts {
        Some(Counts::Tcp(tcp)) => println!(
            "tcp:              {} connections, {} frames read, {} oversized and {} truncated disconnects, {} socket errors",
            tcp.connections, tcp.frames, tcp.oversized_disconnects, tcp.truncated_disconnects, tcp.io_errors
        ),
        Some(Counts::Grpc(grpc)) => println!(
            "grpc:             {} streams, {} frames read, {} oversized and {} malformed disconnects, {} streams lost",
            grpc.connections, grpc.frames, grpc.oversized_disconnects, grpc.malformed_disconnects, grpc.lost_streams
        ),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_rank_quantile_picks_a_sample_and_is_nan_when_empty() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&sorted, 0.5), 2.0);
        assert_eq!(quantile(&sorted, 0.99), 4.0);
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn identities_differ_by_index_and_seed() {
        assert_ne!(identity(1, 0).public_key(), identity(1, 1).public_key());
        assert_ne!(identity(1, 0).public_key(), identity(2, 0).public_key());
    }
}
