//! Metadata values: GGUF's typed key-value store (numbers, booleans, strings and arrays).

use super::cursor::Cursor;
use super::error::GgufError;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7.
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9: items of one type.
    Array(Vec<Value>),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if it is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// Fewest bytes a value of type `tag` takes (strings and arrays: their u64 length).
fn min_bytes(tag: u32) -> u64 {
    match tag {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        _ => 8,
    }
}

/// Reads a value of type `tag`; arrays nest at most `depth` levels more.
pub(crate) fn read_value(
    c: &mut Cursor<'_>,
    tag: u32,
    depth: u32,
    what: &dyn Fn() -> String,
) -> Result<Value, GgufError> {
    Ok(match tag {
        0 => Value::U8(c.u8(what)?),
        1 => Value::I8(c.u8(what)? as i8),
        2 => Value::U16(c.u16(what)?),
        3 => Value::I16(c.u16(what)? as i16),
        4 => Value::U32(c.u32(what)?),
        5 => Value::I32(c.u32(what)? as i32),
        6 => Value::F32(f32::from_bits(c.u32(what)?)),
        7 => match c.u8(what)? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(GgufError::invalid(what(), format!("boolean byte {b} is neither 0 nor 1"))),
        },
        8 => Value::String(c.string(what)?),
        9 => {
            if depth == 0 {
                return Err(GgufError::invalid(what(), "arrays nested too deeply"));
            }
            let item_tag = c.u32(&|| format!("{} (array item type)", what()))?;
            if item_tag > 12 {
                return Err(GgufError::invalid(what(), format!("unknown array item type {item_tag}")));
            }
            let n = c.count(min_bytes(item_tag), &|| format!("{} (array length)", what()))?;
            let mut items = Vec::with_capacity(n as usize);
            for i in 0..n {
                items.push(read_value(c, item_tag, depth - 1, &|| format!("{}[{i}]", what()))?);
            }
            Value::Array(items)
        }
        10 => Value::U64(c.u64(what)?),
        11 => Value::I64(c.u64(what)? as i64),
        12 => Value::F64(f64::from_bits(c.u64(what)?)),
        t => return Err(GgufError::invalid(what(), format!("unknown value type {t}"))),
    })
}
