//! Why a frame was refused: one typed error per failure, and a counter per kind.

/// Everything that can be wrong with an incoming frame or a message built for sending.
///
/// Each variant names the field or quantity at fault so that a log line is enough to find the
/// sender's bug. [`ProtocolError::kind`] folds the variants into the [`RejectionKind`] counted by
/// a receiver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A length, count or size is above its documented limit (see [`crate::limits`]).
    #[error("{what} is {actual}, above the limit of {limit}")]
    Oversized {
        /// The quantity that was too large.
        what: &'static str,
        /// The documented limit.
        limit: u64,
        /// What the frame declared or contained.
        actual: u64,
    },
    /// The input ended before a declared length or a complete field.
    #[error("{what} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the frame declared or the field needs.
        needed: u64,
        /// Bytes actually left in the input.
        available: u64,
    },
    /// A known field arrived with a wire type other than its schema's, or a payload's element
    /// type does not match what the reader asked for.
    #[error("{message}.{field} has wire type {actual}, expected {expected}")]
    MisTyped {
        /// The message being parsed.
        message: &'static str,
        /// The field at fault.
        field: &'static str,
        /// The wire type (or element type code) the schema requires.
        expected: u32,
        /// The wire type (or element type code) found.
        actual: u32,
    },
    /// The bytes are not valid protobuf, or a field holds a value the schema forbids.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The message or field at fault.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The envelope names a protocol version this build does not speak.
    #[error("protocol version {got} is not supported (this build speaks {supported})")]
    UnsupportedVersion {
        /// The version in the envelope.
        got: u32,
        /// The only version this build accepts.
        supported: u32,
    },
    /// The envelope names a message kind this build does not know.
    #[error("unknown message kind {0}")]
    UnknownMessageKind(i32),
    /// The signature does not verify against the sender key, or the key is not a valid
    /// Ed25519 point.
    #[error("signature does not verify for the claimed sender")]
    Forged,
    /// The counter is not above the last one accepted from this sender.
    #[error("counter {counter} is not above the last accepted counter {last_accepted}")]
    Replayed {
        /// The counter in the envelope.
        counter: u64,
        /// The highest counter accepted from this sender so far.
        last_accepted: u64,
    },
    /// The envelope expired before the receiver's clock, or expires too far in the future.
    #[error("envelope expiry {expires_at_unix_ms} ms is outside [{now_unix_ms}, now + horizon]")]
    Expired {
        /// The envelope's expiry, in Unix milliseconds.
        expires_at_unix_ms: u64,
        /// The receiver's clock, in Unix milliseconds.
        now_unix_ms: u64,
    },
    /// The sender may not send this kind of message (a CCF update not from the CCF key, or a
    /// message before the sender's join), or the receiver tracks too many senders already.
    #[error("sender is not allowed to send this message: {reason}")]
    Unauthorized {
        /// Why the sender was refused.
        reason: &'static str,
    },
}

impl ProtocolError {
    /// The counted category of this error.
    pub fn kind(&self) -> RejectionKind {
        match self {
            Self::Oversized { .. } => RejectionKind::Oversized,
            Self::Truncated { .. } => RejectionKind::Truncated,
            Self::MisTyped { .. } => RejectionKind::MisTyped,
            Self::Malformed { .. } => RejectionKind::Malformed,
            Self::UnsupportedVersion { .. } => RejectionKind::UnsupportedVersion,
            Self::UnknownMessageKind(_) => RejectionKind::UnknownMessageKind,
            Self::Forged => RejectionKind::Forged,
            Self::Replayed { .. } => RejectionKind::Replayed,
            Self::Expired { .. } => RejectionKind::Expired,
            Self::Unauthorized { .. } => RejectionKind::Unauthorized,
        }
    }
}

/// The categories a receiver counts rejections by; one per [`ProtocolError`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// See [`ProtocolError::Oversized`].
    Oversized,
    /// See [`ProtocolError::Truncated`].
    Truncated,
    /// See [`ProtocolError::MisTyped`].
    MisTyped,
    /// See [`ProtocolError::Malformed`].
    Malformed,
    /// See [`ProtocolError::UnsupportedVersion`].
    UnsupportedVersion,
    /// See [`ProtocolError::UnknownMessageKind`].
    UnknownMessageKind,
    /// See [`ProtocolError::Forged`].
    Forged,
    /// See [`ProtocolError::Replayed`].
    Replayed,
    /// See [`ProtocolError::Expired`].
    Expired,
    /// See [`ProtocolError::Unauthorized`].
    Unauthorized,
}

impl RejectionKind {
    /// Every kind, in counter order.
    pub const ALL: [RejectionKind; 10] = [
        Self::Oversized,
        Self::Truncated,
        Self::MisTyped,
        Self::Malformed,
        Self::UnsupportedVersion,
        Self::UnknownMessageKind,
        Self::Forged,
        Self::Replayed,
        Self::Expired,
        Self::Unauthorized,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|&kind| kind == self).unwrap_or(0)
    }
}

/// How many frames a receiver refused, per [`RejectionKind`].
///
/// These counters are diagnostics: they are the only thing a rejected frame changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectionCounts {
    counts: [u64; RejectionKind::ALL.len()],
}

impl RejectionCounts {
    /// Counts one rejection of `kind`.
    pub fn record(&mut self, kind: RejectionKind) {
        self.counts[kind.index()] += 1;
    }

    /// Rejections counted of `kind`.
    pub fn get(&self, kind: RejectionKind) -> u64 {
        self.counts[kind.index()]
    }

    /// Rejections counted of every kind together.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}
