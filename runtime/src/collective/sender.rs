//! The instance's side: its adapter change over a round becomes one sealed signal — clipped to
//! the L2 bound, noised when differential privacy asks for it (the accountant refuses a round
//! that would overspend the budget), then compressed, with the compression's error kept for the
//! next round (error feedback) — and CCF updates are checked and opened.

use dfma_protocol::dp::DpParameters;
use dfma_protocol::dp::budget::PrivacyBudget;
use dfma_protocol::dp::clip::clip_l2;
use dfma_protocol::dp::noise::GaussianNoise;
use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{AdapterShape, Message, Signal};
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};

use super::codec::{Codec, decode};
use super::error::CollectiveError;

/// What one signal cost and carried.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignalStats {
    /// Bytes of the sealed frame.
    pub frame_bytes: usize,
    /// L2 norm of the change before clipping.
    pub norm: f64,
    /// Whether it was clipped.
    pub clipped: bool,
    /// ε spent so far (infinite without noise).
    pub epsilon: f64,
}

/// An instance's signing identity, its codec state and its privacy account.
pub struct SignalSender {
    sealer: Sealer,
    receiver: Receiver,
    codec: Codec,
    residual: Vec<f32>,
    dp: DpParameters,
    noise: GaussianNoise,
    budget: Option<PrivacyBudget>,
    base_hash: [u8; 32],
    shapes: Vec<AdapterShape>,
}

impl SignalSender {
    /// A sender for `identity`, trusting updates signed by `ccf_key`. `budget` is the (ε, δ)
    /// the instance may spend; without one (or without noise) no privacy is claimed.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        identity: Identity,
        ccf_key: [u8; 32],
        codec: Codec,
        dp: DpParameters,
        budget: Option<PrivacyBudget>,
        noise_seed: [u8; 32],
        base_hash: [u8; 32],
        shapes: Vec<AdapterShape>,
    ) -> Self {
        SignalSender {
            sealer: Sealer::new(identity),
            receiver: Receiver::new(ReceiverPolicy::for_instance(ccf_key)),
            codec,
            residual: Vec::new(),
            dp,
            noise: GaussianNoise::from_seed(noise_seed),
            budget,
            base_hash,
            shapes,
        }
    }

    /// The instance's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.sealer.public_key()
    }

    /// The sealed join message (first of every instance), announcing the first round it takes
    /// part in (the join's round id): a CCF waits for a member's report only from that round on.
    pub fn join(
        &mut self,
        agreement_key: [u8; 32],
        from_round: u64,
        expires_ms: u64,
    ) -> Result<Vec<u8>, CollectiveError> {
        let join = dfma_protocol::messages::Join {
            agreement_public_key: agreement_key.to_vec(),
            capabilities: None,
            client_name: format!("dfma {}", env!("CARGO_PKG_VERSION")),
        };
        Ok(self.sealer.seal(from_round, expires_ms, &Message::Join(join))?)
    }

    /// The sealed heartbeat for `round`: the instance is done with every earlier round, holds
    /// CCF version `applied_version`, and asks for the update to the version `round` starts
    /// from.
    pub fn heartbeat(&mut self, round: u64, applied_version: u64, expires_ms: u64) -> Result<Vec<u8>, CollectiveError> {
        let sent_at_unix_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let beat = dfma_protocol::messages::Heartbeat { sent_at_unix_ms, applied_ccf_version: applied_version };
        Ok(self.sealer.seal(round, expires_ms, &Message::Heartbeat(beat))?)
    }

    /// The sealed signal of `change` for `round` (`seed`: the round's shared codec seed), its
    /// statistics, and what the CCF will decode from it — the part of the change the instance
    /// has now shared.
    pub fn signal(
        &mut self,
        round: u64,
        change: &[f32],
        seed: u64,
        expires_ms: u64,
    ) -> Result<(Vec<u8>, SignalStats, Vec<f32>), CollectiveError> {
        let mut x = change.to_vec();
        let clip = clip_l2(&mut x, self.dp.clip_norm)?;
        let epsilon = match (&mut self.budget, self.dp.noise_multiplier > 0.0) {
            (Some(b), true) => b.spend(self.dp.sampling_rate, self.dp.noise_multiplier)?,
            _ => f64::INFINITY,
        };
        if self.dp.noise_multiplier > 0.0 {
            self.noise.add_to(&mut x, self.dp.noise_std_dev());
        }
        if self.codec.error_feedback() {
            self.residual.resize(x.len(), 0.0);
            x.iter_mut().zip(&self.residual).for_each(|(a, r)| *a += r);
        }
        let (compression, payload) = self.codec.encode(&x, seed);
        let sent = decode(&compression, &payload, x.len())?;
        if self.codec.error_feedback() {
            self.residual = x.iter().zip(&sent).map(|(a, s)| a - s).collect();
        }
        let signal = Signal {
            base_model_hash: self.base_hash.to_vec(),
            adapter_shapes: self.shapes.clone(),
            compression: Some(compression),
            privacy: Some(self.dp.to_wire()),
            payload: Some(payload),
        };
        let frame = self.sealer.seal(round, expires_ms, &Message::Signal(signal))?;
        let stats = SignalStats { frame_bytes: frame.len(), norm: clip.norm_before, clipped: clip.clipped, epsilon };
        Ok((frame, stats, sent))
    }

    /// Opens a CCF update: checked (signature by the CCF, replay, expiry, base model) and
    /// returned as (version, delta); a refused one changes nothing.
    pub fn open_update(&mut self, frame: &[u8], now_ms: u64) -> Result<(u64, Vec<f32>), CollectiveError> {
        let accepted = self.receiver.check(frame, now_ms)?;
        let Message::CcfUpdate(u) = &accepted.message else { return Err(CollectiveError::Unexpected("non-update")) };
        if u.base_model_hash != self.base_hash {
            return Err(CollectiveError::BaseModel { got: hex(&u.base_model_hash), want: hex(&self.base_hash) });
        }
        let delta = u.delta.as_ref().ok_or(CollectiveError::Unexpected("empty update"))?;
        let n = delta.count as usize;
        let none = dfma_protocol::messages::Compression {
            method: dfma_protocol::messages::CompressionMethod::None as i32,
            seed: 0,
            parameters: vec![],
        };
        let values = decode(&none, delta, n)?;
        self.receiver.receive(frame, now_ms)?;
        Ok((u.ccf_version, values))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
