//! Panes: the firings of one key and window.
//!
//! A grouping transform emits the contents of a (key, window) as one or more *panes*. The
//! first pane fired because the watermark passed the end of the window is `OnTime`; panes
//! before it are `Early`, panes after it `Late`. `index` counts every pane of the (key, window)
//! from 0; `non_speculative_index` counts only on-time and late panes (early panes have `-1`).
//! `is_last` marks the last pane the (key, window) will ever produce.

use serde::{Deserialize, Serialize};

/// When a pane fired relative to the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaneTiming {
    /// Before the watermark passed the end of the window.
    Early,
    /// The first pane after the watermark passed the end of the window.
    OnTime,
    /// Any pane after the on-time one.
    Late,
    /// Not produced by a trigger firing (elements that have not been grouped).
    Unknown,
}

/// Where an element sits among the panes of its key and window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaneInfo {
    /// Timing of the pane.
    pub timing: PaneTiming,
    /// Whether this is the first pane of the (key, window).
    pub is_first: bool,
    /// Whether this is the last pane of the (key, window).
    pub is_last: bool,
    /// Position among all panes of the (key, window), from 0.
    pub index: u64,
    /// Position among on-time and late panes, from 0; `-1` for early panes.
    pub non_speculative_index: i64,
}

impl PaneInfo {
    /// The pane of an element that no trigger produced (Beam's `NO_FIRING`).
    pub const NO_FIRING: PaneInfo = PaneInfo {
        timing: PaneTiming::Unknown,
        is_first: true,
        is_last: true,
        index: 0,
        non_speculative_index: 0,
    };

    /// The single pane of a (key, window) on bounded input: on time, first and last.
    pub const ON_TIME_AND_ONLY_FIRING: PaneInfo = PaneInfo {
        timing: PaneTiming::OnTime,
        is_first: true,
        is_last: true,
        index: 0,
        non_speculative_index: 0,
    };
}

impl Default for PaneInfo {
    fn default() -> Self {
        PaneInfo::NO_FIRING
    }
}
