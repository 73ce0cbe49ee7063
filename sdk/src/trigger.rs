//! Triggers: when a grouping transform emits the panes of a window.
//!
//! Triggers are data, interpreted by the runners' shared state machine. This release has the
//! default trigger; the full set (AfterWatermark with early and late firings, AfterCount,
//! AfterProcessingTime, composites) arrives with streaming execution.

use serde::{Deserialize, Serialize};

/// When to emit a pane.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Trigger {
    /// Fire once when the watermark passes the end of the window, then once for every late
    /// element until the window expires (window end + allowed lateness).
    #[default]
    Default,
}

/// How successive panes of one window relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AccumulationMode {
    /// Each pane holds only the elements that arrived since the previous pane.
    #[default]
    Discarding,
    /// Each pane holds every element seen so far for the window.
    Accumulating,
}

/// Which timestamp a grouped pane gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TimestampCombiner {
    /// The window's maximum timestamp (Beam's `END_OF_WINDOW`, the default).
    #[default]
    EndOfWindow,
    /// The earliest timestamp of the elements in the pane.
    Earliest,
    /// The latest timestamp of the elements in the pane.
    Latest,
}

impl TimestampCombiner {
    /// Combines two element timestamps into one as this combiner says (for `EndOfWindow`,
    /// the window's maximum timestamp takes over when the pane is emitted).
    pub fn combine(
        self,
        a: crate::time::Timestamp,
        b: crate::time::Timestamp,
    ) -> crate::time::Timestamp {
        match self {
            TimestampCombiner::Latest => a.max(b),
            TimestampCombiner::Earliest | TimestampCombiner::EndOfWindow => a.min(b),
        }
    }
}
