//! Tensor payloads: raw little-endian elements that always say their type and count.
//!
//! A payload's byte length is redundant with `count × element size`; the redundancy is the
//! point. A reader checks the declared count against [`MAX_PAYLOAD_ELEMENTS`] and against the
//! bytes actually present before it allocates the decoded vector, so a lying count can neither
//! make it allocate nor make it read past the end.

use crate::error::ProtocolError;
use crate::limits::MAX_PAYLOAD_ELEMENTS;
use crate::messages::ElementType;

/// A typed vector of elements.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorPayload {
    /// An [`ElementType`] value.
    #[prost(enumeration = "ElementType", tag = "1")]
    pub element_type: i32,
    /// Number of elements.
    #[prost(uint64, tag = "2")]
    pub count: u64,
    /// The elements, little-endian, `count × element size` bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
}

impl TensorPayload {
    /// A payload of f32 values.
    pub fn from_f32(values: &[f32]) -> Self {
        Self {
            element_type: ElementType::F32 as i32,
            count: values.len() as u64,
            data: values.iter().flat_map(|value| value.to_le_bytes()).collect(),
        }
    }

    /// A payload of u32 values (fixed-point elements of Z_2^32).
    pub fn from_u32(values: &[u32]) -> Self {
        Self {
            element_type: ElementType::U32 as i32,
            count: values.len() as u64,
            data: values.iter().flat_map(|value| value.to_le_bytes()).collect(),
        }
    }

    /// The element type, checked: unknown and unspecified types are malformed.
    pub fn checked_element_type(&self) -> Result<ElementType, ProtocolError> {
        match ElementType::try_from(self.element_type) {
            Ok(ElementType::Unspecified) | Err(_) => Err(ProtocolError::Malformed {
                what: "TensorPayload.element_type",
                reason: "unknown or unspecified element type",
            }),
            Ok(element_type) => Ok(element_type),
        }
    }

    /// Checks type, count limit and that the data length is exactly `count × element size`.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let element_type = self.checked_element_type()?;
        if self.count > MAX_PAYLOAD_ELEMENTS {
            return Err(ProtocolError::Oversized {
                what: "TensorPayload.count",
                limit: MAX_PAYLOAD_ELEMENTS,
                actual: self.count,
            });
        }
        // Cannot overflow: count ≤ 2^24 and sizes ≤ 4.
        let needed = self.count * element_type.size_bytes().unwrap_or(0);
        let available = self.data.len() as u64;
        if needed > available {
            return Err(ProtocolError::Truncated { what: "TensorPayload.data", needed, available });
        }
        if needed < available {
            return Err(ProtocolError::Malformed {
                what: "TensorPayload.data",
                reason: "more bytes than count × element size",
            });
        }
        Ok(())
    }

    /// The elements as f32, after [`TensorPayload::validate`] and a type check.
    pub fn to_f32(&self) -> Result<Vec<f32>, ProtocolError> {
        self.expect_type(ElementType::F32)?;
        Ok(self
            .data
            .chunks_exact(4)
            .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .collect())
    }

    /// The elements as u32, after [`TensorPayload::validate`] and a type check.
    pub fn to_u32(&self) -> Result<Vec<u32>, ProtocolError> {
        self.expect_type(ElementType::U32)?;
        Ok(self
            .data
            .chunks_exact(4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .collect())
    }

    fn expect_type(&self, wanted: ElementType) -> Result<(), ProtocolError> {
        self.validate()?;
        if self.element_type != wanted as i32 {
            return Err(ProtocolError::MisTyped {
                message: "TensorPayload",
                field: "element_type",
                expected: wanted as u32,
                actual: self.element_type as u32,
            });
        }
        Ok(())
    }
}
