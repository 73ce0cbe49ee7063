//! Ways of executing a keyed node: a grouping with [`GroupAlsoByWindow`], or a stateful ParDo
//! with a [`StatefulDoFnRunner`].
//!
//! A keyed node of the plan ([`KeyedNode`]) turns bundles of its input into keyed records;
//! what happens to them then depends on how the runner executes:
//!
//! - **bounded**, a shard at a time ([`KeyedNode::group_bounded`]): a grouping adds every
//!   record of the shard, the watermark jumps to the end of time, and each (key, window) fires
//!   its one pane; a stateful ParDo runs each key's records in timestamp order (see
//!   [`StatefulDoFnRunner::run_bounded`]). The direct runner runs its whole input as one shard,
//!   the rayon runner each hash partition on its own worker;
//! - **streaming** ([`KeyedShards`]): one long-lived keyed node (a grouping or a stateful
//!   ParDo) split by key hash over several shards, fed records, watermark and processing-time
//!   advances as they happen, the shards working in parallel when a batch or an advance is
//!   large enough to pay for it.

use super::gabw::GroupAlsoByWindow;
use super::invoke::invoke;
use super::stage::StageOutput;
use super::stateful::StatefulDoFnRunner;
use super::{BUNDLE_SIZE, DROPPED_DUE_TO_LATENESS};
use sluice_sdk::error::{BoxError, PipelineError};
use sluice_sdk::graph::kernel::{GroupKernel, KeyedRecord, PaneOutput, SideInputs, StatefulKernel};
use sluice_sdk::graph::{Bundle, Graph, NodeId, NodeKind};
use sluice_sdk::metrics::MetricsContainer;
use sluice_sdk::result::ElementCount;
use sluice_sdk::time::Timestamp;
use sluice_sdk::window::Slicing;
use sluice_sdk::windowing::WindowingStrategy;
use std::sync::Arc;

/// The typed part of a keyed node.
#[derive(Clone, Copy)]
pub enum KeyedKernel<'g> {
    /// GroupByKey or Combine.perKey.
    Group(&'g Arc<dyn GroupKernel>),
    /// A stateful ParDo.
    Stateful(&'g Arc<dyn StatefulKernel>),
}

/// A keyed node of the plan (GroupByKey, Combine.perKey or a stateful ParDo): what a runner
/// needs to execute it.
#[derive(Clone, Copy)]
pub struct KeyedNode<'g> {
    /// The transform's name, for errors and metrics.
    pub name: &'g str,
    /// The typed part.
    pub kernel: KeyedKernel<'g>,
    /// The windowing strategy of its input.
    pub strategy: &'g WindowingStrategy,
    /// How its input's elements sit in slices of sliding windows, if they do (see
    /// [`Sliced`](sluice_sdk::graph::Sliced)); only a Combine takes such input.
    pub slicing: Option<Slicing>,
}

impl<'g> KeyedNode<'g> {
    /// The keyed node `node` of `graph`: the root of a `Group` stage.
    pub fn of(graph: &'g Graph, node: NodeId) -> Self {
        let n = graph.node(node);
        let kernel = match &n.kind {
            NodeKind::GroupByKey(kernel) => KeyedKernel::Group(kernel),
            NodeKind::StatefulParDo(kernel) => KeyedKernel::Stateful(kernel),
            _ => unreachable!("Group roots are keyed nodes"),
        };
        let input = graph.collection(n.inputs[0]);
        KeyedNode {
            name: &n.name,
            kernel,
            strategy: &input.windowing,
            slicing: input.sliced.as_ref().map(|s| s.slicing),
        }
    }

    /// Encodes a bundle of the node's input into keyed records; an element that does not
    /// encode is an error naming the transform.
    pub fn records(&self, bundle: Bundle) -> Result<Vec<KeyedRecord>, PipelineError> {
        let mut records = Vec::with_capacity(bundle.len());
        let encoded = match self.kernel {
            KeyedKernel::Group(k) => k.to_records(bundle, &mut records),
            KeyedKernel::Stateful(k) => k.to_records(bundle, &mut records),
        };
        encoded.map_err(|e| PipelineError::Coder {
            transform: self.name.to_string(),
            message: e.to_string(),
        })?;
        Ok(records)
    }

    /// Runs one shard of a bounded input, handing its output to `emit` a bundle at a time and
    /// recording element counts, late drops and user metrics under the transform's name in
    /// `out`: a [`BoundedShard`] fed every batch, then finished.
    pub fn group_bounded(
        &self,
        batches: impl IntoIterator<Item = Result<Vec<KeyedRecord>, PipelineError>>,
        side_inputs: &SideInputs,
        out: &mut StageOutput,
        emit: &mut dyn FnMut(Bundle) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        let mut shard = self.bounded_shard();
        for batch in batches {
            shard.add(batch?, emit)?;
        }
        shard.finish(side_inputs, out, emit)
    }

    /// An empty shard of bounded input, to feed batch by batch as it arrives.
    pub fn bounded_shard(&self) -> BoundedShard {
        let tc = self.strategy.timestamp_combiner;
        let folded = match (self.kernel, self.slicing) {
            (KeyedKernel::Group(kernel), None) if self.fires_once_at_end() => {
                Some(kernel.bounded_grouping(tc))
            }
            (KeyedKernel::Group(kernel), Some(slicing)) if self.fires_once_at_end() => {
                kernel.sliced_grouping(tc, slicing)
            }
            _ => None,
        };
        let work = match (self.kernel, folded) {
            (_, Some(grouping)) => BoundedWork::Fold(grouping),
            (KeyedKernel::Group(kernel), None) => BoundedWork::Gabw(Box::new(self.gabw(kernel))),
            (KeyedKernel::Stateful(kernel), None) => BoundedWork::Stateful {
                kernel: kernel.clone(),
                strategy: self.strategy.clone(),
                batches: Vec::new(),
            },
        };
        BoundedShard {
            name: self.name.to_string(),
            work,
            count: ElementCount::default(),
        }
    }

    /// A [`GroupAlsoByWindow`] for this grouping, exploding sliced records into their windows.
    fn gabw(&self, kernel: &Arc<dyn GroupKernel>) -> GroupAlsoByWindow {
        GroupAlsoByWindow::new(kernel.clone(), self.strategy.clone()).with_slicing(self.slicing)
    }

    /// Whether every (key, window) of a bounded shard fires exactly one pane, at the end: the
    /// default trigger over windows that do not merge.
    fn fires_once_at_end(&self) -> bool {
        self.strategy.trigger == sluice_sdk::trigger::Trigger::Default
            && !self.strategy.window_fn.is_merging()
    }

    /// A streaming execution over `shards` shards, run on `pool` when there are several.
    pub fn sharded(
        &self,
        shards: usize,
        pool: Option<Arc<rayon::ThreadPool>>,
        side_inputs: &SideInputs,
    ) -> Result<KeyedShards, PipelineError> {
        let shards = (0..shards.max(1))
            .map(|_| self.shard(side_inputs))
            .collect::<Result<_, _>>()?;
        Ok(KeyedShards { shards, pool })
    }

    fn shard(&self, side_inputs: &SideInputs) -> Result<KeyedShard, PipelineError> {
        Ok(match self.kernel {
            KeyedKernel::Group(kernel) => KeyedShard::Group(self.gabw(kernel)),
            KeyedKernel::Stateful(kernel) => KeyedShard::Stateful(invoke(self.name, || {
                StatefulDoFnRunner::new(
                    kernel.clone(),
                    self.strategy.clone(),
                    side_inputs,
                    Timestamp::from_micros(0),
                )
            })?),
        })
    }
}

/// One shard of a keyed node's bounded input: fed its batches as they arrive, then finished
/// once its input has ended.
///
/// A grouping whose (key, window) pairs each fire once at the end (the default trigger,
/// windows that do not merge) folds its records in the kernel's typed
/// [`BoundedGrouping`](sluice_sdk::graph::kernel::BoundedGrouping) and hands out its results
/// as the table empties; any other grouping adds every batch to a [`GroupAlsoByWindow`]
/// (emitting what its trigger fires on the way), then advances the watermark to the end of
/// time so that every (key, window) fires its last pane. A stateful ParDo keeps the records
/// and, at the end, runs each key's records in timestamp order.
pub struct BoundedShard {
    name: String,
    work: BoundedWork,
    count: ElementCount,
}

enum BoundedWork {
    Fold(Box<dyn sluice_sdk::graph::kernel::BoundedGrouping>),
    Gabw(Box<GroupAlsoByWindow>),
    Stateful {
        kernel: Arc<dyn StatefulKernel>,
        strategy: WindowingStrategy,
        batches: Vec<Vec<KeyedRecord>>,
    },
}

impl BoundedShard {
    /// Adds a batch of records; what a trigger fires on the way goes to `emit`.
    pub fn add(
        &mut self,
        batch: Vec<KeyedRecord>,
        emit: &mut dyn FnMut(Bundle) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        let name = self.name.as_str();
        self.count.input += batch.len() as u64;
        match &mut self.work {
            BoundedWork::Fold(grouping) => invoke(name, || grouping.add(batch)),
            BoundedWork::Gabw(gabw) => {
                let panes = invoke(name, || gabw.process(batch))?;
                let count = &mut self.count;
                emit_panes(name, gabw, panes, &mut |b| {
                    count.output += b.len() as u64;
                    emit(b)
                })
            }
            BoundedWork::Stateful { batches, .. } => {
                batches.push(batch);
                Ok(())
            }
        }
    }

    /// Ends the input: what is left fires and goes to `emit`, and element counts, late drops
    /// and user metrics are recorded under the transform's name in `out`.
    pub fn finish(
        self,
        side_inputs: &SideInputs,
        out: &mut StageOutput,
        emit: &mut dyn FnMut(Bundle) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        let BoundedShard {
            name,
            work,
            mut count,
        } = self;
        let name = name.as_str();
        let mut metrics = MetricsContainer::default();
        let mut emit = |bundle: Bundle, count: &mut ElementCount| {
            count.output += bundle.len() as u64;
            emit(bundle)
        };
        let dropped = match work {
            BoundedWork::Fold(mut grouping) => {
                loop {
                    let bundle = invoke(name, || grouping.take_output(BUNDLE_SIZE))?;
                    if bundle.is_empty() {
                        break;
                    }
                    emit(bundle, &mut count)?;
                }
                0
            }
            BoundedWork::Gabw(mut gabw) => {
                let panes = invoke(name, || gabw.advance_watermark(Timestamp::MAX))?;
                emit_panes(name, &gabw, panes, &mut |b| emit(b, &mut count))?;
                gabw.dropped_due_to_lateness()
            }
            BoundedWork::Stateful {
                kernel,
                strategy,
                batches,
            } => {
                let mut records = Vec::with_capacity(batches.iter().map(Vec::len).sum());
                for batch in batches {
                    records.extend(batch);
                }
                let mut runner = invoke(name, || {
                    StatefulDoFnRunner::new(
                        kernel.clone(),
                        strategy.clone(),
                        side_inputs,
                        Timestamp::now(),
                    )
                })?;
                let output = invoke(name, || runner.run_bounded(records));
                metrics = runner.take_metrics();
                runner.teardown();
                for bundle in output?.chunks(BUNDLE_SIZE) {
                    emit(bundle, &mut count)?;
                }
                runner.dropped_due_to_lateness()
            }
        };
        metrics
            .counter(DROPPED_DUE_TO_LATENESS)
            .inc_by(dropped as i64);
        out.metrics.add(name, &metrics);
        out.elements.entry(name.to_string()).or_default().add(count);
        Ok(())
    }
}

/// Turns `panes` into output bundles of at most [`BUNDLE_SIZE`] elements for `emit`.
fn emit_panes(
    name: &str,
    gabw: &GroupAlsoByWindow,
    panes: Vec<PaneOutput>,
    emit: &mut dyn FnMut(Bundle) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let mut panes = panes.into_iter();
    loop {
        let chunk: Vec<PaneOutput> = panes.by_ref().take(BUNDLE_SIZE).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        emit(invoke(name, || gabw.build_output(chunk))?)?;
    }
}

/// One shard of a streaming keyed node.
pub enum KeyedShard {
    /// A grouping.
    Group(GroupAlsoByWindow),
    /// A stateful ParDo.
    Stateful(StatefulDoFnRunner),
}

impl KeyedShard {
    fn process(&mut self, records: Vec<KeyedRecord>) -> Result<Bundle, BoxError> {
        match self {
            KeyedShard::Group(g) => {
                let panes = g.process(records)?;
                g.build_output(panes)
            }
            KeyedShard::Stateful(s) => s.process(records),
        }
    }
    fn advance_watermark(&mut self, t: Timestamp) -> Result<Bundle, BoxError> {
        match self {
            KeyedShard::Group(g) => {
                let panes = g.advance_watermark(t)?;
                g.build_output(panes)
            }
            KeyedShard::Stateful(s) => s.advance_watermark(t),
        }
    }
    fn advance_processing_time(&mut self, t: Timestamp) -> Result<Bundle, BoxError> {
        match self {
            KeyedShard::Group(g) => {
                let panes = g.advance_processing_time(t)?;
                g.build_output(panes)
            }
            KeyedShard::Stateful(s) => s.advance_processing_time(t),
        }
    }
    fn size(&self) -> usize {
        match self {
            KeyedShard::Group(g) => g.window_count(),
            KeyedShard::Stateful(s) => s.slot_count(),
        }
    }
    fn set_arrival(&mut self, sequence: u64) {
        match self {
            KeyedShard::Group(g) => g.set_arrival(sequence),
            KeyedShard::Stateful(s) => s.set_arrival(sequence),
        }
    }
    fn oldest_unemitted(&self) -> Option<u64> {
        match self {
            KeyedShard::Group(g) => g.oldest_unemitted(),
            KeyedShard::Stateful(s) => s.oldest_unemitted(),
        }
    }
    fn hold(&self) -> Option<Timestamp> {
        match self {
            KeyedShard::Group(_) => None,
            KeyedShard::Stateful(s) => s.hold(),
        }
    }
    fn dropped_due_to_lateness(&self) -> u64 {
        match self {
            KeyedShard::Group(g) => g.dropped_due_to_lateness(),
            KeyedShard::Stateful(s) => s.dropped_due_to_lateness(),
        }
    }
    fn dropped_due_to_closed_window(&self) -> u64 {
        match self {
            KeyedShard::Group(g) => g.dropped_due_to_closed_window(),
            KeyedShard::Stateful(_) => 0,
        }
    }
}

/// A keyed node split by key over several shards that work in parallel: records go to the
/// shard of their key's hash, and advances go to every shard.
pub struct KeyedShards {
    pub(crate) shards: Vec<KeyedShard>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

/// Below this many records a batch is grouped on the calling thread: handing it out would
/// cost more than it saves.
const PARALLEL_BATCH: usize = 2048;

/// Below this many windows with state an advance is applied on the calling thread.
const PARALLEL_WINDOWS: usize = 20_000;

impl KeyedShards {
    /// Runs `f` on every shard with its input, in parallel when worth it; returns the
    /// non-empty outputs.
    fn each(
        &mut self,
        inputs: Vec<Vec<KeyedRecord>>,
        parallel: bool,
        f: impl Fn(&mut KeyedShard, Vec<KeyedRecord>) -> Result<Bundle, BoxError> + Sync,
    ) -> Result<Vec<Bundle>, BoxError> {
        let results: Vec<Result<Bundle, BoxError>> =
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
        let mut out = Vec::new();
        for r in results {
            let bundle = r?;
            if !bundle.is_empty() {
                out.push(bundle);
            }
        }
        Ok(out)
    }

    /// Adds a batch of records; returns what the shards emitted.
    pub fn process(&mut self, records: Vec<KeyedRecord>) -> Result<Vec<Bundle>, BoxError> {
        let n = self.shards.len();
        if n == 1 {
            let bundle = self.shards[0].process(records)?;
            return Ok(if bundle.is_empty() {
                vec![]
            } else {
                vec![bundle]
            });
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
                Ok(Bundle::empty::<()>())
            } else {
                g.process(r)
            }
        })
    }

    /// How many shards the node's keys are spread over.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// How many (key, window) pairs hold state, over all shards.
    pub fn size(&self) -> usize {
        self.shards.iter().map(KeyedShard::size).sum()
    }

    /// About how many bytes the shards' state takes, encoded (each shard sampled).
    pub fn estimated_state_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| match s {
                KeyedShard::Group(g) => g.estimated_state_bytes(),
                KeyedShard::Stateful(s) => s.estimated_state_bytes(),
            })
            .sum()
    }

    fn many_windows(&self) -> bool {
        self.size() >= PARALLEL_WINDOWS
    }

    /// Advances every shard's input watermark.
    pub fn advance_watermark(&mut self, watermark: Timestamp) -> Result<Vec<Bundle>, BoxError> {
        let inputs = (0..self.shards.len()).map(|_| Vec::new()).collect();
        let parallel = self.many_windows();
        self.each(inputs, parallel, |g, _| g.advance_watermark(watermark))
    }

    /// Advances every shard's processing time.
    pub fn advance_processing_time(&mut self, now: Timestamp) -> Result<Vec<Bundle>, BoxError> {
        let inputs = (0..self.shards.len()).map(|_| Vec::new()).collect();
        let parallel = self.many_windows();
        self.each(inputs, parallel, |g, _| g.advance_processing_time(now))
    }

    /// Sets the arrival sequence number of the records processed from now on, in every shard.
    pub fn set_arrival(&mut self, sequence: u64) {
        for g in &mut self.shards {
            g.set_arrival(sequence);
        }
    }

    /// The smallest arrival sequence number of a record whose effect has not reached the
    /// output yet, over all shards.
    pub fn oldest_unemitted(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(KeyedShard::oldest_unemitted)
            .min()
    }

    /// How far the shards hold the output watermark (pending timers' output timestamps).
    pub fn hold(&self) -> Option<Timestamp> {
        self.shards.iter().filter_map(KeyedShard::hold).min()
    }

    /// Records dropped because their window had expired, over all shards.
    pub fn dropped_due_to_lateness(&self) -> u64 {
        self.shards
            .iter()
            .map(KeyedShard::dropped_due_to_lateness)
            .sum()
    }

    /// Records dropped because their window was closed, over all shards.
    pub fn dropped_due_to_closed_window(&self) -> u64 {
        self.shards
            .iter()
            .map(KeyedShard::dropped_due_to_closed_window)
            .sum()
    }

    /// Records dropped so far, over all shards, by reason.
    pub fn drops(&self) -> crate::observe::Drops {
        crate::observe::Drops {
            late: self.dropped_due_to_lateness(),
            closed_window: self.dropped_due_to_closed_window(),
        }
    }

    /// Takes the user metrics the shards reported, merged.
    pub fn take_metrics(&mut self) -> MetricsContainer {
        let mut m = MetricsContainer::default();
        for s in &mut self.shards {
            if let KeyedShard::Stateful(s) = s {
                m.merge(&s.take_metrics());
            }
        }
        m
    }

    /// Tears down the user code of every shard.
    pub fn teardown(&mut self) {
        for s in &mut self.shards {
            if let KeyedShard::Stateful(s) = s {
                s.teardown();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gabw::tests::{gbk_parts, record, w};
    use sluice_sdk::prelude::*;
    use sluice_sdk::time::Duration;

    /// The contents of output bundles of a `KV<String, i64>` grouping, in a fixed order.
    pub(crate) fn describe(bundles: Vec<Bundle>) -> Vec<(String, Window, Vec<i64>, PaneInfo)> {
        let mut out: Vec<_> = bundles
            .into_iter()
            .flat_map(|b| b.downcast::<KV<String, Vec<i64>>>().ok().unwrap())
            .map(|wv| {
                let mut v = wv.value.value;
                v.sort();
                (wv.value.key, wv.window, v, wv.pane)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    #[test]
    fn shards_group_like_one_grouping() {
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
        let (kernel, strategy) =
            gbk_parts(FixedWindows::of(Duration::from_secs(10)), Duration::ZERO);
        let mut single = GroupAlsoByWindow::new(kernel.clone(), strategy.clone());
        single.process(records().collect()).unwrap();
        let panes = single.advance_watermark(Timestamp::MAX).unwrap();
        let expected = describe(vec![single.build_output(panes).unwrap()]);
        let pool = std::sync::Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap(),
        );
        let node = KeyedNode {
            name: "Group",
            kernel: KeyedKernel::Group(&kernel),
            strategy: &strategy,
            slicing: None,
        };
        let mut sharded = node.sharded(3, Some(pool), &SideInputs::default()).unwrap();
        assert!(sharded.process(records().collect()).unwrap().is_empty());
        assert_eq!(
            describe(sharded.advance_watermark(Timestamp::MAX).unwrap()),
            expected
        );
        assert_eq!(expected.len(), 37 * 5);
    }
}
