//! Triggers: when a grouping transform emits the panes of a window.
//!
//! A trigger is data — a tree of [`Trigger`] values — that the runners' shared state machine
//! interprets for every (key, window). It is evaluated after each bundle of input, after each
//! advance of the input watermark and after each advance of processing time; when it is ready
//! the window emits a pane. A trigger that *finishes* closes its window: the last pane is
//! marked final and later input for that window is dropped.
//!
//! ```
//! use sluice_sdk::trigger::Trigger;
//! use sluice_sdk::time::Duration;
//! // Speculative results every 100 elements, the on-time result, then one per late element.
//! let t = Trigger::after_watermark()
//!     .with_early_firings(Trigger::after_count(100))
//!     .with_late_firings(Trigger::after_count(1));
//! // Every minute of processing time, until the watermark passes the end of the window.
//! let u = Trigger::repeatedly(Trigger::after_processing_time(Duration::from_mins(1)))
//!     .or_finally(Trigger::after_watermark());
//! # let _ = (t, u);
//! ```

use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Serialize};

/// When to emit a pane. See the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Trigger {
    /// Fires when the watermark passes the end of the window, then once for every batch of
    /// late elements until the window expires. Never finishes.
    #[default]
    Default,
    /// Fires when the watermark passes the end of the window; with early firings, the early
    /// trigger fires (repeatedly) before that; with late firings, the late trigger fires
    /// (repeatedly) after it. Without late firings it finishes at the on-time firing.
    AfterWatermark {
        /// Fires repeatedly before the end of the window.
        early: Option<Box<Trigger>>,
        /// Fires repeatedly after the end of the window.
        late: Option<Box<Trigger>>,
    },
    /// Fires once `delay` of processing time has passed since the first element of the pane
    /// (rounded up to the next multiple of `align` after `align_offset`, when aligned), then
    /// finishes.
    AfterProcessingTime {
        /// Delay after the first element.
        delay: Duration,
        /// Align the firing time to multiples of this period.
        align: Option<Duration>,
        /// Offset of the alignment.
        align_offset: Duration,
    },
    /// Fires once at least `n` elements arrived since the trigger started, then finishes.
    AfterCount(u64),
    /// Fires whenever its subtrigger fires, restarting it each time; never finishes.
    Repeatedly(Box<Trigger>),
    /// Runs its subtriggers one after the other: fires as each fires, and finishes with the last.
    AfterEach(Vec<Trigger>),
    /// Fires when any subtrigger fires; finishes when any subtrigger finishes (Beam's AfterFirst).
    AfterAny(Vec<Trigger>),
    /// Fires when every subtrigger is ready; finishes when all have finished.
    AfterAll(Vec<Trigger>),
    /// Fires as the first trigger does, until the second one fires: then fires a last time
    /// and finishes.
    OrFinally(Box<Trigger>, Box<Trigger>),
    /// Never fires: the window emits only when it expires (if it holds data).
    Never,
    /// Fires after every bundle of elements; never finishes.
    Always,
}

impl Trigger {
    /// Fires when the watermark passes the end of the window.
    pub fn after_watermark() -> Trigger {
        Trigger::AfterWatermark {
            early: None,
            late: None,
        }
    }
    /// Adds early firings to [`Trigger::after_watermark`] (ignored on other triggers).
    pub fn with_early_firings(self, early: Trigger) -> Trigger {
        match self {
            Trigger::AfterWatermark { late, .. } => Trigger::AfterWatermark {
                early: Some(Box::new(early)),
                late,
            },
            other => other,
        }
    }
    /// Adds late firings to [`Trigger::after_watermark`] (ignored on other triggers).
    pub fn with_late_firings(self, late: Trigger) -> Trigger {
        match self {
            Trigger::AfterWatermark { early, .. } => Trigger::AfterWatermark {
                early,
                late: Some(Box::new(late)),
            },
            other => other,
        }
    }
    /// Fires `delay` of processing time after the first element of a pane.
    pub fn after_processing_time(delay: Duration) -> Trigger {
        Trigger::AfterProcessingTime {
            delay,
            align: None,
            align_offset: Duration::ZERO,
        }
    }
    /// Aligns an [`Trigger::after_processing_time`] firing to multiples of `period` (plus
    /// `offset`); ignored on other triggers.
    pub fn aligned_to(self, period: Duration, offset: Duration) -> Trigger {
        match self {
            Trigger::AfterProcessingTime { delay, .. } => Trigger::AfterProcessingTime {
                delay,
                align: Some(period),
                align_offset: offset,
            },
            other => other,
        }
    }
    /// Fires after `n` elements.
    pub fn after_count(n: u64) -> Trigger {
        Trigger::AfterCount(n)
    }
    /// Repeats `t` forever.
    pub fn repeatedly(t: Trigger) -> Trigger {
        Trigger::Repeatedly(Box::new(t))
    }
    /// This trigger until `until` fires.
    pub fn or_finally(self, until: Trigger) -> Trigger {
        Trigger::OrFinally(Box::new(self), Box::new(until))
    }
    /// Whether the trigger can ever fire before the watermark passes the end of the window.
    pub fn may_fire_early(&self) -> bool {
        match self {
            Trigger::Default | Trigger::Never => false,
            Trigger::AfterWatermark { early, .. } => early.is_some(),
            Trigger::Repeatedly(t) => t.may_fire_early(),
            Trigger::OrFinally(a, b) => a.may_fire_early() || b.may_fire_early(),
            Trigger::AfterEach(ts) | Trigger::AfterAny(ts) | Trigger::AfterAll(ts) => {
                ts.iter().any(Trigger::may_fire_early)
            }
            Trigger::AfterProcessingTime { .. } | Trigger::AfterCount(_) | Trigger::Always => true,
        }
    }
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
    pub fn combine(self, a: Timestamp, b: Timestamp) -> Timestamp {
        match self {
            TimestampCombiner::Latest => a.max(b),
            TimestampCombiner::Earliest | TimestampCombiner::EndOfWindow => a.min(b),
        }
    }
}
