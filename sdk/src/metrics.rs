//! Metrics reported from inside DoFns: counters, distributions and gauges.
//!
//! A DoFn updates metrics through its context (`ctx.counter("parsed").inc()`); each running
//! instance of a transform keeps its own [`MetricsContainer`], and the runner merges them per
//! transform into the [`MetricResults`] of the `PipelineResult`.
//!
//! ```
//! use sluice_sdk::metrics::MetricsContainer;
//! let mut m = MetricsContainer::default();
//! m.counter("seen").inc_by(2);
//! m.distribution("size").update(10);
//! m.distribution("size").update(4);
//! assert_eq!(m.counters()["seen"], 2);
//! assert_eq!(m.distributions()["size"].min, 4);
//! ```

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Summary of the values reported to a distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionData {
    /// Sum of the values.
    pub sum: i64,
    /// Number of values.
    pub count: i64,
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
}

impl DistributionData {
    fn single(v: i64) -> Self {
        DistributionData {
            sum: v,
            count: 1,
            min: v,
            max: v,
        }
    }
    fn merge(&mut self, o: &DistributionData) {
        self.sum += o.sum;
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }
    /// The mean of the values, if there were any.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }
}

/// The latest value set on a gauge, with the order in which it was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GaugeData {
    /// The value.
    pub value: i64,
    /// Monotonic sequence number of the update (later wins when merging).
    pub sequence: u64,
}

/// The metrics of one running transform instance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetricsContainer {
    counters: FxHashMap<String, i64>,
    distributions: FxHashMap<String, DistributionData>,
    gauges: FxHashMap<String, GaugeData>,
}

static GAUGE_SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A handle to update one counter.
pub struct Counter<'a>(&'a mut i64);
impl Counter<'_> {
    /// Adds one.
    pub fn inc(&mut self) {
        *self.0 += 1;
    }
    /// Adds `n` (which may be negative).
    pub fn inc_by(&mut self, n: i64) {
        *self.0 += n;
    }
}

/// A handle to report values to one distribution.
pub struct Distribution<'a> {
    slot: &'a mut FxHashMap<String, DistributionData>,
    name: &'a str,
}
impl Distribution<'_> {
    /// Reports one value.
    pub fn update(&mut self, value: i64) {
        match self.slot.get_mut(self.name) {
            Some(d) => d.merge(&DistributionData::single(value)),
            None => {
                self.slot
                    .insert(self.name.to_string(), DistributionData::single(value));
            }
        }
    }
}

/// A handle to set one gauge.
pub struct Gauge<'a> {
    slot: &'a mut FxHashMap<String, GaugeData>,
    name: &'a str,
}
impl Gauge<'_> {
    /// Sets the gauge's value.
    pub fn set(&mut self, value: i64) {
        let sequence = GAUGE_SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.slot
            .insert(self.name.to_string(), GaugeData { value, sequence });
    }
}

impl MetricsContainer {
    /// The counter called `name`.
    pub fn counter(&mut self, name: &str) -> Counter<'_> {
        if !self.counters.contains_key(name) {
            self.counters.insert(name.to_string(), 0);
        }
        Counter(self.counters.get_mut(name).expect("inserted above"))
    }
    /// The distribution called `name`.
    pub fn distribution<'a>(&'a mut self, name: &'a str) -> Distribution<'a> {
        Distribution {
            slot: &mut self.distributions,
            name,
        }
    }
    /// The gauge called `name`.
    pub fn gauge<'a>(&'a mut self, name: &'a str) -> Gauge<'a> {
        Gauge {
            slot: &mut self.gauges,
            name,
        }
    }
    /// Counter values by name.
    pub fn counters(&self) -> &FxHashMap<String, i64> {
        &self.counters
    }
    /// Distribution values by name.
    pub fn distributions(&self) -> &FxHashMap<String, DistributionData> {
        &self.distributions
    }
    /// Gauge values by name.
    pub fn gauges(&self) -> &FxHashMap<String, GaugeData> {
        &self.gauges
    }
    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.distributions.is_empty() && self.gauges.is_empty()
    }
    /// Adds another container's updates into this one.
    pub fn merge(&mut self, other: &MetricsContainer) {
        for (k, v) in &other.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.distributions {
            self.distributions
                .entry(k.clone())
                .and_modify(|d| d.merge(v))
                .or_insert(*v);
        }
        for (k, v) in &other.gauges {
            let e = self.gauges.entry(k.clone()).or_insert(*v);
            if v.sequence > e.sequence {
                *e = *v;
            }
        }
    }
}

/// The identity of one metric: the transform that reported it and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    /// Full name of the transform.
    pub transform: String,
    /// Name of the metric.
    pub name: String,
}

/// The metrics of a finished pipeline, per transform.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetricResults {
    per_transform: BTreeMap<String, MetricsContainer>,
}

impl MetricResults {
    /// Adds the metrics of one transform instance.
    pub fn add(&mut self, transform: &str, metrics: &MetricsContainer) {
        if metrics.is_empty() {
            return;
        }
        self.per_transform
            .entry(transform.to_string())
            .or_default()
            .merge(metrics);
    }
    /// Adds every transform's metrics of `other`.
    pub fn merge(&mut self, other: &MetricResults) {
        for (t, m) in &other.per_transform {
            self.add(t, m);
        }
    }
    /// The counter `name` of `transform`.
    pub fn counter(&self, transform: &str, name: &str) -> Option<i64> {
        self.per_transform
            .get(transform)?
            .counters
            .get(name)
            .copied()
    }
    /// The sum of the counter `name` over every transform whose name starts with `prefix`.
    pub fn counter_total(&self, prefix: &str, name: &str) -> i64 {
        self.per_transform
            .iter()
            .filter(|(t, _)| t.starts_with(prefix))
            .filter_map(|(_, m)| m.counters.get(name))
            .sum()
    }
    /// The distribution `name` of `transform`.
    pub fn distribution(&self, transform: &str, name: &str) -> Option<DistributionData> {
        self.per_transform
            .get(transform)?
            .distributions
            .get(name)
            .copied()
    }
    /// The latest value of gauge `name` of `transform`.
    pub fn gauge(&self, transform: &str, name: &str) -> Option<i64> {
        self.per_transform
            .get(transform)?
            .gauges
            .get(name)
            .map(|g| g.value)
    }
    /// Whether no transform reported anything.
    pub fn is_empty(&self) -> bool {
        self.per_transform.is_empty()
    }
    /// Every transform's metrics, by transform name.
    pub fn per_transform(&self) -> &BTreeMap<String, MetricsContainer> {
        &self.per_transform
    }
    /// Every counter, as `(transform, name) -> value`, in name order.
    pub fn counters(&self) -> BTreeMap<MetricKey, i64> {
        let mut out = BTreeMap::new();
        for (t, m) in &self.per_transform {
            for (n, v) in &m.counters {
                out.insert(
                    MetricKey {
                        transform: t.clone(),
                        name: n.clone(),
                    },
                    *v,
                );
            }
        }
        out
    }
}
