//! One stage of the plan as a timely operator: its root's input, its fused operators, and the
//! streams it feeds.
//!
//! A stage's operator receives what its root reads — a source's splits, the keyed records of
//! a grouping (exchanged by key), the bundles of a Flatten, a Reshuffle or a side-input ParDo,
//! and the side inputs it reads (broadcast) — and runs it through one [`StageInstance`] of the
//! stage, a worker's share of the stage. What leaves the stage goes out on the operator's
//! outputs: one stream of bundles per PCollection that later stages read, one stream of keyed
//! records per keyed node the stage feeds.
//!
//! The operator holds a capability on each output for as long as it may still emit. In a
//! bounded run every batch is stamped with the least time, so an operator's input frontier
//! stays there until every upstream operator is done, and then empties: the end of the input.
//! That is when a grouping fires (the watermark has reached the end of time), pre-combiners
//! flush, and the operator finishes its bundle, tears its DoFns down and drops its
//! capabilities, which ends the input of the operators after it.

use super::containers::{Bundles, KeyedBatch, ViewBlob};
use super::outcome::WorkerOutcome;
use super::time::Time;
use crate::core::invoke::{invoke, source_error};
use crate::core::{
    BUNDLE_SIZE, BoundedShard, ExecutionPlan, GroupingNode, StageInstance, StageOutput, StageRoot,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{BundleReader, SideInputs, SourceKernel};
use sluice_sdk::graph::{Bundle, CollectionId, NodeId, NodeKind};
use sluice_sdk::result::ElementCount;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::Capability;

/// Source splits per worker: more than one, so that the work evens out.
pub const SPLITS_PER_WORKER: usize = 4;

/// About how long a source reads in one activation before it lets the operators after it run.
const READ_SLICE: std::time::Duration = std::time::Duration::from_millis(5);

/// What the operators of one worker share.
pub struct Context {
    /// The plan every worker runs.
    pub plan: Arc<ExecutionPlan>,
    /// What the worker reports at the end.
    pub log: Rc<RefCell<WorkerOutcome>>,
    /// Set by the first failure in this process: every operator then stops working and lets
    /// the dataflow end.
    pub failed: Arc<AtomicBool>,
    /// This worker's index in the cluster.
    pub index: usize,
    /// How many workers the cluster has.
    pub peers: usize,
}

impl Context {
    /// Records a failure: the first error of the worker is the one reported.
    pub fn fail(&self, error: PipelineError) {
        self.failed.store(true, Ordering::SeqCst);
        let mut log = self.log.borrow_mut();
        if log.error.is_none() {
            log.error = Some(error);
        }
    }

    /// Adds what a stage instance or keyed shard measured to the worker's report.
    pub fn record(&self, output: StageOutput) {
        let mut log = self.log.borrow_mut();
        log.metrics.merge(&output.metrics);
        for (name, count) in output.elements {
            log.elements.entry(name).or_default().add(count);
        }
    }
}

/// The outputs of a stage's operator, in the order they were made (capabilities match it).
#[derive(Default)]
pub struct Outputs {
    /// One per PCollection later stages read.
    pub stored: Vec<(CollectionId, Output<Time, Bundles>)>,
    /// One per keyed node the stage feeds.
    pub keyed: Vec<(NodeId, Output<Time, KeyedBatch>)>,
}

/// What an activation received on the operator's inputs.
#[derive(Default)]
pub struct Received {
    /// Bundles of the root's input.
    pub bundles: Vec<Bundle>,
    /// Keyed records of a grouping or stateful ParDo.
    pub keyed: Vec<KeyedBatch>,
    /// Side-input contents, by the position of the view among the stage's side inputs.
    pub views: Vec<(usize, Vec<ViewBlob>)>,
}

/// The work of a stage's root.
enum RootWork {
    /// A source: the splits this worker reads.
    Source {
        name: String,
        splits: VecDeque<Arc<dyn SourceKernel>>,
        reader: Option<Box<dyn BundleReader>>,
        read: u64,
    },
    /// A keyed node: this worker's shard of its keys.
    Keyed(Option<Box<BoundedShard>>),
    /// Bundles from other stages (Flatten, Reshuffle: counted under the node's name).
    Bundles {
        counted_as: Option<String>,
        seen: u64,
    },
}

/// The side inputs a stage reads, gathered until complete.
struct SideState {
    /// The View nodes, in input order, with the contents received so far.
    views: Vec<(NodeId, Vec<Bundle>)>,
    /// Once every view is complete: the materialized side inputs.
    ready: Option<SideInputs>,
}

/// The logic of one stage's operator on one worker.
pub struct StageLogic {
    ctx: Rc<Context>,
    stage: usize,
    instance: Option<StageInstance>,
    work: RootWork,
    side: SideState,
    /// Main input that arrived before the side inputs were complete.
    waiting: Vec<Bundle>,
    outputs: Outputs,
    caps: Vec<Capability<Time>>,
    done: bool,
}

/// The View nodes a stage reads as side inputs: those of its side-input ParDo, or of its
/// stateful ParDo.
pub fn stage_views(plan: &ExecutionPlan, stage: usize) -> Vec<NodeId> {
    let stage = &plan.stages[stage];
    let node = match stage.root {
        StageRoot::Materialized(_) => stage.ops[0],
        StageRoot::Group { node, .. } => node,
        _ => return Vec::new(),
    };
    plan.graph.node(node).side_inputs.clone()
}

/// The PCollections whose bundles a stage's root reads (a Flatten reads an input as often as
/// it is listed).
pub fn bundle_inputs(plan: &ExecutionPlan, stage: usize) -> Vec<CollectionId> {
    match plan.stages[stage].root {
        StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => plan.graph.node(n).inputs.clone(),
        StageRoot::Materialized(c) => vec![c],
        StageRoot::Read(_) | StageRoot::Group { .. } => Vec::new(),
    }
}

impl StageLogic {
    /// The logic of stage `stage` on this worker, feeding `outputs`.
    pub fn new(ctx: Rc<Context>, stage: usize, outputs: Outputs) -> Self {
        let plan = Arc::clone(&ctx.plan);
        let root = plan.stages[stage].root;
        let views: Vec<(NodeId, Vec<Bundle>)> = stage_views(&plan, stage)
            .into_iter()
            .map(|v| (v, Vec::new()))
            .collect();
        let mut logic = StageLogic {
            ctx,
            stage,
            instance: None,
            work: RootWork::Bundles {
                counted_as: None,
                seen: 0,
            },
            side: SideState {
                ready: views.is_empty().then(SideInputs::default),
                views,
            },
            waiting: Vec::new(),
            outputs,
            caps: Vec::new(),
            done: false,
        };
        let work = match root {
            StageRoot::Read(n) => logic
                .source_splits(n)
                .map(|(name, splits)| RootWork::Source {
                    name,
                    splits,
                    reader: None,
                    read: 0,
                }),
            StageRoot::Group { node, .. } => Ok(RootWork::Keyed(Some(Box::new(
                GroupingNode::of(&plan.graph, node).bounded_shard(),
            )))),
            StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => Ok(RootWork::Bundles {
                counted_as: Some(plan.graph.node(n).name.clone()),
                seen: 0,
            }),
            StageRoot::Materialized(_) => Ok(RootWork::Bundles {
                counted_as: None,
                seen: 0,
            }),
        };
        match work {
            Ok(w) => logic.work = w,
            Err(e) => logic.fail(e),
        }
        if !logic.done && !matches!(root, StageRoot::Materialized(_)) {
            logic.start_instance(&SideInputs::default());
        }
        logic
    }

    /// The splits of source node `n` that this worker reads: every worker splits the source
    /// the same way and takes every `peers`-th split.
    fn source_splits(
        &self,
        n: NodeId,
    ) -> Result<(String, VecDeque<Arc<dyn SourceKernel>>), PipelineError> {
        let node = self.ctx.plan.graph.node(n);
        let NodeKind::Read(source) = &node.kind else {
            return Err(PipelineError::Unsupported {
                runner: "timely".into(),
                reason: format!(
                    "source '{}' is not a bounded source; the timely runner reads bounded sources",
                    node.name
                ),
            });
        };
        let peers = self.ctx.peers;
        let splits = source
            .split(peers * SPLITS_PER_WORKER, peers)
            .map_err(|e| source_error(&node.name, e))?;
        let mine = splits
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % peers == self.ctx.index)
            .map(|(_, s)| s)
            .collect();
        Ok((node.name.clone(), mine))
    }

    fn start_instance(&mut self, side_inputs: &SideInputs) {
        match StageInstance::new(&self.ctx.plan, self.stage, side_inputs) {
            Ok(i) => self.instance = Some(i),
            Err(e) => self.fail(e),
        }
    }

    /// Takes the operator's initial capabilities, one per output.
    pub fn start(&mut self, caps: Vec<Capability<Time>>) {
        if !self.done {
            self.caps = caps;
        }
    }

    /// Stops the stage after an error: tears its DoFns down and drops its capabilities.
    fn fail(&mut self, error: PipelineError) {
        self.ctx.fail(error);
        self.stop();
    }

    /// Stops without finishing (this worker or another one failed).
    fn stop(&mut self) {
        if let Some(instance) = self.instance.take() {
            let _ = instance.finish(false);
        }
        self.caps.clear();
        self.done = true;
    }

    /// Handles one activation: what arrived, and whether the main input and the side inputs
    /// have ended. Returns whether the operator wants to run again soon (a source with more
    /// to read).
    pub fn step(&mut self, received: Received, input_ended: bool, side_ended: bool) -> bool {
        if self.done {
            return false;
        }
        if self.ctx.failed.load(Ordering::SeqCst) {
            self.stop();
            return false;
        }
        match self.work_on(received, input_ended, side_ended) {
            Ok(again) => again,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    fn work_on(
        &mut self,
        received: Received,
        input_ended: bool,
        side_ended: bool,
    ) -> Result<bool, PipelineError> {
        self.take_side_inputs(received.views, side_ended)?;
        let mut again = false;
        let plan = Arc::clone(&self.ctx.plan);
        match &mut self.work {
            RootWork::Source {
                name,
                splits,
                reader,
                read,
            } => {
                let instance = self.instance.as_mut().expect("sources start at once");
                again = read_some(name, splits, reader, read, instance)?;
            }
            RootWork::Keyed(shard) => {
                let instance = self.instance.as_mut().expect("keyed stages start at once");
                let shard = shard.as_mut().expect("a shard until the stage ends");
                for batch in received.keyed {
                    shard.add(batch.0, &mut |b| instance.push(b))?;
                }
            }
            RootWork::Bundles { seen, .. } => {
                *seen += received.bundles.iter().map(|b| b.len() as u64).sum::<u64>();
                match &mut self.instance {
                    Some(instance) => {
                        for b in self.waiting.drain(..).chain(received.bundles) {
                            instance.push(b)?;
                        }
                    }
                    None => self.waiting.extend(received.bundles),
                }
            }
        }
        self.emit();
        let source_done = !matches!(&self.work, RootWork::Source { .. }) || !again;
        if input_ended && source_done && self.side.ready.is_some() {
            self.finish(&plan)?;
        }
        Ok(again)
    }

    /// Adds side-input contents that arrived; once every view has ended, materializes them
    /// (and starts a side-input ParDo's stage with them).
    fn take_side_inputs(
        &mut self,
        blobs: Vec<(usize, Vec<ViewBlob>)>,
        ended: bool,
    ) -> Result<(), PipelineError> {
        let plan = Arc::clone(&self.ctx.plan);
        for (i, blobs) in blobs {
            let (view, bundles) = &mut self.side.views[i];
            let node = plan.graph.node(*view);
            let NodeKind::View(kernel) = &node.kind else {
                unreachable!("side inputs are View nodes")
            };
            for blob in blobs {
                bundles.push(invoke(&node.name, || kernel.decode_input(&blob.bytes))?);
            }
        }
        if self.side.ready.is_some() || !ended {
            return Ok(());
        }
        let mut side_inputs = SideInputs::default();
        for (view, bundles) in std::mem::take(&mut self.side.views) {
            let node = plan.graph.node(view);
            let NodeKind::View(kernel) = &node.kind else {
                unreachable!("side inputs are View nodes")
            };
            let data = invoke(&node.name, || kernel.materialize(bundles))?;
            side_inputs.0.insert(view, data);
        }
        if self.instance.is_none() {
            self.start_instance(&side_inputs);
        }
        self.side.ready = Some(side_inputs);
        Ok(())
    }

    /// Sends what left the stage so far on the operator's outputs.
    fn emit(&mut self) {
        let Some(instance) = &mut self.instance else {
            return;
        };
        let mut stored = instance.take_stored();
        let mut records = instance.take_records();
        let keyed_from = self.outputs.stored.len();
        for (i, (collection, output)) in self.outputs.stored.iter_mut().enumerate() {
            if let Some(bundles) = stored.remove(collection) {
                output.activate().give(&self.caps[i], &mut Bundles(bundles));
            }
        }
        for (j, (node, output)) in self.outputs.keyed.iter_mut().enumerate() {
            if let Some(batches) = records.remove(node) {
                let mut session = output.activate();
                for batch in batches {
                    session.give(&self.caps[keyed_from + j], &mut KeyedBatch(batch));
                }
            }
        }
    }

    /// The input has ended: fires what a keyed root holds, finishes the bundle, flushes the
    /// pre-combiners, sends the rest, tears the DoFns down and drops the capabilities.
    fn finish(&mut self, plan: &ExecutionPlan) -> Result<(), PipelineError> {
        let mut measured = StageOutput::default();
        let Some(mut instance) = self.instance.take() else {
            return Ok(());
        };
        match &mut self.work {
            RootWork::Keyed(shard) => {
                if let Some(shard) = shard.take() {
                    let side_inputs = self.side.ready.clone().unwrap_or_default();
                    shard.finish(&side_inputs, &mut measured, &mut |b| instance.push(b))?;
                }
            }
            RootWork::Source { name, read, .. } => {
                measured.elements.entry(name.clone()).or_default().output += *read;
            }
            RootWork::Bundles {
                counted_as: Some(name),
                seen,
            } => {
                measured.elements.insert(
                    name.clone(),
                    ElementCount {
                        input: *seen,
                        output: *seen,
                    },
                );
            }
            RootWork::Bundles { .. } => {}
        }
        let closed = instance
            .close_bundle()
            .and_then(|()| instance.flush_pre_combiners());
        self.instance = Some(instance);
        closed?;
        self.emit();
        let instance = self.instance.take().expect("put back above");
        let output = instance.finish(true)?;
        debug_assert!(output.stored.values().all(Vec::is_empty));
        debug_assert!(output.records.values().all(Vec::is_empty));
        self.ctx.record(output);
        self.ctx.record(measured);
        self.caps.clear();
        self.done = true;
        tracing::debug!(stage = self.stage, worker = self.ctx.index, root = ?plan.stages[self.stage].root, "stage done");
        Ok(())
    }
}

/// Reads from this worker's splits for about [`READ_SLICE`]; returns whether there is more.
fn read_some(
    name: &str,
    splits: &mut VecDeque<Arc<dyn SourceKernel>>,
    reader: &mut Option<Box<dyn BundleReader>>,
    read: &mut u64,
    instance: &mut StageInstance,
) -> Result<bool, PipelineError> {
    let started = std::time::Instant::now();
    let mut bundles = 0usize;
    loop {
        let current = match reader {
            Some(r) => r,
            None => match splits.pop_front() {
                Some(split) => reader.insert(split.reader().map_err(|e| source_error(name, e))?),
                None => return Ok(false),
            },
        };
        match current
            .next_bundle(BUNDLE_SIZE)
            .map_err(|e| source_error(name, e))?
        {
            Some(bundle) => {
                *read += bundle.len() as u64;
                instance.push(bundle)?;
                bundles += 1;
                if bundles % 64 == 0 && started.elapsed() >= READ_SLICE {
                    return Ok(true);
                }
            }
            None => *reader = None,
        }
    }
}
