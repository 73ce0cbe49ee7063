//! What the operators of one worker share, and what a stage's operator is given at each
//! activation.

use super::containers::{Bundles, KeyedBatch, ViewBlob};
use super::outcome::WorkerOutcome;
use super::time::Time;
use sluice_runner_core::{StageInstance, StageOutput};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::{Bundle, CollectionId, NodeId};
use sluice_sdk::time::Timestamp;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::Capability;

/// What the operators of one worker share.
pub struct Context {
    /// The plan every worker runs.
    pub plan: Arc<sluice_runner_core::ExecutionPlan>,
    /// Whether the run is a streaming one: batches carry their watermarks, groupings fire as
    /// the watermark passes.
    pub streaming: bool,
    /// Where processing time comes from: the wall clock (a run with unbounded sources) or a
    /// test stream's script.
    pub clock: super::clock::Clock,
    /// Whether sources finalize checkpoints as epochs complete (a run with unbounded
    /// sources): then an output never goes out at a later epoch than the oldest record it may
    /// hold, or that record's checkpoint could be finalized before the output is written.
    pub checkpoints: bool,
    /// The runtime the readers of unbounded sources run on, if the run has any.
    pub runtime: Option<tokio::runtime::Handle>,
    /// Cancels a streaming run: readers stop, and what they read drains.
    pub cancel: sluice_runner_core::CancelToken,
    /// The frontier of every stage's output: what no output may still see is complete.
    pub probe: timely::dataflow::ProbeHandle<Time>,
    /// Checkpoints still pending when their source ended: finalized once the dataflow has
    /// ended, unless the run failed.
    pub leftover: RefCell<Vec<super::unbounded::Pending>>,
    /// What the worker reports at the end.
    pub log: Rc<RefCell<WorkerOutcome>>,
    /// The first failure in this process: every operator then stops working and lets the
    /// dataflow end.
    pub failure: Arc<super::failure::Failure>,
    /// This worker's index in the cluster.
    pub index: usize,
    /// How many workers the cluster has.
    pub peers: usize,
    /// This worker's share of the run's checkpoints (`--checkpoint-dir`).
    pub checkpointing: Option<Rc<super::checkpoints::WorkerCheckpoints>>,
}

impl Context {
    /// Records a failure: the first error of the worker is the one reported.
    pub fn fail(&self, error: PipelineError) {
        self.failure.record(&error);
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

impl Outputs {
    /// Sends what left `instance` so far on the outputs, at `time` (at the capabilities' own
    /// time when `None`). In a streaming run the pre-combiners of lifted Combines hand on
    /// what they gathered first: partial accumulators cross the exchange at the time of their
    /// input.
    pub fn send(
        &mut self,
        instance: &mut StageInstance,
        caps: &[Capability<Time>],
        streaming: bool,
        time: Option<&Time>,
    ) -> Result<(), PipelineError> {
        if streaming {
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
        let cap = |i: usize| match time {
            Some(t) if t != caps[i].time() => {
                caps[i].try_delayed(t).unwrap_or_else(|| caps[i].clone())
            }
            _ => caps[i].clone(),
        };
        let keyed_from = self.stored.len();
        for (i, (collection, output)) in self.stored.iter_mut().enumerate() {
            if let Some(bundles) = stored.remove(collection).filter(|b| !b.is_empty()) {
                output.activate().give(&cap(i), &mut Bundles(bundles));
            }
        }
        for (j, (node, output)) in self.keyed.iter_mut().enumerate() {
            if let Some(batches) = records.remove(node).filter(|b| !b.is_empty()) {
                let cap = cap(keyed_from + j);
                let mut session = output.activate();
                for batch in batches {
                    session.give(&cap, &mut KeyedBatch(batch));
                }
            }
        }
        Ok(())
    }
}

/// What an activation received on the operator's inputs, with the time of each batch.
#[derive(Default)]
pub struct Received {
    /// Bundles of the root's input.
    pub bundles: Vec<(Time, Bundle)>,
    /// Keyed records of a grouping or stateful ParDo.
    pub keyed: Vec<(Time, KeyedBatch)>,
    /// Side-input contents, by the position of the view among the stage's side inputs, with
    /// their times.
    pub views: Vec<(usize, Time, Vec<ViewBlob>)>,
}

/// Where the operator's inputs stand.
pub struct InputState {
    /// Whether every main input has ended.
    pub ended: bool,
    /// Whether every side input has ended.
    pub side_ended: bool,
    /// Per side input, in the stage's order: the least watermark and the least epoch that may
    /// still arrive on it.
    pub side: Vec<(Timestamp, Option<u64>)>,
    /// The input watermark: the least watermark that may still arrive on a main input.
    pub watermark: Timestamp,
    /// The least epoch that may still arrive on a main input.
    pub epoch: Option<u64>,
    /// The least time (part by part) that may still arrive on any input.
    pub least: Option<Time>,
}
