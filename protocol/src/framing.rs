//! Length-prefixed framing for byte-stream transports: `u32 LE length ‖ envelope`.
//!
//! A stream reader learns a frame's size from 4 bytes it has not authenticated yet. The prefix
//! is checked against [`MAX_FRAME_BYTES`] before any buffer is sized from it, so a peer cannot
//! make the reader allocate by announcing a large frame.

use crate::error::ProtocolError;
use crate::limits::MAX_FRAME_BYTES;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Prepends the length prefix to an envelope.
pub fn encode_frame(envelope: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let length = check_frame_length(envelope.len() as u64)?;
    let mut framed = Vec::with_capacity(LENGTH_PREFIX_BYTES + envelope.len());
    framed.extend_from_slice(&(length as u32).to_le_bytes());
    framed.extend_from_slice(envelope);
    Ok(framed)
}

/// Reads a frame's declared length from the first 4 bytes of `prefix` and checks it against
/// the limit; the caller then reads exactly that many bytes.
pub fn read_frame_length(prefix: &[u8]) -> Result<usize, ProtocolError> {
    let Some(bytes) = prefix.get(..LENGTH_PREFIX_BYTES) else {
        return Err(ProtocolError::Truncated {
            what: "frame length prefix",
            needed: LENGTH_PREFIX_BYTES as u64,
            available: prefix.len() as u64,
        });
    };
    let declared = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    check_frame_length(u64::from(declared))
}

/// Splits the first frame off `buffer`: returns the envelope bytes and the rest. Checks the
/// prefix against the limit and against the bytes actually present.
pub fn split_frame(buffer: &[u8]) -> Result<(&[u8], &[u8]), ProtocolError> {
    let length = read_frame_length(buffer)?;
    let body = &buffer[LENGTH_PREFIX_BYTES..];
    if length > body.len() {
        return Err(ProtocolError::Truncated { what: "frame", needed: length as u64, available: body.len() as u64 });
    }
    Ok(body.split_at(length))
}

fn check_frame_length(length: u64) -> Result<usize, ProtocolError> {
    if length > MAX_FRAME_BYTES as u64 {
        return Err(ProtocolError::Oversized { what: "frame", limit: MAX_FRAME_BYTES as u64, actual: length });
    }
    Ok(length as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_leaves_the_rest() {
        let mut stream = encode_frame(&[1, 2, 3]).unwrap();
        stream.extend([9, 9]);
        assert_eq!(split_frame(&stream).unwrap(), (&[1u8, 2, 3][..], &[9u8, 9][..]));
    }

    #[test]
    fn a_prefix_above_the_limit_is_oversized_before_any_read() {
        let prefix = u32::MAX.to_le_bytes();
        assert!(matches!(read_frame_length(&prefix), Err(ProtocolError::Oversized { .. })));
    }

    #[test]
    fn a_prefix_beyond_the_buffer_is_truncated() {
        let mut buffer = 10u32.to_le_bytes().to_vec();
        buffer.extend([0; 3]);
        assert_eq!(split_frame(&buffer), Err(ProtocolError::Truncated { what: "frame", needed: 10, available: 3 }));
        assert!(matches!(split_frame(&[1, 2]), Err(ProtocolError::Truncated { .. })));
    }
}
