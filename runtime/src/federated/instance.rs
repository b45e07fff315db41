//! A personal instance: its learner (personal parameters), its private data, its local
//! training, and the learning signal it sends the CCF.
//!
//! A round, from the instance's side:
//! 1. **Catch up**: it sends a heartbeat naming the CCF version it last applied; the CCF
//!    answers with the latest version if it has a newer one, and the instance adopts it
//!    (its parameters become the collective's). Late joiners and instances returning after
//!    missing rounds catch up the same way, from one message.
//! 2. **Learn**: local training on its own data; the round's change is
//!    `params_after − params_before`.
//! 3. **Signal**: the change is clipped and privatized ([`super::privacy`]); the residual that
//!    compression left out last round is added (error feedback, kept on the instance, never
//!    sent); the sum is compressed ([`super::codec`]), masked for secure aggregation where the
//!    round uses it ([`super::secure`]), and sealed in a signed signal for this round and base
//!    model. Raw data and parameters never leave the instance.

use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{Capabilities, CcfUpdate, Heartbeat, Join, Message, PrivacyParameters, Signal};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};
use dfma_protocol::transport::in_process::InProcessInstance;
use dfma_protocol::transport::{Ccf as CcfPeer, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::codec::Codec;
use super::error::{FederatedError, Rejected, hex};
use super::learner::Learner;
use super::privacy::{PrivacyConfig, Privatizer};
use super::secure::{FRACTIONAL_BITS, SecureRound};

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
    initial: Vec<f32>,
    applied_version: u64,
    round_start: Vec<f32>,
    residual: Vec<f32>,
    privatizer: Option<Privatizer>,
    config: InstanceConfig,
    sealer: Sealer,
    receiver: Receiver,
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
        let privatizer = match config.privacy {
            Some(p) => Some(Privatizer::new(p, rng.random())?),
            None => None,
        };
        Ok(Self {
            name: setup.name,
            residual: vec![0.0; initial.len()],
            round_start: initial.clone(),
            initial,
            learner,
            train,
            held_out,
            applied_version: 0,
            privatizer,
            config,
            sealer: Sealer::new(setup.identity),
            receiver: Receiver::new(ReceiverPolicy::for_instance(setup.ccf_key)),
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
        self.sealer.public_key()
    }

    /// ε spent so far (infinite without noise or without DP).
    pub fn epsilon_spent(&self) -> f64 {
        self.privatizer.as_ref().map_or(f64::INFINITY, Privatizer::epsilon_spent)
    }

    fn seal_and_send(&mut self, round: u64, now: u64, message: &Message) -> Result<usize, FederatedError> {
        let frame = self.sealer.seal(round, now + EXPIRY_MS, message)?;
        let bytes = frame.len();
        self.link.send(CcfPeer, frame)?;
        Ok(bytes)
    }

    /// Sends the join message; returns the frame's bytes.
    pub fn join(&mut self, round: u64, now_unix_ms: u64) -> Result<usize, FederatedError> {
        let join = Join {
            // Secure aggregation's keys are exchanged in process for now (see `secure`); the
            // field carries the signing key's bytes so that the join is well-formed.
            agreement_public_key: self.public_key().to_vec(),
            capabilities: Some(Capabilities { secure_aggregation: true, ..Capabilities::default() }),
            client_name: "dfma-runtime federated instance".into(),
        };
        let bytes = self.seal_and_send(round, now_unix_ms, &Message::Join(join))?;
        self.joined = true;
        Ok(bytes)
    }

    /// Asks the CCF for any version newer than the applied one; returns the frame's bytes.
    pub fn request_update(&mut self, round: u64, now_unix_ms: u64) -> Result<usize, FederatedError> {
        let heartbeat = Heartbeat { sent_at_unix_ms: now_unix_ms, applied_ccf_version: self.applied_version };
        self.seal_and_send(round, now_unix_ms, &Message::Heartbeat(heartbeat))
    }

    /// Drains what the CCF sent and adopts the newest valid version. Returns the version
    /// adopted (if a newer one came) and the updates refused (forged, for another base model,
    /// the wrong length); a refused update changes nothing.
    pub fn adopt_updates(&mut self, now_unix_ms: u64) -> Result<(Option<u64>, Vec<Rejected>), FederatedError> {
        let mut newest: Option<CcfUpdate> = None;
        let mut refused = Vec::new();
        while let Some(incoming) = self.link.recv_timeout(std::time::Duration::ZERO)? {
            match self.check_update(&incoming.frame, now_unix_ms) {
                Ok(update) => {
                    if newest.as_ref().is_none_or(|n| update.ccf_version > n.ccf_version) {
                        newest = Some(update);
                    }
                }
                Err(e) => refused.push(e),
            }
        }
        let Some(update) = newest.filter(|u| u.ccf_version > self.applied_version) else {
            return Ok((None, refused));
        };
        // Checked in `check_update`: F32 of the parameter count, finite.
        let delta = update.delta.as_ref().map(TensorPayload::to_f32).transpose()?.unwrap_or_default();
        let params: Vec<f32> = self.initial.iter().zip(&delta).map(|(p, d)| p + d).collect();
        self.learner.set_params(&params)?;
        self.applied_version = update.ccf_version;
        Ok((Some(update.ccf_version), refused))
    }

    fn check_update(&mut self, frame: &[u8], now: u64) -> Result<CcfUpdate, Rejected> {
        let accepted = self.receiver.check(frame, now)?;
        let Message::CcfUpdate(update) = accepted.message else {
            return Err(Rejected::Unexpected("non-update"));
        };
        let hash = self.learner.base_model_hash();
        if update.base_model_hash != hash {
            return Err(Rejected::WrongBaseModel { expected: hex(&hash), got: hex(&update.base_model_hash) });
        }
        let delta = update.delta.as_ref().map(TensorPayload::to_f32).transpose()?.unwrap_or_default();
        if delta.len() != self.initial.len() || delta.iter().any(|v| !v.is_finite()) {
            return Err(Rejected::WrongShapes);
        }
        self.receiver.receive(frame, now)?;
        Ok(update)
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
        let after = self.learner.params();
        let mut change: Vec<f32> = after.iter().zip(&self.round_start).map(|(a, b)| a - b).collect();
        let change_norm = dfma_protocol::dp::clip::l2_norm(&change);
        let (wire_privacy, epsilon_spent) = match &mut self.privatizer {
            Some(p) => match p.privatize(&mut change) {
                Ok(report) => (p.config().parameters().to_wire(), report.epsilon_spent),
                Err(dfma_protocol::dp::DpError::BudgetExceeded { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            None => (PrivacyParameters::default(), f64::INFINITY),
        };
        self.tamper(&mut change);
        let codec = self.config.codec;
        // Error feedback: what compression left out last round rides along this round.
        let target: Vec<f32> = change.iter().zip(&self.residual).map(|(c, r)| c + r).collect();
        let seed = if codec.is_linear() { ctx.sketch_seed } else { self.rng.random() };
        let (compression, payload, privacy) = match ctx.secure {
            Some(secure) => {
                let masked = secure.mask(&self.public_key(), &codec.sketch(&target, seed))?;
                let privacy = PrivacyParameters {
                    secure_aggregation: true,
                    fixed_point_fractional_bits: FRACTIONAL_BITS,
                    ..wire_privacy
                };
                (codec.description(target.len(), seed), TensorPayload::from_u32(&masked), privacy)
            }
            None => {
                let (c, p) = codec.encode(&target, seed);
                (c, p, wire_privacy)
            }
        };
        let decoded = codec.round_trip(&target, seed);
        let signal = Signal {
            base_model_hash: self.learner.base_model_hash().to_vec(),
            adapter_shapes: self.learner.shapes(),
            compression: Some(compression),
            privacy: Some(privacy),
            payload: Some(payload),
        };
        let frame_bytes = self.seal_and_send(ctx.round, ctx.now_unix_ms, &Message::Signal(signal))?;
        self.residual = target.iter().zip(&decoded).map(|(t, d)| t - d).collect();
        Ok(Some(Sent { frame_bytes, change_norm, epsilon_spent }))
    }

    fn tamper(&mut self, change: &mut [f32]) {
        match self.behaviour {
            Behaviour::Honest => {}
            Behaviour::Scaled(factor) => change.iter_mut().for_each(|c| *c *= factor),
            Behaviour::Random(norms) => {
                let clip = self.config.privacy.map_or(1.0, |p| p.clip_norm) as f32;
                let per = norms * clip / (change.len() as f32).sqrt();
                for c in change.iter_mut() {
                    // A sum of 12 uniforms: close enough to Gaussian for an attacker.
                    let g: f32 = (0..12).map(|_| self.rng.random::<f32>()).sum::<f32>() - 6.0;
                    *c = g * per;
                }
            }
        }
    }

    /// Seals an arbitrary signal under this instance's key, for tests of what the CCF refuses.
    pub fn seal_raw(&mut self, round: u64, now_unix_ms: u64, signal: Signal) -> Result<Vec<u8>, FederatedError> {
        Ok(self.sealer.seal(round, now_unix_ms + EXPIRY_MS, &Message::Signal(signal))?)
    }

    /// The signal this instance would send, as a message, without sending it or changing
    /// anything (for tests that alter one field).
    pub fn draft_signal(&self, seed: u64) -> Signal {
        let change: Vec<f32> = self.learner.params().iter().zip(&self.round_start).map(|(a, b)| a - b).collect();
        let (compression, payload) = self.config.codec.encode(&change, seed);
        Signal {
            base_model_hash: self.learner.base_model_hash().to_vec(),
            adapter_shapes: self.learner.shapes(),
            compression: Some(compression),
            privacy: Some(self.config.privacy.map(|p| p.parameters().to_wire()).unwrap_or_default()),
            payload: Some(payload),
        }
    }
}
