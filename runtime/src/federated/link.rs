//! The CCF served to instances in the same process: frames come in over the in-process
//! transport, and a heartbeat from an instance behind the current version is answered at once
//! with the update from its version. (Instances in other processes get the same CCF through
//! [`super::service`], which also decides when rounds close.)

use std::time::Duration;

use dfma_protocol::transport::in_process::InProcessCcf;
use dfma_protocol::transport::{ConnectionId, Transport};

use super::ccf::{Ccf, Received};
use super::error::{FederatedError, Rejected};
use super::instance::EXPIRY_MS;

/// What a frame the CCF accepted was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// An instance joined.
    Joined,
    /// An instance asked for updates; `sent_version` is the version sent back, if it was behind.
    Heartbeat {
        /// The version sent, if any.
        sent_version: Option<u64>,
        /// Bytes of the update frame sent.
        bytes: usize,
    },
    /// A signal for the open round was taken.
    Signal,
}

/// A CCF and its end of the in-process transport.
#[derive(Debug)]
pub struct LinkedCcf {
    ccf: Ccf,
    link: InProcessCcf,
}

impl LinkedCcf {
    /// Serves `ccf` over `link`.
    pub fn new(ccf: Ccf, link: InProcessCcf) -> Self {
        LinkedCcf { ccf, link }
    }

    /// The CCF.
    pub fn ccf(&self) -> &Ccf {
        &self.ccf
    }

    /// The CCF, to close rounds.
    pub fn ccf_mut(&mut self) -> &mut Ccf {
        &mut self.ccf
    }

    /// Handles everything waiting on the transport; returns per frame what it was, or why it
    /// was refused.
    pub fn poll(&mut self, now_unix_ms: u64) -> Result<Vec<Result<Handled, Rejected>>, FederatedError> {
        let mut out = Vec::new();
        while let Some(incoming) = self.link.recv_timeout(Duration::ZERO)? {
            out.push(self.handle(incoming.from, &incoming.frame, now_unix_ms)?);
        }
        Ok(out)
    }

    /// Takes one frame from `from` ([`Ccf::receive`]) and answers a heartbeat from behind.
    /// The outer error is a failure of the CCF itself (sending a reply); the inner one is a
    /// refusal of the frame, which changed nothing.
    pub fn handle(
        &mut self,
        from: ConnectionId,
        frame: &[u8],
        now: u64,
    ) -> Result<Result<Handled, Rejected>, FederatedError> {
        let received = match self.ccf.receive(frame, now) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(match received {
            Received::Join { .. } => Handled::Joined,
            Received::Signal { .. } => Handled::Signal,
            Received::Heartbeat { applied_version, .. } if applied_version < self.ccf.version() => {
                let reply = self.ccf.update_from(applied_version, now + EXPIRY_MS)?;
                let bytes = reply.len();
                self.link.send(from, reply)?;
                Handled::Heartbeat { sent_version: Some(self.ccf.version()), bytes }
            }
            Received::Heartbeat { .. } => Handled::Heartbeat { sent_version: None, bytes: 0 },
        }))
    }
}
