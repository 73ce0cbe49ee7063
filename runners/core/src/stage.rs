//! Executing one instance of a fused stage over a stream of bundles.
//!
//! A [`StageInstance`] holds the operator instances of a stage (set up once), the
//! pre-combiners of the Combines lifted into it, and what leaves the stage. Input arrives in
//! batches that flow depth-first through the fused operators by direct calls. A bundle in
//! Beam's sense is one or more batches: every operator gets `start_bundle` before its first
//! batch and `finish_bundle` after its last (in topological order, so that what a
//! `finish_bundle` emits still reaches the operators after it). Batch execution makes a bundle
//! of up to [`MAX_BATCHES_PER_BUNDLE`] batches of the work a worker takes; streaming execution
//! makes each batch a bundle. A runner makes one instance per worker and stage; the direct runner
//! one, the rayon runner one per partition.

use super::fan_out::fan_out;
use super::invoke::invoke;
use super::plan::{ExecutionPlan, Sink};
use rustc_hash::FxHashMap;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{KeyedRecord, Operator, PreCombiner, SideInputs};
use sluice_sdk::graph::{Bundle, CollectionId, NodeId, NodeKind};
use sluice_sdk::metrics::MetricResults;
use sluice_sdk::result::ElementCount;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A fused operator's name, holding the plan it is borrowed from.
struct OpName(Arc<ExecutionPlan>, NodeId);

impl std::ops::Deref for OpName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.graph.node(self.1).name
    }
}

/// What one stage instance produced for the stages after it.
#[derive(Default)]
pub struct StageOutput {
    /// Bundles of PCollections read by later stages.
    pub stored: HashMap<CollectionId, Vec<Bundle>>,
    /// Keyed records for later keyed stages, by keyed node, in batches as they were made
    /// (never copied into one): encoded input, or pre-combined accumulators of lifted Combines.
    pub records: HashMap<NodeId, Vec<Vec<KeyedRecord>>>,
    /// Metrics reported by the operators.
    pub metrics: MetricResults,
    /// Elements in and out per operator.
    pub elements: BTreeMap<String, ElementCount>,
}

impl StageOutput {
    /// Adds another instance's output to this one.
    pub fn merge(&mut self, other: StageOutput) {
        for (c, mut b) in other.stored {
            self.stored.entry(c).or_default().append(&mut b);
        }
        for (n, r) in other.records {
            self.records.entry(n).or_default().extend(r);
        }
        self.metrics.merge(&other.metrics);
        for (name, count) in other.elements {
            self.elements.entry(name).or_default().add(count);
        }
    }
}

/// One running instance of a stage.
pub struct StageInstance {
    plan: Arc<ExecutionPlan>,
    /// The stage's position in the plan.
    stage: usize,
    ops: Vec<Box<dyn Operator>>,
    /// Per operator, the most input elements one call is given (see [`MAX_OUTPUTS_PER_CALL`]).
    chunk_len: Vec<usize>,
    counts: Vec<ElementCount>,
    pre_combiners: FxHashMap<NodeId, Box<dyn PreCombiner>>,
    output: StageOutput,
    /// Batches run in the open bundle (0: no bundle is open).
    open_batches: usize,
    /// Counts its batches for the run's observer (when someone watches).
    tally: Option<Box<dyn crate::observe::BatchCounter>>,
}

/// The side inputs among `all` that `node` reads.
fn own_side_inputs(node: &sluice_sdk::graph::Node, all: &SideInputs) -> SideInputs {
    SideInputs(
        node.side_inputs
            .iter()
            .filter_map(|v| all.0.get(v).map(|d| (*v, d.clone())))
            .collect(),
    )
}

/// About the most outputs one call of an operator that multiplies its input (WindowInto with
/// sliding windows) yields: its input is cut into chunks of `MAX_OUTPUTS_PER_CALL / factor`
/// elements, so that memory follows a chunk, not a bundle times the windows per element.
pub const MAX_OUTPUTS_PER_CALL: u64 = 1 << 16;

/// The most batches a bundle holds in batch execution (of [`BUNDLE_SIZE`](super::BUNDLE_SIZE)
/// elements each).
pub const MAX_BATCHES_PER_BUNDLE: usize = 4096;

/// At most how many keyed records a pre-combiner hands on in one batch: a shuffle moves, and
/// frees, its input a batch at a time.
const FLUSH_BATCH: usize = 16 * 1024;

impl StageInstance {
    /// Creates (and sets up) the operators of stage `stage` with the side inputs they read.
    pub fn new(
        plan: &Arc<ExecutionPlan>,
        stage: usize,
        side_inputs: &SideInputs,
    ) -> Result<Self, PipelineError> {
        let stage_index = stage;
        let stage = &plan.stages[stage];
        let graph = &plan.graph;
        let mut ops = Vec::with_capacity(stage.ops.len());
        let mut chunk_len = Vec::with_capacity(stage.ops.len());
        for &n in &stage.ops {
            let node = graph.node(n);
            let NodeKind::ParDo(factory) = &node.kind else {
                unreachable!("fused operators are ParDos")
            };
            let own = own_side_inputs(node, side_inputs);
            ops.push(invoke(&node.name, || factory.create(&own))?);
            let per_call = MAX_OUTPUTS_PER_CALL / factory.max_outputs_per_input().max(1);
            chunk_len.push(usize::try_from(per_call.max(1)).unwrap_or(usize::MAX));
        }
        let mut pre_combiners = FxHashMap::default();
        for sink in stage.routes.values().flatten() {
            if let Sink::PreCombine(n) = sink {
                let NodeKind::GroupByKey(kernel) = &graph.node(*n).kind else {
                    unreachable!("pre-combine sinks are groupings")
                };
                if let Some(pc) = kernel.pre_combiner() {
                    pre_combiners.insert(*n, pc);
                }
            }
        }
        let counts = vec![ElementCount::default(); ops.len()];
        Ok(StageInstance {
            plan: Arc::clone(plan),
            stage: stage_index,
            ops,
            chunk_len,
            counts,
            pre_combiners,
            output: StageOutput::default(),
            open_batches: 0,
            tally: plan.observer.batch_counter(),
        })
    }

    /// Hands the operators that read side inputs their current contents (streaming execution
    /// updates views as they receive data).
    pub fn update_side_inputs(&mut self, side_inputs: &SideInputs) {
        let stage = &self.plan.stages[self.stage];
        for (i, &n) in stage.ops.iter().enumerate() {
            let node = self.plan.graph.node(n);
            if !node.side_inputs.is_empty() {
                self.ops[i].update_side_inputs(&own_side_inputs(node, side_inputs));
            }
        }
    }

    /// Tells every operator that the run commits their writes on checkpoints (see
    /// [`sluice_sdk::commit`]); `writer` is this instance's place among the stage's instances
    /// (see [`DoFn::commit_on_checkpoints`](sluice_sdk::dofn::DoFn::commit_on_checkpoints)).
    pub fn commit_on_checkpoints(&mut self, writer: u32) -> Result<(), PipelineError> {
        for i in 0..self.ops.len() {
            let name = self.op_name(i).to_string();
            invoke(&name, || self.ops[i].commit_on_checkpoints(writer))?;
        }
        Ok(())
    }

    /// At checkpoint `id`, between bundles: each operator's description of the writes it
    /// closed, by the operator's position in the stage (operators with nothing to commit are
    /// left out).
    pub fn prepare_commit(
        &mut self,
        id: sluice_sdk::commit::CheckpointId,
    ) -> Result<Vec<(usize, Vec<u8>)>, PipelineError> {
        let mut prepared = Vec::new();
        for i in 0..self.ops.len() {
            let name = self.op_name(i).to_string();
            if let Some(p) = invoke(&name, || self.ops[i].prepare_commit(id))? {
                prepared.push((i, p));
            }
        }
        Ok(prepared)
    }

    /// The oldest of the checkpoints the operators say they committed last (see
    /// [`DoFn::committed_checkpoint`](sluice_sdk::dofn::DoFn::committed_checkpoint)), with
    /// the operator's transform; `None` when none can tell.
    pub fn committed_checkpoint(
        &mut self,
    ) -> Result<Option<(sluice_sdk::commit::CheckpointId, String)>, PipelineError> {
        let mut oldest: Option<(sluice_sdk::commit::CheckpointId, String)> = None;
        for i in 0..self.ops.len() {
            let name = self.op_name(i).to_string();
            if let Some(id) = invoke(&name, || self.ops[i].committed_checkpoint())?
                && oldest.as_ref().is_none_or(|(o, _)| id < *o)
            {
                oldest = Some((id, name));
            }
        }
        Ok(oldest)
    }

    /// Whether operator `op` may commit the same writes twice (see
    /// [`DoFn::commits_repeatable`](sluice_sdk::dofn::DoFn::commits_repeatable)).
    pub fn commits_repeatable(&self, op: usize) -> bool {
        self.ops[op].commits_repeatable()
    }

    /// The transform of the first operator whose commits cannot be repeated, if any.
    pub fn unrepeatable_committer(&self) -> Option<String> {
        (0..self.ops.len())
            .find(|op| !self.ops[*op].commits_repeatable())
            .map(|op| self.op_name(op).to_string())
    }

    /// Makes visible the writes operator `op` prepared (its checkpoint is complete).
    pub fn commit(&mut self, op: usize, prepared: &[u8]) -> Result<(), PipelineError> {
        let name = self.op_name(op).to_string();
        invoke(&name, || self.ops[op].commit(prepared))
    }

    /// At the start of a restored run: every operator recovers, with what the restored
    /// checkpoint holds for it (`prepared`, by operator position).
    pub fn recover(
        &mut self,
        prepared: &std::collections::BTreeMap<usize, Vec<Vec<u8>>>,
    ) -> Result<(), PipelineError> {
        for i in 0..self.ops.len() {
            let name = self.op_name(i).to_string();
            let mine = prepared.get(&i).map_or(&[][..], Vec::as_slice);
            invoke(&name, || self.ops[i].recover(mine))?;
        }
        Ok(())
    }

    /// Runs one batch of the stage's root PCollection through the stage as a bundle of its own:
    /// `start_bundle`, the batch, `finish_bundle`. Streaming execution does this, so that what
    /// a batch leads to is written (sinks flush at `finish_bundle`) before the next one.
    pub fn process_bundle(&mut self, bundle: Bundle) -> Result<(), PipelineError> {
        self.push(bundle)?;
        self.close_bundle()
    }

    /// Runs one batch through the stage inside the open bundle, starting a bundle if none is
    /// open and finishing it after [`MAX_BATCHES_PER_BUNDLE`] batches. Batch execution pushes
    /// the batches of its work items and then [closes](Self::close_bundle) the bundle: a DoFn's
    /// per-bundle cost (a sink's flush) is paid per many elements, not per batch.
    pub fn push(&mut self, batch: Bundle) -> Result<(), PipelineError> {
        if self.open_batches == 0 {
            for i in 0..self.ops.len() {
                let name = self.op_name(i);
                let op = &mut self.ops[i];
                let outs = invoke(&name, || op.start_bundle())?;
                self.route_outputs(i, outs)?;
            }
        }
        self.open_batches += 1;
        let stage = &self.plan.stages[self.stage];
        let root_output = stage.root_output;
        // A materialized root's PCollection was counted by the stage that made it.
        if let Some(tally) = &mut self.tally
            && !matches!(stage.root, super::StageRoot::Materialized(_))
        {
            tally.count(root_output, &batch);
        }
        self.route(root_output, batch)?;
        if self.open_batches >= MAX_BATCHES_PER_BUNDLE {
            self.close_bundle()?;
        }
        Ok(())
    }

    /// Finishes the open bundle, if any: `finish_bundle` on every operator, in order.
    pub fn close_bundle(&mut self) -> Result<(), PipelineError> {
        if self.open_batches == 0 {
            return Ok(());
        }
        self.open_batches = 0;
        for i in 0..self.ops.len() {
            let name = self.op_name(i);
            let op = &mut self.ops[i];
            let outs = invoke(&name, || op.finish_bundle())?;
            self.route_outputs(i, outs)?;
        }
        // The DoFns' metrics are handed on at the end of every bundle: what a bundle reported
        // must show even when no other bundle follows for a while.
        self.report_metrics();
        Ok(())
    }

    /// Hands the metrics its DoFns reported since the last time to the run's observer (kept
    /// for the stage's output as well).
    fn report_metrics(&mut self) {
        if !self.plan.observer.is_on() {
            return;
        }
        let mut reported = MetricResults::default();
        for i in 0..self.ops.len() {
            let metrics = self.ops[i].take_metrics();
            if !metrics.is_empty() {
                reported.add(&self.op_name(i), &metrics);
            }
        }
        self.output.metrics.merge(&reported);
        self.plan.observer.user_metrics(&reported);
    }

    /// Flushes the pre-combiners (when the stage succeeded), tears the operators down and
    /// returns what the stage produced.
    pub fn finish(mut self, succeeded: bool) -> Result<StageOutput, PipelineError> {
        let flushed = if succeeded {
            self.flush_pre_combiners()
        } else {
            Ok(())
        };
        self.report_metrics();
        for i in 0..self.ops.len() {
            let name = self.op_name(i).to_string();
            let op = &mut self.ops[i];
            let metrics = op.take_metrics();
            // A failing teardown must not hide the stage's own outcome.
            let _ = invoke(&name, || {
                op.teardown();
                Ok(())
            });
            self.output.metrics.add(&name, &metrics);
            self.output
                .elements
                .entry(name)
                .or_default()
                .add(self.counts[i]);
        }
        flushed.map(|()| self.output)
    }

    /// Hands on the partial accumulators of the lifted Combines gathered so far, as keyed
    /// records (see [`take_records`](Self::take_records)); [`finish`](Self::finish) does it
    /// at the end, a runner that streams records between stages whenever it likes.
    pub fn flush_pre_combiners(&mut self) -> Result<(), PipelineError> {
        for (node, pc) in self.pre_combiners.iter_mut() {
            let out = self.output.records.entry(*node).or_default();
            let name = &self.plan.graph.node(*node).name;
            invoke(name, || pc.flush(FLUSH_BATCH, out))?;
        }
        Ok(())
    }

    /// Takes the keyed records made for later keyed stages so far, by keyed node.
    pub fn take_records(&mut self) -> HashMap<NodeId, Vec<Vec<KeyedRecord>>> {
        std::mem::take(&mut self.output.records)
    }

    /// Takes the bundles that left the stage for later stages so far (streaming execution
    /// forwards them at once instead of keeping them until the stage ends).
    pub fn take_stored(&mut self) -> std::collections::HashMap<CollectionId, Vec<Bundle>> {
        std::mem::take(&mut self.output.stored)
    }

    /// Runs operator `op` on `input` and routes what it yields.
    fn process(&mut self, op: usize, input: Bundle) -> Result<(), PipelineError> {
        let name = self.op_name(op);
        let operator = &mut self.ops[op];
        let outs = invoke(&name, || operator.process(input))?;
        self.route_outputs(op, outs)
    }

    /// The name of fused operator `i` (with the plan it borrows from, so that `self` stays
    /// free to borrow mutably).
    fn op_name(&self, i: usize) -> OpName {
        OpName(Arc::clone(&self.plan), self.plan.stages[self.stage].ops[i])
    }

    fn route_outputs(&mut self, op: usize, outputs: Vec<Bundle>) -> Result<(), PipelineError> {
        let plan = Arc::clone(&self.plan);
        let node = plan.graph.node(plan.stages[self.stage].ops[op]);
        for (port, bundle) in outputs.into_iter().enumerate() {
            self.counts[op].output += bundle.len() as u64;
            if let Some(&collection) = node.outputs.get(port) {
                if let Some(tally) = &mut self.tally {
                    tally.count(collection, &bundle);
                }
                self.route(collection, bundle)?;
            }
        }
        Ok(())
    }

    fn route(&mut self, collection: CollectionId, bundle: Bundle) -> Result<(), PipelineError> {
        if bundle.is_empty() {
            return Ok(());
        }
        let plan = Arc::clone(&self.plan);
        let stage = &plan.stages[self.stage];
        let Some(sinks) = stage.routes.get(&collection).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        for (sink, b) in sinks.iter().zip(fan_out(bundle, sinks.len())) {
            match *sink {
                Sink::Op(idx) => {
                    self.counts[idx].input += b.len() as u64;
                    if b.len() > self.chunk_len[idx] {
                        for chunk in b.chunks(self.chunk_len[idx]) {
                            self.process(idx, chunk)?;
                        }
                    } else {
                        self.process(idx, b)?;
                    }
                }
                Sink::Store(c) => self.output.stored.entry(c).or_default().push(b),
                Sink::PreCombine(node) => {
                    if let Some(pc) = self.pre_combiners.get_mut(&node) {
                        invoke(&self.plan.graph.node(node).name, || pc.add_bundle(b))?;
                    }
                }
                Sink::Encode(node) => {
                    let grouping = super::KeyedNode::of(&self.plan.graph, node);
                    let records = grouping.records(b)?;
                    self.output.records.entry(node).or_default().push(records);
                }
            }
        }
        Ok(())
    }
}
