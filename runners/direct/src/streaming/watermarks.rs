//! Watermarks between stages that hold them: each such stage's input watermark is the
//! sources' watermark held back by the output watermarks of the held stages upstream of it.
//!
//! Two kinds of stages hold their output watermark: a keyed stage (a stateful DoFn's pending
//! timers hold it at their output timestamps) and a side-input stage (its waiting elements
//! hold it at their timestamps). Element-wise stages pass watermarks through.

use super::Streaming;
use sluice_runner_core::invoke::invoke;
use sluice_runner_core::{ExecutionPlan, StageRoot};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::CollectionId;
use sluice_sdk::time::Timestamp;
use std::collections::{HashMap, HashSet};

/// The input PCollections of a stage's root.
pub(super) fn stage_inputs(plan: &ExecutionPlan, root: StageRoot) -> Vec<CollectionId> {
    match root {
        StageRoot::Group { node, .. } | StageRoot::Flatten(node) | StageRoot::Reshuffle(node) => {
            plan.graph.node(node).inputs.clone()
        }
        StageRoot::Materialized(c) => vec![c],
        StageRoot::Read(_) => vec![],
    }
}

/// The stage that produces each PCollection.
pub(super) fn producers(plan: &ExecutionPlan) -> HashMap<CollectionId, usize> {
    let mut producer = HashMap::new();
    for stage in &plan.stages {
        // A stage rooted at a materialized PCollection reads it; another stage made it.
        let read = match stage.root {
            StageRoot::Materialized(c) => Some(c),
            _ => None,
        };
        for c in stage.routes.keys().filter(|c| Some(**c) != read) {
            producer.insert(*c, stage.id);
        }
        if read.is_none() {
            producer.entry(stage.root_output).or_insert(stage.id);
        }
    }
    producer
}

/// For each stage, the nearest `held` stages upstream of it.
pub(super) fn upstream_held(
    plan: &ExecutionPlan,
    producer: &HashMap<CollectionId, usize>,
    held: &HashSet<usize>,
) -> Vec<Vec<usize>> {
    let mut upstream: Vec<Vec<usize>> = Vec::with_capacity(plan.stages.len());
    for stage in &plan.stages {
        let mut found = Vec::new();
        for c in stage_inputs(plan, stage.root) {
            let Some(&p) = producer.get(&c) else { continue };
            if held.contains(&p) {
                found.push(p);
            } else if p < stage.id {
                found.extend(upstream[p].iter().copied());
            }
        }
        found.sort_unstable();
        found.dedup();
        upstream.push(found);
    }
    upstream
}

impl Streaming<'_> {
    /// The input watermark of `stage`: the sources' watermark held back by the held stages
    /// upstream of it.
    fn input_watermark(&self, stage: usize) -> Timestamp {
        self.upstream_held[stage]
            .iter()
            .map(|u| {
                self.output_watermarks
                    .get(u)
                    .copied()
                    .unwrap_or(Timestamp::MIN)
            })
            .fold(self.watermark, Timestamp::min)
    }

    /// The watermark of a PCollection: the output watermark of the stage producing it.
    pub(super) fn collection_watermark(&self, collection: CollectionId) -> Timestamp {
        match self.producer.get(&collection) {
            Some(p) if self.held.contains(p) => self
                .output_watermarks
                .get(p)
                .copied()
                .unwrap_or(Timestamp::MIN),
            Some(p) => self.input_watermark(*p),
            None => self.watermark,
        }
    }

    /// Moves every held stage's input watermark, upstream first: keyed stages fire what the
    /// watermark makes ready, side-input stages release the elements whose views became
    /// ready; then each stage's output watermark is its input watermark held back by what it
    /// still holds.
    pub(super) fn propagate_watermark(&mut self) -> Result<(), PipelineError> {
        for stage in 0..self.plan.stages.len() {
            if !self.held.contains(&stage) {
                continue;
            }
            let input = self.input_watermark(stage);
            let hold = if let Some(grouping) = self.groupings.get_mut(&stage) {
                let StageRoot::Group { node, .. } = self.plan.stages[stage].root else {
                    unreachable!("groupings are keyed stages")
                };
                let name = &self.plan.graph.node(node).name;
                let output = invoke(name, || grouping.advance_watermark(input))?;
                let hold = grouping.hold();
                if let Some(gauges) = self.gauges.get_mut(&stage) {
                    gauges.set(
                        hold.map_or(input, |h| h.min(input)),
                        grouping.size(),
                        grouping.drops(),
                        || grouping.estimated_state_bytes(),
                    );
                }
                self.emit(stage, output)?;
                hold
            } else {
                // A side-input stage: first what the watermark made ready.
                self.set_output_watermark(stage, input);
                self.release_waiting(stage)?;
                self.views.hold(stage)
            };
            self.set_output_watermark(stage, hold.map_or(input, |h| h.min(input)));
        }
        Ok(())
    }

    fn set_output_watermark(&mut self, stage: usize, watermark: Timestamp) {
        let out = self
            .output_watermarks
            .entry(stage)
            .or_insert(Timestamp::MIN);
        *out = (*out).max(watermark);
    }
}
