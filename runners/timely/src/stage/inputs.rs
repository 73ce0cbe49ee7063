//! How a stage's operator takes in its input in a streaming run: bundles from other stages in
//! time order (with `--exactly-once`, up to the next checkpoint epoch its input has not passed),
//! bundles that wait for updating views, an unbounded source's readers, a test stream's script.

use super::commits::prepare_commits;
use super::{RootWork, StageLogic};
use crate::context::InputState;
use crate::side_inputs::StageSideInputs;
use crate::source::Replayed;
use crate::time::Time;
use crate::unbounded::EPOCH;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Bundle;
use std::collections::VecDeque;
use std::time::Duration;

impl StageLogic {
    /// Runs the bundles that wait (in a bounded run all of them, once the side inputs are
    /// complete; with updating views those they are ready for), a bundle per time, each sent on
    /// at its own time.
    pub(super) fn run_waiting(&mut self, input: &InputState) -> Result<(), PipelineError> {
        let mut waiting = std::mem::take(&mut self.waiting);
        if !self.ctx.streaming {
            let instance = self.instance.as_mut().expect("checked by the caller");
            for (_, b) in waiting {
                instance.push(b)?;
            }
            self.emit(None)?;
            return Ok(());
        }
        if self.side.updating() {
            self.waiting = waiting;
            return self.run_updating(input);
        }
        let Some(c) = self
            .ctx
            .checkpointing
            .clone()
            .filter(|c| c.shared.exactly_once)
        else {
            return self.run_in_time_order(waiting);
        };
        // Exactly once: the sinks prepare for a checkpoint epoch once the input has passed it,
        // after every bundle of the epochs before and before any of that epoch or later —
        // which wait meanwhile.
        loop {
            let due = input
                .epoch
                .and_then(|e| c.shared.passed(e))
                .filter(|d| *d > self.prepared);
            let limit = due.unwrap_or(self.prepared + c.shared.every());
            let (now, later): (Vec<_>, Vec<_>) =
                waiting.into_iter().partition(|(t, _)| t.outer < limit);
            waiting = later;
            self.run_in_time_order(now)?;
            let Some(epoch) = due else {
                break;
            };
            let instance = self.instance.as_mut().expect("checked by the caller");
            let (parts, commits) =
                prepare_commits(&self.ctx, self.stage, instance, epoch, &mut self.to_commit)?;
            c.write(epoch, parts, commits)?;
            self.prepared = epoch;
        }
        self.waiting = waiting;
        Ok(())
    }

    /// Runs bundles in time order, a bundle per time, each sent on at its own time.
    pub(super) fn run_in_time_order(
        &mut self,
        mut waiting: Vec<(Time, Bundle)>,
    ) -> Result<(), PipelineError> {
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
    pub(super) fn read_unbounded(&mut self) -> Result<(bool, Duration), PipelineError> {
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
        let mut complete = self
            .ctx
            .probe
            .with_frontier(|f| f.iter().map(|t| t.outer).min());
        if let (Some(c), Some(probe)) = (&self.ctx.checkpointing, complete) {
            // What a complete checkpoint covers may be finalized, whatever holds it now.
            complete = Some(probe.max(c.shared.completed_epoch()));
        }
        read.finalize_before(complete)?;
        if read.ended() {
            return Ok((true, Duration::ZERO));
        }
        read.watermark_slot.set_watermark(read.watermark());
        let next_epoch = read.epoch();
        // Everything sent so far went out before the checkpoint epochs this step moves past.
        if let Some(c) = &self.ctx.checkpointing
            && let Some(e) = c.shared.passed(next_epoch)
            && e > read.checkpointed.max(epoch)
        {
            let part = read.part()?;
            read.checkpointed = e;
            let instance = self.instance.as_mut().expect("sources start at once");
            let (mut parts, commits) =
                prepare_commits(&self.ctx, self.stage, instance, e, &mut self.to_commit)?;
            parts.push((
                crate::checkpoints::source_part(self.stage, self.ctx.index),
                part,
            ));
            c.write(e, parts, commits)?;
        }
        let now = crate::time::time_at(next_epoch, read.watermark());
        for cap in &mut self.caps {
            let time = crate::time::join(cap.time(), &now);
            if time != *cap.time() {
                cap.downgrade(&time);
            }
        }
        Ok((false, if more { Duration::ZERO } else { EPOCH }))
    }

    /// Replays a test stream: elements go out at the watermark of the moment, and the
    /// operator's capabilities follow the watermark.
    pub(super) fn replay(&mut self) -> Result<(), PipelineError> {
        loop {
            let RootWork::TestStream(replay) = &mut self.work else {
                unreachable!("only test streams replay")
            };
            let instance = self.instance.as_mut().expect("sources start at once");
            let replayed = replay.next(instance)?;
            let next = replay.time();
            match replayed {
                Replayed::Elements(time) => self.emit(Some(&time))?,
                Replayed::Advanced => {}
                Replayed::End => return Ok(()),
            }
            for cap in &mut self.caps {
                cap.downgrade(&next);
            }
        }
    }

    /// Streaming with updating views: runs the waiting bundles in time order, each after the view
    /// updates of its epoch and the ones before. A bundle waits while a view may still send
    /// updates of an earlier epoch (so that a view shows everything the earlier epochs caused,
    /// as the direct runner's replay does), and from its first element whose side windows are
    /// not ready — unless updates pending from later epochs make them ready, as Beam would.
    pub(super) fn run_updating(&mut self, input: &InputState) -> Result<(), PipelineError> {
        let mut queue: VecDeque<(Time, Bundle)> = std::mem::take(&mut self.waiting).into();
        queue
            .make_contiguous()
            .sort_by_key(|(t, _)| (t.outer, t.inner));
        while let Some((time, mut bundle)) = queue.pop_front() {
            self.apply_views(Some(time.outer), false)?;
            if StageSideInputs::may_update_before(input, time.outer) {
                queue.push_front((time, bundle));
                break;
            }
            while self.side.ready_prefix(&bundle, input) < bundle.len()
                && self.apply_views(None, true)?
            {}
            let n = self.side.ready_prefix(&bundle, input);
            let take: Vec<bool> = (0..bundle.len()).map(|k| k < n).collect();
            let ready = bundle.extract(&take);
            if !ready.is_empty() {
                let instance = self
                    .instance
                    .as_mut()
                    .expect("stages with updating views start at once");
                instance.push(ready)?;
                instance.close_bundle()?;
                self.emit(Some(&time))?;
            }
            if !bundle.is_empty() {
                queue.push_front((time, bundle));
                break;
            }
        }
        // No main input can come before these: the views may move on to them.
        let bound = queue
            .front()
            .map(|(t, _)| t.outer)
            .into_iter()
            .chain(input.epoch)
            .min();
        self.apply_views(bound, false)?;
        self.waiting = queue.into();
        Ok(())
    }
}
