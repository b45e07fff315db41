//! The receiving side: authentication, expiry, authorization and replay protection.
//!
//! [`Receiver::receive`] runs every check in [`Receiver::check`], which borrows the receiver
//! immutably, so no check can change state. Only when all of them pass does it record the
//! sender's counter. A rejected frame changes nothing but the rejection counters.

use std::collections::HashMap;

use crate::envelope::{EnvelopeHeader, decode_body, open};
use crate::error::{ProtocolError, RejectionCounts};
use crate::limits::{MAX_EXPIRY_HORIZON_MS, MAX_TRACKED_SENDERS, PUBLIC_KEY_BYTES};
use crate::messages::{Message, MessageKind};

/// What a receiver accepts.
#[derive(Debug, Clone)]
pub struct ReceiverPolicy {
    /// The CCF's public key. CCF updates from any other key are refused; with `None` (a CCF
    /// itself) every CCF update is refused.
    pub ccf_key: Option<[u8; PUBLIC_KEY_BYTES]>,
    /// Whether a sender's first accepted message must be a join.
    pub require_join: bool,
    /// Furthest in the future an expiry may lie, in milliseconds after the receiver's clock.
    pub max_expiry_horizon_ms: u64,
    /// Most senders whose counters are tracked.
    pub max_tracked_senders: usize,
}

impl ReceiverPolicy {
    /// The CCF's side: any instance may join; no CCF updates are accepted.
    pub fn for_ccf() -> Self {
        Self {
            ccf_key: None,
            require_join: true,
            max_expiry_horizon_ms: MAX_EXPIRY_HORIZON_MS,
            max_tracked_senders: MAX_TRACKED_SENDERS,
        }
    }

    /// An instance's side: CCF updates signed by `ccf_key` only.
    pub fn for_instance(ccf_key: [u8; PUBLIC_KEY_BYTES]) -> Self {
        Self { ccf_key: Some(ccf_key), require_join: false, ..Self::for_ccf() }
    }
}

/// A message that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The signed header.
    pub header: EnvelopeHeader,
    /// The decoded, validated body.
    pub message: Message,
}

/// Per-sender replay state and rejection counters of one receiving endpoint.
#[derive(Debug)]
pub struct Receiver {
    policy: ReceiverPolicy,
    last_accepted_counter: HashMap<[u8; PUBLIC_KEY_BYTES], u64>,
    rejections: RejectionCounts,
    accepted: u64,
}

impl Receiver {
    /// A receiver that has seen nothing yet.
    pub fn new(policy: ReceiverPolicy) -> Self {
        Self { policy, last_accepted_counter: HashMap::new(), rejections: RejectionCounts::default(), accepted: 0 }
    }

    /// A receiver restarting from saved state: it refuses anything at or below each sender's
    /// saved counter, so a restart opens no window for replays.
    pub fn resuming(policy: ReceiverPolicy, counters: impl IntoIterator<Item = ([u8; PUBLIC_KEY_BYTES], u64)>) -> Self {
        Self { last_accepted_counter: counters.into_iter().collect(), ..Self::new(policy) }
    }

    /// Every sender's last accepted counter (what [`Receiver::resuming`] takes back), in key order.
    pub fn counters(&self) -> Vec<([u8; PUBLIC_KEY_BYTES], u64)> {
        let mut all: Vec<_> = self.last_accepted_counter.iter().map(|(k, c)| (*k, *c)).collect();
        all.sort_unstable();
        all
    }

    /// Checks `frame` at the receiver's clock `now_unix_ms`; on success records the sender's
    /// counter, on failure counts the rejection by kind.
    pub fn receive(&mut self, frame: &[u8], now_unix_ms: u64) -> Result<Accepted, ProtocolError> {
        match self.check(frame, now_unix_ms) {
            Ok(accepted) => {
                self.last_accepted_counter.insert(accepted.header.sender_key, accepted.header.counter);
                self.accepted += 1;
                Ok(accepted)
            }
            Err(error) => {
                self.rejections.record(error.kind());
                Err(error)
            }
        }
    }

    /// Every check [`Receiver::receive`] runs, without recording anything.
    ///
    /// Order: structure and signature ([`open`]), expiry, authorization, replay, body. The
    /// signature comes before the stateful checks so that a forger learns nothing about a
    /// sender's counter from the error it gets back.
    pub fn check(&self, frame: &[u8], now_unix_ms: u64) -> Result<Accepted, ProtocolError> {
        let opened = open(frame)?;
        let header = opened.header;
        let horizon = now_unix_ms.saturating_add(self.policy.max_expiry_horizon_ms);
        if header.expires_at_unix_ms < now_unix_ms || header.expires_at_unix_ms > horizon {
            return Err(ProtocolError::Expired { expires_at_unix_ms: header.expires_at_unix_ms, now_unix_ms });
        }
        let last_accepted = self.last_accepted_counter.get(&header.sender_key).copied();
        self.authorize(&header, last_accepted.is_some())?;
        let last_accepted = last_accepted.unwrap_or(0);
        if header.counter <= last_accepted {
            return Err(ProtocolError::Replayed { counter: header.counter, last_accepted });
        }
        let message = decode_body(header.kind, &opened.body)?;
        Ok(Accepted { header, message })
    }

    fn authorize(&self, header: &EnvelopeHeader, known: bool) -> Result<(), ProtocolError> {
        if header.kind == MessageKind::CcfUpdate && self.policy.ccf_key != Some(header.sender_key) {
            return Err(ProtocolError::Unauthorized { reason: "CCF updates are accepted from the CCF key only" });
        }
        let is_ccf = self.policy.ccf_key == Some(header.sender_key);
        if !known && !is_ccf {
            if self.policy.require_join && header.kind != MessageKind::Join {
                return Err(ProtocolError::Unauthorized { reason: "sender has not joined" });
            }
            if self.last_accepted_counter.len() >= self.policy.max_tracked_senders {
                return Err(ProtocolError::Unauthorized { reason: "too many senders tracked" });
            }
        }
        Ok(())
    }

    /// The last counter accepted from `sender_key`, if any.
    pub fn last_accepted_counter(&self, sender_key: &[u8; PUBLIC_KEY_BYTES]) -> Option<u64> {
        self.last_accepted_counter.get(sender_key).copied()
    }

    /// Senders with at least one accepted message.
    pub fn known_senders(&self) -> usize {
        self.last_accepted_counter.len()
    }

    /// Frames accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Frames refused so far, by kind.
    pub fn rejections(&self) -> &RejectionCounts {
        &self.rejections
    }
}
