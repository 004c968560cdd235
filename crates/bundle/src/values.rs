//! The values of a frame that holds data rather than links (docs/disdat.md §2): numbers as raw
//! array bytes in the frame's byte order with `shape`, strings in `strings`.

use crate::pb::{ByteOrder, Frame, Type};

/// One element of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Value {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => (*i).into(),
            Value::UInt(u) => (*u).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Bool(b) => (*b).into(),
            Value::Str(s) => s.clone().into(),
        }
    }
}

/// The elements of a data frame, in order; None for a frame of links or of nested bundles.
/// Err says why the bytes do not fit the frame's type.
pub fn frame_values(frame: &Frame) -> Result<Option<Vec<Value>>, String> {
    let ty = Type::try_from(frame.r#type).map_err(|_| format!("unknown type {}", frame.r#type))?;
    if ty == Type::String || ty == Type::Object {
        return Ok(Some(
            frame.strings.iter().cloned().map(Value::Str).collect(),
        ));
    }
    let width = match ty {
        Type::Int8 | Type::Uint8 | Type::Bool => 1,
        Type::Int16 | Type::Uint16 | Type::Float16 => 2,
        Type::Int32 | Type::Uint32 | Type::Float32 => 4,
        Type::Int64 | Type::Uint64 | Type::Float64 => 8,
        _ => return Ok(None),
    };
    if !frame.data.len().is_multiple_of(width) {
        return Err(format!(
            "{} bytes of data do not divide into {width}-byte elements",
            frame.data.len()
        ));
    }
    let big = ByteOrder::try_from(frame.byteorder) == Ok(ByteOrder::Big) && width > 1;
    let out = frame
        .data
        .chunks(width)
        .map(|c| {
            let mut b = [0u8; 8];
            if big {
                for (i, byte) in c.iter().rev().enumerate() {
                    b[i] = *byte;
                }
            } else {
                b[..width].copy_from_slice(c);
            }
            let u = u64::from_le_bytes(b);
            let sign = |bits: u32| ((u << (64 - bits)) as i64) >> (64 - bits);
            match ty {
                Type::Bool => Value::Bool(u != 0),
                Type::Int8 => Value::Int(sign(8)),
                Type::Int16 => Value::Int(sign(16)),
                Type::Int32 => Value::Int(sign(32)),
                Type::Int64 => Value::Int(u as i64),
                Type::Uint8 | Type::Uint16 | Type::Uint32 | Type::Uint64 => Value::UInt(u),
                Type::Float32 => Value::Float(f32::from_bits(u as u32) as f64),
                Type::Float64 => Value::Float(f64::from_bits(u)),
                _ => Value::Float(half(u as u16)),
            }
        })
        .collect();
    Ok(Some(out))
}

/// An IEEE half-precision float.
fn half(bits: u16) -> f64 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let frac = (bits & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: Type, order: ByteOrder, data: &[u8]) -> Frame {
        Frame {
            r#type: ty as i32,
            byteorder: order as i32,
            data: data.to_vec(),
            shape: vec![1],
            ..Default::default()
        }
    }

    #[test]
    fn numbers_in_either_byte_order() {
        let f = frame(Type::Int64, ByteOrder::Little, &7i64.to_le_bytes());
        assert_eq!(frame_values(&f).unwrap().unwrap(), [Value::Int(7)]);
        let f = frame(Type::Int32, ByteOrder::Big, &(-2i32).to_be_bytes());
        assert_eq!(frame_values(&f).unwrap().unwrap(), [Value::Int(-2)]);
        let f = frame(Type::Float64, ByteOrder::Little, &2.71f64.to_le_bytes());
        assert_eq!(frame_values(&f).unwrap().unwrap(), [Value::Float(2.71)]);
        let f = frame(Type::Float16, ByteOrder::Little, &0x3c00u16.to_le_bytes());
        assert_eq!(frame_values(&f).unwrap().unwrap(), [Value::Float(1.0)]);
        let f = frame(Type::Int64, ByteOrder::Little, &[1, 2, 3]);
        assert!(frame_values(&f).is_err());
        assert_eq!(
            frame_values(&frame(Type::Link, ByteOrder::Big, &[])).unwrap(),
            None
        );
    }
}
