//! A bounds-checking walk over protobuf bytes, run before prost decodes them.
//!
//! prost already refuses a length prefix longer than its input, but it does not know our
//! limits, and it accepts a field of the wrong wire type silently as "unknown". This walk reads
//! every tag and length against the schema in [`crate::schema`] without allocating, so that by
//! the time prost allocates, every length and repeat count is known to be within bounds.
//!
//! Handling of fields the schema does not know, as protobuf intends for forward compatibility:
//! an unknown field number is skipped (after its length is checked against the input) and
//! dropped by the decoder. Because a body is signed as the exact bytes sent, unknown fields are
//! still covered by the signature. Groups (wire types 3 and 4) and the unused wire types 6 and
//! 7 are malformed. A singular field that appears twice is malformed rather than merged, so that
//! every accepted frame has exactly one reading.

use crate::error::ProtocolError;
use crate::limits::MAX_NESTING_DEPTH;
use crate::schema::{FieldKind, MessageSchema};

/// Most fields one message schema may declare (the walk counts repeats in a fixed array).
pub const MAX_FIELDS_PER_MESSAGE: usize = 16;

/// Largest valid protobuf field number.
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Walks `bytes` as an encoding of `schema`, checking every bound. Allocates nothing.
pub fn check_message(bytes: &[u8], schema: &'static MessageSchema) -> Result<(), ProtocolError> {
    check_at_depth(bytes, schema, 0)
}

/// Checks `bytes` against `schema`, then decodes them with prost.
pub fn decode_checked<M: prost::Message + Default>(
    bytes: &[u8],
    schema: &'static MessageSchema,
) -> Result<M, ProtocolError> {
    check_message(bytes, schema)?;
    M::decode(bytes).map_err(|_| ProtocolError::Malformed {
        what: schema.name,
        reason: "field contents are invalid (bad UTF-8 or an out-of-range integer)",
    })
}

fn check_at_depth(bytes: &[u8], schema: &'static MessageSchema, depth: usize) -> Result<(), ProtocolError> {
    if depth > MAX_NESTING_DEPTH {
        return Err(ProtocolError::Malformed { what: schema.name, reason: "nested too deeply" });
    }
    let mut counts = [0usize; MAX_FIELDS_PER_MESSAGE];
    let mut reader = Reader { bytes, position: 0 };
    while !reader.is_empty() {
        let tag = reader.varint("field tag")?;
        let number = tag >> 3;
        let wire_type = (tag & 7) as u32;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(ProtocolError::Malformed { what: schema.name, reason: "field number out of range" });
        }
        let Some((index, field)) = schema.field(number as u32) else {
            reader.skip_unknown(wire_type, schema.name)?;
            continue;
        };
        let element_wire_type = field.kind.wire_type();
        let elements = if wire_type == element_wire_type {
            match field.kind {
                FieldKind::Varint => {
                    reader.varint(field.name)?;
                }
                FieldKind::Fixed32 => {
                    reader.take(4, field.name)?;
                }
                FieldKind::Bytes { max_len } => {
                    reader.length_delimited(max_len, field.name)?;
                }
                FieldKind::Message(nested) => {
                    let inner = reader.length_delimited(usize::MAX, field.name)?;
                    check_at_depth(inner, nested, depth + 1)?;
                }
            }
            1
        } else if wire_type == 2 && field.is_repeated() && element_wire_type != 2 {
            // A packed repeated scalar: one length-delimited run of elements.
            let run = reader.length_delimited(usize::MAX, field.name)?;
            count_packed(run, field.kind, field.name)?
        } else {
            return Err(ProtocolError::MisTyped {
                message: schema.name,
                field: field.name,
                expected: element_wire_type,
                actual: wire_type,
            });
        };
        counts[index] += elements;
        if counts[index] > field.max_count {
            return Err(if field.max_count == 1 {
                ProtocolError::Malformed { what: field.name, reason: "singular field repeated" }
            } else {
                ProtocolError::Oversized {
                    what: field.name,
                    limit: field.max_count as u64,
                    actual: counts[index] as u64,
                }
            });
        }
    }
    Ok(())
}

fn count_packed(run: &[u8], kind: FieldKind, what: &'static str) -> Result<usize, ProtocolError> {
    match kind {
        FieldKind::Fixed32 if run.len().is_multiple_of(4) => Ok(run.len() / 4),
        FieldKind::Fixed32 => Err(ProtocolError::Malformed { what, reason: "packed floats not a multiple of 4" }),
        _ => {
            let mut reader = Reader { bytes: run, position: 0 };
            let mut count = 0;
            while !reader.is_empty() {
                reader.varint(what)?;
                count += 1;
            }
            Ok(count)
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, ProtocolError> {
        let mut value = 0u64;
        for index in 0..10 {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(ProtocolError::Truncated { what, needed: index as u64 + 1, available: index as u64 });
            };
            self.position += 1;
            if index == 9 && byte > 1 {
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtocolError::Malformed { what, reason: "varint longer than 64 bits" })
    }

    fn take(&mut self, length: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        if length > self.remaining() {
            return Err(ProtocolError::Truncated { what, needed: length as u64, available: self.remaining() as u64 });
        }
        let slice = &self.bytes[self.position..self.position + length];
        self.position += length;
        Ok(slice)
    }

    fn length_delimited(&mut self, max_len: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        let declared = self.varint(what)?;
        if declared > max_len as u64 {
            return Err(ProtocolError::Oversized { what, limit: max_len as u64, actual: declared });
        }
        if declared > self.remaining() as u64 {
            return Err(ProtocolError::Truncated { what, needed: declared, available: self.remaining() as u64 });
        }
        self.take(declared as usize, what)
    }

    fn skip_unknown(&mut self, wire_type: u32, message: &'static str) -> Result<(), ProtocolError> {
        match wire_type {
            0 => self.varint("unknown field").map(drop),
            1 => self.take(8, "unknown field").map(drop),
            2 => self.length_delimited(usize::MAX, "unknown field").map(drop),
            5 => self.take(4, "unknown field").map(drop),
            _ => Err(ProtocolError::Malformed {
                what: message,
                reason: "groups and wire types 6 and 7 are not supported",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ALL_MESSAGES;

    #[test]
    fn every_schema_fits_the_fixed_repeat_counter() {
        for schema in ALL_MESSAGES {
            assert!(schema.fields.len() <= MAX_FIELDS_PER_MESSAGE, "{}", schema.name);
        }
    }

    #[test]
    fn an_overlong_varint_is_malformed_not_a_panic() {
        let bytes = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        let error = check_message(&bytes, &crate::schema::HEARTBEAT).unwrap_err();
        assert!(matches!(error, ProtocolError::Malformed { .. }), "{error:?}");
    }

    #[test]
    fn a_length_beyond_the_input_is_truncated_before_anything_is_read() {
        // Field 7 (body), declared 1000 bytes, 2 present.
        let bytes = [0x3a, 0xe8, 0x07, 1, 2];
        let error = check_message(&bytes, &crate::schema::ENVELOPE).unwrap_err();
        assert_eq!(error, ProtocolError::Truncated { what: "body", needed: 1000, available: 2 });
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        // Heartbeat field 1 = 5, then unknown fields 9 (varint), 10 (fixed64), 11 (bytes),
        // 12 (fixed32).
        let mut bytes = vec![0x08, 5, 0x48, 1, 0x51];
        bytes.extend([0; 8]);
        bytes.extend([0x5a, 2, 7, 7, 0x65]);
        bytes.extend([0; 4]);
        check_message(&bytes, &crate::schema::HEARTBEAT).unwrap();
    }

    #[test]
    fn a_group_is_malformed() {
        let error = check_message(&[0x4b], &crate::schema::HEARTBEAT).unwrap_err();
        assert!(matches!(error, ProtocolError::Malformed { .. }), "{error:?}");
    }
}
