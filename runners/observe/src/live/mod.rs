//! Live metrics: what a running pipeline is doing now, for `--metrics-addr` (Prometheus),
//! `--log-metrics-interval` (the `tracing` log) and the status page of `--ui`.
//!
//! A pipeline's results carry its metrics once it ends; a streaming job never ends, so its
//! users need them while it runs, as Flink's web UI and Beam's Dataflow console show them.
//! When one of those flags is given, the run gets a [`LiveMetrics`]: a store every runner
//! updates as it works and that readers take [snapshots](Snapshot) of. Without them the
//! store is off, and every update is a check of one `Option`.
//!
//! What is measured, and where:
//!
//! - **Elements and bytes per PCollection** — counted by the stage instance that routes a
//!   batch (`core::StageInstance`), a batch at a time, in counters of its own ([`Tally`]).
//!   Bytes are estimated as Beam's runners do: an element is encoded now and then (every
//!   [`SAMPLE_EVERY_BATCHES`] batches of a PCollection) and its size counts for every
//!   element. A transform's elements and bytes in and out are those of its input and output
//!   PCollections.
//! - **Watermarks**: a source's (the least over its splits) and a grouping's output watermark
//!   (the least over its shards), set by the runners; their lag is the wall clock minus the
//!   watermark.
//! - **Groupings**: open windows — the (key, window) pairs holding state — and the bytes of
//!   their state (estimated from a sample of slots, at most once a second), per shard, summed.
//! - **User metrics**: the counters, distributions and gauges DoFns report, taken from the
//!   operators when the counts are published.
//!
//! [`history`] keeps a minute-by-minute record of snapshots (rates, watermark lag over time),
//! [`prometheus`] writes a snapshot in the Prometheus text format, [`server`] serves it, and
//! [`watch`] starts what a run's options ask for.

pub mod history;
pub mod prometheus;
pub mod server;
mod snapshot;
pub mod watch;

pub use snapshot::{Snapshot, TransformStats};

use sluice_runner_core::observe::{BatchCounter, Figure, Gauge, RunObserver};
use sluice_sdk::graph::{Bundle, CollectionId, Graph, NodeId};
use sluice_sdk::metrics::MetricResults;
use sluice_sdk::time::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The live metrics of one run, shared by everything that updates or reads them. The default
/// is off: updates do nothing.
#[derive(Clone, Default)]
pub struct LiveMetrics(Option<Arc<Store>>);

impl std::fmt::Debug for LiveMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LiveMetrics({})",
            if self.0.is_some() { "on" } else { "off" }
        )
    }
}

/// Counts of one PCollection.
#[derive(Default)]
struct CollectionCounts {
    elements: AtomicU64,
    bytes: AtomicU64,
}

/// Per node: values set by several shards or splits, each in a slot of its own.
#[derive(Default)]
struct NodeGauges {
    /// Output watermarks (micros), combined by their least.
    watermarks: Mutex<Vec<Arc<AtomicI64>>>,
    /// Open windows, summed.
    open_windows: Mutex<Vec<Arc<AtomicI64>>>,
    /// Estimated bytes of state, summed.
    state_bytes: Mutex<Vec<Arc<AtomicI64>>>,
    /// Records dropped as late, summed.
    dropped_late: Mutex<Vec<Arc<AtomicI64>>>,
    /// Records dropped for a closed window, summed.
    dropped_closed_window: Mutex<Vec<Arc<AtomicI64>>>,
}

/// What the store knows of a node.
struct NodeInfo {
    name: String,
    kind: &'static str,
    inputs: Vec<CollectionId>,
    outputs: Vec<CollectionId>,
}

/// The store behind a [`LiveMetrics`].
struct Store {
    nodes: Vec<NodeInfo>,
    /// Per PCollection: what was added directly, and what tallies that have ended counted.
    collections: Vec<CollectionCounts>,
    /// The counts of the stage instances running now, each its own (no two threads write
    /// one counter).
    tallies: Mutex<Vec<Arc<[CollectionCounts]>>>,
    slots: Vec<NodeGauges>,
    user: Mutex<MetricResults>,
    started: Instant,
}

impl LiveMetrics {
    /// Live metrics for a run of `graph`.
    pub fn for_graph(graph: &Graph) -> Self {
        LiveMetrics(Some(Arc::new(Store {
            nodes: graph
                .nodes
                .iter()
                .map(|n| NodeInfo {
                    name: n.name.clone(),
                    kind: n.kind.label(),
                    inputs: n.inputs.clone(),
                    outputs: n.outputs.clone(),
                })
                .collect(),
            collections: (0..graph.collections.len())
                .map(|_| CollectionCounts::default())
                .collect(),
            slots: (0..graph.nodes.len())
                .map(|_| NodeGauges::default())
                .collect(),
            tallies: Mutex::new(Vec::new()),
            user: Mutex::new(MetricResults::default()),
            started: Instant::now(),
        })))
    }

    /// Whether the run measures anything.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Adds metrics reported by DoFns.
    pub fn add_user(&self, metrics: &MetricResults) {
        if let Some(store) = &self.0 {
            store
                .user
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .merge(metrics);
        }
    }

    /// A new gauge of `figure` for node `node` (a split, a shard). Watermark gauges start at
    /// the beginning of time.
    pub fn gauge(&self, node: NodeId, figure: Figure) -> Gauge {
        let Some(store) = &self.0 else {
            return Gauge::default();
        };
        let Some(slots) = store.slots.get(node) else {
            return Gauge::default();
        };
        let (list, initial) = match figure {
            Figure::Watermark => (&slots.watermarks, Timestamp::MIN.as_micros()),
            Figure::OpenWindows => (&slots.open_windows, 0),
            Figure::StateBytes => (&slots.state_bytes, 0),
            Figure::DroppedLate => (&slots.dropped_late, 0),
            Figure::DroppedClosedWindow => (&slots.dropped_closed_window, 0),
        };
        let value = Arc::new(AtomicI64::new(initial));
        list.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&value));
        Gauge::of(value)
    }

    /// What the store holds now (`None` when off).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let store = self.0.as_ref()?;
        // Per PCollection: the store's own counts plus every running tally's (under the lock
        // a tally folds its counts in with, so that none is counted twice or missed).
        let tallies = store.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let mut totals: Vec<(u64, u64)> = store
            .collections
            .iter()
            .map(|c| {
                (
                    c.elements.load(Ordering::Relaxed),
                    c.bytes.load(Ordering::Relaxed),
                )
            })
            .collect();
        for tally in tallies.iter() {
            for (total, c) in totals.iter_mut().zip(tally.iter()) {
                total.0 += c.elements.load(Ordering::Relaxed);
                total.1 += c.bytes.load(Ordering::Relaxed);
            }
        }
        drop(tallies);
        let elements = |c: &CollectionId| totals[*c].0;
        let bytes = |c: &CollectionId| totals[*c].1;
        let read = |list: &Mutex<Vec<Arc<AtomicI64>>>| -> Vec<i64> {
            list.lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|v| v.load(Ordering::Relaxed))
                .collect()
        };
        let now = Timestamp::now();
        let transforms = store
            .nodes
            .iter()
            .zip(&store.slots)
            .map(|(n, slots)| {
                let watermark = read(&slots.watermarks)
                    .into_iter()
                    .min()
                    .map(Timestamp::from_micros);
                let sum = |v: Vec<i64>| (!v.is_empty()).then(|| v.iter().sum::<i64>());
                TransformStats {
                    name: n.name.clone(),
                    kind: n.kind.to_string(),
                    elements_in: n.inputs.iter().map(elements).sum(),
                    elements_out: n.outputs.iter().map(elements).sum(),
                    bytes_in: n.inputs.iter().map(bytes).sum(),
                    bytes_out: n.outputs.iter().map(bytes).sum(),
                    watermark_ms: watermark.map(Timestamp::as_millis),
                    watermark_lag_ms: watermark
                        .filter(|w| *w > Timestamp::MIN && *w < Timestamp::MAX)
                        .map(|w| now.as_millis() - w.as_millis()),
                    open_windows: sum(read(&slots.open_windows)),
                    state_bytes: sum(read(&slots.state_bytes)),
                    dropped_late: sum(read(&slots.dropped_late)),
                    dropped_closed_window: sum(read(&slots.dropped_closed_window)),
                }
            })
            .collect();
        Some(Snapshot {
            elapsed_s: store.started.elapsed().as_secs_f64(),
            at_ms: now.as_millis(),
            transforms,
            user: store.user.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        })
    }
}

/// The live metrics watch a run through core's observer interface.
impl RunObserver for LiveMetrics {
    fn batch_counter(&self) -> Box<dyn BatchCounter> {
        let collections = self.0.as_ref().map_or(0, |s| s.collections.len());
        match Tally::new(self, collections) {
            Some(tally) => Box::new(tally),
            None => Box::new(NotCounting),
        }
    }
    fn gauge(&self, node: NodeId, figure: Figure) -> Gauge {
        LiveMetrics::gauge(self, node, figure)
    }
    fn user_metrics(&self, metrics: &MetricResults) {
        self.add_user(metrics);
    }
}

/// The counter of live metrics that are off.
struct NotCounting;

impl BatchCounter for NotCounting {
    fn count(&mut self, _: CollectionId, _: &Bundle) {}
}

impl PartialEq for LiveMetrics {
    /// The same store (or both off).
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for LiveMetrics {}

/// What one stage instance counts: elements and bytes per PCollection, a batch at a time,
/// in counters of its own that snapshots read (only the instance writes them, so counting is
/// a plain add, with no other thread's cache line to contend for). Its counts fold into the
/// store when it is dropped.
pub struct Tally {
    live: LiveMetrics,
    counts: Arc<[CollectionCounts]>,
    /// Per PCollection: batches seen, and the estimated encoded size of one element, taken
    /// again every [`SAMPLE_EVERY_BATCHES`] batches.
    sizes: Vec<(u32, u64)>,
}

/// How often a tally encodes an element again to estimate a PCollection's element size.
pub const SAMPLE_EVERY_BATCHES: u32 = 32;

impl Tally {
    /// A tally for a graph of `collections` PCollections, if `live` is on.
    pub fn new(live: &LiveMetrics, collections: usize) -> Option<Tally> {
        let store = live.0.as_ref()?;
        let counts: Arc<[CollectionCounts]> = (0..collections)
            .map(|_| CollectionCounts::default())
            .collect();
        store
            .tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&counts));
        Some(Tally {
            live: live.clone(),
            counts,
            sizes: vec![(0, 0); collections],
        })
    }

    /// Counts a batch of `collection`.
    pub fn count(&mut self, collection: CollectionId, bundle: &Bundle) {
        let (Some(c), Some(size)) = (self.counts.get(collection), self.sizes.get_mut(collection))
        else {
            return;
        };
        if bundle.is_empty() {
            return;
        }
        if size.0 % SAMPLE_EVERY_BATCHES == 0 {
            size.1 = bundle.sampled_encoded_len();
        }
        size.0 = size.0.wrapping_add(1);
        let n = bundle.len() as u64;
        // The only writer: a load and a store, no read-modify-write.
        c.elements
            .store(c.elements.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        c.bytes.store(
            c.bytes.load(Ordering::Relaxed) + n * size.1,
            Ordering::Relaxed,
        );
    }
}

impl BatchCounter for Tally {
    fn count(&mut self, collection: CollectionId, batch: &Bundle) {
        Tally::count(self, collection, batch);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let Some(store) = &self.live.0 else { return };
        let mut tallies = store.tallies.lock().unwrap_or_else(|e| e.into_inner());
        for (total, c) in store.collections.iter().zip(self.counts.iter()) {
            total
                .elements
                .fetch_add(c.elements.load(Ordering::Relaxed), Ordering::Relaxed);
            total
                .bytes
                .fetch_add(c.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        tallies.retain(|t| !Arc::ptr_eq(t, &self.counts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::prelude::*;

    fn graph() -> Graph {
        let p = Pipeline::new();
        p.apply("Nums", Create::of(vec![1u64, 2, 3]))
            .apply("Double", Map::new(|n: u64| n * 2));
        p.graph().unwrap()
    }

    /// A batch of `n` numbers.
    fn batch(n: u64) -> Bundle {
        Bundle::new(
            (0..n)
                .map(|v| WindowedValue::in_global_window(v, Timestamp::MIN))
                .collect(),
        )
    }

    #[test]
    fn off_measures_nothing_and_on_counts_transforms_by_their_collections() {
        let graph = graph();
        let off = LiveMetrics::default();
        assert!(Tally::new(&off, graph.collections.len()).is_none());
        off.gauge(0, Figure::Watermark).set(7);
        assert!(off.snapshot().is_none());

        let live = LiveMetrics::for_graph(&graph);
        let nums = graph.nodes.iter().find(|n| n.name == "Nums").unwrap();
        let double = graph.nodes.iter().find(|n| n.name == "Double").unwrap();
        let size = batch(1).sampled_encoded_len();
        let mut tally = Tally::new(&live, graph.collections.len()).unwrap();
        tally.count(nums.outputs[0], &batch(3));
        tally.count(double.outputs[0], &batch(2));
        tally.count(double.outputs[0], &batch(1));
        let snap = live.snapshot().unwrap();
        let d = snap.transforms.iter().find(|t| t.name == "Double").unwrap();
        assert_eq!((d.elements_in, d.elements_out), (3, 3));
        assert_eq!((d.bytes_in, d.bytes_out), (3 * size, 3 * size));
        assert_eq!(d.watermark_ms, None);
    }

    #[test]
    fn tallies_count_batches_and_fold_into_the_store_when_dropped() {
        let graph = graph();
        let live = LiveMetrics::for_graph(&graph);
        let double = graph.nodes.iter().find(|n| n.name == "Double").unwrap();
        let out = double.outputs[0];
        let size = batch(1).sampled_encoded_len();
        assert!(size > 8);
        let mut a = Tally::new(&live, graph.collections.len()).unwrap();
        let mut b = Tally::new(&live, graph.collections.len()).unwrap();
        // An empty batch neither counts nor spoils the size estimate.
        a.count(out, &batch(0));
        a.count(out, &batch(3));
        b.count(out, &batch(4));
        let of = |live: &LiveMetrics| {
            let s = live.snapshot().unwrap();
            let t = s
                .transforms
                .iter()
                .find(|t| t.name == "Double")
                .unwrap()
                .clone();
            (t.elements_out, t.bytes_out)
        };
        assert_eq!(of(&live), (7, 7 * size));
        drop(a);
        assert_eq!(of(&live), (7, 7 * size), "a dropped tally's counts stay");
        b.count(out, &batch(1));
        drop(b);
        assert_eq!(of(&live), (8, 8 * size));
        assert!(Tally::new(&LiveMetrics::default(), 3).is_none());
    }

    #[test]
    fn grouping_gauges_reach_the_snapshot() {
        use sluice_runner_core::observe::{KeyedGauges, Observer};
        let graph = graph();
        let live = LiveMetrics::for_graph(&graph);
        let mut g = KeyedGauges::new(&Observer::new(Arc::new(live.clone())), 1, "Double");
        let drops = sluice_runner_core::observe::Drops {
            late: 1,
            closed_window: 0,
        };
        g.set(Timestamp::from_secs(11), 5, drops, || 4_096);
        let t = &live.snapshot().unwrap().transforms[1];
        assert_eq!((t.open_windows, t.state_bytes), (Some(5), Some(4_096)));
        assert_eq!(
            (t.dropped_late, t.dropped_closed_window),
            (Some(1), Some(0))
        );
        assert_eq!(t.watermark_ms, Some(11_000));
    }

    #[test]
    fn gauges_combine_by_least_watermark_and_summed_counts() {
        let graph = graph();
        let live = LiveMetrics::for_graph(&graph);
        let (a, b) = (
            live.gauge(1, Figure::Watermark),
            live.gauge(1, Figure::Watermark),
        );
        let (w1, w2) = (
            live.gauge(1, Figure::OpenWindows),
            live.gauge(1, Figure::OpenWindows),
        );
        let now = Timestamp::now();
        a.set_watermark(now.minus(sluice_sdk::time::Duration::from_secs(5)));
        b.set_watermark(now.minus(sluice_sdk::time::Duration::from_secs(2)));
        w1.set(3);
        w2.set(4);
        let snap = live.snapshot().unwrap();
        let t = &snap.transforms[1];
        assert_eq!(t.watermark_ms, Some(now.as_millis() - 5_000));
        let lag = t.watermark_lag_ms.unwrap();
        assert!((5_000..6_000).contains(&lag), "{lag}");
        assert_eq!(t.open_windows, Some(7));
    }
}
