//! What a run reports as it works, to whoever watches it.
//!
//! A streaming job never ends, so its users want to see it while it runs: elements per
//! PCollection, watermarks, open windows. Core does not know who watches — live metrics
//! served in the Prometheus format, a status page, a log line — it only *reports*, through
//! the [`RunObserver`] trait that observers implement, and a run is handed one
//! [`Observer`] (off by default: every report is then a check of one `Option`).
//!
//! Reports are cheap by construction:
//!
//! - a stage instance counts the batches it routes in a [`BatchCounter`] of its own (one
//!   dynamic call per batch, never per element; the observer decides how to keep the counts);
//! - per-node figures set as they change (a source's watermark, a grouping's open windows)
//!   are [`Gauge`]s: one atomic cell the observer created and reads when it likes;
//! - the DoFns' own metrics are handed over at the end of every bundle.

use sluice_sdk::graph::{Bundle, CollectionId, NodeId};
use sluice_sdk::metrics::MetricResults;
use sluice_sdk::time::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

/// Something that watches a run: implemented by observers (live metrics), called by core and
/// the runners.
pub trait RunObserver: Send + Sync {
    /// A counter for one stage instance, which only that instance writes.
    fn batch_counter(&self) -> Box<dyn BatchCounter>;
    /// A new gauge of `figure` for node `node` (one per split or shard; the observer combines
    /// a node's gauges: least watermark, summed counts). Watermark gauges start at the
    /// beginning of time.
    fn gauge(&self, node: NodeId, figure: Figure) -> Gauge;
    /// Metrics DoFns reported since the last call (counters are increments).
    fn user_metrics(&self, metrics: &MetricResults);
}

/// Counts the batches of one stage instance, per PCollection.
pub trait BatchCounter: Send {
    /// Counts a batch of `collection`.
    fn count(&mut self, collection: CollectionId, batch: &Bundle);
}

/// Which per-node figure a [`Gauge`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The output watermark (of a source's split, or a grouping's shard), in microseconds.
    Watermark,
    /// Open windows of a grouping's shard: (key, window) pairs holding state — the size of
    /// its state in entries.
    OpenWindows,
    /// The estimated encoded size of a grouping's shard's state, in bytes.
    StateBytes,
    /// Records a keyed node dropped so far because their window had expired
    /// (`droppedDueToLateness`).
    DroppedLate,
    /// Records a keyed node dropped so far because their window's trigger had finished
    /// (`droppedDueToClosedWindow`).
    DroppedClosedWindow,
}

/// The records a keyed node dropped so far, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Behind the watermark past their window's expiry (end + allowed lateness).
    pub late: u64,
    /// For a window whose trigger had finished.
    pub closed_window: u64,
}

/// One shard's or split's value of a per-node figure: set it as it changes. Off (the default)
/// when nobody watches.
#[derive(Clone, Default)]
pub struct Gauge(Option<Arc<AtomicI64>>);

impl Gauge {
    /// A gauge that writes `cell` (an observer keeps the same cell to read it).
    pub fn of(cell: Arc<AtomicI64>) -> Gauge {
        Gauge(Some(cell))
    }

    /// Sets the gauge's value.
    pub fn set(&self, value: i64) {
        if let Some(v) = &self.0 {
            v.store(value, Ordering::Relaxed);
        }
    }

    /// Whether the gauge measures anything (someone watches): figures that cost something to
    /// compute are computed only then.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Sets a watermark.
    pub fn set_watermark(&self, watermark: Timestamp) {
        self.set(watermark.as_micros());
    }
}

/// The observer of one run, shared by everything that reports to it: off unless a run is
/// handed one.
#[derive(Clone, Default)]
pub struct Observer(Option<Arc<dyn RunObserver>>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observer({})", if self.is_on() { "on" } else { "off" })
    }
}

impl Observer {
    /// Reports go to `observer`.
    pub fn new(observer: Arc<dyn RunObserver>) -> Self {
        Observer(Some(observer))
    }

    /// Whether anyone watches.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// A counter for one stage instance (`None` when nobody watches).
    pub fn batch_counter(&self) -> Option<Box<dyn BatchCounter>> {
        self.0.as_ref().map(|o| o.batch_counter())
    }

    /// A new gauge of `figure` for node `node` (off when nobody watches).
    pub fn gauge(&self, node: NodeId, figure: Figure) -> Gauge {
        self.0
            .as_ref()
            .map_or_else(Gauge::default, |o| o.gauge(node, figure))
    }

    /// Hands on metrics DoFns reported.
    pub fn user_metrics(&self, metrics: &MetricResults) {
        if let Some(o) = &self.0
            && !metrics.is_empty()
        {
            o.user_metrics(metrics);
        }
    }
}

/// The figures of one shard (or one runner's shards) of a keyed node: output watermark, open
/// windows, state bytes (estimated at most once a second) and records dropped. The first drop
/// of each kind is also logged as a warning, watched or not: records dropped as late are the
/// silent loss of a streaming job (a watermark moved too far by a careless producer).
#[derive(Default)]
pub struct KeyedGauges {
    /// The node's name, for the warnings.
    name: String,
    watermark: Gauge,
    windows: Gauge,
    state: Gauge,
    late: Gauge,
    closed: Gauge,
    sized: Option<Instant>,
    warned: Drops,
}

impl KeyedGauges {
    /// The gauges of keyed node `node`, called `name`.
    pub fn new(observer: &Observer, node: NodeId, name: &str) -> Self {
        KeyedGauges {
            name: name.to_string(),
            watermark: observer.gauge(node, Figure::Watermark),
            windows: observer.gauge(node, Figure::OpenWindows),
            state: observer.gauge(node, Figure::StateBytes),
            late: observer.gauge(node, Figure::DroppedLate),
            closed: observer.gauge(node, Figure::DroppedClosedWindow),
            sized: None,
            warned: Drops::default(),
        }
    }

    /// Sets them: the output watermark, the open windows, the drops so far, and — when a
    /// second has passed since the last estimate — the state's bytes, which `state_bytes`
    /// estimates.
    pub fn set(
        &mut self,
        watermark: Timestamp,
        windows: usize,
        drops: Drops,
        state_bytes: impl FnOnce() -> u64,
    ) {
        self.warn_of_first(drops);
        if !self.watermark.is_on() {
            return;
        }
        self.watermark.set_watermark(watermark);
        self.windows.set(windows as i64);
        self.late.set(drops.late as i64);
        self.closed.set(drops.closed_window as i64);
        if self
            .sized
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1))
        {
            self.sized = Some(Instant::now());
            self.state.set(state_bytes() as i64);
        }
    }

    /// Logs a warning the first time the node drops records of a kind.
    fn warn_of_first(&mut self, drops: Drops) {
        if drops.late > 0 && self.warned.late == 0 {
            self.warned.late = drops.late;
            tracing::warn!(
                transform = %self.name,
                dropped = drops.late,
                "records dropped as late: their window had expired (its end plus the allowed \
                 lateness is behind the watermark); counted as droppedDueToLateness"
            );
        }
        if drops.closed_window > 0 && self.warned.closed_window == 0 {
            self.warned.closed_window = drops.closed_window;
            tracing::warn!(
                transform = %self.name,
                dropped = drops.closed_window,
                "records dropped: their window's trigger had finished; counted as \
                 droppedDueToClosedWindow"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps every gauge's cell, by node and figure.
    #[derive(Default)]
    struct Cells(Mutex<Vec<(NodeId, Figure, Arc<AtomicI64>)>>);

    impl RunObserver for Cells {
        fn batch_counter(&self) -> Box<dyn BatchCounter> {
            unreachable!("not asked for here")
        }
        fn gauge(&self, node: NodeId, figure: Figure) -> Gauge {
            let cell = Arc::new(AtomicI64::new(0));
            self.0
                .lock()
                .unwrap()
                .push((node, figure, Arc::clone(&cell)));
            Gauge::of(cell)
        }
        fn user_metrics(&self, _: &MetricResults) {}
    }

    #[test]
    fn grouping_gauges_estimate_state_at_most_once_a_second() {
        let cells = Arc::new(Cells::default());
        let observer = Observer::new(cells.clone());
        let mut g = KeyedGauges::new(&observer, 1, "Group");
        let estimates = std::cell::Cell::new(0);
        let estimate = || {
            estimates.set(estimates.get() + 1);
            4_096
        };
        let drops = Drops {
            late: 2,
            closed_window: 0,
        };
        g.set(Timestamp::from_secs(10), 3, Drops::default(), estimate);
        g.set(Timestamp::from_secs(11), 5, drops, || {
            unreachable!("within the second")
        });
        assert_eq!(estimates.get(), 1);
        let value = |figure| {
            let cells = cells.0.lock().unwrap();
            let (_, _, cell) = cells
                .iter()
                .find(|(n, f, _)| *n == 1 && *f == figure)
                .unwrap();
            cell.load(Ordering::Relaxed)
        };
        assert_eq!(value(Figure::OpenWindows), 5);
        assert_eq!(value(Figure::StateBytes), 4_096);
        assert_eq!(
            value(Figure::Watermark),
            Timestamp::from_secs(11).as_micros()
        );
        assert_eq!(value(Figure::DroppedLate), 2);
        assert_eq!(value(Figure::DroppedClosedWindow), 0);
        // Off: nothing is estimated.
        let mut off = KeyedGauges::new(&Observer::default(), 1, "Group");
        off.set(Timestamp::MIN, 1, drops, || unreachable!("off"));
    }
}
