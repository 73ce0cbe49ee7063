//! Alerts: a path whose 5xx rate crosses a threshold.
//!
//! Each path's window statistics come in event-time order (a time-sorted stateful DoFn, keyed
//! by path, in the global window): when a window with enough requests has a 5xx rate at or
//! above the threshold and the path was not alerting, an alert fires; when a later window is
//! back below, the alert resolves. A path alerts once per episode, not once per window.

use super::stats::PathStats;
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;

/// When a path alerts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// The 5xx rate at or above which a window alerts (0.05: 5 %).
    pub threshold: f64,
    /// Windows with fewer requests than this say nothing (too few to judge).
    pub min_requests: u64,
}

impl Default for AlertRule {
    fn default() -> Self {
        AlertRule {
            threshold: 0.05,
            min_requests: 100,
        }
    }
}

/// An alert firing or resolving, in the window where it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `firing` or `resolved`.
    pub state: String,
    /// The path.
    pub path: String,
    /// The window's start (ms since the epoch).
    pub window_start: i64,
    /// The window's end (exclusive).
    pub window_end: i64,
    /// The window's 5xx rate.
    pub error_rate: f64,
    /// The window's requests.
    pub requests: u64,
}

/// A path's statistics in a window, as the alerting step takes them.
pub type WindowStats = (i64, i64, PathStats);

/// The alerts of `stats` (per path: the window's start and end, and its statistics).
pub fn alerts(stats: &PCollection<KV<String, WindowStats>>, rule: AlertRule) -> PCollection<Alert> {
    stats
        // One window for all of a path's statistics, so that its state carries from window to
        // window; a pane reaches it after the watermark passed its window, so lateness is
        // allowed for as long as a run may last.
        .apply(
            "InOrder",
            WindowInto::with_defaults(GlobalWindows)
                .with_allowed_lateness(Duration::from_mins(365 * 24 * 60)),
        )
        .apply(
            "Crossings",
            ParDo::with_state(|d| d.value::<bool>("firing"))
                .on_element(
                    move |firing, path: &String, (start, end, s): WindowStats, ctx| {
                        if s.requests < rule.min_requests {
                            return;
                        }
                        let cell = ctx.state(firing);
                        let (was, is) = (cell.read_or(false), s.error_rate >= rule.threshold);
                        if was != is {
                            cell.write(is);
                            ctx.output(Alert {
                                state: if is { "firing" } else { "resolved" }.to_string(),
                                path: path.clone(),
                                window_start: start,
                                window_end: end,
                                error_rate: s.error_rate,
                                requests: s.requests,
                            });
                        }
                    },
                )
                .time_sorted(),
        )
}
