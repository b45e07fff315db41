//! The signed envelope around every message, and how it is sealed and opened.
//!
//! The body travels as the exact bytes that were signed, never re-encoded, so the signature
//! needs no canonical protobuf encoding and covers unknown fields as well. What is signed is a
//! fixed-layout byte string (see [`signing_bytes`]): a domain tag, then every header field at a
//! fixed width, then the SHA-256 of the body. The domain tag keeps an envelope signature from
//! ever being valid for another purpose of the same key, and hashing the body keeps signing and
//! verifying free of copies proportional to the payload.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::PROTOCOL_VERSION;
use crate::error::ProtocolError;
use crate::identity::Identity;
use crate::limits::{MAX_FRAME_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES};
use crate::messages::{Message, MessageKind};
use crate::schema;
use crate::wire::decode_checked;

/// Prefix of every signed byte string; changes with the envelope layout.
pub const SIGNING_DOMAIN: &[u8] = b"dfma-protocol/envelope/v1\0";

/// The signed wrapper of every frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    /// Must equal [`PROTOCOL_VERSION`]; any other value is refused with
    /// [`ProtocolError::UnsupportedVersion`] before anything else is interpreted.
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    /// The sender's Ed25519 public key (32 bytes): its identity.
    #[prost(bytes = "vec", tag = "2")]
    pub sender_key: Vec<u8>,
    /// Per-sender counter, strictly increasing across everything one sender sends.
    #[prost(uint64, tag = "3")]
    pub counter: u64,
    /// The aggregation round the message belongs to.
    #[prost(uint64, tag = "4")]
    pub round_id: u64,
    /// After this instant (Unix milliseconds) the message is refused.
    #[prost(uint64, tag = "5")]
    pub expires_at_unix_ms: u64,
    /// A [`MessageKind`] value: how to read `body`.
    #[prost(enumeration = "MessageKind", tag = "6")]
    pub kind: i32,
    /// The protobuf encoding of the message named by `kind`, exactly as signed.
    #[prost(bytes = "vec", tag = "7")]
    pub body: Vec<u8>,
    /// Ed25519 signature (64 bytes) over [`signing_bytes`].
    #[prost(bytes = "vec", tag = "8")]
    pub signature: Vec<u8>,
}

/// The header fields an envelope signs besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// The sender's public key.
    pub sender_key: [u8; PUBLIC_KEY_BYTES],
    /// The sender's counter for this message.
    pub counter: u64,
    /// The round the message belongs to.
    pub round_id: u64,
    /// Expiry, in Unix milliseconds.
    pub expires_at_unix_ms: u64,
    /// What the body holds.
    pub kind: MessageKind,
}

/// Length of [`signing_bytes`]' output.
pub const SIGNING_BYTES_LEN: usize = SIGNING_DOMAIN.len() + 4 + PUBLIC_KEY_BYTES + 8 * 3 + 4 + 32;

/// The byte string an envelope's signature covers:
/// `SIGNING_DOMAIN ‖ version (u32 LE) ‖ sender key ‖ counter (u64 LE) ‖ round id (u64 LE) ‖
/// expiry (u64 LE) ‖ kind (i32 LE) ‖ SHA-256(body)`. Every field has a fixed width, so two
/// different envelopes never produce the same string.
pub fn signing_bytes(version: u32, header: &EnvelopeHeader, body: &[u8]) -> [u8; SIGNING_BYTES_LEN] {
    let mut out = [0u8; SIGNING_BYTES_LEN];
    let parts: [&[u8]; 8] = [
        SIGNING_DOMAIN,
        &version.to_le_bytes(),
        &header.sender_key,
        &header.counter.to_le_bytes(),
        &header.round_id.to_le_bytes(),
        &header.expires_at_unix_ms.to_le_bytes(),
        &(header.kind as i32).to_le_bytes(),
        &Sha256::digest(body),
    ];
    let mut offset = 0;
    for part in parts {
        out[offset..offset + part.len()].copy_from_slice(part);
        offset += part.len();
    }
    out
}

/// Seals messages from one identity, numbering them with its counter.
#[derive(Debug)]
pub struct Sealer {
    identity: Identity,
    next_counter: u64,
}

impl Sealer {
    /// A sealer whose first message carries counter 1 (a receiver's "nothing seen yet" is 0).
    pub fn new(identity: Identity) -> Self {
        Self::resuming(identity, 1)
    }

    /// A sealer that continues from `next_counter`, for a sender restarting from saved state.
    pub fn resuming(identity: Identity, next_counter: u64) -> Self {
        Self { identity, next_counter }
    }

    /// The public key this sealer signs with.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.identity.public_key()
    }

    /// Continues numbering from `next_counter` (a sender restoring saved state in place).
    pub fn continue_from(&mut self, next_counter: u64) {
        self.next_counter = next_counter;
    }

    /// The counter the next sealed message will carry.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// Validates `message`, signs it and returns the encoded envelope (one frame).
    pub fn seal(
        &mut self,
        round_id: u64,
        expires_at_unix_ms: u64,
        message: &Message,
    ) -> Result<Vec<u8>, ProtocolError> {
        message.validate()?;
        let body = encode_body(message);
        let header = EnvelopeHeader {
            sender_key: self.identity.public_key(),
            counter: self.next_counter,
            round_id,
            expires_at_unix_ms,
            kind: message.kind(),
        };
        let frame = seal_body(&self.identity, &header, body);
        if frame.len() > MAX_FRAME_BYTES {
            return Err(ProtocolError::Oversized {
                what: "frame",
                limit: MAX_FRAME_BYTES as u64,
                actual: frame.len() as u64,
            });
        }
        self.next_counter += 1;
        Ok(frame)
    }
}

/// Signs an already-encoded body under `header` and returns the encoded envelope. Lower level
/// than [`Sealer::seal`]: no validation, no counter bookkeeping, no size check, which is what
/// tests need to build frames a correct sender never would.
pub fn seal_body(identity: &Identity, header: &EnvelopeHeader, body: Vec<u8>) -> Vec<u8> {
    let signature = identity.sign(&signing_bytes(PROTOCOL_VERSION, header, &body));
    let envelope = Envelope {
        protocol_version: PROTOCOL_VERSION,
        sender_key: header.sender_key.to_vec(),
        counter: header.counter,
        round_id: header.round_id,
        expires_at_unix_ms: header.expires_at_unix_ms,
        kind: header.kind as i32,
        body,
        signature: signature.to_vec(),
    };
    prost::Message::encode_to_vec(&envelope)
}

/// The protobuf encoding of a message's body.
pub fn encode_body(message: &Message) -> Vec<u8> {
    use prost::Message as _;
    match message {
        Message::Join(join) => join.encode_to_vec(),
        Message::Signal(signal) => signal.encode_to_vec(),
        Message::CcfUpdate(update) => update.encode_to_vec(),
        Message::Heartbeat(heartbeat) => heartbeat.encode_to_vec(),
        Message::Error(error) => error.encode_to_vec(),
    }
}

/// An envelope whose structure, version and signature checked out; its body is not decoded yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedEnvelope {
    /// The signed header.
    pub header: EnvelopeHeader,
    /// The body bytes, exactly as signed.
    pub body: Vec<u8>,
}

/// Parses a frame and verifies its signature. Stateless: replay and expiry are the
/// receiver's business (see [`crate::receiver::Receiver`]).
///
/// Checks run cheapest first: frame size, wire structure and limits, version, kind, field
/// lengths, then the signature.
pub fn open(frame: &[u8]) -> Result<OpenedEnvelope, ProtocolError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::Oversized {
            what: "frame",
            limit: MAX_FRAME_BYTES as u64,
            actual: frame.len() as u64,
        });
    }
    let envelope: Envelope = decode_checked(frame, &schema::ENVELOPE)?;
    if envelope.protocol_version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion { got: envelope.protocol_version, supported: PROTOCOL_VERSION });
    }
    let kind = match MessageKind::try_from(envelope.kind) {
        Ok(MessageKind::Unspecified) | Err(_) => {
            return Err(ProtocolError::UnknownMessageKind(envelope.kind));
        }
        Ok(kind) => kind,
    };
    let sender_key: [u8; PUBLIC_KEY_BYTES] = envelope
        .sender_key
        .as_slice()
        .try_into()
        .map_err(|_| ProtocolError::Malformed { what: "Envelope.sender_key", reason: "must be 32 bytes" })?;
    let signature: [u8; SIGNATURE_BYTES] = envelope
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| ProtocolError::Malformed { what: "Envelope.signature", reason: "must be 64 bytes" })?;
    let header = EnvelopeHeader {
        sender_key,
        counter: envelope.counter,
        round_id: envelope.round_id,
        expires_at_unix_ms: envelope.expires_at_unix_ms,
        kind,
    };
    let verifying_key = VerifyingKey::from_bytes(&sender_key).map_err(|_| ProtocolError::Forged)?;
    let signed = signing_bytes(envelope.protocol_version, &header, &envelope.body);
    verifying_key.verify_strict(&signed, &Signature::from_bytes(&signature)).map_err(|_| ProtocolError::Forged)?;
    Ok(OpenedEnvelope { header, body: envelope.body })
}

/// Decodes and validates a body of `kind`, with every limit checked before allocation.
pub fn decode_body(kind: MessageKind, body: &[u8]) -> Result<Message, ProtocolError> {
    let message = match kind {
        MessageKind::Join => Message::Join(decode_checked(body, &schema::JOIN)?),
        MessageKind::Signal => Message::Signal(decode_checked(body, &schema::SIGNAL)?),
        MessageKind::CcfUpdate => Message::CcfUpdate(decode_checked(body, &schema::CCF_UPDATE)?),
        MessageKind::Heartbeat => Message::Heartbeat(decode_checked(body, &schema::HEARTBEAT)?),
        MessageKind::Error => Message::Error(decode_checked(body, &schema::ERROR_MESSAGE)?),
        MessageKind::Unspecified => return Err(ProtocolError::UnknownMessageKind(kind as i32)),
    };
    message.validate()?;
    Ok(message)
}
