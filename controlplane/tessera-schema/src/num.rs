//! Number deserialisers that accept what JavaScript clients send: integers may arrive as
//! integral floats (`30.0`); anything fractional, negative where unsigned, or out of range
//! is an error naming the value.

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use serde_json::Number;

fn to_i64<E: Error>(n: &Number) -> Result<i64, E> {
    if let Some(v) = n.as_i64() {
        return Ok(v);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(E::custom(format!("{n} is not an integer"))),
    }
}

/// An integer (`i64`).
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    to_i64(&Number::deserialize(d)?)
}

/// A non-negative integer that fits `u32`.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = to_i64::<D::Error>(&Number::deserialize(d)?)?;
    u32::try_from(v).map_err(|_| D::Error::custom(format!("{v} is out of range (0..=4294967295)")))
}

/// An optional non-negative integer.
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    u32(d).map(Some)
}

/// A list of non-negative integers.
pub fn vec_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    let v = Vec::<Number>::deserialize(d)?;
    v.iter()
        .map(|n| {
            let i = to_i64::<D::Error>(n)?;
            u32::try_from(i).map_err(|_| D::Error::custom(format!("{i} is out of range")))
        })
        .collect()
}
