//! Sliding (hopping) windows.

use super::{Window, WindowFn};
use crate::time::{Duration, Timestamp};

/// Windows of `size` that start every `period`; each element belongs to every window whose
/// interval contains its timestamp (`size / period` of them when the period divides the size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    size: Duration,
    period: Duration,
    offset: Duration,
}

impl SlidingWindows {
    /// Windows of `size` starting every `period`.
    ///
    /// # Panics
    /// If `size` or `period` is not positive.
    pub fn of(size: Duration, period: Duration) -> Self {
        assert!(
            size.as_micros() > 0,
            "SlidingWindows size must be positive, got {size}"
        );
        assert!(
            period.as_micros() > 0,
            "SlidingWindows period must be positive, got {period}"
        );
        SlidingWindows {
            size,
            period,
            offset: Duration::ZERO,
        }
    }
    /// How long each window is.
    pub fn size(&self) -> Duration {
        self.size
    }
    /// How far apart window starts are.
    pub fn period(&self) -> Duration {
        self.period
    }
    /// Where window starts are aligned, from the epoch (less than the period).
    pub fn offset(&self) -> Duration {
        self.offset
    }
    /// The same windows shifted by `offset` (taken modulo the period).
    pub fn with_offset(self, offset: Duration) -> Self {
        SlidingWindows {
            offset: Duration::from_micros(offset.as_micros().rem_euclid(self.period.as_micros())),
            ..self
        }
    }
}

impl WindowFn for SlidingWindows {
    fn assign_windows(&self, timestamp: Timestamp) -> Vec<Window> {
        // In i128, as fixed windows: a window's aligned start may lie before the beginning of
        // time, and only its start is cut to it.
        let period = i128::from(self.period.as_micros());
        let size = i128::from(self.size.as_micros());
        let t = i128::from(timestamp.as_micros());
        let at = super::timestamp_at;
        let mut windows = Vec::new();
        let mut start = super::aligned_start(timestamp, self.period, self.offset);
        // Every window [start, start + size) with start <= t < start + size, latest start first;
        // none starts before the beginning of time has been reached twice.
        while start > t - size {
            windows.push(Window::interval(at(start), at(start + size)));
            if start <= i128::from(Timestamp::MIN.as_micros()) {
                break;
            }
            start -= period;
        }
        windows.reverse();
        windows
    }

    fn max_windows_per_element(&self) -> u64 {
        let (size, period) = (self.size.as_micros(), self.period.as_micros());
        // Both positive (checked in `of`): ceil(size / period) without overflow.
        (size / period + i64::from(size % period != 0)) as u64
    }

    fn slicing(&self) -> Option<super::Slicing> {
        Some(super::Slicing::of(self))
    }

    fn side_input_window(&self, main_window: &Window) -> Window {
        // Beam maps to the latest window that holds the main window's end.
        let assigned = self.assign_windows(main_window.max_timestamp());
        assigned.into_iter().next_back().unwrap_or(Window::Global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_lands_in_size_over_period_windows() {
        let s = SlidingWindows::of(Duration::from_secs(10), Duration::from_secs(5));
        let w = s.assign_windows(Timestamp::from_secs(7));
        assert_eq!(
            w,
            vec![
                Window::interval(Timestamp::from_secs(0), Timestamp::from_secs(10)),
                Window::interval(Timestamp::from_secs(5), Timestamp::from_secs(15)),
            ]
        );
    }

    #[test]
    fn the_bound_on_windows_per_element_is_what_assignment_gives() {
        for (size, period) in [(10, 5), (10, 3), (3, 10), (3600, 1), (7, 7)] {
            let s = SlidingWindows::of(Duration::from_secs(size), Duration::from_secs(period));
            let most = (0..40)
                .map(|t| s.assign_windows(Timestamp::from_secs(t)).len() as u64)
                .max()
                .unwrap();
            assert_eq!(s.max_windows_per_element(), most, "{size}s every {period}s");
        }
    }
}
