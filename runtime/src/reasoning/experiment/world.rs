//! The instances of one method: their private questions and held-out sets (the same for every
//! method: drawn from the instance's own seed), personal adapters, and — for the federated
//! methods — their signal senders, their copy of the collective adapter and the CCF.

use dfma_protocol::identity::Identity;
use dfma_protocol::messages::AdapterShape;
use dfma_reference::seed::rng_for;
use rand::Rng;

use super::config::{ExperimentConfig, Method};
use super::run::ExperimentError;
use crate::federated::aggregate::Aggregation;
use crate::federated::ccf::{Ccf, CcfConfig};
use crate::federated::codec::Codec;
use crate::federated::error::Rejected;
use crate::federated::privacy::PrivacyConfig;
use crate::federated::sender::{SignalSender, SignalSpec};
use crate::model::adapter::Adapter;
use crate::model::config::LlamaConfig;
use crate::model::error::ModelError;
use crate::reasoning::tasks::Task;

/// Streams of randomness, mixed with the seed so every draw has its own.
pub(super) mod stream {
    pub const HELD_OUT: u64 = 1;
    pub const QUESTIONS: u64 = 2;
    pub const SAMPLING: u64 = 3;
    pub const TRAINING: u64 = 4;
    pub const DROPOUT: u64 = 5;
    pub const IDENTITY: u64 = 6;
    pub const CODEC: u64 = 7;
    pub const BAD: u64 = 8;
    pub const ADAPTER: u64 = 9;
}

/// A stream for (what, instance, round, method).
pub(super) fn tag(what: u64, instance: usize, round: usize, method: Method) -> u64 {
    what << 48 ^ (instance as u64) << 32 ^ (round as u64) << 8 ^ method as u64
}

/// Where `method`'s rounds' sketch seeds start: the CCF checks linear sketches against them,
/// and each instance signals under
/// [`sketch_seed`](crate::federated::ccf::sketch_seed)`(base, round)`.
pub(super) fn sketch_seed_base(cfg: &ExperimentConfig, method: Method) -> u64 {
    cfg.seed ^ tag(stream::CODEC, 0, 0, method)
}

/// One personal instance under one method.
pub(super) struct Instance {
    pub held_out: Vec<Task>,
    pub personal: Adapter,
    /// Its copy of the collective adapter (federated methods).
    pub collective: Option<Adapter>,
    pub applied_version: u64,
    pub sender: Option<SignalSender>,
    pub joined: bool,
    pub bytes_sent: u64,
    pub joules: f64,
}

/// One method's instances and CCF.
pub(super) struct World {
    pub method: Method,
    pub instances: Vec<Instance>,
    pub ccf: Option<Ccf>,
    /// The pooled method's one adapter.
    pub pooled: Option<Adapter>,
}

fn secret(seed: u64, stream_tag: u64) -> [u8; 32] {
    let mut rng = rng_for(seed, stream_tag);
    std::array::from_fn(|_| rng.random())
}

/// The adapter every instance starts from: B = 0, A from the shared seed, so personal and
/// collective adapters share A and add by their B's.
pub(super) fn fresh_adapter(cfg: &ExperimentConfig, c: &LlamaConfig, base: &str) -> Result<Adapter, ModelError> {
    Adapter::init(c, base, &cfg.layers, &cfg.projections, cfg.rank, cfg.alpha, cfg.seed ^ stream::ADAPTER)
}

/// The held-out set of instance `i`: every kind, the same for every method.
pub(super) fn held_out(cfg: &ExperimentConfig, i: usize) -> Vec<Task> {
    let mut rng = rng_for(cfg.seed, tag(stream::HELD_OUT, i, 0, Method::Isolated));
    cfg.kinds
        .iter()
        .flat_map(|&(k, d)| (0..cfg.held_out_per_kind).map(|_| k.generate(d, &mut rng)).collect::<Vec<_>>())
        .collect()
}

impl World {
    /// The instances of `method`, before round 1.
    pub fn new(
        cfg: &ExperimentConfig,
        method: Method,
        c: &LlamaConfig,
        base_sha256: &str,
        base_hash: [u8; 32],
    ) -> Result<World, ExperimentError> {
        let fresh = fresh_adapter(cfg, c, base_sha256)?;
        let federated = matches!(method, Method::Collective | Method::FedAvg);
        let (codec, aggregation) = match method {
            Method::Collective => (cfg.codec, cfg.aggregation),
            _ => (Codec::None, Aggregation::Mean),
        };
        let shapes: Vec<AdapterShape> = fresh
            .factors
            .iter()
            .map(|(&(l, p), f)| AdapterShape {
                name: format!("blk.{l}.{}.weight", p.gguf_name()),
                rows: f.rows as u32,
                cols: f.cols as u32,
                rank: fresh.rank as u32,
            })
            .collect();
        let ccf = if federated {
            let id = Identity::from_secret_bytes(secret(cfg.seed, tag(stream::IDENTITY, usize::MAX >> 16, 0, method)));
            let config = CcfConfig {
                base_model_hash: base_hash,
                shapes: shapes.clone(),
                initial: vec![0.0; fresh.b_len()],
                codec,
                aggregation,
                secure_aggregation: false,
                step: cfg.server_step,
                sketch_seed_base: sketch_seed_base(cfg, method),
            };
            Some(Ccf::new(config, id)?)
        } else {
            None
        };
        let mut instances = Vec::new();
        for i in 0..cfg.instances {
            let sender = match &ccf {
                Some(ccf) => {
                    let privacy = PrivacyConfig {
                        clip_norm: cfg.clip_norm,
                        noise_multiplier: cfg.noise_multiplier,
                        epsilon_budget: cfg.epsilon_budget,
                        delta: 1e-5,
                    };
                    let spec =
                        SignalSpec { base_model_hash: base_hash, shapes: shapes.clone(), len: fresh.b_len(), codec };
                    let id = Identity::from_secret_bytes(secret(cfg.seed, tag(stream::IDENTITY, i, 0, method)));
                    let noise_seed = secret(cfg.seed, tag(stream::IDENTITY, i, 1, method));
                    Some(SignalSender::new(id, ccf.public_key(), spec, Some(privacy), noise_seed)?)
                }
                None => None,
            };
            instances.push(Instance {
                held_out: held_out(cfg, i),
                personal: fresh.clone(),
                collective: federated.then(|| fresh.clone()),
                applied_version: 0,
                sender,
                joined: false,
                bytes_sent: 0,
                joules: 0.0,
            });
        }
        let pooled = (method == Method::Pooled).then(|| fresh.clone());
        Ok(World { method, instances, ccf, pooled })
    }

    /// Brings instance `i` to the CCF's current version (a join's catch-up, a return after a
    /// drop-out, or the end of a round).
    pub fn catch_up(&mut self, i: usize, now_ms: u64) -> Result<(), Rejected> {
        let (Some(ccf), inst) = (self.ccf.as_mut(), &mut self.instances[i]) else { return Ok(()) };
        if inst.applied_version == ccf.version() {
            return Ok(());
        }
        let frame = ccf.update_from(inst.applied_version, now_ms + 60_000)?;
        self.apply_update(i, &frame, now_ms)
    }

    /// Opens a CCF update for instance `i` (checked by its receiver) and adds its delta to the
    /// instance's collective copy, unless it holds that version already (then nothing changes, so
    /// an update that carries no news leaves the adapter's bits as they are).
    pub fn apply_update(&mut self, i: usize, frame: &[u8], now_ms: u64) -> Result<(), Rejected> {
        let inst = &mut self.instances[i];
        let sender = inst.sender.as_mut().ok_or(Rejected::Unexpected("update to a non-federated instance"))?;
        let (version, delta) = sender.open_update(frame, now_ms)?;
        if version == inst.applied_version {
            return Ok(());
        }
        let collective = inst.collective.as_mut().ok_or(Rejected::Unexpected("update without a copy"))?;
        collective.add_to_b(&delta).map_err(|_| Rejected::Unexpected("update of another size"))?;
        inst.applied_version = version;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_instance_round_and_method() {
        let mut tags = std::collections::HashSet::new();
        for what in [stream::HELD_OUT, stream::QUESTIONS, stream::SAMPLING] {
            for i in 0..8 {
                for r in 0..8 {
                    for m in Method::ALL {
                        assert!(tags.insert(tag(what, i, r, m)), "{what} {i} {r} {m:?}");
                    }
                }
            }
        }
    }
}
