//! A transport wrapper that loses and repeats frames, as a lossy, retrying network does.

use std::time::Duration;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::{Incoming, Transport, TransportError};

/// How often [`Faulty`] drops and duplicates the frames it sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    /// Probability that a sent frame is silently lost.
    pub drop_probability: f64,
    /// Probability that a frame that was not lost is sent twice in a row.
    pub duplicate_probability: f64,
    /// Seed of the decisions, so a failing run can be replayed.
    pub seed: u64,
}

/// What [`Faulty`] did to the frames sent through it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Frames the caller sent.
    pub sent: u64,
    /// Frames lost.
    pub dropped: u64,
    /// Frames delivered twice.
    pub duplicated: u64,
}

/// Wraps a transport and applies a [`FaultPlan`] to every send; receiving is untouched.
#[derive(Debug)]
pub struct Faulty<T> {
    inner: T,
    plan: FaultPlan,
    rng: ChaCha20Rng,
    counts: FaultCounts,
}

impl<T: Transport> Faulty<T> {
    /// `inner` with `plan` applied to its sends.
    pub fn new(inner: T, plan: FaultPlan) -> Self {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&plan.seed.to_le_bytes());
        Self { inner, plan, rng: ChaCha20Rng::from_seed(seed), counts: FaultCounts::default() }
    }

    /// What was done so far.
    pub fn counts(&self) -> FaultCounts {
        self.counts
    }

    /// The wrapped transport.
    pub fn into_inner(self) -> T {
        self.inner
    }

    fn chance(&mut self, probability: f64) -> bool {
        ((self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < probability
    }
}

impl<T: Transport> Transport for Faulty<T> {
    type Peer = T::Peer;

    fn send(&mut self, to: T::Peer, frame: Vec<u8>) -> Result<(), TransportError> {
        self.counts.sent += 1;
        if self.chance(self.plan.drop_probability) {
            self.counts.dropped += 1;
            return Ok(());
        }
        if self.chance(self.plan.duplicate_probability) {
            self.counts.duplicated += 1;
            self.inner.send(to, frame.clone())?;
        }
        self.inner.send(to, frame)
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<T::Peer>>, TransportError> {
        self.inner.recv_timeout(timeout)
    }
}
