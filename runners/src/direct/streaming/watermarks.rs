//! Watermarks between keyed stages: each keyed stage's input watermark is the sources'
//! watermark held back by the output watermarks of the keyed stages upstream of it.

use super::Streaming;
use crate::core::invoke::invoke;
use crate::core::{ExecutionPlan, ShardedGrouping, StageRoot};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::CollectionId;
use sluice_sdk::time::Timestamp;
use std::collections::HashMap;

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

/// For each stage, the nearest keyed stages upstream of it (see `Streaming::upstream_keyed`).
pub(super) fn upstream_keyed(
    plan: &ExecutionPlan,
    keyed: &HashMap<usize, ShardedGrouping>,
) -> Vec<Vec<usize>> {
    let mut producer: HashMap<CollectionId, usize> = HashMap::new();
    for stage in &plan.stages {
        for c in stage.routes.keys() {
            producer.insert(*c, stage.id);
        }
        producer.entry(stage.root_output).or_insert(stage.id);
    }
    let mut upstream: Vec<Vec<usize>> = Vec::with_capacity(plan.stages.len());
    for stage in &plan.stages {
        let mut found = Vec::new();
        for c in stage_inputs(plan, stage.root) {
            let Some(&p) = producer.get(&c) else { continue };
            if keyed.contains_key(&p) {
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
    /// Moves every keyed stage's input watermark, upstream first: the sources' watermark,
    /// held back by the output watermarks of the keyed stages upstream (a stateful DoFn holds
    /// its output at the output timestamps of its pending timers).
    pub(super) fn propagate_watermark(&mut self) -> Result<(), PipelineError> {
        for stage in 0..self.plan.stages.len() {
            if !self.groupings.contains_key(&stage) {
                continue;
            }
            let input = self.upstream_keyed[stage]
                .iter()
                .map(|u| self.output_watermarks[u])
                .fold(self.watermark, Timestamp::min);
            let StageRoot::Group { node, .. } = self.plan.stages[stage].root else {
                continue;
            };
            let name = &self.plan.graph.node(node).name;
            let grouping = self.groupings.get_mut(&stage).expect("checked above");
            let output = invoke(name, || grouping.advance_watermark(input))?;
            let held = grouping.hold().map_or(input, |h| h.min(input));
            let out = self
                .output_watermarks
                .entry(stage)
                .or_insert(Timestamp::MIN);
            *out = (*out).max(held);
            self.emit(stage, output)?;
        }
        Ok(())
    }
}
