//! Slices: the pieces that sliding windows share.
//!
//! Sliding windows of `size` starting every `period` overlap: an element falls into
//! `size / period` of them, and aggregating per window costs that many times an aggregation
//! per element. Cut time instead into **slices** of `gcd(size, period)`, aligned like the
//! windows: every window boundary is a slice boundary, so each window is the union of
//! `size / gcd` consecutive slices, and each slice lies whole in the same windows as any of
//! its timestamps. A combine can then add each element to its one slice and build a window's
//! result by merging its slices when the window fires — what engines that "share slices"
//! do, with the same windows and the same results as aggregating per window.
//!
//! [`Slicing`] is that arithmetic: the slice of a timestamp, the windows of a slice, the
//! slices of a window. Near the beginning of time a window's start is cut to
//! [`Timestamp::MIN`] (as [`SlidingWindows`] cuts it), and so is its first slice.
//!
//! ```
//! use sluice_sdk::window::{Slicing, SlidingWindows, Window};
//! use sluice_sdk::time::{Duration, Timestamp};
//! let hop = SlidingWindows::of(Duration::from_secs(60), Duration::from_secs(40));
//! let slicing = Slicing::of(&hop);
//! assert_eq!(slicing.slice_len(), Duration::from_secs(20));
//! let slice = slicing.slice_of(Timestamp::from_secs(45));
//! assert_eq!((slice.start, slice.end), (Timestamp::from_secs(40), Timestamp::from_secs(60)));
//! // The windows [0, 60) and [40, 100) both hold the whole slice.
//! assert_eq!(slicing.windows_of(&slice).len(), 2);
//! ```

use super::{IntervalWindow, SlidingWindows, Window, WindowFn, aligned_start, timestamp_at};
use crate::time::{Duration, Timestamp};

/// How sliding windows cut time into slices; see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slicing {
    windows: SlidingWindows,
    slice: Duration,
}

/// The greatest common divisor of two positive numbers.
fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Slicing {
    /// The slicing of `windows`: slices of `gcd(size, period)`, aligned with the windows.
    pub fn of(windows: &SlidingWindows) -> Self {
        let slice = gcd(windows.size().as_micros(), windows.period().as_micros());
        Slicing {
            windows: *windows,
            slice: Duration::from_micros(slice),
        }
    }

    /// How long a slice is.
    pub fn slice_len(&self) -> Duration {
        self.slice
    }

    /// How many slices a window spans (a window cut at the beginning of time spans fewer).
    pub fn slices_per_window(&self) -> u64 {
        (self.windows.size().as_micros() / self.slice.as_micros()) as u64
    }

    /// How many windows hold a slice (fewer near the beginning of time).
    pub fn windows_per_slice(&self) -> u64 {
        self.windows.max_windows_per_element()
    }

    /// The sliding windows this slicing cuts.
    pub fn windows(&self) -> &SlidingWindows {
        &self.windows
    }

    /// The slice holding `t`.
    pub fn slice_of(&self, t: Timestamp) -> IntervalWindow {
        let (micros, len) = (t.as_micros(), self.slice.as_micros());
        // In i64 where nothing overflows (every timestamp but the last slices' before the end
        // of time): an i128 division costs several times as much, once per element.
        if let Some(from_offset) = micros.checked_sub(self.windows.offset().as_micros())
            && let Some(start) = micros.checked_sub(from_offset.rem_euclid(len))
            && let Some(end) = start.checked_add(len)
        {
            return IntervalWindow::new(Timestamp::from_micros(start), Timestamp::from_micros(end));
        }
        let start = aligned_start(t, self.slice, self.windows.offset());
        let end = start + i128::from(self.slice.as_micros());
        IntervalWindow::new(timestamp_at(start), timestamp_at(end))
    }

    /// The windows that hold all of `slice` (those of any of its timestamps), in order of
    /// their start.
    pub fn windows_of(&self, slice: &IntervalWindow) -> Vec<Window> {
        self.windows.assign_windows(slice.start)
    }

    /// The start of the first window holding `slice`, in microseconds, before it is cut to the
    /// beginning of time (see [`window_at`](Self::window_at)); `None` if no window holds it
    /// (windows shorter than their period leave gaps).
    pub(crate) fn first_window_start(&self, slice: &IntervalWindow) -> Option<i128> {
        let holding = self.windows_of(slice).len() as i128;
        let last = aligned_start(slice.start, self.windows.period(), self.windows.offset());
        (holding > 0).then(|| last - (holding - 1) * i128::from(self.windows.period().as_micros()))
    }

    /// The window starting at `start` microseconds (cut to the timestamps there are).
    pub(crate) fn window_at(&self, start: i128) -> IntervalWindow {
        let end = start + i128::from(self.windows.size().as_micros());
        IntervalWindow::new(timestamp_at(start), timestamp_at(end))
    }

    /// The slices `window` (one of these windows) is made of, in order.
    pub fn slices_of(&self, window: &IntervalWindow) -> Slices {
        Slices {
            slicing: *self,
            next: window.start,
            end: window.end,
        }
    }
}

/// The slices of a window, in order; see [`Slicing::slices_of`].
pub struct Slices {
    slicing: Slicing,
    next: Timestamp,
    end: Timestamp,
}

impl Iterator for Slices {
    type Item = IntervalWindow;
    fn next(&mut self) -> Option<IntervalWindow> {
        if self.next >= self.end {
            return None;
        }
        let slice = self.slicing.slice_of(self.next);
        self.next = slice.end;
        Some(slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn interval(w: &Window) -> IntervalWindow {
        *w.as_interval().expect("sliding windows are intervals")
    }

    proptest! {
        /// Every timestamp's slice holds it; its windows are the timestamp's windows; each
        /// of those windows is exactly its slices, back to back.
        #[test]
        fn slices_tile_the_windows_of_their_timestamps(
            size in 1i64..120,
            period in 1i64..120,
            offset in 0i64..120,
            t in -10_000i64..10_000,
        ) {
            let windows = SlidingWindows::of(Duration::from_secs(size), Duration::from_secs(period))
                .with_offset(Duration::from_secs(offset));
            let slicing = Slicing::of(&windows);
            let t = Timestamp::from_secs(t);
            let slice = slicing.slice_of(t);
            prop_assert!(slice.start <= t && t < slice.end);
            prop_assert_eq!(slice.end - slice.start, slicing.slice_len());
            let of_slice = slicing.windows_of(&slice);
            prop_assert_eq!(&of_slice, &windows.assign_windows(t));
            for w in &of_slice {
                let w = interval(w);
                let pieces: Vec<IntervalWindow> = slicing.slices_of(&w).collect();
                prop_assert_eq!(pieces.len() as u64, slicing.slices_per_window());
                prop_assert_eq!(pieces[0].start, w.start);
                prop_assert_eq!(pieces[pieces.len() - 1].end, w.end);
                for pair in pieces.windows(2) {
                    prop_assert_eq!(pair[0].end, pair[1].start);
                }
                prop_assert!(pieces.contains(&slice));
            }
        }
    }

    #[test]
    fn near_the_beginning_of_time_the_first_slice_is_cut_as_the_window_is() {
        let windows = SlidingWindows::of(Duration::from_secs(10), Duration::from_secs(4));
        let slicing = Slicing::of(&windows);
        let first = slicing.slice_of(Timestamp::MIN);
        assert_eq!(first.start, Timestamp::MIN);
        let window = interval(&windows.assign_windows(Timestamp::MIN)[0]);
        assert_eq!(window.start, Timestamp::MIN);
        let pieces: Vec<IntervalWindow> = slicing.slices_of(&window).collect();
        assert_eq!(pieces[0], first);
        assert_eq!(pieces.last().unwrap().end, window.end);
    }

    #[test]
    fn slices_are_the_gcd_of_size_and_period() {
        for (size, period, slice) in [
            (60, 1, 1),
            (60, 40, 20),
            (3600, 60, 60),
            (10, 3, 1),
            (7, 7, 7),
        ] {
            let windows =
                SlidingWindows::of(Duration::from_secs(size), Duration::from_secs(period));
            assert_eq!(
                Slicing::of(&windows).slice_len(),
                Duration::from_secs(slice)
            );
        }
    }
}
