//! A keyed node (grouping or stateful ParDo) in a streaming run on the timely runner: this
//! worker's shard of its keys, taking in records epoch by epoch and advanced as the watermark
//! and the clock do.

use super::clock::Clock;
use super::containers::KeyedBatch;
use super::context::InputState;
use super::time::{Time, event_time, time_at, watermark_part};
use crate::core::invoke::invoke;
use crate::core::{
    DROPPED_DUE_TO_LATENESS, GroupingNode, ShardedGrouping, StageInstance, StageOutput,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Bundle;
use sluice_sdk::graph::kernel::SideInputs;
use sluice_sdk::result::ElementCount;
use sluice_sdk::time::Timestamp;

/// Counter of records dropped because their window's trigger had finished (the direct
/// runner's name).
const DROPPED_DUE_TO_CLOSED_WINDOW: &str = "droppedDueToClosedWindow";

/// A streaming keyed node: this worker's shard of its keys, fed as records arrive and
/// advanced as the watermark does.
pub struct StreamingKeyed {
    name: String,
    grouping: ShardedGrouping,
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
    gauges: crate::live::GroupingGauges,
}

impl StreamingKeyed {
    /// An empty shard of `node`.
    pub fn new(node: &GroupingNode<'_>) -> Result<Self, PipelineError> {
        Ok(StreamingKeyed {
            name: node.name.to_string(),
            grouping: node.sharded(1, None, &SideInputs::default())?,
            applied: Timestamp::MIN,
            stash: Vec::new(),
            clock_steps: 0,
            sent_epoch: 0,
            count: ElementCount::default(),
            gauges: Default::default(),
        })
    }

    /// Reports this shard's output watermark and open windows to the live metrics, as node
    /// `node`.
    pub fn watch(&mut self, live: &crate::live::LiveMetrics, node: sluice_sdk::graph::NodeId) {
        self.gauges = crate::live::GroupingGauges::new(live, node);
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

    /// Takes in what arrived, epoch by epoch, and runs what fires through `instance`; after
    /// the records of each epoch, `sent` sends on what they caused.
    ///
    /// The records of an epoch are taken in once every earlier epoch is complete (no earlier
    /// epoch is left in the input frontier), in time order. Before the records of a time, the
    /// watermark moves as far as both that time and the input frontier allow: records sent
    /// after their source's watermark passed a window are late for it here too. Records of
    /// later epochs wait, and the watermark stops short of them. Processing time follows
    /// `clock`: the wall clock advances to now; a script's step applies once its epoch is
    /// complete, between the records of the epochs around it, and what it fires is sent in
    /// its epoch.
    pub fn take_in(
        &mut self,
        instance: &mut StageInstance,
        keyed: Vec<(Time, KeyedBatch)>,
        input: &InputState,
        clock: &Clock,
        sent: &mut dyn FnMut(&mut StageInstance, &Time) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        self.stash.extend(keyed);
        let complete = input.epoch.unwrap_or(u64::MAX);
        let (mut ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stash)
            .into_iter()
            .partition(|(t, _)| t.outer <= complete);
        ready.sort_by_key(|(t, _)| (t.outer, t.inner));
        let waiting = later.iter().map(|(t, _)| event_time(t.inner)).min();
        let bound = waiting.map_or(input.watermark, |w| w.min(input.watermark));
        // A clock step moves the watermark no further than the records still to take in.
        let mut rest = vec![bound; ready.len()];
        for i in (0..ready.len()).rev() {
            let next = rest.get(i + 1).copied().unwrap_or(bound);
            rest[i] = next.min(event_time(ready[i].0.inner));
        }
        let mut ready = ready.into_iter().zip(rest).peekable();
        while let Some(((time, batch), rest)) = ready.next() {
            self.step_clock(instance, clock, time.outer.saturating_add(1), rest, sent)?;
            self.advance(instance, event_time(time.inner).min(input.watermark))?;
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
            .set(held, grouping.size(), || grouping.estimated_state_bytes());
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
