//! Session windows: bursts of activity separated by a gap of inactivity.

use super::{Window, WindowFn, WindowMerge, merge_overlapping_intervals};
use crate::time::{Duration, Timestamp};

/// Each element starts the window `[t, t + gap)`; the overlapping windows of one key merge, so
/// a session ends once no element arrived for `gap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    gap: Duration,
}

impl Sessions {
    /// Sessions that close after `gap` without elements.
    ///
    /// # Panics
    /// If `gap` is not positive.
    pub fn with_gap(gap: Duration) -> Self {
        assert!(
            gap.as_micros() > 0,
            "Sessions gap must be positive, got {gap}"
        );
        Sessions { gap }
    }
    /// The gap duration.
    pub fn gap(&self) -> Duration {
        self.gap
    }
}

impl WindowFn for Sessions {
    fn assign_windows(&self, timestamp: Timestamp) -> Vec<Window> {
        vec![Window::interval(timestamp, timestamp + self.gap)]
    }
    fn is_merging(&self) -> bool {
        true
    }
    fn merge_windows(&self, active: &[Window]) -> Vec<WindowMerge> {
        merge_overlapping_intervals(active)
    }
    fn side_input_window(&self, _main_window: &Window) -> Window {
        // Beam does not allow session-windowed side inputs; the global window is the only
        // well-defined choice, and `View` rejects merging window functions before this is used.
        Window::Global
    }
}
