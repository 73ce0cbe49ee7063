//! What the stages of a bounded run have produced for the stages after them.
//!
//! Bounded execution runs stage after stage. What crosses a stage boundary is kept here: the
//! bundles of PCollections read by later stages (each freed after its last reader), the
//! pre-combined records of lifted Combines, the materialized side inputs, and the metrics and
//! element counts gathered so far.

use super::invoke::invoke;
use super::plan::{ExecutionPlan, GroupInput, StageRoot};
use super::stage::StageOutput;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{KeyedRecord, SideInputs};
use sluice_sdk::graph::{Bundle, CollectionId, NodeId, NodeKind};
use sluice_sdk::result::{PipelineResult, PipelineState};
use std::collections::HashMap;

/// The outputs of finished stages.
pub struct Materialized {
    produced: StageOutput,
    readers_left: HashMap<CollectionId, usize>,
    /// The side inputs materialized so far, by View node.
    pub side_inputs: SideInputs,
}

impl Materialized {
    /// Nothing produced yet, for a run of `plan`.
    pub fn new(plan: &ExecutionPlan) -> Self {
        Materialized {
            produced: StageOutput::default(),
            readers_left: plan.store_readers.clone(),
            side_inputs: SideInputs::default(),
        }
    }

    /// Takes the stored bundles of `collection` for one reader, cloning them while other
    /// readers remain.
    pub fn take_collection(&mut self, collection: CollectionId) -> Vec<Bundle> {
        let left = self.readers_left.entry(collection).or_insert(1);
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.produced.stored.remove(&collection).unwrap_or_default()
        } else {
            self.produced
                .stored
                .get(&collection)
                .cloned()
                .unwrap_or_default()
        }
    }

    /// The bundles a stage's root reads from earlier stages: the inputs of a Flatten or
    /// Reshuffle, a materialized PCollection, or the stored input of a keyed node.
    pub fn take_root_bundles(&mut self, plan: &ExecutionPlan, root: StageRoot) -> Vec<Bundle> {
        match root {
            StageRoot::Flatten(node) | StageRoot::Reshuffle(node) => plan
                .graph
                .node(node)
                .inputs
                .clone()
                .into_iter()
                .flat_map(|c| self.take_collection(c))
                .collect(),
            StageRoot::Materialized(c) => self.take_collection(c),
            StageRoot::Group {
                node,
                input: GroupInput::Stored,
            } => self.take_collection(plan.graph.node(node).inputs[0]),
            StageRoot::Group { .. } | StageRoot::Read(_) => Vec::new(),
        }
    }

    /// The keyed records earlier stages prepared for the keyed node `node` (encoded input, or
    /// pre-combined accumulators).
    pub fn take_records(&mut self, node: NodeId) -> Vec<Vec<KeyedRecord>> {
        self.produced.records.remove(&node).unwrap_or_default()
    }

    /// Keeps what a stage produced.
    pub fn add(&mut self, output: StageOutput) {
        self.produced.merge(output);
    }

    /// Materializes the side inputs whose PCollections stage `stage` completed.
    pub fn materialize_views(
        &mut self,
        plan: &ExecutionPlan,
        stage: usize,
    ) -> Result<(), PipelineError> {
        for &view in &plan.stages[stage].views {
            let node = plan.graph.node(view);
            let NodeKind::View(kernel) = &node.kind else {
                unreachable!("views are View nodes")
            };
            let bundles = self.take_collection(node.inputs[0]);
            let data = invoke(&node.name, || kernel.materialize(bundles))?;
            self.side_inputs.0.insert(view, data);
        }
        Ok(())
    }

    /// The result of a run that has completed every stage.
    pub fn into_result(self, started: std::time::Instant) -> PipelineResult {
        PipelineResult {
            state: PipelineState::Done,
            metrics: self.produced.metrics,
            elements: self.produced.elements,
            elapsed: started.elapsed(),
        }
    }
}
