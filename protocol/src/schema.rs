//! The wire schema as data: every message's fields with their number, wire kind and limits.
//!
//! [`crate::wire::check_message`] walks a frame against these tables before prost decodes it,
//! which is where limits are enforced and wire-type mismatches get a typed error. The tables
//! also carry the `.proto` type names so that a test can compare them with `proto/dfma.proto`
//! field for field.

use crate::limits::{
    HASH_BYTES, MAX_ADAPTER_SHAPES, MAX_CAPABILITY_ENTRIES, MAX_COMPRESSION_PARAMETERS, MAX_ERROR_DETAIL_BYTES,
    MAX_FRAME_BYTES, MAX_NAME_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES,
};

/// How a field is encoded, and the bounds on its content.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// Wire type 0: integers, booleans, enumerations.
    Varint,
    /// Wire type 5: `float`.
    Fixed32,
    /// Wire type 2 holding raw bytes or UTF-8, at most `max_len` bytes.
    Bytes {
        /// Largest length accepted, in bytes.
        max_len: usize,
    },
    /// Wire type 2 holding a nested message.
    Message(&'static MessageSchema),
}

impl FieldKind {
    /// The protobuf wire type of one (unpacked) element.
    pub fn wire_type(self) -> u32 {
        match self {
            Self::Varint => 0,
            Self::Fixed32 => 5,
            Self::Bytes { .. } | Self::Message(_) => 2,
        }
    }
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct FieldSchema {
    /// The field's name in `proto/dfma.proto`.
    pub name: &'static str,
    /// The field number.
    pub number: u32,
    /// The type as written in `proto/dfma.proto`.
    pub proto_type: &'static str,
    /// Encoding and bounds.
    pub kind: FieldKind,
    /// Most occurrences (elements, for a repeated field); 1 for a singular field.
    pub max_count: usize,
}

impl FieldSchema {
    /// Whether the field is declared `repeated`.
    pub fn is_repeated(&self) -> bool {
        self.max_count > 1
    }
}

/// One message type.
#[derive(Debug)]
pub struct MessageSchema {
    /// The message's name in `proto/dfma.proto`.
    pub name: &'static str,
    /// Its fields, in field-number order.
    pub fields: &'static [FieldSchema],
}

impl MessageSchema {
    /// The field with `number`, if the schema knows it.
    pub fn field(&self, number: u32) -> Option<(usize, &FieldSchema)> {
        self.fields.iter().enumerate().find(|(_, field)| field.number == number)
    }
}

const fn singular(name: &'static str, number: u32, proto_type: &'static str, kind: FieldKind) -> FieldSchema {
    FieldSchema { name, number, proto_type, kind, max_count: 1 }
}

const fn repeated(
    name: &'static str,
    number: u32,
    proto_type: &'static str,
    kind: FieldKind,
    max_count: usize,
) -> FieldSchema {
    FieldSchema { name, number, proto_type, kind, max_count }
}

const fn bytes(max_len: usize) -> FieldKind {
    FieldKind::Bytes { max_len }
}

/// `Envelope`: the signed wrapper of every frame.
pub static ENVELOPE: MessageSchema = MessageSchema {
    name: "Envelope",
    fields: &[
        singular("protocol_version", 1, "uint32", FieldKind::Varint),
        singular("sender_key", 2, "bytes", bytes(PUBLIC_KEY_BYTES)),
        singular("counter", 3, "uint64", FieldKind::Varint),
        singular("round_id", 4, "uint64", FieldKind::Varint),
        singular("expires_at_unix_ms", 5, "uint64", FieldKind::Varint),
        singular("kind", 6, "MessageKind", FieldKind::Varint),
        singular("body", 7, "bytes", bytes(MAX_FRAME_BYTES)),
        singular("signature", 8, "bytes", bytes(SIGNATURE_BYTES)),
    ],
};

/// `TensorPayload`.
pub static TENSOR_PAYLOAD: MessageSchema = MessageSchema {
    name: "TensorPayload",
    fields: &[
        singular("element_type", 1, "ElementType", FieldKind::Varint),
        singular("count", 2, "uint64", FieldKind::Varint),
        singular("data", 3, "bytes", bytes(MAX_FRAME_BYTES)),
    ],
};

/// `Capabilities`.
pub static CAPABILITIES: MessageSchema = MessageSchema {
    name: "Capabilities",
    fields: &[
        repeated("element_types", 1, "ElementType", FieldKind::Varint, MAX_CAPABILITY_ENTRIES),
        repeated("compression_methods", 2, "CompressionMethod", FieldKind::Varint, MAX_CAPABILITY_ENTRIES),
        singular("max_frame_bytes", 3, "uint64", FieldKind::Varint),
        singular("secure_aggregation", 4, "bool", FieldKind::Varint),
    ],
};

/// `Join`.
pub static JOIN: MessageSchema = MessageSchema {
    name: "Join",
    fields: &[
        singular("agreement_public_key", 1, "bytes", bytes(PUBLIC_KEY_BYTES)),
        singular("capabilities", 2, "Capabilities", FieldKind::Message(&CAPABILITIES)),
        singular("client_name", 3, "string", bytes(MAX_NAME_BYTES)),
    ],
};

/// `AdapterShape`.
pub static ADAPTER_SHAPE: MessageSchema = MessageSchema {
    name: "AdapterShape",
    fields: &[
        singular("name", 1, "string", bytes(MAX_NAME_BYTES)),
        singular("rows", 2, "uint32", FieldKind::Varint),
        singular("cols", 3, "uint32", FieldKind::Varint),
        singular("rank", 4, "uint32", FieldKind::Varint),
    ],
};

/// `Compression`.
pub static COMPRESSION: MessageSchema = MessageSchema {
    name: "Compression",
    fields: &[
        singular("method", 1, "CompressionMethod", FieldKind::Varint),
        singular("seed", 2, "uint64", FieldKind::Varint),
        repeated("parameters", 3, "uint64", FieldKind::Varint, MAX_COMPRESSION_PARAMETERS),
    ],
};

/// `PrivacyParameters`.
pub static PRIVACY_PARAMETERS: MessageSchema = MessageSchema {
    name: "PrivacyParameters",
    fields: &[
        singular("clip_norm", 1, "float", FieldKind::Fixed32),
        singular("noise_multiplier", 2, "float", FieldKind::Fixed32),
        singular("sampling_rate", 3, "float", FieldKind::Fixed32),
        singular("secure_aggregation", 4, "bool", FieldKind::Varint),
        singular("fixed_point_fractional_bits", 5, "uint32", FieldKind::Varint),
    ],
};

/// `Signal`.
pub static SIGNAL: MessageSchema = MessageSchema {
    name: "Signal",
    fields: &[
        singular("base_model_hash", 1, "bytes", bytes(HASH_BYTES)),
        repeated("adapter_shapes", 2, "AdapterShape", FieldKind::Message(&ADAPTER_SHAPE), MAX_ADAPTER_SHAPES),
        singular("compression", 3, "Compression", FieldKind::Message(&COMPRESSION)),
        singular("privacy", 4, "PrivacyParameters", FieldKind::Message(&PRIVACY_PARAMETERS)),
        singular("payload", 5, "TensorPayload", FieldKind::Message(&TENSOR_PAYLOAD)),
    ],
};

/// `CcfUpdate`.
pub static CCF_UPDATE: MessageSchema = MessageSchema {
    name: "CcfUpdate",
    fields: &[
        singular("ccf_version", 1, "uint64", FieldKind::Varint),
        singular("base_model_hash", 2, "bytes", bytes(HASH_BYTES)),
        repeated("adapter_shapes", 3, "AdapterShape", FieldKind::Message(&ADAPTER_SHAPE), MAX_ADAPTER_SHAPES),
        singular("delta", 4, "TensorPayload", FieldKind::Message(&TENSOR_PAYLOAD)),
        singular("contributors", 5, "uint32", FieldKind::Varint),
    ],
};

/// `Heartbeat`.
pub static HEARTBEAT: MessageSchema = MessageSchema {
    name: "Heartbeat",
    fields: &[
        singular("sent_at_unix_ms", 1, "uint64", FieldKind::Varint),
        singular("applied_ccf_version", 2, "uint64", FieldKind::Varint),
    ],
};

/// `ErrorMessage`.
pub static ERROR_MESSAGE: MessageSchema = MessageSchema {
    name: "ErrorMessage",
    fields: &[
        singular("code", 1, "ErrorCode", FieldKind::Varint),
        singular("detail", 2, "string", bytes(MAX_ERROR_DETAIL_BYTES)),
        singular("refers_to_counter", 3, "uint64", FieldKind::Varint),
        singular("supported_version", 4, "uint32", FieldKind::Varint),
    ],
};

/// `Frame`: one encoded envelope on a gRPC `Connect` stream ([`crate::transport::grpc`]).
pub static FRAME: MessageSchema = MessageSchema {
    name: "Frame",
    fields: &[
        singular("frame", 1, "bytes", bytes(MAX_FRAME_BYTES)), // one encoded envelope
    ],
};

/// Every message schema, for the `.proto` consistency test.
pub static ALL_MESSAGES: [&MessageSchema; 12] = [
    &ENVELOPE,
    &TENSOR_PAYLOAD,
    &CAPABILITIES,
    &JOIN,
    &ADAPTER_SHAPE,
    &COMPRESSION,
    &PRIVACY_PARAMETERS,
    &SIGNAL,
    &CCF_UPDATE,
    &HEARTBEAT,
    &ERROR_MESSAGE,
    &FRAME,
];
