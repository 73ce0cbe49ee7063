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
        // In i128: the aligned start of a window that holds the smallest timestamps lies before
        // the beginning of time. Only the start is cut to it; the end stays where alignment
        // puts it, so that the window does not overlap the next one.
        let start = super::aligned_start(timestamp, self.size, self.offset);
        let end = start + i128::from(self.size.as_micros());
        vec![Window::interval(
            super::timestamp_at(start),
            super::timestamp_at(end),
        )]
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

    #[test]
    fn the_window_at_the_beginning_of_time_ends_where_the_next_one_starts() {
        for offset in [0, 3] {
            let f =
                FixedWindows::of(Duration::from_secs(10)).with_offset(Duration::from_secs(offset));
            let first = f.assign_windows(Timestamp::MIN)[0];
            let Window::Interval(first) = first else {
                panic!("fixed windows are intervals")
            };
            assert_eq!(first.start, Timestamp::MIN);
            let next = f.assign_windows(first.end)[0];
            let Window::Interval(next) = next else {
                panic!("fixed windows are intervals")
            };
            assert_eq!(next.start, first.end, "offset {offset}");
            assert_eq!(next.end.as_micros() - next.start.as_micros(), 10_000_000);
            assert!(first.end.as_micros() - first.start.as_micros() <= 10_000_000);
            // The last timestamp of the first window is still in it.
            assert_eq!(
                f.assign_windows(Timestamp::from_micros(first.end.as_micros() - 1))[0],
                Window::Interval(first)
            );
        }
    }
}
