//! The windowing strategy of a PCollection.

use crate::time::Duration;
use crate::trigger::{AccumulationMode, TimestampCombiner, Trigger};
use crate::window::{GlobalWindows, WindowFn};
use std::sync::Arc;

/// How a PCollection is windowed and when its groups fire: the window function, the trigger,
/// the accumulation mode, the allowed lateness and the timestamp combiner.
#[derive(Clone, Debug)]
pub struct WindowingStrategy {
    /// Assigns (and merges) windows.
    pub window_fn: Arc<dyn WindowFn>,
    /// When panes fire.
    pub trigger: Trigger,
    /// How successive panes relate.
    pub accumulation_mode: AccumulationMode,
    /// How long after the end of a window late data is still accepted.
    pub allowed_lateness: Duration,
    /// The timestamp of grouped output.
    pub timestamp_combiner: TimestampCombiner,
}

impl WindowingStrategy {
    /// Global windows, default trigger, no allowed lateness: the strategy of every source.
    pub fn global() -> Self {
        WindowingStrategy {
            window_fn: Arc::new(GlobalWindows),
            trigger: Trigger::Default,
            accumulation_mode: AccumulationMode::Discarding,
            allowed_lateness: Duration::ZERO,
            timestamp_combiner: TimestampCombiner::EndOfWindow,
        }
    }
    /// When a window expires and its state is garbage-collected (see [`Window::expiry`]): once
    /// the input watermark is past this time, data for the window is dropped.
    ///
    /// [`Window::expiry`]: crate::window::Window::expiry
    pub fn expiry(&self, window: &crate::window::Window) -> crate::time::Timestamp {
        window.expiry(self.allowed_lateness)
    }
    /// Whether two strategies window alike (same window function), as Flatten requires.
    pub fn compatible_with(&self, other: &WindowingStrategy) -> bool {
        self.window_fn.same_as(other.window_fn.as_ref())
    }
}

impl Default for WindowingStrategy {
    fn default() -> Self {
        Self::global()
    }
}
