//! A keyed node (grouping or stateful ParDo) in a streaming run on the timely runner: this
//! worker's shard of its keys, taking in records epoch by epoch and advanced as the watermark
//! and the clock do.

use super::clock::Clock;
use super::containers::KeyedBatch;
use super::context::InputState;
use super::time::{Time, event_time, time_at, watermark_part};
use sluice_runner_core::invoke::invoke;
use sluice_runner_core::{
    DROPPED_DUE_TO_CLOSED_WINDOW, DROPPED_DUE_TO_LATENESS, KeyedNode, KeyedShards, StageInstance,
    StageOutput,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Bundle;
use sluice_sdk::graph::kernel::SideInputs;
use sluice_sdk::result::ElementCount;
use sluice_sdk::time::Timestamp;

/// A streaming keyed node: this worker's shard of its keys, fed as records arrive and
/// advanced as the watermark does.
pub struct StreamingKeyed {
    name: String,
    grouping: KeyedShards,
    /// The watermark applied so far.
    applied: Timestamp,
    /// Records of epochs not complete yet, with their times.
    stash: Vec<(Time, KeyedBatch)>,
    /// How many steps of a scripted clock have been applied.
    clock_steps: usize,
    /// The latest epoch whose effects were sent: later effects never go out before it.
    sent_epoch: u64,
    count: ElementCount,
    /// Live metrics: this shard's output watermark and open windows.
    gauges: sluice_runner_core::observe::KeyedGauges,
    /// The newest checkpoint epoch whose part this shard wrote.
    checkpointed: u64,
}

/// What a checkpoint keeps of a keyed node's shard on a worker.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeyedPart {
    /// The watermark applied.
    applied: Timestamp,
    /// The shard's store (see `KeyedShards::snapshot`).
    shards: Vec<Vec<u8>>,
}

/// Where a keyed shard writes its checkpoint parts: the worker's share, the part's name, and
/// what prepares the stage's sinks' writes (with `--exactly-once`) at the same moment.
pub struct KeyedCheckpoints<'a> {
    /// The worker's share of the run's checkpoints.
    pub worker: &'a super::checkpoints::WorkerCheckpoints,
    /// The part's name.
    pub part: String,
    /// Prepares the sinks of the stage for a checkpoint epoch: their parts, and whether
    /// they have writes to commit.
    pub prepare: &'a mut super::checkpoints::Prepare<'a>,
}

impl StreamingKeyed {
    /// An empty shard of `node`.
    pub fn new(node: &KeyedNode<'_>) -> Result<Self, PipelineError> {
        Ok(StreamingKeyed {
            name: node.name.to_string(),
            grouping: node.sharded(1, None, &SideInputs::default())?,
            applied: Timestamp::MIN,
            stash: Vec::new(),
            clock_steps: 0,
            sent_epoch: 0,
            count: ElementCount::default(),
            gauges: Default::default(),
            checkpointed: 0,
        })
    }

    /// Takes back what a checkpoint kept of this shard (`bytes`: its part).
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        let damaged = |e: String| {
            PipelineError::Checkpoint(format!(
                "keyed node '{}': its part of the checkpoint: {e}",
                self.name
            ))
        };
        let part: KeyedPart =
            sluice_sdk::element::decode(bytes).map_err(|e| damaged(e.to_string()))?;
        self.grouping
            .restore(part.shards)
            .map_err(|e| damaged(e.to_string()))?;
        self.applied = part.applied;
        Ok(())
    }

    /// Writes this shard's part of checkpoint epoch `epoch`, with its stage's sinks' (what
    /// `instance` emitted so far is all that the checkpoint covers).
    fn checkpoint(
        &mut self,
        to: &mut KeyedCheckpoints<'_>,
        instance: &mut StageInstance,
        epoch: u64,
    ) -> Result<(), PipelineError> {
        let shards = self.grouping.snapshot().map_err(|e| PipelineError::Coder {
            transform: self.name.clone(),
            message: format!("cannot encode its state for a checkpoint: {e}"),
        })?;
        let part = KeyedPart {
            applied: self.applied,
            shards,
        };
        let bytes = sluice_sdk::element::encode(&part).map_err(|e| PipelineError::Coder {
            transform: self.name.clone(),
            message: format!("cannot encode its state for a checkpoint: {e}"),
        })?;
        let (mut parts, commits) = (to.prepare)(instance, epoch)?;
        parts.push((to.part.clone(), bytes));
        to.worker.write(epoch, parts, commits)?;
        self.checkpointed = epoch;
        Ok(())
    }

    /// Reports this shard's output watermark and open windows to the live metrics, as node
    /// `node`.
    pub fn watch(
        &mut self,
        live: &sluice_runner_core::observe::Observer,
        node: sluice_sdk::graph::NodeId,
    ) {
        self.gauges = sluice_runner_core::observe::KeyedGauges::new(live, node, &self.name);
    }

    /// Runs what the node emitted through the rest of the stage.
    fn feed(
        &mut self,
        instance: &mut StageInstance,
        out: Vec<Bundle>,
    ) -> Result<(), PipelineError> {
        for b in out {
            self.count.output += b.len() as u64;
            instance.push(b)?;
        }
        Ok(())
    }

    /// Moves the node's input watermark to `to`, if that is later.
    fn advance(
        &mut self,
        instance: &mut StageInstance,
        to: Timestamp,
    ) -> Result<(), PipelineError> {
        if to > self.applied {
            self.applied = to;
            let out = invoke(&self.name, || self.grouping.advance_watermark(to))?;
            self.feed(instance, out)?;
        }
        Ok(())
    }

    /// Takes in what arrived, epoch by epoch, and runs what fires through `instance`; `sent`
    /// sends on what the records of each epoch, each clock step and, last, the input frontier
    /// caused — everything, by the time this returns.
    ///
    /// The records of an epoch are taken in once every earlier epoch is complete (no earlier
    /// epoch is left in the input frontier), in time order. Before the records of a time, the
    /// watermark moves as far as that time, the input frontier and every record still to take
    /// in allow: records sent after their source's watermark passed a window are late for it
    /// here too, and no others. Records of later epochs wait, and the watermark stops short of
    /// them. Processing time follows `clock`: the wall clock advances to now; a script's step
    /// applies once the epochs before it are complete, before the records of its own epoch,
    /// and what it fires is sent in its epoch.
    pub fn take_in(
        &mut self,
        instance: &mut StageInstance,
        keyed: Vec<(Time, KeyedBatch)>,
        input: &InputState,
        clock: &Clock,
        mut checkpoints: Option<&mut KeyedCheckpoints<'_>>,
        sent: &mut dyn FnMut(&mut StageInstance, &Time) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        // A checkpoint epoch the input has passed, whose part is not written yet: written
        // before the first record of that epoch or later is taken in.
        let mut due = checkpoints.as_ref().and_then(|c| {
            let e = c.worker.shared.passed(input.epoch?)?;
            (e > self.checkpointed).then_some(e)
        });
        self.stash.extend(keyed);
        let complete = input.epoch.unwrap_or(u64::MAX);
        let (mut ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stash)
            .into_iter()
            .partition(|(t, _)| t.outer <= complete);
        ready.sort_by_key(|(t, _)| (t.outer, t.inner));
        let waiting = later.iter().map(|(t, _)| event_time(t.inner)).min();
        let bound = waiting.map_or(input.watermark, |w| w.min(input.watermark));
        // The watermark moves no further than any record still to take in: sources on
        // different workers are in different epochs, so a record of a later epoch may carry
        // an earlier watermark ((4, 100 s) then (5, 50 s)); moving to 100 s before taking in
        // the second would make it late.
        let mut rest = vec![bound; ready.len()];
        let mut least = bound;
        for (i, (t, _)) in ready.iter().enumerate().rev() {
            least = least.min(event_time(t.inner));
            rest[i] = least;
        }
        let mut ready = ready.into_iter().zip(rest).peekable();
        while let Some(((time, batch), rest)) = ready.next() {
            if let (Some(e), Some(c)) = (due.filter(|e| time.outer >= *e), checkpoints.as_mut()) {
                self.checkpoint(c, instance, e)?;
                due = None;
            }
            self.step_clock(instance, clock, time.outer.saturating_add(1), rest, sent)?;
            self.advance(instance, rest)?;
            self.grouping.set_arrival(time.outer);
            self.count.input += batch.0.len() as u64;
            let out = invoke(&self.name, || self.grouping.process(batch.0))?;
            self.feed(instance, out)?;
            if ready
                .peek()
                .is_none_or(|((next, _), _)| next.outer != time.outer)
            {
                self.sent_epoch = self.sent_epoch.max(time.outer);
                sent(instance, &time)?;
            }
        }
        self.stash = later;
        if let (Some(e), Some(c)) = (due, checkpoints.as_mut()) {
            self.checkpoint(c, instance, e)?;
        }
        self.step_clock(instance, clock, complete.saturating_add(1), bound, sent)?;
        self.advance(instance, bound)?;
        if clock.is_wall() {
            let now = Timestamp::now();
            let out = invoke(&self.name, || self.grouping.advance_processing_time(now))?;
            self.feed(instance, out)?;
        }
        // What the input frontier fired goes out after everything sent before it.
        self.sent_epoch = input
            .epoch
            .map_or(self.sent_epoch, |e| e.max(self.sent_epoch));
        sent(instance, &time_at(self.sent_epoch, self.applied))?;
        let held = self
            .grouping
            .hold()
            .map_or(self.applied, |h| h.min(self.applied));
        let grouping = &self.grouping;
        self.gauges
            .set(held, grouping.size(), grouping.drops(), || {
                grouping.estimated_state_bytes()
            });
        Ok(())
    }

    /// Applies the steps of a scripted `clock` whose epochs are before `before` (every earlier
    /// epoch complete; records of the step's own epoch — what it fired upstream — come after
    /// it, as they reach a transform whose clock has moved): for each, the
    /// watermark first moves as far as the script had moved it (within `bound`), then
    /// processing time advances, and what fired is sent in the step's epoch.
    fn step_clock(
        &mut self,
        instance: &mut StageInstance,
        clock: &Clock,
        before: u64,
        bound: Timestamp,
        sent: &mut dyn FnMut(&mut StageInstance, &Time) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        for step in clock.due(self.clock_steps, before) {
            self.clock_steps += 1;
            self.advance(instance, step.watermark.min(bound))?;
            let out = invoke(&self.name, || {
                self.grouping.advance_processing_time(step.to)
            })?;
            self.feed(instance, out)?;
            self.sent_epoch = self.sent_epoch.max(step.epoch);
            sent(instance, &time_at(self.sent_epoch, step.watermark))?;
        }
        Ok(())
    }

    /// Lowers `hold` to what the node may still emit at: the epoch of the oldest record not
    /// yet part of a pane (or still waiting), and the applied watermark lowered to its timers'
    /// output timestamps.
    pub fn hold(&self, hold: &mut Time) {
        hold.inner = watermark_part(self.applied);
        let stashed = self.stash.iter().map(|(t, _)| t.outer);
        if let Some(epoch) = self
            .grouping
            .oldest_unemitted()
            .into_iter()
            .chain(stashed)
            .min()
        {
            hold.outer = hold.outer.min(epoch);
        }
        if let Some(t) = self.grouping.hold() {
            hold.inner = hold.inner.min(watermark_part(t));
        }
    }

    /// Tears the user code down.
    pub fn teardown(&mut self) {
        self.grouping.teardown();
    }

    /// Tears the user code down and records the node's metrics, late drops and element
    /// counts in `measured`.
    pub fn finish(&mut self, measured: &mut StageOutput) {
        let mut m = self.grouping.take_metrics();
        self.grouping.teardown();
        m.counter(DROPPED_DUE_TO_LATENESS)
            .inc_by(self.grouping.dropped_due_to_lateness() as i64);
        m.counter(DROPPED_DUE_TO_CLOSED_WINDOW)
            .inc_by(self.grouping.dropped_due_to_closed_window() as i64);
        measured.metrics.add(&self.name, &m);
        measured
            .elements
            .entry(self.name.clone())
            .or_default()
            .add(self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_runner_core::{ExecutionPlan, StageRoot};
    use sluice_sdk::prelude::*;
    use sluice_sdk::windowed_value::WindowedValue;
    use std::sync::Arc;

    /// `Create → Fixed 10 s windows → GroupByKey`, planned; with the stage that reads the
    /// grouping's records and the grouping's own stage.
    fn plan() -> (Arc<ExecutionPlan>, usize, usize) {
        let p = Pipeline::new();
        p.apply("Create", Create::of(vec![KV::new("k".to_string(), 0i64)]))
            .apply(
                "Fixed",
                WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
            )
            .apply("Group", GroupByKey);
        let plan = Arc::new(ExecutionPlan::for_exchange(p.graph().unwrap(), false));
        let group = plan
            .stages
            .iter()
            .position(|s| matches!(s.root, StageRoot::Group { .. }))
            .expect("a grouping stage");
        (plan, 0, group)
    }

    /// The keyed records of one element at `secs`, as the stage before the grouping sends
    /// them.
    fn records(plan: &Arc<ExecutionPlan>, stage: usize, secs: i64) -> KeyedBatch {
        let mut before = StageInstance::new(plan, stage, &SideInputs::default()).unwrap();
        before
            .push(Bundle::new(vec![WindowedValue::in_global_window(
                KV::new("k".to_string(), secs),
                Timestamp::from_secs(secs),
            )]))
            .unwrap();
        before.close_bundle().unwrap();
        let batches = before.take_records().into_values().flatten().flatten();
        KeyedBatch(batches.collect())
    }

    #[test]
    fn a_later_epoch_with_an_earlier_watermark_is_not_made_late() {
        // Two workers' sources are in different epochs: worker A sent an element at 105 s in
        // epoch 4, its watermark at 100 s; worker B one at 55 s in epoch 5, its watermark at
        // 50 s. Both arrive once the frontier has passed them. Neither is late: moving the
        // watermark to 100 s before taking in B's would drop it.
        let (plan, before, group) = plan();
        let StageRoot::Group { node, .. } = plan.stages[group].root else {
            unreachable!()
        };
        let mut keyed = StreamingKeyed::new(&KeyedNode::of(&plan.graph, node)).unwrap();
        let mut instance = StageInstance::new(&plan, group, &SideInputs::default()).unwrap();
        let a = (
            time_at(4, Timestamp::from_secs(100)),
            records(&plan, before, 105),
        );
        let b = (
            time_at(5, Timestamp::from_secs(50)),
            records(&plan, before, 55),
        );
        let input = InputState {
            ended: false,
            side_ended: true,
            side: Vec::new(),
            watermark: Timestamp::from_secs(200),
            epoch: Some(6),
            least: Some(time_at(6, Timestamp::from_secs(200))),
        };
        let mut sends = 0;
        keyed
            .take_in(
                &mut instance,
                vec![a, b],
                &input,
                &Clock::Script(Arc::new([])),
                None,
                &mut |_, _| {
                    sends += 1;
                    Ok(())
                },
            )
            .unwrap();
        assert!(sends > 0);
        let mut measured = StageOutput::default();
        keyed.finish(&mut measured);
        let dropped = measured
            .metrics
            .counter("Group", DROPPED_DUE_TO_LATENESS)
            .unwrap_or(0);
        assert_eq!(dropped, 0, "records dropped as late");
        // Both windows fired, one pane each.
        assert_eq!(measured.elements["Group"].input, 2);
        assert_eq!(measured.elements["Group"].output, 2);
    }
}
