//! Keeps `proto/dfma.proto`, the schema tables and the prost structs in step.
//!
//! The `.proto` file is parsed with a small line parser (the file keeps one declaration per
//! line for this reason) and compared with `dfma_protocol::schema` field for field: name,
//! number, type, repeated. The prost structs are compared with the same tables by encoding a
//! fully populated message and walking its top-level tags: every field number the struct
//! emits must be in the table with the same wire type, and every table field must be emitted.

use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use dfma_protocol::envelope::{Envelope, encode_body};
use dfma_protocol::fuzz::{ALL_KINDS, sample_message};
use dfma_protocol::messages::{
    AdapterShape, Capabilities, Compression, CompressionMethod, ElementType, ErrorCode, MessageKind, PrivacyParameters,
};
use dfma_protocol::payload::TensorPayload;
use dfma_protocol::schema::{self, ALL_MESSAGES, MessageSchema};
use dfma_protocol::transport::grpc::Frame;
use prost::Message as _;
use rand_core::SeedableRng;

type Fields = BTreeMap<u32, (String, String, bool)>;

fn parse_proto() -> (BTreeMap<String, Fields>, BTreeMap<String, BTreeMap<i32, String>>) {
    let text = include_str!("../proto/dfma.proto");
    let mut messages = BTreeMap::new();
    let mut enums = BTreeMap::new();
    let mut current: Option<(bool, String)> = None;
    for raw in text.lines() {
        let line = raw.split("//").next().unwrap().trim();
        if let Some(rest) = line.strip_prefix("message ") {
            let name = rest.trim_end_matches('{').trim().to_string();
            messages.insert(name.clone(), Fields::new());
            current = Some((true, name));
        } else if let Some(rest) = line.strip_prefix("enum ") {
            let name = rest.trim_end_matches('{').trim().to_string();
            enums.insert(name.clone(), BTreeMap::new());
            current = Some((false, name));
        } else if line == "}" {
            current = None;
        } else if let (Some((is_message, name)), Some((left, right))) = (&current, line.split_once('=')) {
            let number = right.trim().trim_end_matches(';').trim();
            let words: Vec<&str> = left.split_whitespace().collect();
            if *is_message {
                let (repeated, words) = match words.as_slice() {
                    ["repeated", rest @ ..] => (true, rest.to_vec()),
                    _ => (false, words.clone()),
                };
                let [proto_type, field] = words.as_slice() else { panic!("cannot parse {raw}") };
                messages
                    .get_mut(name)
                    .unwrap()
                    .insert(number.parse().unwrap(), (field.to_string(), proto_type.to_string(), repeated));
            } else {
                enums.get_mut(name).unwrap().insert(number.parse().unwrap(), words[0].to_string());
            }
        }
    }
    (messages, enums)
}

fn table_fields(schema: &MessageSchema) -> Fields {
    schema
        .fields
        .iter()
        .map(|field| (field.number, (field.name.to_string(), field.proto_type.to_string(), field.is_repeated())))
        .collect()
}

#[test]
fn the_proto_file_and_the_schema_tables_declare_the_same_fields() {
    let (messages, _) = parse_proto();
    let table_names: Vec<&str> = ALL_MESSAGES.iter().map(|schema| schema.name).collect();
    let mut proto_names: Vec<&str> = messages.keys().map(String::as_str).collect();
    let mut sorted_table = table_names.clone();
    sorted_table.sort_unstable();
    proto_names.sort_unstable();
    assert_eq!(proto_names, sorted_table);
    for schema in ALL_MESSAGES {
        assert_eq!(messages[schema.name], table_fields(schema), "message {}", schema.name);
    }
}

fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (index, character) in camel.chars().enumerate() {
        if character.is_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(character.to_ascii_uppercase());
    }
    out
}

fn check_enum<E: std::fmt::Debug>(
    enums: &BTreeMap<String, BTreeMap<i32, String>>,
    name: &str,
    decode: impl Fn(i32) -> Option<E>,
) {
    let prefix = screaming_snake(name);
    let values = &enums[name];
    for (number, proto_name) in values {
        let variant = decode(*number).unwrap_or_else(|| panic!("{name} lacks {number}"));
        let expected = format!("{prefix}_{}", screaming_snake(&format!("{variant:?}")));
        assert_eq!(proto_name, &expected, "{name} value {number}");
    }
    assert!(decode(values.keys().max().unwrap() + 1).is_none(), "{name} has extra values");
}

#[test]
fn the_proto_file_and_the_prost_enums_declare_the_same_values() {
    let (_, enums) = parse_proto();
    assert_eq!(enums.len(), 4);
    check_enum(&enums, "MessageKind", |v| MessageKind::try_from(v).ok());
    check_enum(&enums, "ElementType", |v| ElementType::try_from(v).ok());
    check_enum(&enums, "CompressionMethod", |v| CompressionMethod::try_from(v).ok());
    check_enum(&enums, "ErrorCode", |v| ErrorCode::try_from(v).ok());
}

/// Top-level (field number, wire type) pairs of an encoded message.
fn top_level_tags(mut bytes: &[u8]) -> Vec<(u32, u32)> {
    let mut tags = Vec::new();
    while !bytes.is_empty() {
        let tag = prost::encoding::decode_varint(&mut bytes).unwrap();
        let wire_type = (tag & 7) as u32;
        tags.push(((tag >> 3) as u32, wire_type));
        match wire_type {
            0 => drop(prost::encoding::decode_varint(&mut bytes).unwrap()),
            5 => bytes = &bytes[4..],
            2 => {
                let len = prost::encoding::decode_varint(&mut bytes).unwrap() as usize;
                bytes = &bytes[len..];
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    tags
}

fn assert_struct_matches(schema: &MessageSchema, encoded: &[u8]) {
    let tags = top_level_tags(encoded);
    for field in schema.fields {
        let seen: Vec<u32> = tags.iter().filter(|(number, _)| *number == field.number).map(|(_, wire)| *wire).collect();
        assert!(!seen.is_empty(), "{}.{} not emitted by the prost struct", schema.name, field.name);
        let packed = field.is_repeated() && field.kind.wire_type() != 2;
        let expected = if packed { 2 } else { field.kind.wire_type() };
        assert!(seen.iter().all(|&wire| wire == expected), "{}.{} wire type", schema.name, field.name);
    }
    for (number, _) in &tags {
        assert!(schema.field(*number).is_some(), "{} emits unknown field {number}", schema.name);
    }
}

#[test]
fn the_prost_structs_emit_exactly_the_schema_table_fields() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let mut full = |kind| encode_body(&sample_message(kind, &mut rng));
    let bodies: Vec<Vec<u8>> = ALL_KINDS.iter().map(|&kind| full(kind)).collect();
    assert_struct_matches(&schema::JOIN, &bodies[0]);
    assert_struct_matches(&schema::SIGNAL, &bodies[1]);
    assert_struct_matches(&schema::CCF_UPDATE, &bodies[2]);
    assert_struct_matches(&schema::HEARTBEAT, &bodies[3]);
    assert_struct_matches(&schema::ERROR_MESSAGE, &bodies[4]);
    let envelope = Envelope {
        protocol_version: 1,
        sender_key: vec![1; 32],
        counter: 1,
        round_id: 1,
        expires_at_unix_ms: 1,
        kind: 1,
        body: vec![1],
        signature: vec![1; 64],
    };
    assert_struct_matches(&schema::ENVELOPE, &envelope.encode_to_vec());
    let payload = TensorPayload::from_f32(&[1.0]);
    assert_struct_matches(&schema::TENSOR_PAYLOAD, &payload.encode_to_vec());
    let capabilities = Capabilities {
        element_types: vec![1],
        compression_methods: vec![1],
        max_frame_bytes: 1,
        secure_aggregation: true,
    };
    assert_struct_matches(&schema::CAPABILITIES, &capabilities.encode_to_vec());
    let shape = AdapterShape { name: "a".into(), rows: 1, cols: 1, rank: 1 };
    assert_struct_matches(&schema::ADAPTER_SHAPE, &shape.encode_to_vec());
    let compression = Compression { method: 1, seed: 1, parameters: vec![1] };
    assert_struct_matches(&schema::COMPRESSION, &compression.encode_to_vec());
    let privacy = PrivacyParameters {
        clip_norm: 1.0,
        noise_multiplier: 1.0,
        sampling_rate: 1.0,
        secure_aggregation: true,
        fixed_point_fractional_bits: 1,
    };
    assert_struct_matches(&schema::PRIVACY_PARAMETERS, &privacy.encode_to_vec());
    let frame = Frame { frame: vec![1] };
    assert_struct_matches(&schema::FRAME, &frame.encode_to_vec());
}
