//! Fixed (tumbling) windows.

use super::{Window, WindowFn};
use crate::time::{Duration, Timestamp};

/// Back-to-back windows of `size`, aligned to `offset` from the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindows {
    size: Duration,
    offset: Duration,
}

impl FixedWindows {
    /// Windows of `size`, starting at multiples of `size` since the epoch.
    ///
    /// # Panics
    /// If `size` is not positive: a zero-width window can hold nothing.
    pub fn of(size: Duration) -> Self {
        assert!(
            size.as_micros() > 0,
            "FixedWindows size must be positive, got {size}"
        );
        FixedWindows {
            size,
            offset: Duration::ZERO,
        }
    }
    /// The same windows shifted by `offset` (taken modulo the size).
    pub fn with_offset(self, offset: Duration) -> Self {
        FixedWindows {
            offset: Duration::from_micros(offset.as_micros().rem_euclid(self.size.as_micros())),
            ..self
        }
    }
    /// The window size.
    pub fn size(&self) -> Duration {
        self.size
    }
}

impl WindowFn for FixedWindows {
    fn assign_windows(&self, timestamp: Timestamp) -> Vec<Window> {
        let size = self.size.as_micros();
        let t = timestamp.as_micros();
        let start = t.saturating_sub(t.saturating_sub(self.offset.as_micros()).rem_euclid(size));
        let start = Timestamp::from_micros(start);
        vec![Window::interval(start, start + self.size)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_negative_timestamps_and_offsets() {
        let f = FixedWindows::of(Duration::from_secs(10));
        assert_eq!(
            f.assign_windows(Timestamp::from_secs(-1)),
            vec![Window::interval(
                Timestamp::from_secs(-10),
                Timestamp::from_secs(0)
            )]
        );
        let f = f.with_offset(Duration::from_secs(3));
        assert_eq!(
            f.assign_windows(Timestamp::from_secs(2)),
            vec![Window::interval(
                Timestamp::from_secs(-7),
                Timestamp::from_secs(3)
            )]
        );
    }
}
