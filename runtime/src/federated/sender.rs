//! The instance's side of the protocol, the same for every model: its change over a round
//! becomes one sealed signal — clipped to the L2 bound and noised when differential privacy
//! asks for it (the accountant refuses a round that would overspend the budget), then, with
//! what compression left out last round added back (error feedback, kept on the instance, never
//! sent), compressed and, where the round uses secure aggregation, masked — and CCF updates are
//! checked and opened. Raw data and parameters never leave the instance.

use dfma_protocol::dp::budget::PrivacyBudget;
use dfma_protocol::dp::clip::{ClipReport, clip_l2};
use dfma_protocol::dp::noise::GaussianNoise;
use dfma_protocol::envelope::Sealer;
use dfma_protocol::identity::Identity;
use dfma_protocol::messages::{AdapterShape, Message, PrivacyParameters, Signal};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::receiver::{Receiver, ReceiverPolicy};

use super::codec::Codec;
use super::error::{FederatedError, Rejected, hex};
use super::privacy::PrivacyConfig;
use super::secure::{FRACTIONAL_BITS, SecureRound};

/// What every signal of an instance describes: the base model, the parameter layout and the
/// compression the CCF expects.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalSpec {
    /// The base model the parameters apply to.
    pub base_model_hash: [u8; 32],
    /// The parameter layout.
    pub shapes: Vec<AdapterShape>,
    /// The number of parameters (what an update's delta must hold).
    pub len: usize,
    /// The compression.
    pub codec: Codec,
}

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
    spec: SignalSpec,
    residual: Vec<f32>,
    privacy: Option<PrivacyConfig>,
    noise: GaussianNoise,
    budget: Option<PrivacyBudget>,
    /// Rounds charged to the budget so far.
    charged: u64,
    ccf_key: [u8; 32],
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
    /// A sender for `identity`, trusting updates signed by `ccf_key`. `privacy` clips every
    /// change and, with a noise multiplier above 0, noises it and accounts it against the
    /// budget; without it the raw change is sent (the FedAvg baseline) and no privacy is
    /// claimed. Its noise comes from `noise_seed`: simulations derive it from the experiment's
    /// seed; a deployment seeds from the operating system (noise whose seed the CCF knows
    /// protects nothing).
    pub fn new(
        identity: Identity,
        ccf_key: [u8; 32],
        spec: SignalSpec,
        privacy: Option<PrivacyConfig>,
        noise_seed: [u8; 32],
    ) -> Result<Self, FederatedError> {
        let budget = match privacy {
            Some(p) => {
                p.parameters().validate()?;
                (p.noise_multiplier > 0.0).then(|| PrivacyBudget::new(p.epsilon_budget, p.delta)).transpose()?
            }
            None => None,
        };
        Ok(SignalSender {
            sealer: Sealer::new(identity),
            receiver: Receiver::new(ReceiverPolicy::for_instance(ccf_key)),
            spec,
            residual: Vec::new(),
            privacy,
            noise: GaussianNoise::from_seed(noise_seed),
            budget,
            charged: 0,
            ccf_key,
        })
    }

    fn noise_multiplier(&self) -> f64 {
        self.privacy.map_or(0.0, |p| p.noise_multiplier)
    }

    /// ε spent so far (infinite without noise; 0 before the first noised round).
    pub fn epsilon_spent(&self) -> f64 {
        match &self.budget {
            Some(b) if self.noise_multiplier() > 0.0 => b.spent_epsilon(),
            _ => f64::INFINITY,
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
    pub fn restore(&mut self, state: &SenderState) -> Result<(), FederatedError> {
        let mut budget = self.budget.clone();
        if let (Some(b), Some(p)) = (&mut budget, self.privacy) {
            for _ in 0..state.charged {
                b.spend(1.0, p.noise_multiplier)?;
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
    ) -> Result<Vec<u8>, FederatedError> {
        let join = dfma_protocol::messages::Join {
            agreement_public_key: agreement_key.to_vec(),
            capabilities: Some(dfma_protocol::messages::Capabilities {
                secure_aggregation: true,
                ..Default::default()
            }),
            client_name: format!("dfma {}", env!("CARGO_PKG_VERSION")),
        };
        Ok(self.sealer.seal(from_round, expires_ms, &Message::Join(join))?)
    }

    /// The sealed heartbeat for `round`, sent at `now_ms`: the instance is done with every
    /// earlier round, holds CCF version `applied_version`, and asks for the update to the
    /// version `round` starts from.
    pub fn heartbeat(
        &mut self,
        round: u64,
        applied_version: u64,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<Vec<u8>, FederatedError> {
        let beat = dfma_protocol::messages::Heartbeat { sent_at_unix_ms: now_ms, applied_ccf_version: applied_version };
        Ok(self.sealer.seal(round, expires_ms, &Message::Heartbeat(beat))?)
    }

    /// The sealed signal of `change` for `round` (`seed`: the round's shared sketch seed for a
    /// linear codec, any seed for quantization's dither), its statistics, and what the CCF will
    /// decode from it — the part of the change the instance has now shared.
    pub fn signal(&mut self, round: u64, change: &[f32], seed: u64, expires_ms: u64) -> Result<Sealed, FederatedError> {
        self.signal_tampered(round, change, SignalRound { seed, expires_ms, secure: None }, |_| {})
    }

    /// [`SignalSender::signal`] in a round with secure aggregation where `at.secure` is set, with
    /// `tamper` applied to the clipped (and noised) change before it is compressed: what a
    /// planted bad instance does, since it ignores the clipping every honest instance applies —
    /// the CCF has to cope with whatever arrives. A round the privacy budget cannot pay for is
    /// refused ([`DpError::BudgetExceeded`](dfma_protocol::dp::DpError::BudgetExceeded)), and
    /// on any error the sender is as it was.
    pub fn signal_tampered(
        &mut self,
        round: u64,
        change: &[f32],
        at: SignalRound<'_>,
        tamper: impl FnOnce(&mut [f32]),
    ) -> Result<Sealed, FederatedError> {
        let mut x = change.to_vec();
        let clip = match self.privacy {
            Some(p) => clip_l2(&mut x, p.clip_norm)?,
            None => {
                let norm = dfma_protocol::dp::clip::l2_norm(&x);
                ClipReport { norm_before: norm, norm_after: norm, clipped: false }
            }
        };
        // Everything below commits only if the signal is sealed: on an error the budget, the
        // noise generator and the residual are as they were.
        let noise_multiplier = self.noise_multiplier();
        let mut budget = self.budget.clone();
        let epsilon = match (&mut budget, noise_multiplier > 0.0) {
            (Some(b), true) => b.spend(1.0, noise_multiplier)?,
            _ => f64::INFINITY,
        };
        let noise_before = self.noise.position();
        if let Some(p) = self.privacy.filter(|_| noise_multiplier > 0.0) {
            self.noise.add_to(&mut x, p.parameters().noise_std_dev());
        }
        tamper(&mut x);
        let (frame, sent) = match self.seal_signal(round, &mut x, &at) {
            Ok(sealed) => sealed,
            Err(e) => {
                self.noise.resume_at(noise_before);
                return Err(e);
            }
        };
        if self.spec.codec.error_feedback() {
            self.residual = x.iter().zip(&sent).map(|(a, s)| a - s).collect();
        }
        if budget.is_some() && noise_multiplier > 0.0 {
            self.charged += 1;
        }
        self.budget = budget;
        let stats = SignalStats { frame_bytes: frame.len(), norm: clip.norm_before, clipped: clip.clipped, epsilon };
        Ok(Sealed { frame, stats, shared: sent })
    }

    /// Adds the residual to `x` (error feedback), compresses (and masks) and seals it; returns
    /// the frame and what the CCF will decode. Changes nothing of the sender but its counter,
    /// on success.
    fn seal_signal(
        &mut self,
        round: u64,
        x: &mut [f32],
        at: &SignalRound<'_>,
    ) -> Result<(Vec<u8>, Vec<f32>), FederatedError> {
        let codec = self.spec.codec;
        if codec.error_feedback() {
            if self.residual.len() == x.len() {
                x.iter_mut().zip(&self.residual).for_each(|(a, r)| *a += r);
            } else {
                // No residual yet: a zero one, added like any other (so −0 becomes +0 exactly
                // as it always has).
                x.iter_mut().for_each(|a| *a += 0.0);
            }
        }
        let wire = self.privacy.map(|p| p.parameters().to_wire()).unwrap_or_default();
        let (compression, payload, privacy, sent) = match at.secure {
            Some(secure) => {
                let masked = secure.mask(&self.public_key(), &codec.sketch(x, at.seed))?;
                let privacy = PrivacyParameters {
                    secure_aggregation: true,
                    fixed_point_fractional_bits: FRACTIONAL_BITS,
                    ..wire
                };
                let description = codec.description(x.len(), at.seed);
                (description, TensorPayload::from_u32(&masked), privacy, codec.round_trip(x, at.seed))
            }
            None => {
                let (compression, payload) = codec.encode(x, at.seed);
                let sent = codec.decode(&compression, &payload, x.len()).map_err(Rejected::from)?;
                (compression, payload, wire, sent)
            }
        };
        let signal = Signal {
            base_model_hash: self.spec.base_model_hash.to_vec(),
            adapter_shapes: self.spec.shapes.clone(),
            compression: Some(compression),
            privacy: Some(privacy),
            payload: Some(payload),
        };
        let frame = self.sealer.seal(round, at.expires_ms, &Message::Signal(signal))?;
        Ok((frame, sent))
    }

    /// Seals `signal` as it is under this sender's key, for tests of what the CCF refuses.
    pub fn seal_raw(&mut self, round: u64, expires_ms: u64, signal: Signal) -> Result<Vec<u8>, FederatedError> {
        Ok(self.sealer.seal(round, expires_ms, &Message::Signal(signal))?)
    }

    /// The unprivatized signal of `change` under `seed`, as a message, without sealing it or
    /// changing anything (for tests that alter one field).
    pub fn draft(&self, change: &[f32], seed: u64) -> Signal {
        let (compression, payload) = self.spec.codec.encode(change, seed);
        Signal {
            base_model_hash: self.spec.base_model_hash.to_vec(),
            adapter_shapes: self.spec.shapes.clone(),
            compression: Some(compression),
            privacy: Some(self.privacy.map(|p| p.parameters().to_wire()).unwrap_or_default()),
            payload: Some(payload),
        }
    }

    /// Opens a CCF update: checked (signature by the CCF, replay, expiry, base model, a finite
    /// delta of the layout's length) and returned as (version, delta from the version the
    /// instance asked from); a refused one changes nothing.
    pub fn open_update(&mut self, frame: &[u8], now_ms: u64) -> Result<(u64, Vec<f32>), Rejected> {
        let accepted = self.receiver.check(frame, now_ms)?;
        let Message::CcfUpdate(u) = &accepted.message else { return Err(Rejected::Unexpected("non-update")) };
        if u.base_model_hash != self.spec.base_model_hash {
            return Err(Rejected::WrongBaseModel {
                expected: hex(&self.spec.base_model_hash),
                got: hex(&u.base_model_hash),
            });
        }
        let delta = u.delta.as_ref().ok_or(Rejected::Unexpected("empty update"))?;
        let n = self.spec.len;
        if delta.count as usize != n {
            return Err(Rejected::WrongShapes);
        }
        let values = Codec::None.decode(&Codec::None.description(n, 0), delta, n)?;
        self.receiver.receive(frame, now_ms)?;
        Ok((u.ccf_version, values))
    }
}

/// Where a signal goes: the round's sketch seed, its expiry and its secure aggregation.
#[derive(Clone, Copy)]
pub struct SignalRound<'a> {
    /// The round's shared sketch seed (linear codecs), or the dither's seed.
    pub seed: u64,
    /// When the sealed frame expires, Unix milliseconds.
    pub expires_ms: u64,
    /// The round's secure aggregation, if it uses it.
    pub secure: Option<&'a SecureRound>,
}

/// A sealed signal.
pub struct Sealed {
    /// The frame to send.
    pub frame: Vec<u8>,
    /// What it cost and carried.
    pub stats: SignalStats,
    /// What the CCF will decode from it.
    pub shared: Vec<f32>,
}
