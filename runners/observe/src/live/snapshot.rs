//! A snapshot of a run's live metrics.

use serde::Serialize;
use sluice_sdk::metrics::MetricResults;

/// What one transform has done so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TransformStats {
    /// Its full name.
    pub name: String,
    /// What kind of primitive it is (`ParDo`, `GroupByKey`...).
    pub kind: String,
    /// Elements of its input PCollections.
    pub elements_in: u64,
    /// Elements of its output PCollections.
    pub elements_out: u64,
    /// Estimated bytes of its input PCollections.
    pub bytes_in: u64,
    /// Estimated bytes of its output PCollections.
    pub bytes_out: u64,
    /// Its output watermark (sources, groupings), in milliseconds since the epoch.
    pub watermark_ms: Option<i64>,
    /// How far the watermark is behind the wall clock, in milliseconds.
    pub watermark_lag_ms: Option<i64>,
    /// Open windows (groupings): (key, window) pairs holding state.
    pub open_windows: Option<i64>,
    /// Estimated bytes of state (groupings).
    pub state_bytes: Option<i64>,
    /// Records dropped so far because their window had expired (keyed nodes, streaming).
    pub dropped_late: Option<i64>,
    /// Records dropped so far because their window's trigger had finished (keyed nodes,
    /// streaming).
    pub dropped_closed_window: Option<i64>,
}

/// The live metrics of a run at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// When the snapshot was taken, in milliseconds since the epoch.
    pub at_ms: i64,
    /// Per transform, in the graph's order.
    pub transforms: Vec<TransformStats>,
    /// The metrics DoFns reported so far.
    #[serde(skip)]
    pub user: MetricResults,
}
