//! A personal instance: its learner (personal parameters), its private data, its local
//! training, and the learning signal it sends the CCF.
//!
//! A round, from the instance's side:
//! 1. **Catch up**: it sends a heartbeat naming the CCF version it last applied; the CCF
//!    answers with the change to the latest version if it has a newer one, and the instance
//!    adopts it (its parameters become the collective's). Late joiners and instances returning
//!    after missing rounds catch up the same way, from one message.
//! 2. **Learn**: local training on its own data; the round's change is
//!    `params_after − params_before`.
//! 3. **Signal**: the change goes through the instance's [`SignalSender`] — the same one the
//!    model experiment's instances use: clipped and privatized, error feedback, compressed,
//!    masked for secure aggregation where the round uses it, sealed for this round and base
//!    model. Raw data and parameters never leave the instance.

use dfma_protocol::dp::DpError;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::Signal;
use dfma_protocol::transport::in_process::InProcessInstance;
use dfma_protocol::transport::{Ccf as CcfPeer, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::codec::Codec;
use super::error::{FederatedError, Rejected};
use super::learner::Learner;
use super::privacy::PrivacyConfig;
use super::secure::SecureRound;
use super::sender::{SignalRound, SignalSender, SignalSpec};

/// How long a sealed message stays valid, in simulated milliseconds.
pub const EXPIRY_MS: u64 = 5 * 60 * 1000;

/// What a planted bad instance does to the signal it sends (after privacy, before compression):
/// it does not follow the protocol's clipping, which is the point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Follows the protocol.
    Honest,
    /// Sends its change multiplied by this factor.
    Scaled(f32),
    /// Sends Gaussian noise whose norm is about this many clip norms (or unit norms without DP).
    Random(f32),
    /// Learns but never sends: the control the attacks are measured against (what the others
    /// get when the bad instance's signal is removed whole).
    Silent,
}

/// The parts of a round every sending instance needs.
#[derive(Debug, Clone, Copy)]
pub struct RoundContext<'a> {
    /// The round id (envelopes carry it).
    pub round: u64,
    /// The simulated clock, Unix milliseconds.
    pub now_unix_ms: u64,
    /// Seed of the round's hashes and projections, shared so that sketches add up.
    pub sketch_seed: u64,
    /// The round's secure aggregation, if the round uses it.
    pub secure: Option<&'a SecureRound>,
}

/// What one instance sent in a round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    /// Bytes of the sealed frame.
    pub frame_bytes: usize,
    /// L2 norm of the change before clipping.
    pub change_norm: f64,
    /// ε spent after this round (infinite without noise).
    pub epsilon_spent: f64,
}

/// How an instance learns and signals (the same for every instance of an experiment).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceConfig {
    /// Local training epochs per round.
    pub local_epochs: usize,
    /// Compression of the signal.
    pub codec: Codec,
    /// Clipping, noise and budget; `None` sends the raw change (the FedAvg baseline).
    pub privacy: Option<PrivacyConfig>,
}

/// One personal instance (see the module docs).
pub struct Instance<L: Learner> {
    name: String,
    learner: L,
    train: L::Data,
    held_out: L::Data,
    /// Its copy of the collective parameters at the applied version.
    collective: Vec<f32>,
    applied_version: u64,
    round_start: Vec<f32>,
    config: InstanceConfig,
    sender: SignalSender,
    link: InProcessInstance,
    rng: StdRng,
    behaviour: Behaviour,
    joined: bool,
}

impl<L: Learner> std::fmt::Debug for Instance<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("name", &self.name)
            .field("applied_version", &self.applied_version)
            .finish_non_exhaustive()
    }
}

/// Everything [`Instance::new`] takes that is not the learner or the data.
pub struct InstanceSetup {
    /// Name in reports.
    pub name: String,
    /// Signing identity.
    pub identity: Identity,
    /// The CCF's public key: updates from any other key are refused.
    pub ccf_key: [u8; 32],
    /// The instance's end of the transport.
    pub link: InProcessInstance,
    /// Seed of the instance's training order, noise and quantization dither.
    pub seed: u64,
    /// What the instance does to its signal.
    pub behaviour: Behaviour,
}

impl<L: Learner> Instance<L> {
    /// An instance that has not joined yet; its parameters are the learner's (the common
    /// initialization every instance and the CCF start from).
    pub fn new(
        learner: L,
        train: L::Data,
        held_out: L::Data,
        config: InstanceConfig,
        setup: InstanceSetup,
    ) -> Result<Self, FederatedError> {
        let initial = learner.params();
        let mut rng = StdRng::seed_from_u64(setup.seed);
        let spec = SignalSpec {
            base_model_hash: learner.base_model_hash(),
            shapes: learner.shapes(),
            len: initial.len(),
            codec: config.codec,
        };
        let sender = SignalSender::new(setup.identity, setup.ccf_key, spec, config.privacy, rng.random())?;
        Ok(Self {
            name: setup.name,
            round_start: initial.clone(),
            collective: initial,
            learner,
            train,
            held_out,
            applied_version: 0,
            config,
            sender,
            link: setup.link,
            rng,
            behaviour: setup.behaviour,
            joined: false,
        })
    }

    /// Name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The learner (the personal parameters).
    pub fn learner(&self) -> &L {
        &self.learner
    }

    /// The held-out data.
    pub fn held_out(&self) -> &L::Data {
        &self.held_out
    }

    /// The CCF version the instance last applied (0: none).
    pub fn applied_version(&self) -> u64 {
        self.applied_version
    }

    /// Whether the instance has joined.
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// The instance's signing key.
    pub fn public_key(&self) -> [u8; 32] {
        self.sender.public_key()
    }

    /// ε spent so far (infinite without noise or without DP).
    pub fn epsilon_spent(&self) -> f64 {
        self.sender.epsilon_spent()
    }

    fn send(&mut self, frame: Vec<u8>) -> Result<usize, FederatedError> {
        let bytes = frame.len();
        self.link.send(CcfPeer, frame)?;
        Ok(bytes)
    }

    /// Sends the join message; returns the frame's bytes.
    pub fn join(&mut self, round: u64, now_unix_ms: u64) -> Result<usize, FederatedError> {
        // Secure aggregation's keys are exchanged in process for now (see `secure`); the field
        // carries the signing key's bytes so that the join is well-formed.
        let frame = self.sender.join(self.public_key(), round, now_unix_ms + EXPIRY_MS)?;
        let bytes = self.send(frame)?;
        self.joined = true;
        Ok(bytes)
    }

    /// Asks the CCF for any version newer than the applied one; returns the frame's bytes.
    pub fn request_update(&mut self, round: u64, now_unix_ms: u64) -> Result<usize, FederatedError> {
        let frame = self.sender.heartbeat(round, self.applied_version, now_unix_ms, now_unix_ms + EXPIRY_MS)?;
        self.send(frame)
    }

    /// Drains what the CCF sent and applies each valid update to a newer version, in order:
    /// each carries the change from the version its heartbeat named, and the instance's
    /// parameters become its copy of the collective. Returns the version adopted (if a newer
    /// one came) and the updates refused (forged, for another base model, the wrong length); a
    /// refused update changes nothing.
    pub fn adopt_updates(&mut self, now_unix_ms: u64) -> Result<(Option<u64>, Vec<Rejected>), FederatedError> {
        let mut adopted = None;
        let mut refused = Vec::new();
        while let Some(incoming) = self.link.recv_timeout(std::time::Duration::ZERO)? {
            match self.sender.open_update(&incoming.frame, now_unix_ms) {
                Ok((version, delta)) if version > self.applied_version => {
                    self.collective.iter_mut().zip(&delta).for_each(|(c, d)| *c += d);
                    self.applied_version = version;
                    adopted = Some(version);
                }
                Ok(_) => {}
                Err(e) => refused.push(e),
            }
        }
        if adopted.is_some() {
            self.learner.set_params(&self.collective)?;
        }
        Ok((adopted, refused))
    }

    /// Trains locally for the configured epochs, remembering where the round started.
    pub fn train(&mut self) -> Result<(), FederatedError> {
        self.round_start = self.learner.params();
        self.learner.train_local(&self.train, self.config.local_epochs, &mut self.rng)?;
        Ok(())
    }

    /// Trains without ever signalling (the isolated baseline).
    pub fn train_only(&mut self, epochs: usize) -> Result<(), FederatedError> {
        self.learner.train_local(&self.train, epochs, &mut self.rng)?;
        Ok(())
    }

    /// Builds, seals and sends this round's signal. `Ok(None)` when the privacy budget is
    /// spent: the instance then sends nothing (and nothing about it changed).
    pub fn send_signal(&mut self, ctx: &RoundContext<'_>) -> Result<Option<Sent>, FederatedError> {
        if self.behaviour == Behaviour::Silent {
            return Ok(None);
        }
        let after = self.learner.params();
        let change: Vec<f32> = after.iter().zip(&self.round_start).map(|(a, b)| a - b).collect();
        // A linear codec's sketches add up under the round's shared seed only; quantization
        // dithers with the instance's own.
        let seed = if self.config.codec.is_linear() { ctx.sketch_seed } else { self.rng.random() };
        let at = SignalRound { seed, expires_ms: ctx.now_unix_ms + EXPIRY_MS, secure: ctx.secure };
        let (behaviour, clip) = (self.behaviour, self.config.privacy.map_or(1.0, |p| p.clip_norm) as f32);
        let rng = &mut self.rng;
        let sealed = match self.sender.signal_tampered(ctx.round, &change, at, |x| tamper(behaviour, clip, x, rng)) {
            Ok(sealed) => sealed,
            Err(FederatedError::Dp(DpError::BudgetExceeded { .. })) => return Ok(None),
            Err(e) => return Err(e),
        };
        let frame_bytes = self.send(sealed.frame)?;
        Ok(Some(Sent { frame_bytes, change_norm: sealed.stats.norm, epsilon_spent: sealed.stats.epsilon }))
    }

    /// Seals an arbitrary signal under this instance's key, for tests of what the CCF refuses.
    pub fn seal_raw(&mut self, round: u64, now_unix_ms: u64, signal: Signal) -> Result<Vec<u8>, FederatedError> {
        self.sender.seal_raw(round, now_unix_ms + EXPIRY_MS, signal)
    }

    /// The signal this instance would send, as a message, without sending it or changing
    /// anything (for tests that alter one field).
    pub fn draft_signal(&self, seed: u64) -> Signal {
        let change: Vec<f32> = self.learner.params().iter().zip(&self.round_start).map(|(a, b)| a - b).collect();
        self.sender.draft(&change, seed)
    }
}

/// What a planted bad instance sends instead of its clipped change: it ×`factor`, or Gaussian
/// noise of about `norms` clip norms (`clip`: the clip norm, 1 without DP).
fn tamper(behaviour: Behaviour, clip: f32, change: &mut [f32], rng: &mut StdRng) {
    match behaviour {
        Behaviour::Honest | Behaviour::Silent => {}
        Behaviour::Scaled(factor) => change.iter_mut().for_each(|c| *c *= factor),
        Behaviour::Random(norms) => {
            let per = norms * clip / (change.len() as f32).sqrt();
            for c in change.iter_mut() {
                // A sum of 12 uniforms: close enough to Gaussian for an attacker.
                let g: f32 = (0..12).map(|_| rng.random::<f32>()).sum::<f32>() - 6.0;
                *c = g * per;
            }
        }
    }
}
