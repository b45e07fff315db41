//! The CCF as a network service: the round schedule around a [`Ccf`], for instances that run
//! concurrently in their own processes and talk to it through a transport.
//!
//! A member (an instance that has joined) reports on a round with a heartbeat: a heartbeat
//! for round r says "I am done with every round before r, I hold version v; send me the
//! update to the version round r starts from". The service answers it as soon as round r is
//! open (at once if it already is), with the update from v. A round closes when
//! - at least `expected_members` instances have joined (so an early round does not close
//!   before a slow process has even connected), and every member that takes part in the round
//!   (its join named a first round at or before it) has reported past it; or
//! - its deadline passes (`round_timeout_ms` after it opened; the first round's clock starts
//!   when the last expected member joined): an instance that died or went
//!   silent holds nobody up for longer than that. Its signal, if it comes later, is refused as
//!   one for a closed round and changes nothing.
//!
//! A member that drops out mid-round simply sends no signal; when it comes back it reports with
//! its next heartbeat like everyone else. The service is a state machine over frames, so it is
//! the same whether the frames come through in-process channels, TCP or gRPC; [`serve`] drives
//! it over any [`Transport`].

use std::collections::BTreeMap;
use std::time::Duration;

use dfma_protocol::transport::{ConnectionId, Transport};

use super::ccf::{Ccf, Received};
use super::error::{FederatedError, Rejected};

/// How long an update the service sends stays valid.
const UPDATE_LIFETIME_MS: u64 = 60_000;

/// One joined instance.
#[derive(Clone, Copy, Debug)]
struct Member {
    /// The first round it takes part in.
    from_round: u64,
    /// The highest round its heartbeats named: it is done with every round before this one.
    reported: u64,
}

/// A heartbeat waiting for its round to open.
#[derive(Clone, Copy, Debug)]
struct Waiting<P> {
    key: [u8; 32],
    peer: P,
    round: u64,
    applied_version: u64,
}

/// One closed round, as the service saw it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClosedRound {
    /// The round.
    pub round: u64,
    /// Signals aggregated into it.
    pub signals_aggregated: usize,
    /// Whether its deadline closed it (some member had not reported).
    pub by_deadline: bool,
    /// Milliseconds it was open.
    pub open_ms: u64,
}

/// The round schedule around one CCF, for peers named by `P`.
pub struct CcfService<P> {
    ccf: Ccf,
    members: BTreeMap<[u8; 32], Member>,
    waiting: Vec<Waiting<P>>,
    expected_members: usize,
    round_timeout_ms: u64,
    opened_ms: u64,
    closed: Vec<ClosedRound>,
    refused: u64,
}

impl<P: Copy> CcfService<P> {
    /// A service for `ccf`, opening its round at `now_ms`; rounds wait for `expected_members`
    /// joins and close at the latest `round_timeout_ms` after they open. A CCF with secure
    /// aggregation is refused: its rounds need the instances' key exchange, which runs in
    /// process only.
    pub fn new(ccf: Ccf, expected_members: usize, round_timeout_ms: u64, now_ms: u64) -> Result<Self, FederatedError> {
        if ccf.config().secure_aggregation {
            return Err(FederatedError::Config("the CCF service does not run secure aggregation".into()));
        }
        Ok(CcfService {
            ccf,
            members: BTreeMap::new(),
            waiting: Vec::new(),
            expected_members,
            round_timeout_ms,
            opened_ms: now_ms,
            closed: Vec::new(),
            refused: 0,
        })
    }

    /// The CCF.
    pub fn ccf(&self) -> &Ccf {
        &self.ccf
    }

    /// Every round closed so far.
    pub fn closed(&self) -> &[ClosedRound] {
        &self.closed
    }

    /// Frames refused so far (each changed no state).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Takes one frame from `from`; returns the frames to send (updates to waiting members). A
    /// refused frame changes no state and is counted; its error is returned so the caller can
    /// report it.
    #[allow(clippy::type_complexity)]
    pub fn handle(&mut self, from: P, frame: &[u8], now_ms: u64) -> (Vec<(P, Vec<u8>)>, Option<Rejected>) {
        let refusal = match self.ccf.receive(frame, now_ms) {
            Ok(Received::Join { key, from_round }) => {
                self.members.entry(key).or_insert(Member { from_round, reported: 0 });
                // The first round's clock starts when the last expected member has joined, not
                // while slow processes are still starting.
                if self.closed.is_empty() && self.members.len() == self.expected_members {
                    self.opened_ms = now_ms;
                }
                None
            }
            Ok(Received::Signal { .. }) => None,
            Ok(Received::Heartbeat { key, round, applied_version }) => {
                match self.members.get_mut(&key) {
                    Some(m) => {
                        m.reported = m.reported.max(round);
                        // One waiting heartbeat per member: a newer one replaces the older, so
                        // no member can grow the queue.
                        self.waiting.retain(|w| w.key != key);
                        self.waiting.push(Waiting { key, peer: from, round, applied_version });
                        None
                    }
                    // The receiver already took the frame; a heartbeat of a non-member names
                    // nobody the schedule knows, so it only counts.
                    None => Some(Rejected::Unexpected("heartbeat before join")),
                }
            }
            Err(e) => Some(e),
        };
        if refusal.is_some() {
            self.refused += 1;
        }
        (self.advance(now_ms), refusal)
    }

    /// Closes rounds whose deadline has passed; returns the frames to send.
    pub fn tick(&mut self, now_ms: u64) -> Vec<(P, Vec<u8>)> {
        self.advance(now_ms)
    }

    /// Whether every member taking part in the open round has reported past it.
    fn everyone_reported(&self) -> bool {
        let round = self.ccf.round();
        !self.members.is_empty()
            && self.members.len() >= self.expected_members
            && self.members.values().all(|m| m.from_round > round || m.reported > round)
    }

    /// Closes what can close, then answers every heartbeat whose round is open.
    fn advance(&mut self, now_ms: u64) -> Vec<(P, Vec<u8>)> {
        loop {
            let complete = self.everyone_reported();
            let late = now_ms.saturating_sub(self.opened_ms) >= self.round_timeout_ms;
            if !complete && !late {
                break;
            }
            let round = self.ccf.round();
            // Without secure aggregation (refused in `new`) closing cannot fail.
            let Ok(outcome) = self.ccf.close_round(None) else { break };
            let signals_aggregated = outcome.aggregated;
            let open_ms = now_ms.saturating_sub(self.opened_ms);
            self.closed.push(ClosedRound { round, signals_aggregated, by_deadline: !complete, open_ms });
            self.opened_ms = now_ms;
            // A deadline closes one round at a time: the next one gets its full time.
            if !complete {
                break;
            }
        }
        let open = self.ccf.round();
        let (ready, still): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|w| w.round <= open);
        self.waiting = still;
        let mut out = Vec::new();
        for w in ready {
            match self.ccf.update_from(w.applied_version, now_ms + UPDATE_LIFETIME_MS) {
                Ok(frame) => out.push((w.peer, frame)),
                Err(_) => self.refused += 1,
            }
        }
        out
    }
}

/// How [`serve`] ended.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The transport closed before the last round did.
    #[error("the transport closed after {closed} of {rounds} rounds")]
    Closed {
        /// Rounds closed.
        closed: usize,
        /// Rounds asked for.
        rounds: usize,
    },
}

/// Runs `service` over `transport` until `rounds` rounds have closed and every heartbeat waiting
/// on them is answered; calls `on_refused` with each refused frame's error.
pub fn serve<T: Transport<Peer = ConnectionId>>(
    service: &mut CcfService<ConnectionId>,
    transport: &mut T,
    rounds: usize,
    now_ms: impl Fn() -> u64,
    mut on_refused: impl FnMut(&Rejected),
) -> Result<(), ServeError> {
    let poll = Duration::from_millis(50);
    while service.closed().len() < rounds {
        let out = match transport.recv_timeout(poll) {
            Ok(Some(incoming)) => {
                let (out, refusal) = service.handle(incoming.from, &incoming.frame, now_ms());
                if let Some(e) = refusal {
                    on_refused(&e);
                }
                out
            }
            Ok(None) => service.tick(now_ms()),
            Err(_) => return Err(ServeError::Closed { closed: service.closed().len(), rounds }),
        };
        for (peer, frame) in out {
            // A member that went away misses its update; it catches up from its version when
            // it comes back, so this is not an error of the service.
            if transport.send(peer, frame).is_err() {
                on_refused(&Rejected::Unexpected("update to a peer that is gone"));
            }
        }
    }
    Ok(())
}
