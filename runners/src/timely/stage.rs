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
use super::context::{Context, InputState, Outputs, Received};
use super::keyed::StreamingKeyed;
use super::source::{BoundedRead, Replayed, TestStreamReplay};
use super::time::Time;
use super::unbounded::{EPOCH, UnboundedRead};
use crate::core::invoke::invoke;
use crate::core::readers::Notify;
use crate::core::{
    BoundedShard, ExecutionPlan, GroupingNode, StageInstance, StageOutput, StageRoot,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::SideInputs;
use sluice_sdk::graph::{Bundle, CollectionId, NodeId, NodeKind};
use sluice_sdk::result::ElementCount;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::operators::Capability;

/// The work of a stage's root.
enum RootWork {
    /// A worker's share of a bounded source.
    Read(BoundedRead),
    /// A worker's share of an unbounded source.
    Unbounded(Box<UnboundedRead>),
    /// A test stream's script.
    TestStream(TestStreamReplay),
    /// A keyed node in a bounded run: this worker's shard of its keys.
    Keyed(Option<Box<BoundedShard>>),
    /// A keyed node in a streaming run.
    Streaming(Box<StreamingKeyed>),
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
    /// Main input that arrived before the side inputs were complete, with its times.
    waiting: Vec<(Time, Bundle)>,
    outputs: Outputs,
    /// One capability per output, all at the same time: the least time the operator may
    /// still emit at.
    caps: Vec<Capability<Time>>,
    done: bool,
}

/// Counts `read` elements produced by source `name`.
fn source_read(measured: &mut StageOutput, name: &str, read: u64) {
    measured
        .elements
        .entry(name.to_string())
        .or_default()
        .output += read;
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
    pub fn new(ctx: Rc<Context>, stage: usize, outputs: Outputs, notify: Notify) -> Self {
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
        match logic.root_work(&plan, root, notify) {
            Ok(w) => logic.work = w,
            Err(e) => logic.fail(e),
        }
        if !logic.done && !matches!(root, StageRoot::Materialized(_)) {
            logic.start_instance(&SideInputs::default());
        }
        logic
    }

    fn root_work(
        &self,
        plan: &ExecutionPlan,
        root: StageRoot,
        notify: Notify,
    ) -> Result<RootWork, PipelineError> {
        let (index, peers) = (self.ctx.index, self.ctx.peers);
        Ok(match root {
            StageRoot::Read(n) => match &plan.graph.node(n).kind {
                NodeKind::Read(source) => {
                    RootWork::Read(BoundedRead::new(&plan.graph, n, source, index, peers)?)
                }
                NodeKind::TestStream(_) => {
                    RootWork::TestStream(TestStreamReplay::new(&plan.graph, n, index)?)
                }
                NodeKind::ReadUnbounded(source) => {
                    let runtime = self.ctx.runtime.as_ref().expect("unbounded runs have one");
                    RootWork::Unbounded(Box::new(UnboundedRead::start(
                        &plan.graph,
                        n,
                        self.stage,
                        source,
                        index,
                        peers,
                        runtime,
                        &self.ctx.cancel,
                        notify,
                    )?))
                }
                _ => unreachable!("Read roots are sources"),
            },
            StageRoot::Group { node, .. } => {
                let grouping = GroupingNode::of(&plan.graph, node);
                if self.ctx.streaming {
                    RootWork::Streaming(Box::new(StreamingKeyed::new(&grouping)?))
                } else {
                    RootWork::Keyed(Some(Box::new(grouping.bounded_shard())))
                }
            }
            StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => RootWork::Bundles {
                counted_as: Some(plan.graph.node(n).name.clone()),
                seen: 0,
            },
            StageRoot::Materialized(_) => RootWork::Bundles {
                counted_as: None,
                seen: 0,
            },
        })
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
        if let RootWork::Streaming(keyed) = &mut self.work {
            keyed.teardown();
        }
        self.caps.clear();
        self.done = true;
    }

    /// Handles one activation: what arrived, and where the inputs stand. Returns when the
    /// operator wants to run again, if it does (a source with more to read, a clock).
    pub fn step(&mut self, received: Received, input: &InputState) -> Option<Duration> {
        if self.done {
            return None;
        }
        if self.ctx.failure.happened() {
            self.stop();
            return None;
        }
        match self.work_on(received, input) {
            Ok(again) => again.filter(|_| !self.done),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn work_on(
        &mut self,
        received: Received,
        input: &InputState,
    ) -> Result<Option<Duration>, PipelineError> {
        self.take_side_inputs(received.views, input.side_ended)?;
        let mut again = None;
        let mut ended = input.ended && self.side.ready.is_some();
        match &mut self.work {
            RootWork::Read(read) => {
                let instance = self.instance.as_mut().expect("sources start at once");
                let more = read.read_some(instance)?;
                again = more.then_some(Duration::ZERO);
                ended = !more;
                self.emit(None)?;
            }
            RootWork::Unbounded(_) => {
                let (done, next) = self.read_unbounded()?;
                ended = done;
                again = Some(next);
            }
            RootWork::TestStream(_) => {
                self.replay()?;
                ended = true;
            }
            RootWork::Keyed(shard) => {
                let instance = self.instance.as_mut().expect("keyed stages start at once");
                let shard = shard.as_mut().expect("a shard until the stage ends");
                for (_, batch) in received.keyed {
                    shard.add(batch.0, &mut |b| instance.push(b))?;
                }
                self.emit(None)?;
            }
            RootWork::Streaming(node) => {
                let instance = self.instance.as_mut().expect("keyed stages start at once");
                node.take_in(instance, received.keyed, input, self.ctx.wall_clock)?;
                instance.close_bundle()?;
                self.emit(None)?;
                // Processing-time triggers and timers look at the clock every 100 ms.
                if self.ctx.wall_clock {
                    again = Some(Duration::from_millis(100));
                }
            }
            RootWork::Bundles { seen, .. } => {
                *seen += received
                    .bundles
                    .iter()
                    .map(|(_, b)| b.len() as u64)
                    .sum::<u64>();
                self.waiting.extend(received.bundles);
                if self.instance.is_some() {
                    self.run_waiting()?;
                }
            }
        }
        if ended {
            self.finish()?;
        } else if self.ctx.streaming {
            self.hold(input);
        }
        Ok(again)
    }

    /// Runs the bundles that wait (all of them once the side inputs are ready), a bundle per
    /// time, each sent on at its own time.
    fn run_waiting(&mut self) -> Result<(), PipelineError> {
        let mut waiting = std::mem::take(&mut self.waiting);
        if !self.ctx.streaming {
            let instance = self.instance.as_mut().expect("checked by the caller");
            for (_, b) in waiting {
                instance.push(b)?;
            }
            self.emit(None)?;
            return Ok(());
        }
        waiting.sort_by_key(|(t, _)| (t.outer, t.inner));
        let mut batches = waiting.into_iter().peekable();
        while let Some((time, first)) = batches.next() {
            let instance = self.instance.as_mut().expect("checked by the caller");
            instance.push(first)?;
            while let Some((_, b)) = batches.next_if(|(t, _)| *t == time) {
                instance.push(b)?;
            }
            instance.close_bundle()?;
            self.emit(Some(&time))?;
        }
        Ok(())
    }

    /// Takes in what an unbounded source's readers sent, sends it on, finalizes the
    /// checkpoints of complete epochs and moves the capabilities to the source's epoch and
    /// watermark. Returns whether the source has ended, and when to look again.
    fn read_unbounded(&mut self) -> Result<(bool, Duration), PipelineError> {
        let epoch = self.caps.first().map_or(0, |c| c.time().outer);
        let RootWork::Unbounded(read) = &mut self.work else {
            unreachable!("unbounded reads only")
        };
        let instance = self.instance.as_mut().expect("sources start at once");
        let more = read.poll(instance, epoch)?;
        self.emit(None)?;
        let RootWork::Unbounded(read) = &mut self.work else {
            unreachable!("unbounded reads only")
        };
        let complete = self
            .ctx
            .probe
            .with_frontier(|f| f.iter().map(|t| t.outer).min());
        read.finalize_before(complete)?;
        if read.ended() {
            return Ok((true, Duration::ZERO));
        }
        let now = super::time::time_at(read.epoch(), read.watermark());
        for cap in &mut self.caps {
            let time = super::time::join(cap.time(), &now);
            if time != *cap.time() {
                cap.downgrade(&time);
            }
        }
        Ok((false, if more { Duration::ZERO } else { EPOCH }))
    }

    /// Replays a test stream: elements go out at the watermark of the moment, and the
    /// operator's capabilities follow the watermark.
    fn replay(&mut self) -> Result<(), PipelineError> {
        loop {
            let RootWork::TestStream(replay) = &mut self.work else {
                unreachable!("only test streams replay")
            };
            let instance = self.instance.as_mut().expect("sources start at once");
            let replayed = replay.next(instance)?;
            let next = replay.time();
            match replayed {
                Replayed::Elements(time) => self.emit(Some(&time))?,
                Replayed::Watermark(_) => {}
                Replayed::End => return Ok(()),
            }
            for cap in &mut self.caps {
                cap.downgrade(&next);
            }
        }
    }

    /// Moves the capabilities to the least time the operator may still emit at: the least
    /// time that may still arrive, held back — for a keyed node — by the epoch of the oldest
    /// record not yet part of a pane and by its timers' output timestamps.
    fn hold(&mut self, input: &InputState) {
        let Some(least) = &input.least else {
            return;
        };
        let mut hold = *least;
        // Main input waiting for side inputs goes out at its own time later.
        for (t, _) in &self.waiting {
            hold = super::time::meet(&hold, t);
        }
        if let RootWork::Streaming(node) = &self.work {
            node.hold(&mut hold);
        }
        for cap in &mut self.caps {
            // Never back: a hold below the capability is already held by it.
            let time = super::time::join(cap.time(), &hold);
            if time != *cap.time() {
                cap.downgrade(&time);
            }
        }
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

    /// Sends what left the stage so far on the operator's outputs, at `time` (at the
    /// capabilities' own time when `None`). In a streaming run the pre-combiners of lifted
    /// Combines hand on what they gathered first: partial accumulators cross the exchange at
    /// the time of their input.
    fn emit(&mut self, time: Option<&Time>) -> Result<(), PipelineError> {
        let Some(instance) = &mut self.instance else {
            return Ok(());
        };
        if self.ctx.streaming {
            instance.flush_pre_combiners()?;
        }
        let mut stored = instance.take_stored();
        let mut records = instance.take_records();
        if stored.values().all(Vec::is_empty) && records.values().all(Vec::is_empty) {
            return Ok(());
        }
        // At `time` when the capability allows it (it always should: the operator holds its
        // capabilities at or before what it still has to send); at the capability's own time
        // otherwise, which is never wrong, only less precise.
        let cap = |caps: &[Capability<Time>], i: usize| match time {
            Some(t) if t != caps[i].time() => {
                caps[i].try_delayed(t).unwrap_or_else(|| caps[i].clone())
            }
            _ => caps[i].clone(),
        };
        let keyed_from = self.outputs.stored.len();
        for (i, (collection, output)) in self.outputs.stored.iter_mut().enumerate() {
            if let Some(bundles) = stored.remove(collection).filter(|b| !b.is_empty()) {
                output
                    .activate()
                    .give(&cap(&self.caps, i), &mut Bundles(bundles));
            }
        }
        for (j, (node, output)) in self.outputs.keyed.iter_mut().enumerate() {
            if let Some(batches) = records.remove(node).filter(|b| !b.is_empty()) {
                let cap = cap(&self.caps, keyed_from + j);
                let mut session = output.activate();
                for batch in batches {
                    session.give(&cap, &mut KeyedBatch(batch));
                }
            }
        }
        Ok(())
    }

    /// The input has ended: fires what a keyed root holds, finishes the bundle, flushes the
    /// pre-combiners, sends the rest, tears the DoFns down and drops the capabilities.
    fn finish(&mut self) -> Result<(), PipelineError> {
        let mut measured = StageOutput::default();
        if self.instance.is_none() {
            self.start_instance(&SideInputs::default());
        }
        let Some(mut instance) = self.instance.take() else {
            return Ok(());
        };
        let waiting = std::mem::take(&mut self.waiting);
        for (_, b) in waiting {
            instance.push(b)?;
        }
        match &mut self.work {
            RootWork::Keyed(shard) => {
                if let Some(shard) = shard.take() {
                    let side_inputs = self.side.ready.clone().unwrap_or_default();
                    shard.finish(&side_inputs, &mut measured, &mut |b| instance.push(b))?;
                }
            }
            RootWork::Streaming(node) => node.finish(&mut measured),
            RootWork::Read(read) => source_read(&mut measured, &read.name, read.read),
            RootWork::Unbounded(read) => {
                source_read(&mut measured, &read.name, read.read);
                self.ctx.leftover.borrow_mut().extend(read.take_pending());
            }
            RootWork::TestStream(replay) => source_read(&mut measured, &replay.name, replay.read),
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
        self.emit(None)?;
        let instance = self.instance.take().expect("put back above");
        let output = instance.finish(true)?;
        debug_assert!(output.stored.values().all(Vec::is_empty));
        debug_assert!(output.records.values().all(Vec::is_empty));
        self.ctx.record(output);
        self.ctx.record(measured);
        self.caps.clear();
        self.done = true;
        tracing::debug!(stage = self.stage, worker = self.ctx.index, "stage done");
        Ok(())
    }
}
