//! Event time: [`Timestamp`] and [`Duration`].
//!
//! Beam measures event time in milliseconds; Sluice keeps microseconds in an `i64`, so that the
//! maximum timestamp of an interval window (its end minus the smallest unit) is exact. The
//! bounds follow Beam's: [`Timestamp::MIN`] and [`Timestamp::MAX`] are Beam's minimum and
//! maximum milliseconds expressed in microseconds, and [`Timestamp::END_OF_GLOBAL_WINDOW`] lies
//! one day before `MAX`, so a watermark at `MAX` (end of input) passes the global window.
//!
//! ```
//! use sluice_sdk::time::{Duration, Timestamp};
//! let t = Timestamp::from_secs(10);
//! assert_eq!(t + Duration::from_millis(500), Timestamp::from_millis(10_500));
//! assert!(Timestamp::END_OF_GLOBAL_WINDOW < Timestamp::MAX);
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};

/// A point in event time, in microseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Timestamp(i64);

/// A span of event or processing time, in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Duration(i64);

impl Timestamp {
    /// The smallest timestamp (Beam's `TIMESTAMP_MIN_VALUE`); elements without a timestamp
    /// (such as those of `Create::of`) carry it.
    pub const MIN: Timestamp = Timestamp(-9_223_372_036_854_775_000);
    /// The largest timestamp (Beam's `TIMESTAMP_MAX_VALUE`): a watermark here means "no more input".
    pub const MAX: Timestamp = Timestamp(9_223_372_036_854_775_000);
    /// The maximum timestamp of the global window: one day before [`Timestamp::MAX`].
    pub const END_OF_GLOBAL_WINDOW: Timestamp =
        Timestamp(9_223_372_036_854_775_000 - 86_400_000_000);

    /// A timestamp from microseconds since the epoch, clamped to `[MIN, MAX]`.
    pub const fn from_micros(micros: i64) -> Self {
        if micros < Self::MIN.0 {
            Self::MIN
        } else if micros > Self::MAX.0 {
            Self::MAX
        } else {
            Timestamp(micros)
        }
    }
    /// A timestamp from milliseconds since the epoch, or `None` if it lies outside
    /// `[MIN, MAX]` (for input that must be checked rather than clamped).
    pub const fn try_from_millis(millis: i64) -> Option<Self> {
        match millis.checked_mul(1_000) {
            Some(micros) if micros >= Self::MIN.0 && micros <= Self::MAX.0 => {
                Some(Timestamp(micros))
            }
            _ => None,
        }
    }
    /// A timestamp from milliseconds since the epoch, clamped to `[MIN, MAX]`.
    pub const fn from_millis(millis: i64) -> Self {
        Self::from_micros(millis.saturating_mul(1_000))
    }
    /// A timestamp from seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self::from_micros(secs.saturating_mul(1_000_000))
    }
    /// The wall clock now (processing time), to the microsecond. A clock set before the epoch
    /// reads as the epoch.
    pub fn now() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Self::from_micros(micros)
    }
    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
    /// Milliseconds since the epoch, rounded toward negative infinity.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000)
    }
    /// Whole seconds since the epoch, rounded toward negative infinity.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    /// The later of two timestamps.
    pub fn max(self, other: Timestamp) -> Timestamp {
        if self >= other { self } else { other }
    }
    /// The earlier of two timestamps.
    pub fn min(self, other: Timestamp) -> Timestamp {
        if self <= other { self } else { other }
    }
    /// This timestamp moved by a duration, clamped to `[MIN, MAX]`.
    pub const fn plus(self, d: Duration) -> Timestamp {
        Self::from_micros(self.0.saturating_add(d.0))
    }
    /// This timestamp moved back by a duration, clamped to `[MIN, MAX]`.
    pub const fn minus(self, d: Duration) -> Timestamp {
        Self::from_micros(self.0.saturating_sub(d.0))
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The smallest representable span: one microsecond.
    pub const EPSILON: Duration = Duration(1);
    /// A duration of `micros` microseconds.
    pub const fn from_micros(micros: i64) -> Self {
        Duration(micros)
    }
    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Duration(millis.saturating_mul(1_000))
    }
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs.saturating_mul(1_000_000))
    }
    /// A duration of `mins` minutes.
    pub const fn from_mins(mins: i64) -> Self {
        Duration(mins.saturating_mul(60_000_000))
    }
    /// Length in microseconds.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
    /// Length in milliseconds, rounded toward negative infinity.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        self.plus(rhs)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        self.minus(rhs)
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;
    fn sub(self, rhs: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::MIN {
            write!(f, "-inf")
        } else if *self == Self::MAX {
            write!(f, "+inf")
        } else if *self == Self::END_OF_GLOBAL_WINDOW {
            write!(f, "end-of-global-window")
        } else if self.0 % 1_000 == 0 {
            write!(f, "{}ms", self.0 / 1_000)
        } else {
            write!(f, "{}us", self.0)
        }
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1_000_000 == 0 {
            write!(f, "{}s", self.0 / 1_000_000)
        } else if self.0 % 1_000 == 0 {
            write!(f, "{}ms", self.0 / 1_000)
        } else {
            write!(f, "{}us", self.0)
        }
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    /// Parses a duration such as `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
    ///
    /// ```
    /// use sluice_sdk::time::Duration;
    /// assert_eq!("90s".parse::<Duration>(), Ok(Duration::from_secs(90)));
    /// assert!("5 parsecs".parse::<Duration>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let n: i64 = number.parse().map_err(|_| {
            format!("bad duration '{text}': expected a number and a unit (ms, s, m, h)")
        })?;
        let micros_per_unit: i64 = match unit {
            "ms" => 1_000,
            "" | "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            other => {
                return Err(format!(
                    "bad duration '{text}': unknown unit '{other}' (ms, s, m, h)"
                ));
            }
        };
        // Longer than the whole range of event time is meaningless (and would wrap).
        n.checked_mul(micros_per_unit)
            .filter(|micros| *micros <= Timestamp::MAX.as_micros())
            .map(Duration::from_micros)
            .ok_or_else(|| format!("bad duration '{text}': longer than event time can measure"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_down() {
        assert_eq!(Timestamp::from_micros(-1).as_millis(), -1);
        assert_eq!(Timestamp::from_millis(1_999).as_secs(), 1);
        assert_eq!(Duration::from_secs(2).as_millis(), 2_000);
    }

    #[test]
    fn arithmetic_saturates_at_bounds() {
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(Timestamp::MIN - Duration::from_secs(1), Timestamp::MIN);
        assert_eq!(
            Timestamp::from_secs(5) - Timestamp::from_secs(2),
            Duration::from_secs(3)
        );
    }
}
