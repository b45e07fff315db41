//! The round loop: every method steps through the same rounds on the same questions.
//!
//! A round of a federated method: each joined instance (a late one joins first and catches up)
//! answers its questions, keeps its accepted answers and trains its personal adapter on top of
//! its copy of the collective adapter; its change of B over the round becomes a sealed signal
//! sent through the in-process transport — unless it drops out mid-round, when the signal never
//! arrives. The CCF takes what arrived (nothing waits for a missing instance), closes the round
//! and every instance catches up to the new version. Then each instance is evaluated on its
//! held-out set with its personal and collective adapters acting.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dfma_protocol::transport::in_process::{InProcessCcf, InProcessInstance, in_process};
use dfma_protocol::transport::{Ccf as CcfPeer, Transport};
use dfma_reference::seed::rng_for;
use rand::Rng;
use rand::seq::SliceRandom;

use super::config::{BadSignal, ExperimentConfig, Method};
use super::report::RoundRecord;
use super::world::{World, sketch_seed_base, stream, tag};
use crate::energy::EnergyMeter;
use crate::federated::ccf::sketch_seed;
use crate::federated::sender::{Sealed, SignalRound};
use crate::model::error::ModelError;
use crate::model::forward::Model;
use crate::model::tokenizer::Tokenizer;
use crate::model::train::{AdamW, Example};
use crate::reasoning::self_train::{accuracy, gather, learn};
use crate::reasoning::tasks::Task;

/// Why an experiment stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A signal or update was refused where none should be.
    #[error(transparent)]
    Refused(#[from] crate::federated::error::Rejected),
    /// The federated stack failed (sealing, privacy, the CCF).
    #[error(transparent)]
    Federated(#[from] crate::federated::error::FederatedError),
    /// Bad configuration or checkpoint.
    #[error("{0}")]
    Config(String),
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Joules on `meter` between two readings (0 without a meter).
fn joules(
    meter: Option<&dyn EnergyMeter>,
    f: impl FnOnce() -> Result<(), ExperimentError>,
) -> Result<f64, ExperimentError> {
    let before = meter.and_then(|m| m.read().ok());
    f()?;
    let after = meter.and_then(|m| m.read().ok());
    Ok(match (before, after) {
        (Some(b), Some(a)) => {
            crate::energy::energy_between(&b, &a).map_or(0.0, |(d, _)| d.iter().map(|x| x.energy_j).sum())
        }
        _ => 0.0,
    })
}

/// The model, its tokenizer and how to measure.
pub struct Runtime<'m, 'b> {
    /// The base model (adapters are attached and removed per instance).
    pub model: &'m mut Model<'b>,
    /// Its tokenizer.
    pub tokenizer: &'m Tokenizer,
    /// The energy meter, if any.
    pub meter: Option<&'m dyn EnergyMeter>,
}

/// A method's state between rounds, with its transport.
pub(super) struct Running {
    pub world: World,
    ccf_end: Option<InProcessCcf>,
    instance_ends: Vec<Option<InProcessInstance>>,
}

impl Running {
    /// The CCF takes every frame waiting on its end, as a live CCF does as they arrive (so a
    /// frame's expiry needs to cover its transit, not the rest of the round).
    fn drain(&mut self) -> Result<(), ExperimentError> {
        if let (Some(ccf), Some(end)) = (self.world.ccf.as_mut(), self.ccf_end.as_mut()) {
            while let Ok(Some(incoming)) = end.recv_timeout(Duration::from_millis(1)) {
                ccf.receive(&incoming.frame, now_ms())?;
            }
        }
        Ok(())
    }

    pub fn new(world: World) -> Running {
        let federated = world.ccf.is_some();
        let (ccf_end, connector) = in_process(4 * world.instances.len() + 4);
        let instance_ends = world.instances.iter().map(|_| federated.then(|| connector.connect())).collect();
        Running { world, ccf_end: federated.then_some(ccf_end), instance_ends }
    }
}

/// The questions instance `i` answers in `round` (the same under every method), each with
/// the round's worked examples of its kind.
fn questions(cfg: &ExperimentConfig, i: usize, round: usize) -> Vec<(Task, Vec<Task>)> {
    let mut rng = rng_for(cfg.seed, tag(stream::QUESTIONS, i, round, Method::Isolated));
    let kinds = cfg.kinds_of(i);
    // One set of worked examples per kind per round, shared by that kind's questions.
    let demos: Vec<Vec<Task>> =
        kinds.iter().map(|&(k, d)| (0..cfg.self_train.demos).map(|_| k.generate(d, &mut rng)).collect()).collect();
    (0..cfg.questions)
        .map(|q| {
            let (k, d) = kinds[q % kinds.len()];
            (k.generate(d, &mut rng), demos[q % kinds.len()].clone())
        })
        .collect()
}

/// Whether instance `i` takes part in `round`.
pub(super) fn joined(cfg: &ExperimentConfig, i: usize, round: usize) -> bool {
    cfg.late_join.is_none_or(|(late, from)| late != i || round >= from)
}

/// Instances that drop out mid-round in `round` (a seeded ⌈fraction⌉ of the joined ones).
pub(super) fn dropped(cfg: &ExperimentConfig, round: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..cfg.instances).filter(|&i| joined(cfg, i, round)).collect();
    let count = (cfg.dropout * ids.len() as f64).ceil() as usize;
    ids.shuffle(&mut rng_for(cfg.seed, tag(stream::DROPOUT, 0, round, Method::Isolated)));
    ids.truncate(count);
    ids
}

/// Evaluates instance `i` on its held-out set with its personal and collective adapters
/// acting: overall accuracy, on the kinds it sees, on those it does not, and per kind.
pub(super) fn evaluate_one(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    world: &World,
    i: usize,
    rec: &mut RoundRecord,
) -> Result<(), ExperimentError> {
    let inst = &world.instances[i];
    rt.model.detach_all();
    if let Some(c) = &inst.collective {
        rt.model.attach(c.clone())?;
    }
    let personal = world.pooled.as_ref().unwrap_or(&inst.personal);
    let right = accuracy(rt.model, rt.tokenizer, Some(personal), &inst.held_out, cfg.self_train.max_answer_tokens)?;
    rt.model.detach_all();
    let seen: Vec<_> = cfg.kinds_of(i).iter().map(|k| k.0).collect();
    let by_kind: Vec<f64> =
        right.chunks(cfg.held_out_per_kind).map(|c| c.iter().filter(|&&r| r).count() as f64 / c.len() as f64).collect();
    let mean = |pick: &dyn Fn(bool) -> bool| {
        let v: Vec<f64> =
            cfg.kinds.iter().zip(&by_kind).filter(|(k, _)| pick(seen.contains(&k.0))).map(|(_, a)| *a).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    rec.accuracy[i] = mean(&|_| true);
    rec.seen_accuracy[i] = mean(&|s| s);
    rec.unseen_accuracy[i] = mean(&|s| !s);
    rec.accuracy_by_kind[i] = Some(by_kind);
    Ok(())
}

/// Evaluates every joined instance.
fn evaluate(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    world: &World,
    round: usize,
    rec: &mut RoundRecord,
) -> Result<(), ExperimentError> {
    for i in 0..world.instances.len() {
        if joined(cfg, i, round.max(1)) {
            evaluate_one(rt, cfg, world, i, rec)?;
        }
    }
    Ok(())
}

/// An empty record for `round` of `cfg.instances` instances.
pub(super) fn blank(cfg: &ExperimentConfig, round: usize) -> RoundRecord {
    let n = cfg.instances;
    RoundRecord {
        round,
        accuracy: vec![None; n],
        seen_accuracy: vec![None; n],
        unseen_accuracy: vec![None; n],
        accuracy_by_kind: vec![None; n],
        bytes_sent: vec![0; n],
        joules: vec![0.0; n],
        accepted: vec![0; n],
        change_norm: vec![None; n],
        signals_aggregated: 0,
        seconds: 0.0,
    }
}

/// Round 0: every instance on the base model (the "no learning" baseline, shared by all
/// methods since all start from the same adapters).
pub(super) fn round_zero(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    world: &World,
) -> Result<RoundRecord, ExperimentError> {
    let t0 = Instant::now();
    let mut rec = blank(cfg, 0);
    evaluate(rt, cfg, world, 0, &mut rec)?;
    rec.seconds = t0.elapsed().as_secs_f64();
    Ok(rec)
}

/// What a planted bad instance does to its clipped change before it is compressed.
fn tamper(cfg: &ExperimentConfig, x: &mut [f32], kind: BadSignal, round: usize) {
    match kind {
        BadSignal::Scaled => x.iter_mut().for_each(|v| *v *= 100.0),
        BadSignal::Random => {
            let mut rng = rng_for(cfg.seed, tag(stream::BAD, 0, round, Method::Collective));
            let bound = (3.0 / x.len() as f64).sqrt() as f32 * cfg.clip_norm as f32 * 100.0;
            x.iter_mut().for_each(|v| *v = rng.random_range(-bound..bound));
        }
        BadSignal::Silent => {}
    }
}

/// What instance `i` does in `round` once it holds the round's collective version: answers its
/// questions, keeps the accepted answers and trains its personal adapter on them (or, under the
/// pooled method, hands them to `pooled_examples`); then — for a federated method, unless it
/// drops out mid-round — seals its change of B as the signal it sends. Returns that frame.
#[allow(clippy::too_many_arguments)]
pub(super) fn work(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    world: &mut World,
    i: usize,
    round: usize,
    drops_out: bool,
    pooled_examples: &mut Vec<Example>,
    rec: &mut RoundRecord,
) -> Result<Option<Vec<u8>>, ExperimentError> {
    let method = world.method;
    let qs = questions(cfg, i, round);
    let inst = &mut world.instances[i];
    rt.model.detach_all();
    if let Some(c) = &inst.collective {
        rt.model.attach(c.clone())?;
    }
    // The same sampling and training draws under every method (common random numbers): a
    // method's difference from another is its adapters', not its luck.
    let sampling_seed = cfg.seed ^ tag(stream::SAMPLING, i, round, Method::Isolated);
    let mut training = rng_for(cfg.seed, tag(stream::TRAINING, i, round, Method::Isolated));
    let personal_now = world.pooled.as_ref().unwrap_or(&inst.personal).clone();
    let start = inst.personal.b_vector();
    let mut accepted = 0;
    let spent = joules(rt.meter, || {
        let report = gather(rt.model, rt.tokenizer, &personal_now, &qs, &cfg.self_train, sampling_seed)?;
        accepted = report.accepted;
        if method == Method::Pooled {
            pooled_examples.extend(report.examples);
        } else {
            let mut opt = AdamW::new(cfg.lr, 0.0);
            opt.freeze_a = true;
            learn(rt.model, &mut inst.personal, &mut opt, &report.examples, &cfg.self_train, &mut training)?;
        }
        Ok(())
    })?;
    rt.model.detach_all();
    inst.joules += spent;
    rec.accepted[i] = accepted;
    let Some(sender) = inst.sender.as_mut() else { return Ok(None) };
    let bad = cfg.bad.and_then(|(bad, kind)| (bad == i).then_some(kind));
    if drops_out || bad == Some(BadSignal::Silent) {
        return Ok(None);
    }
    let change: Vec<f32> = inst.personal.b_vector().iter().zip(&start).map(|(a, b)| a - b).collect();
    let codec_seed = sketch_seed(sketch_seed_base(cfg, method), round as u64);
    let at = SignalRound { seed: codec_seed, expires_ms: now_ms() + 60_000, secure: None };
    let Sealed { frame, stats, shared } = sender.signal_tampered(round as u64, &change, at, |x| {
        if let Some(kind) = bad {
            tamper(cfg, x, kind, round);
        }
    })?;
    // What the collective now carries leaves the personal adapter, so the instance's own
    // change acts once: in the collective when shared, in the personal if not. (A planted bad
    // instance sent something else than its change, and keeps its adapter as it is.)
    if bad.is_none() {
        let unshare: Vec<f32> = shared.iter().map(|v| -v).collect();
        inst.personal.add_to_b(&unshare)?;
    }
    inst.bytes_sent += stats.frame_bytes as u64;
    rec.change_norm[i] = Some(stats.norm);
    Ok(Some(frame))
}

/// One round of one method, every instance in this process.
pub(super) fn step(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    run: &mut Running,
    round: usize,
    prev: &RoundRecord,
) -> Result<RoundRecord, ExperimentError> {
    let t0 = Instant::now();
    let method = run.world.method;
    let mut rec = blank(cfg, round);
    rec.bytes_sent.clone_from(&prev.bytes_sent);
    rec.joules.clone_from(&prev.joules);
    let drop = dropped(cfg, round);
    let mut pooled_examples: Vec<Example> = Vec::new();
    for i in 0..cfg.instances {
        if !joined(cfg, i, round) {
            continue;
        }
        if !run.world.instances[i].joined {
            if let (Some(end), Some(sender)) = (run.instance_ends[i].as_mut(), run.world.instances[i].sender.as_mut()) {
                let frame = sender.join([i as u8; 32], round as u64, now_ms() + 60_000)?;
                end.send(CcfPeer, frame).map_err(|e| ExperimentError::Config(format!("transport: {e}")))?;
            }
            run.world.instances[i].joined = true;
            run.drain()?;
        }
        run.world.catch_up(i, now_ms())?;
        let frame = work(rt, cfg, &mut run.world, i, round, drop.contains(&i), &mut pooled_examples, &mut rec)?;
        if let (Some(frame), Some(end)) = (frame, run.instance_ends[i].as_mut()) {
            end.send(CcfPeer, frame).map_err(|e| ExperimentError::Config(format!("transport: {e}")))?;
        }
        run.drain()?;
    }
    if method == Method::Pooled {
        let pooled = run.world.pooled.as_mut().expect("the pooled method has its adapter");
        let mut training = rng_for(cfg.seed, tag(stream::TRAINING, 0, round, method));
        let mut opt = AdamW::new(cfg.lr, 0.0);
        opt.freeze_a = true;
        let share = joules(rt.meter, || {
            Ok(learn(rt.model, pooled, &mut opt, &pooled_examples, &cfg.self_train, &mut training).map(|_| ())?)
        })?;
        for inst in &mut run.world.instances {
            inst.joules += share / cfg.instances as f64;
        }
    }
    run.drain()?;
    if let Some(ccf) = run.world.ccf.as_mut() {
        rec.signals_aggregated = ccf.close_round(None)?.aggregated;
        for i in 0..cfg.instances {
            if run.world.instances[i].joined {
                run.world.catch_up(i, now_ms())?;
            }
        }
    }
    for (i, inst) in run.world.instances.iter().enumerate() {
        rec.bytes_sent[i] = inst.bytes_sent;
        rec.joules[i] = inst.joules;
    }
    evaluate(rt, cfg, &run.world, round, &mut rec)?;
    rec.seconds = t0.elapsed().as_secs_f64();
    Ok(rec)
}
