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
//!   bundle (`core::StageInstance`), a bundle at a time
//!   and published when the bundle ends. Bytes are estimated as Beam's runners do: one element of each bundle
//!   is encoded, and its size counts for every element of the bundle. A transform's elements
//!   and bytes in and out are those of its input and output PCollections.
//! - **Watermarks**: a source's (the least over its splits) and a grouping's output watermark
//!   (the least over its shards), set by the runners; their lag is the wall clock minus the
//!   watermark.
//! - **Groupings**: open windows — the (key, window) pairs holding state, the size of the
//!   grouping's state in entries — per shard, summed.
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
struct NodeSlots {
    /// Output watermarks (micros), combined by their least.
    watermarks: Mutex<Vec<Arc<AtomicI64>>>,
    /// Open windows, summed.
    open_windows: Mutex<Vec<Arc<AtomicI64>>>,
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
    collections: Vec<CollectionCounts>,
    slots: Vec<NodeSlots>,
    user: Mutex<MetricResults>,
    started: Instant,
}

/// One shard's or split's value of a per-node figure: set it as it changes; the store
/// combines the slots of a node (least watermark, sum of counts).
#[derive(Clone, Default)]
pub struct Slot(Option<Arc<AtomicI64>>);

impl Slot {
    /// Sets the slot's value.
    pub fn set(&self, value: i64) {
        if let Some(v) = &self.0 {
            v.store(value, Ordering::Relaxed);
        }
    }

    /// Sets a watermark.
    pub fn set_watermark(&self, watermark: Timestamp) {
        self.set(watermark.as_micros());
    }
}

/// Which per-node figure a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The output watermark (of a source's split, or a grouping's shard).
    Watermark,
    /// Open windows of a grouping's shard: (key, window) pairs holding state — the size of
    /// its state in entries.
    OpenWindows,
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
                .map(|_| NodeSlots::default())
                .collect(),
            user: Mutex::new(MetricResults::default()),
            started: Instant::now(),
        })))
    }

    /// Whether the run measures anything.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Adds `elements` elements and `bytes` bytes to PCollection `collection`.
    pub fn add_collection(&self, collection: CollectionId, elements: u64, bytes: u64) {
        if let Some(store) = &self.0
            && let Some(c) = store.collections.get(collection)
        {
            c.elements.fetch_add(elements, Ordering::Relaxed);
            c.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
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

    /// A new slot of `figure` for node `node` (a split, a shard). Watermark slots start at
    /// the beginning of time.
    pub fn slot(&self, node: NodeId, figure: Figure) -> Slot {
        let Some(store) = &self.0 else {
            return Slot(None);
        };
        let Some(slots) = store.slots.get(node) else {
            return Slot(None);
        };
        let (list, initial) = match figure {
            Figure::Watermark => (&slots.watermarks, Timestamp::MIN.as_micros()),
            Figure::OpenWindows => (&slots.open_windows, 0),
        };
        let value = Arc::new(AtomicI64::new(initial));
        list.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&value));
        Slot(Some(value))
    }

    /// What the store holds now (`None` when off).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let store = self.0.as_ref()?;
        let elements = |c: &CollectionId| store.collections[*c].elements.load(Ordering::Relaxed);
        let bytes = |c: &CollectionId| store.collections[*c].bytes.load(Ordering::Relaxed);
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

/// What one stage instance counted in its open bundle: elements and bytes per PCollection,
/// added up a batch at a time and handed to the store when the bundle ends.
pub struct Tally {
    live: LiveMetrics,
    /// Per PCollection: elements and bytes.
    counts: Vec<(u64, u64)>,
}

impl Tally {
    /// A tally for a graph of `collections` PCollections, if `live` is on.
    pub fn new(live: &LiveMetrics, collections: usize) -> Option<Tally> {
        live.is_on().then(|| Tally {
            live: live.clone(),
            counts: vec![(0, 0); collections],
        })
    }

    /// Counts a bundle of `collection`.
    pub fn count(&mut self, collection: CollectionId, bundle: &Bundle) {
        if let Some(c) = self.counts.get_mut(collection) {
            c.0 += bundle.len() as u64;
            c.1 += estimated_bytes(bundle);
        }
    }

    /// Hands the counts to the store (with the DoFns' metrics taken since the last time).
    pub fn publish(&mut self, user: &MetricResults) {
        for (c, (elements, bytes)) in self.counts.iter_mut().enumerate() {
            if *elements > 0 {
                self.live.add_collection(c, *elements, *bytes);
                (*elements, *bytes) = (0, 0);
            }
        }
        if !user.is_empty() {
            self.live.add_user(user);
        }
    }
}

/// An estimate of the encoded size of `bundle`: one element encoded, times the count.
pub fn estimated_bytes(bundle: &Bundle) -> u64 {
    bundle.sampled_encoded_len() * bundle.len() as u64
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

    #[test]
    fn off_measures_nothing_and_on_counts_transforms_by_their_collections() {
        let graph = graph();
        let off = LiveMetrics::default();
        off.add_collection(0, 5, 50);
        off.slot(0, Figure::Watermark).set(7);
        assert!(off.snapshot().is_none());

        let live = LiveMetrics::for_graph(&graph);
        let nums = graph.nodes.iter().find(|n| n.name == "Nums").unwrap();
        let double = graph.nodes.iter().find(|n| n.name == "Double").unwrap();
        live.add_collection(nums.outputs[0], 3, 24);
        live.add_collection(double.outputs[0], 2, 16);
        live.add_collection(double.outputs[0], 1, 8);
        let snap = live.snapshot().unwrap();
        let d = snap.transforms.iter().find(|t| t.name == "Double").unwrap();
        assert_eq!((d.elements_in, d.elements_out), (3, 3));
        assert_eq!((d.bytes_in, d.bytes_out), (24, 24));
        assert_eq!(d.watermark_ms, None);
    }

    #[test]
    fn slots_combine_by_least_watermark_and_summed_counts() {
        let graph = graph();
        let live = LiveMetrics::for_graph(&graph);
        let (a, b) = (
            live.slot(1, Figure::Watermark),
            live.slot(1, Figure::Watermark),
        );
        let (w1, w2) = (
            live.slot(1, Figure::OpenWindows),
            live.slot(1, Figure::OpenWindows),
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
