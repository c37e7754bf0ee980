//! Fractions as OWT stores them in layout regions: strings such as `"0"`, `"1"`, `"1/3"` or
//! `"0.5"` (spec §4.2). Clients receive them as `"n/d"` strings.

use std::fmt;

/// A non-negative rational number in lowest terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fraction {
    num: u64,
    den: u64,
}

/// Why a string is not a fraction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FractionError {
    /// Not of the form `n`, `n/d` or a decimal like `0.25`.
    #[error("'{0}' is not a fraction (expected forms: \"1\", \"1/3\", \"0.25\")")]
    Syntax(String),
    /// The denominator is zero.
    #[error("'{0}' has a zero denominator")]
    ZeroDenominator(String),
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Fraction {
    /// Zero.
    pub const ZERO: Fraction = Fraction { num: 0, den: 1 };
    /// One.
    pub const ONE: Fraction = Fraction { num: 1, den: 1 };

    /// `num/den` reduced. Panics if `den` is zero (a caller bug, not peer input).
    pub fn new(num: u64, den: u64) -> Self {
        assert!(den != 0, "fraction with zero denominator");
        let g = gcd(num, den).max(1);
        Fraction {
            num: num / g,
            den: den / g,
        }
    }

    /// Parses `"n"`, `"n/d"` or a decimal `"i.f"` (surrounding whitespace allowed).
    pub fn parse(s: &str) -> Result<Self, FractionError> {
        let t = s.trim();
        let err = || FractionError::Syntax(s.to_string());
        if let Some((n, d)) = t.split_once('/') {
            let n = digits(n.trim()).ok_or_else(err)?;
            let d = digits(d.trim()).ok_or_else(err)?;
            if d == 0 {
                return Err(FractionError::ZeroDenominator(s.to_string()));
            }
            return Ok(Fraction::new(n, d));
        }
        if let Some((i, f)) = t.split_once('.') {
            let i = if i.is_empty() {
                0
            } else {
                digits(i).ok_or_else(err)?
            };
            if f.is_empty() || f.len() > 9 {
                return Err(err());
            }
            let fv = digits(f).ok_or_else(err)?;
            let den = 10u64.pow(f.len() as u32);
            return Ok(Fraction::new(i * den + fv, den));
        }
        Ok(Fraction::new(digits(t).ok_or_else(err)?, 1))
    }

    /// Numerator (lowest terms).
    pub const fn numerator(&self) -> u64 {
        self.num
    }

    /// Denominator (lowest terms).
    pub const fn denominator(&self) -> u64 {
        self.den
    }

    /// `self <= 1`.
    pub const fn at_most_one(&self) -> bool {
        self.num <= self.den
    }

    /// `floor(value * self)`.
    pub fn scale_floor(&self, value: u64) -> u64 {
        ((value as u128 * self.num as u128) / self.den as u128) as u64
    }

    /// The value as a float.
    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl fmt::Display for Fraction {
    /// Always `n/d`, the form OWT clients receive (`"0/1"`, `"1/1"`, `"1/3"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_owt_forms() {
        assert_eq!(Fraction::parse("0").unwrap(), Fraction::ZERO);
        assert_eq!(Fraction::parse("1").unwrap(), Fraction::ONE);
        assert_eq!(Fraction::parse("2/6").unwrap(), Fraction::new(1, 3));
        assert_eq!(Fraction::parse("0.5").unwrap(), Fraction::new(1, 2));
        assert_eq!(Fraction::parse(".25").unwrap(), Fraction::new(1, 4));
        assert_eq!(Fraction::parse("1/3").unwrap().to_string(), "1/3");
        assert_eq!(Fraction::parse("0").unwrap().to_string(), "0/1");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "a", "1/", "/2", "1/0", "-1", "1e3", "0.", "1/2/3", "NaN",
        ] {
            assert!(Fraction::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(n in 0u64..10_000, d in 1u64..10_000) {
            let f = Fraction::new(n, d);
            prop_assert_eq!(Fraction::parse(&f.to_string()).unwrap(), f);
        }

        #[test]
        fn parse_never_panics(s in ".{0,24}") {
            let _ = Fraction::parse(&s);
        }
    }
}
