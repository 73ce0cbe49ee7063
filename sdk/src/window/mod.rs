//! Windows and window functions.
//!
//! A *window* groups elements by event time. Every element lives in exactly one window while it
//! travels through a pipeline; a window function ([`WindowFn`]) assigns the windows of an
//! element from its timestamp when a `WindowInto` transform is applied. Grouping transforms
//! (GroupByKey, Combine) then group per key *and window*.
//!
//! - [`GlobalWindows`]: one window holding everything (the default).
//! - [`FixedWindows`]: back-to-back windows of a fixed size (tumbling).
//! - [`SlidingWindows`]: windows of a size starting every period; an element falls into
//!   `size / period` of them.
//! - [`Sessions`]: a *merging* window function: each element starts `[t, t + gap)`, and the
//!   overlapping windows of one key merge into one session.
//!
//! Sliding windows overlap; [`Slicing`] cuts time into the pieces they share, for an
//! aggregation that adds each element once (see [`slices`]).
//!
//! An [`IntervalWindow`] is the half-open interval `[start, end)`; its
//! [`max_timestamp`](IntervalWindow::max_timestamp) is `end` minus one microsecond, and every
//! comparison of a watermark with a window uses that maximum timestamp.
//!
//! ```
//! use sluice_sdk::window::{FixedWindows, WindowFn, Window};
//! use sluice_sdk::time::{Duration, Timestamp};
//! let fixed = FixedWindows::of(Duration::from_secs(10));
//! let windows = fixed.assign_windows(Timestamp::from_secs(13));
//! assert_eq!(windows, vec![Window::interval(Timestamp::from_secs(10), Timestamp::from_secs(20))]);
//! ```

mod fixed;
mod global;
mod sessions;
pub mod slices;
mod sliding;

pub use fixed::FixedWindows;
pub use global::GlobalWindows;
pub use sessions::Sessions;
pub use slices::{Slices, Slicing};
pub use sliding::SlidingWindows;

use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The half-open event-time interval `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IntervalWindow {
    /// First instant inside the window.
    pub start: Timestamp,
    /// First instant after the window.
    pub end: Timestamp,
}

impl IntervalWindow {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        IntervalWindow { start, end }
    }
    /// The last timestamp inside the window: `end` minus one microsecond.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end - Duration::EPSILON
    }
    /// Whether the two windows share at least one instant.
    pub fn intersects(&self, other: &IntervalWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
    /// The smallest window that covers both.
    pub fn span(&self, other: &IntervalWindow) -> IntervalWindow {
        IntervalWindow {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl fmt::Debug for IntervalWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// A window an element belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Window {
    /// The single window of [`GlobalWindows`].
    Global,
    /// An event-time interval, from fixed, sliding, session or user window functions.
    Interval(IntervalWindow),
}

impl Window {
    /// The interval window `[start, end)`.
    pub fn interval(start: Timestamp, end: Timestamp) -> Window {
        Window::Interval(IntervalWindow::new(start, end))
    }
    /// The last timestamp inside the window; [`Timestamp::END_OF_GLOBAL_WINDOW`] for the global one.
    pub fn max_timestamp(&self) -> Timestamp {
        match self {
            Window::Global => Timestamp::END_OF_GLOBAL_WINDOW,
            Window::Interval(w) => w.max_timestamp(),
        }
    }
    /// When the window expires and its state is garbage-collected: its maximum timestamp plus
    /// `allowed_lateness`, capped at the end of the global window (as Beam does). Once the
    /// input watermark is past this time, data for the window is dropped.
    pub fn expiry(&self, allowed_lateness: crate::time::Duration) -> Timestamp {
        let max = self.max_timestamp();
        if max >= Timestamp::END_OF_GLOBAL_WINDOW - allowed_lateness {
            Timestamp::END_OF_GLOBAL_WINDOW
        } else {
            max + allowed_lateness
        }
    }
    /// The interval, if this is an interval window.
    pub fn as_interval(&self) -> Option<&IntervalWindow> {
        match self {
            Window::Global => None,
            Window::Interval(w) => Some(w),
        }
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Global => write!(f, "GlobalWindow"),
            Window::Interval(w) => fmt::Debug::fmt(w, f),
        }
    }
}

/// The result of merging windows: each entry replaces `sources` by `result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMerge {
    /// The windows merged away (two or more).
    pub sources: Vec<Window>,
    /// The window that replaces them.
    pub result: Window,
}

/// The most windows one element may be assigned to: 100 000 (a day of sliding windows every
/// second is 86 400). [`WindowInto`](crate::transforms::WindowInto) refuses a window function
/// that assigns more when the pipeline is built, and fails the transform, naming it, if a user
/// window function returns more at run time. Every assignment is a copy of the element, so
/// beyond this a job spends its time copying, whatever its memory.
pub const MAX_WINDOWS_PER_ELEMENT: u64 = 100_000;

/// The start of the window of `period`, aligned to `offset` from the epoch, that holds `t`,
/// in microseconds — in i128, since near the beginning of time it lies before it (fixed and
/// sliding windows cut only the start to [`Timestamp::MIN`], see [`timestamp_at`]).
pub(crate) fn aligned_start(t: Timestamp, period: Duration, offset: Duration) -> i128 {
    let (t, period) = (i128::from(t.as_micros()), i128::from(period.as_micros()));
    t - (t - i128::from(offset.as_micros())).rem_euclid(period)
}

/// The timestamp at `micros`, clamped to the timestamps there are.
pub(crate) fn timestamp_at(micros: i128) -> Timestamp {
    Timestamp::from_micros(micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Checks that `window_fn` assigns at most [`MAX_WINDOWS_PER_ELEMENT`] windows to an element
/// (by its [`max_windows_per_element`](WindowFn::max_windows_per_element)); the error says how
/// many it would.
pub fn check_windows_per_element(window_fn: &dyn WindowFn) -> Result<(), String> {
    let per_element = window_fn.max_windows_per_element();
    if per_element > MAX_WINDOWS_PER_ELEMENT {
        return Err(format!(
            "{window_fn:?} assigns {per_element} windows to each element; \
             at most {MAX_WINDOWS_PER_ELEMENT} are supported"
        ));
    }
    Ok(())
}

/// Assigns windows to elements, and, for merging window functions, merges them.
///
/// Implement it to define your own windowing; the built-in window functions implement it too.
/// Windows are [`Window`] values (global or interval), so user window functions produce
/// interval windows.
pub trait WindowFn: Send + Sync + fmt::Debug + 'static {
    /// The windows that an element with this timestamp belongs to.
    fn assign_windows(&self, timestamp: Timestamp) -> Vec<Window>;

    /// At most how many windows [`assign_windows`](Self::assign_windows) returns for one
    /// element (1 by default). [`WindowInto`](crate::transforms::WindowInto) refuses a window
    /// function above [`MAX_WINDOWS_PER_ELEMENT`] when the pipeline is built, and runners size
    /// their work by it, so that memory follows a bounded chunk of window assignments.
    fn max_windows_per_element(&self) -> u64 {
        1
    }

    /// Whether windows of one key can merge (as sessions do).
    fn is_merging(&self) -> bool {
        false
    }

    /// For overlapping windows made of shared slices (sliding windows): how time is cut
    /// into them. `None` (the default) for windows that share nothing.
    fn slicing(&self) -> Option<Slicing> {
        None
    }

    /// Merges the active windows of one key. Only called when [`is_merging`](Self::is_merging).
    /// Returns one entry per group of two or more windows that became one.
    fn merge_windows(&self, active: &[Window]) -> Vec<WindowMerge> {
        let _ = active;
        Vec::new()
    }

    /// The window of a side input with this window function that a main-input window reads:
    /// by default the window holding the main window's maximum timestamp (Beam's default
    /// window mapping), or the global window.
    fn side_input_window(&self, main_window: &Window) -> Window {
        let assigned = self.assign_windows(main_window.max_timestamp());
        assigned.into_iter().next_back().unwrap_or(Window::Global)
    }

    /// Whether the windows of this function may hold timestamps before the window start
    /// (never, for the built-ins). Used to check that two window functions are the same one.
    fn same_as(&self, other: &dyn WindowFn) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

/// Anything [`WindowInto`](crate::transforms::WindowInto) accepts as a window function: a
/// concrete one (`FixedWindows::of(...)`), or one chosen at run time as an
/// `Arc<dyn WindowFn>`.
///
/// ```
/// use sluice_sdk::prelude::*;
/// use std::sync::Arc;
/// let chosen: Arc<dyn WindowFn> = if std::env::args().count() > 99 {
///     Arc::new(Sessions::with_gap(Duration::from_secs(60)))
/// } else {
///     Arc::new(FixedWindows::of(Duration::from_secs(60)))
/// };
/// let p = Pipeline::new();
/// let windowed = p
///     .apply("Events", Create::timestamped(vec![(1u32, Timestamp::from_secs(3))]))
///     .apply("Window", WindowInto::new(chosen));
/// assert!(!windowed.windowing().window_fn.is_merging());
/// ```
pub trait IntoWindowFn {
    /// The window function, shared.
    fn into_window_fn(self) -> Arc<dyn WindowFn>;
}

impl<W: WindowFn> IntoWindowFn for W {
    fn into_window_fn(self) -> Arc<dyn WindowFn> {
        Arc::new(self)
    }
}

impl IntoWindowFn for Arc<dyn WindowFn> {
    fn into_window_fn(self) -> Arc<dyn WindowFn> {
        self
    }
}

/// Merges overlapping interval windows: the algorithm shared by session-like window functions.
pub fn merge_overlapping_intervals(active: &[Window]) -> Vec<WindowMerge> {
    let mut intervals: Vec<IntervalWindow> = active
        .iter()
        .filter_map(|w| w.as_interval().copied())
        .collect();
    intervals.sort();
    let mut merges = Vec::new();
    let mut group: Vec<IntervalWindow> = Vec::new();
    let mut span: Option<IntervalWindow> = None;
    let mut flush = |group: &mut Vec<IntervalWindow>, span: Option<IntervalWindow>| {
        if group.len() > 1
            && let Some(span) = span
        {
            merges.push(WindowMerge {
                sources: group.iter().map(|w| Window::Interval(*w)).collect(),
                result: Window::Interval(span),
            });
        }
        group.clear();
    };
    for w in intervals {
        match span {
            Some(s) if s.intersects(&w) => {
                span = Some(s.span(&w));
                group.push(w);
            }
            _ => {
                flush(&mut group, span);
                span = Some(w);
                group.push(w);
            }
        }
    }
    flush(&mut group, span);
    merges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iw(s: i64, e: i64) -> Window {
        Window::interval(Timestamp::from_secs(s), Timestamp::from_secs(e))
    }

    #[test]
    fn max_timestamp_is_end_minus_epsilon() {
        assert_eq!(iw(0, 10).max_timestamp(), Timestamp::from_micros(9_999_999));
        assert_eq!(
            Window::Global.max_timestamp(),
            Timestamp::END_OF_GLOBAL_WINDOW
        );
    }

    #[test]
    fn merges_overlapping_and_leaves_the_rest() {
        let merges = merge_overlapping_intervals(&[iw(0, 10), iw(25, 35), iw(5, 15), iw(14, 20)]);
        assert_eq!(
            merges,
            vec![WindowMerge {
                sources: vec![iw(0, 10), iw(5, 15), iw(14, 20)],
                result: iw(0, 20)
            }]
        );
        // touching windows ([0,10) and [10,20)) do not overlap
        assert!(merge_overlapping_intervals(&[iw(0, 10), iw(10, 20)]).is_empty());
    }
}
