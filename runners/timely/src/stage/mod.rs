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
//!
//! How it takes in its input in a streaming run is in `stage/inputs.rs`; its part in exactly-once
//! output (`--exactly-once`) in `stage/commits.rs`.

mod commits;
mod inputs;

use commits::prepare_commits;

use super::containers::ViewBlob;
use super::context::{Context, InputState, Outputs, Received};
use super::keyed::StreamingKeyed;
use super::side_inputs::StageSideInputs;
use super::source::{BoundedRead, TestStreamReplay};
use super::time::Time;
use super::unbounded::UnboundedRead;
use sluice_runner_core::readers::Notify;
use sluice_runner_core::{
    BoundedShard, ExecutionPlan, KeyedNode, StageInstance, StageOutput, StageRoot,
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

/// The logic of one stage's operator on one worker.
pub struct StageLogic {
    ctx: Rc<Context>,
    stage: usize,
    instance: Option<StageInstance>,
    work: RootWork,
    side: StageSideInputs,
    /// Main input that arrived before the side inputs were complete, with its times.
    waiting: Vec<(Time, Bundle)>,
    outputs: Outputs,
    /// One capability per output, all at the same time: the least time the operator may
    /// still emit at.
    caps: Vec<Capability<Time>>,
    done: bool,
    /// With `--exactly-once`: the writes its sinks prepared, to commit once their checkpoint
    /// is pending — (checkpoint, operator, description).
    to_commit: Vec<(u64, usize, Vec<u8>)>,
    /// The newest checkpoint epoch this stage prepared its sinks' writes for.
    prepared: u64,
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
        let side = StageSideInputs::new(&plan, stage_views(&plan, stage), ctx.streaming);
        let (side, error) = match side {
            Ok(side) => (side, None),
            Err(e) => (
                StageSideInputs::new(&plan, Vec::new(), false).expect("no views"),
                Some(e),
            ),
        };
        let mut logic = StageLogic {
            ctx,
            stage,
            instance: None,
            work: RootWork::Bundles {
                counted_as: None,
                seen: 0,
            },
            side,
            waiting: Vec::new(),
            outputs,
            caps: Vec::new(),
            done: false,
            to_commit: Vec::new(),
            prepared: 0,
        };
        if let Some(c) = logic
            .ctx
            .checkpointing
            .as_ref()
            .filter(|c| c.shared.exactly_once)
        {
            c.shared.wake_on_pending(notify.clone());
        }
        match logic.root_work(&plan, root, notify) {
            Ok(w) => logic.work = w,
            Err(e) => logic.fail(e),
        }
        if let Some(e) = error {
            logic.fail(e);
        }
        // A side-input stage starts once it has side inputs to read: updating ones at once.
        if !logic.done && (!matches!(root, StageRoot::Materialized(_)) || logic.side.updating()) {
            let side_inputs = logic.side.ready().cloned().unwrap_or_default();
            logic.start_instance(&side_inputs);
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
                    let prefix = super::checkpoints::source_parts_prefix(self.stage);
                    let resumed = match &self.ctx.checkpointing {
                        Some(c) => UnboundedRead::resumed_from(
                            c.shared.restored_with_prefix(&prefix).map(|(_, b)| b),
                        )?,
                        None => Default::default(),
                    };
                    let mut read = Box::new(UnboundedRead::start(
                        &plan.graph,
                        n,
                        self.stage,
                        source,
                        index,
                        peers,
                        runtime,
                        &self.ctx.cancel,
                        notify,
                        resumed,
                    )?);
                    read.watermark_slot = plan
                        .observer
                        .gauge(n, sluice_runner_core::observe::Figure::Watermark);
                    RootWork::Unbounded(read)
                }
                _ => unreachable!("Read roots are sources"),
            },
            StageRoot::Group { node, .. } => {
                let grouping = KeyedNode::of(&plan.graph, node);
                if self.ctx.streaming {
                    let mut keyed = Box::new(StreamingKeyed::new(&grouping)?);
                    keyed.watch(&plan.observer, node);
                    let part = super::checkpoints::keyed_part(self.stage, index);
                    if let Some(bytes) = self
                        .ctx
                        .checkpointing
                        .as_ref()
                        .and_then(|c| c.shared.restored(&part))
                    {
                        keyed.restore(bytes)?;
                    }
                    RootWork::Streaming(keyed)
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
        match StageInstance::new(&self.ctx.plan, self.stage, side_inputs)
            .and_then(|i| self.commit_on_checkpoints(i))
        {
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
        self.commit_ready()?;
        let updating = self.side.updating();
        let mut again = None;
        let mut ended = input.ended && self.side.ready().is_some();
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
                let (outputs, caps, streaming, checkpoints) = (
                    &mut self.outputs,
                    &self.caps,
                    self.ctx.streaming,
                    self.ctx.checkpoints,
                );
                // What the records (or clock step) of an epoch caused goes out in that epoch:
                // an epoch's effects stay apart from a later one's (an updating view or a clock
                // step downstream sees them in that order). Not where epochs are
                // checkpoints: a pane may hold records of older epochs, and goes out at the
                // capability, the oldest epoch the node still holds, so that their
                // checkpoints wait for it.
                let mut sent = |instance: &mut StageInstance, time: &Time| {
                    instance.close_bundle()?;
                    let at = caps
                        .first()
                        .filter(|_| !checkpoints)
                        .map(|c| Time::new(time.outer.max(c.time().outer), c.time().inner));
                    outputs.send(instance, caps, streaming, at.as_ref())
                };
                let part = super::checkpoints::keyed_part(self.stage, self.ctx.index);
                let (ctx, stage, to_commit) = (&self.ctx, self.stage, &mut self.to_commit);
                let mut prepare = |instance: &mut StageInstance, epoch: u64| {
                    prepare_commits(ctx, stage, instance, epoch, to_commit)
                };
                let mut checkpoints =
                    ctx.checkpointing
                        .as_deref()
                        .map(|worker| super::keyed::KeyedCheckpoints {
                            worker,
                            part,
                            prepare: &mut prepare,
                        });
                // Sends everything it caused before it returns.
                node.take_in(
                    instance,
                    received.keyed,
                    input,
                    &ctx.clock,
                    checkpoints.as_mut(),
                    &mut sent,
                )?;
                // Processing-time triggers and timers look at the clock every 100 ms.
                if ctx.clock.is_wall() {
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
                    self.run_waiting(input)?;
                }
                // Main input that waits for updating views keeps the stage going.
                ended &= !updating || self.waiting.is_empty();
            }
        }
        if ended {
            self.finish()?;
        } else if self.ctx.streaming {
            self.hold(input);
        }
        Ok(again)
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

    /// Takes in side-input contents that arrived; once a bounded run's views are complete,
    /// starts a side-input ParDo's stage with them.
    fn take_side_inputs(
        &mut self,
        blobs: Vec<(usize, Time, Vec<ViewBlob>)>,
        ended: bool,
    ) -> Result<(), PipelineError> {
        let plan = Arc::clone(&self.ctx.plan);
        if let Some(side_inputs) = self.side.receive(&plan, blobs, ended)?
            && self.instance.is_none()
        {
            let side_inputs = side_inputs.clone();
            self.start_instance(&side_inputs);
        }
        Ok(())
    }

    /// Applies pending updating-view updates (see [`StageSideInputs::apply`]) and hands the views
    /// to the stage's operators if they changed. Returns whether they did.
    fn apply_views(&mut self, epoch: Option<u64>, next_only: bool) -> Result<bool, PipelineError> {
        let Some(side_inputs) = self.side.apply(epoch, next_only)? else {
            return Ok(false);
        };
        if let Some(instance) = &mut self.instance {
            instance.update_side_inputs(side_inputs);
        }
        Ok(true)
    }

    /// Sends what left the stage so far on the operator's outputs (see [`Outputs::send`]).
    fn emit(&mut self, time: Option<&Time>) -> Result<(), PipelineError> {
        match &mut self.instance {
            Some(instance) => self
                .outputs
                .send(instance, &self.caps, self.ctx.streaming, time),
            None => Ok(()),
        }
    }

    /// The input has ended: fires what a keyed root holds, finishes the bundle, flushes the
    /// pre-combiners, sends the rest, tears the DoFns down and drops the capabilities.
    fn finish(&mut self) -> Result<(), PipelineError> {
        let mut measured = StageOutput::default();
        if self.instance.is_none() {
            self.start_instance(&SideInputs::default());
        }
        if self.side.updating() {
            self.apply_views(None, false)?;
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
                    let side_inputs = self.side.ready().cloned().unwrap_or_default();
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
        let mut instance = self.instance.take().expect("put back above");
        if let Some(c) = self.ctx.checkpointing.clone() {
            if c.shared.exactly_once {
                // The drain's last writes (and any prepared but not yet committed): committed
                // now, outside a checkpoint.
                let last = instance.prepare_commit(u64::MAX)?;
                self.to_commit
                    .extend(last.into_iter().map(|(op, p)| (u64::MAX, op, p)));
                for (_, op, prepared) in std::mem::take(&mut self.to_commit) {
                    instance.commit(op, &prepared)?;
                }
            }
            if c.shared.exactly_once
                || matches!(self.work, RootWork::Streaming(_) | RootWork::Unbounded(_))
            {
                // It writes no more parts: checkpoints complete without it.
                c.leave()?;
            }
        }
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
