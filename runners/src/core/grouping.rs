//! Ways of executing a grouping with [`GroupAlsoByWindow`].
//!
//! A grouping node of the plan ([`GroupingNode`]) turns bundles of its input into keyed
//! records; what happens to them then depends on how the runner executes:
//!
//! - **bounded**, a shard at a time ([`GroupingNode::group_bounded`]): every record of the
//!   shard is added, the watermark jumps to the end of time, and each (key, window) fires its
//!   one pane. The direct runner groups its whole input as one shard, the rayon runner each
//!   hash partition on its own worker;
//! - **streaming** ([`ShardedGrouping`]): one long-lived grouping split by key hash over
//!   several shards, fed records, watermark and processing-time advances as they happen, the
//!   shards working in parallel when a batch or an advance is large enough to pay for it.

use super::gabw::GroupAlsoByWindow;
use super::invoke::invoke;
use super::stage::StageOutput;
use super::{BUNDLE_SIZE, DROPPED_DUE_TO_LATENESS};
use sluice_sdk::error::{BoxError, PipelineError};
use sluice_sdk::graph::kernel::{GroupKernel, KeyedRecord, PaneOutput};
use sluice_sdk::graph::{Bundle, Graph, NodeId, NodeKind};
use sluice_sdk::metrics::MetricsContainer;
use sluice_sdk::result::ElementCount;
use sluice_sdk::time::Timestamp;
use sluice_sdk::windowing::WindowingStrategy;
use std::sync::Arc;

/// A grouping transform of the plan (GroupByKey or Combine.perKey): what a runner needs to
/// execute it.
#[derive(Clone, Copy)]
pub struct GroupingNode<'g> {
    /// The transform's name, for errors and metrics.
    pub name: &'g str,
    /// The typed part of the grouping.
    pub kernel: &'g Arc<dyn GroupKernel>,
    /// The windowing strategy of its input.
    pub strategy: &'g WindowingStrategy,
}

impl<'g> GroupingNode<'g> {
    /// The grouping node `node` of `graph`: the root of a `Group` stage.
    pub fn of(graph: &'g Graph, node: NodeId) -> Self {
        let n = graph.node(node);
        let NodeKind::GroupByKey(kernel) = &n.kind else {
            unreachable!("Group roots are GroupByKey nodes")
        };
        GroupingNode {
            name: &n.name,
            kernel,
            strategy: &graph.collection(n.inputs[0]).windowing,
        }
    }

    /// Encodes a bundle of the grouping's input into keyed records; an element that does not
    /// encode is an error naming the transform.
    pub fn records(&self, bundle: Bundle) -> Result<Vec<KeyedRecord>, PipelineError> {
        let mut records = Vec::with_capacity(bundle.len());
        self.kernel
            .to_records(bundle, &mut records)
            .map_err(|e| PipelineError::Coder {
                transform: self.name.to_string(),
                message: e.to_string(),
            })?;
        Ok(records)
    }

    /// Groups one shard of a bounded input: adds every batch of records, then advances the
    /// watermark to the end of time so that every (key, window) fires its single pane.
    pub fn group_bounded(
        &self,
        batches: impl IntoIterator<Item = Result<Vec<KeyedRecord>, PipelineError>>,
    ) -> Result<GroupedShard, PipelineError> {
        let name = self.name;
        let mut gabw = GroupAlsoByWindow::new(self.kernel.clone(), self.strategy.clone());
        let mut panes = Vec::new();
        let mut count = ElementCount::default();
        for batch in batches {
            let batch = batch?;
            count.input += batch.len() as u64;
            panes.extend(invoke(name, || gabw.process(batch))?);
        }
        panes.extend(invoke(name, || gabw.advance_watermark(Timestamp::MAX))?);
        count.output = panes.len() as u64;
        let output = invoke(name, || gabw.build_output(panes))?;
        Ok(GroupedShard {
            name: name.to_string(),
            bundles: output.chunks(BUNDLE_SIZE),
            count,
            dropped: gabw.dropped_due_to_lateness(),
        })
    }

    /// A streaming grouping over `shards` shards, run on `pool` when there are several.
    pub fn sharded(&self, shards: usize, pool: Option<Arc<rayon::ThreadPool>>) -> ShardedGrouping {
        ShardedGrouping::new(self.kernel.clone(), self.strategy.clone(), shards, pool)
    }
}

/// What grouping one shard of bounded input produced.
pub struct GroupedShard {
    name: String,
    bundles: Vec<Bundle>,
    count: ElementCount,
    dropped: u64,
}

impl GroupedShard {
    /// Records the shard's element counts and late drops under the transform's name in `out`,
    /// and returns its output elements (`KV<K, O>`) in bundles.
    pub fn into_bundles(self, out: &mut StageOutput) -> Vec<Bundle> {
        let mut m = MetricsContainer::default();
        m.counter(DROPPED_DUE_TO_LATENESS)
            .inc_by(self.dropped as i64);
        out.metrics.add(&self.name, &m);
        out.elements.entry(self.name).or_default().add(self.count);
        self.bundles
    }
}

/// A grouping split by key over several [`GroupAlsoByWindow`] shards that work in parallel:
/// records go to the shard of their key's hash, and advances go to every shard.
pub struct ShardedGrouping {
    shards: Vec<GroupAlsoByWindow>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

/// Below this many records a batch is grouped on the calling thread: handing it out would
/// cost more than it saves.
const PARALLEL_BATCH: usize = 2048;

/// Below this many windows with state an advance is applied on the calling thread.
const PARALLEL_WINDOWS: usize = 20_000;

impl ShardedGrouping {
    /// `shards` groupings (at least one) with the input's windowing strategy; they run on
    /// `pool` when there are several.
    pub fn new(
        kernel: Arc<dyn GroupKernel>,
        strategy: WindowingStrategy,
        shards: usize,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| GroupAlsoByWindow::new(kernel.clone(), strategy.clone()))
            .collect();
        ShardedGrouping { shards, pool }
    }

    /// Runs `f` on every shard with its input, in parallel when worth it; concatenates the panes.
    fn each(
        &mut self,
        inputs: Vec<Vec<KeyedRecord>>,
        parallel: bool,
        f: impl Fn(&mut GroupAlsoByWindow, Vec<KeyedRecord>) -> Result<Vec<PaneOutput>, BoxError> + Sync,
    ) -> Result<Vec<PaneOutput>, BoxError> {
        let results: Vec<Result<Vec<PaneOutput>, BoxError>> =
            match (&self.pool, parallel && self.shards.len() > 1) {
                (Some(pool), true) => {
                    use rayon::prelude::*;
                    pool.install(|| {
                        self.shards
                            .par_iter_mut()
                            .zip(inputs)
                            .map(|(g, r)| f(g, r))
                            .collect()
                    })
                }
                _ => self
                    .shards
                    .iter_mut()
                    .zip(inputs)
                    .map(|(g, r)| f(g, r))
                    .collect(),
            };
        let mut panes = Vec::new();
        for r in results {
            panes.extend(r?);
        }
        Ok(panes)
    }

    /// Adds a batch of records; returns the panes that fired.
    pub fn process(&mut self, records: Vec<KeyedRecord>) -> Result<Vec<PaneOutput>, BoxError> {
        let n = self.shards.len();
        if n == 1 {
            return self.shards[0].process(records);
        }
        // Small batches are grouped on this thread, each record still in its key's shard.
        let parallel = records.len() >= PARALLEL_BATCH;
        let mut parts: Vec<Vec<KeyedRecord>> = (0..n)
            .map(|_| Vec::with_capacity(records.len() / n + 1))
            .collect();
        for r in records {
            let shard = r.key.partition(n);
            parts[shard].push(r);
        }
        self.each(parts, parallel, |g, r| {
            if r.is_empty() {
                Ok(Vec::new())
            } else {
                g.process(r)
            }
        })
    }

    fn many_windows(&self) -> bool {
        self.shards
            .iter()
            .map(GroupAlsoByWindow::window_count)
            .sum::<usize>()
            >= PARALLEL_WINDOWS
    }

    /// Advances every shard's input watermark.
    pub fn advance_watermark(&mut self, watermark: Timestamp) -> Result<Vec<PaneOutput>, BoxError> {
        let inputs = (0..self.shards.len()).map(|_| Vec::new()).collect();
        let parallel = self.many_windows();
        self.each(inputs, parallel, |g, _| g.advance_watermark(watermark))
    }

    /// Advances every shard's processing time.
    pub fn advance_processing_time(&mut self, now: Timestamp) -> Result<Vec<PaneOutput>, BoxError> {
        let inputs = (0..self.shards.len()).map(|_| Vec::new()).collect();
        let parallel = self.many_windows();
        self.each(inputs, parallel, |g, _| g.advance_processing_time(now))
    }

    /// Turns panes into an output bundle through the transform's kernel.
    pub fn build_output(&self, panes: Vec<PaneOutput>) -> Result<Bundle, BoxError> {
        self.shards[0].build_output(panes)
    }

    /// Sets the arrival sequence number of the records processed from now on, in every shard.
    pub fn set_arrival(&mut self, sequence: u64) {
        for g in &mut self.shards {
            g.set_arrival(sequence);
        }
    }

    /// The smallest arrival sequence number of a record not yet in any pane, over all shards.
    pub fn oldest_unemitted(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(GroupAlsoByWindow::oldest_unemitted)
            .min()
    }

    /// Records dropped because their window had expired, over all shards.
    pub fn dropped_due_to_lateness(&self) -> u64 {
        self.shards
            .iter()
            .map(GroupAlsoByWindow::dropped_due_to_lateness)
            .sum()
    }

    /// Records dropped because their window was closed, over all shards.
    pub fn dropped_due_to_closed_window(&self) -> u64 {
        self.shards
            .iter()
            .map(GroupAlsoByWindow::dropped_due_to_closed_window)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::gabw::tests::{gbk, gbk_parts, record, values, w};
    use sluice_sdk::prelude::*;
    use sluice_sdk::time::Duration;

    #[test]
    fn shards_group_like_one_grouping() {
        let describe = |mut panes: Vec<PaneOutput>| {
            panes.sort_by_key(|p| (p.key.bytes().to_vec(), p.window));
            panes
                .iter()
                .map(|p| (p.key.bytes().to_vec(), p.window, values(p), p.pane))
                .collect::<Vec<_>>()
        };
        let records = || {
            (0..2000i64).map(|i| {
                record(
                    &format!("k{}", i % 37),
                    i,
                    i % 50,
                    w((i % 50) / 10 * 10, (i % 50) / 10 * 10 + 10),
                )
            })
        };
        let mut single = gbk(FixedWindows::of(Duration::from_secs(10)), Duration::ZERO);
        single.process(records().collect()).unwrap();
        let expected = describe(single.advance_watermark(Timestamp::MAX).unwrap());
        let (kernel, strategy) =
            gbk_parts(FixedWindows::of(Duration::from_secs(10)), Duration::ZERO);
        let pool = std::sync::Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap(),
        );
        let mut sharded = ShardedGrouping::new(kernel, strategy, 3, Some(pool));
        sharded.process(records().collect()).unwrap();
        assert_eq!(
            describe(sharded.advance_watermark(Timestamp::MAX).unwrap()),
            expected
        );
        assert_eq!(expected.len(), 37 * 5);
    }
}
