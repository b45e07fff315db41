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

use super::error::CollectiveError;
use crate::federated::codec::Codec;

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
    /// Rounds charged to the budget so far.
    charged: u64,
    ccf_key: [u8; 32],
    base_hash: [u8; 32],
    shapes: Vec<AdapterShape>,
}

/// What a sender carries from round to round, saved with a checkpoint: its counters, its
/// compression error, where its noise generator stands and how many rounds its budget paid for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SenderState {
    /// The counter of its next sealed message.
    pub next_counter: u64,
    /// The last CCF update counter it accepted.
    pub ccf_counter: Option<u64>,
    /// The compression error kept for the next round (error feedback); a checkpoint saves it
    /// as a tensor, not in its JSON.
    #[serde(skip)]
    pub residual: Vec<f32>,
    /// The noise generator's word position.
    pub noise_word_pos: u128,
    /// Its spare normal sample.
    pub noise_spare: Option<f64>,
    /// Rounds charged to the privacy budget.
    pub charged: u64,
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
            charged: 0,
            ccf_key,
            base_hash,
            shapes,
        }
    }

    /// Its state between rounds (see [`SenderState`]).
    pub fn state(&self) -> SenderState {
        let (noise_word_pos, noise_spare) = self.noise.position();
        SenderState {
            next_counter: self.sealer.next_counter(),
            ccf_counter: self.receiver.last_accepted_counter(&self.ccf_key),
            residual: self.residual.clone(),
            noise_word_pos,
            noise_spare,
            charged: self.charged,
        }
    }

    /// Takes back a state [`SignalSender::state`] gave: afterwards the sender seals, accepts and
    /// charges exactly as the saved one would have. Fails, changing nothing, if the budget
    /// cannot have paid for the saved rounds.
    pub fn restore(&mut self, state: &SenderState) -> Result<(), CollectiveError> {
        let mut budget = self.budget.clone();
        if let Some(b) = &mut budget {
            for _ in 0..state.charged {
                b.spend(self.dp.sampling_rate, self.dp.noise_multiplier)?;
            }
        }
        self.budget = budget;
        self.charged = state.charged;
        self.sealer.continue_from(state.next_counter);
        self.receiver = Receiver::resuming(
            ReceiverPolicy::for_instance(self.ccf_key),
            state.ccf_counter.map(|c| (self.ccf_key, c)),
        );
        self.residual.clone_from(&state.residual);
        self.noise.resume_at((state.noise_word_pos, state.noise_spare));
        Ok(())
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
        self.signal_tampered(round, change, seed, expires_ms, |_| {})
    }

    /// [`SignalSender::signal`] with `tamper` applied to the clipped (and noised) change before
    /// it is compressed: what a planted bad instance does, since it ignores the clipping every
    /// honest instance applies — the CCF has to cope with whatever arrives.
    pub fn signal_tampered(
        &mut self,
        round: u64,
        change: &[f32],
        seed: u64,
        expires_ms: u64,
        tamper: impl FnOnce(&mut [f32]),
    ) -> Result<(Vec<u8>, SignalStats, Vec<f32>), CollectiveError> {
        let mut x = change.to_vec();
        let clip = clip_l2(&mut x, self.dp.clip_norm)?;
        // Everything below commits only if the signal is sealed: on an error the budget, the
        // noise generator and the residual are as they were.
        let mut budget = self.budget.clone();
        let epsilon = match (&mut budget, self.dp.noise_multiplier > 0.0) {
            (Some(b), true) => b.spend(self.dp.sampling_rate, self.dp.noise_multiplier)?,
            _ => f64::INFINITY,
        };
        let noise_before = self.noise.position();
        if self.dp.noise_multiplier > 0.0 {
            self.noise.add_to(&mut x, self.dp.noise_std_dev());
        }
        tamper(&mut x);
        let (frame, sent) = match self.seal_signal(round, &mut x, seed, expires_ms) {
            Ok(sealed) => sealed,
            Err(e) => {
                self.noise.resume_at(noise_before);
                return Err(e);
            }
        };
        if self.codec.error_feedback() {
            self.residual = x.iter().zip(&sent).map(|(a, s)| a - s).collect();
        }
        if budget.is_some() && self.dp.noise_multiplier > 0.0 {
            self.charged += 1;
        }
        self.budget = budget;
        let stats = SignalStats { frame_bytes: frame.len(), norm: clip.norm_before, clipped: clip.clipped, epsilon };
        Ok((frame, stats, sent))
    }

    /// Adds the residual to `x` (error feedback), compresses and seals it; returns the frame and
    /// what the CCF will decode. Changes nothing of the sender but its counter, on success.
    fn seal_signal(
        &mut self,
        round: u64,
        x: &mut [f32],
        seed: u64,
        expires_ms: u64,
    ) -> Result<(Vec<u8>, Vec<f32>), CollectiveError> {
        if self.codec.error_feedback() {
            if self.residual.len() == x.len() {
                x.iter_mut().zip(&self.residual).for_each(|(a, r)| *a += r);
            } else {
                // No residual yet: a zero one, added like any other (so −0 becomes +0 exactly
                // as it always has).
                x.iter_mut().for_each(|a| *a += 0.0);
            }
        }
        let (compression, payload) = self.codec.encode(x, seed);
        let sent = self.codec.decode(&compression, &payload, x.len())?;
        let signal = Signal {
            base_model_hash: self.base_hash.to_vec(),
            adapter_shapes: self.shapes.clone(),
            compression: Some(compression),
            privacy: Some(self.dp.to_wire()),
            payload: Some(payload),
        };
        let frame = self.sealer.seal(round, expires_ms, &Message::Signal(signal))?;
        Ok((frame, sent))
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
        let values = Codec::None.decode(&Codec::None.description(n, 0), delta, n)?;
        self.receiver.receive(frame, now_ms)?;
        Ok((u.ccf_version, values))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
