//! Stage-by-stage execution of a bounded plan on the calling thread.

use crate::core::invoke::{error_chain, invoke};
use crate::core::{
    BUNDLE_SIZE, DROPPED_DUE_TO_LATENESS, ExecutionPlan, StageInstance, StageOutput, StageRoot,
    group_bounded,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{KeyedRecord, SideInputs};
use sluice_sdk::graph::{Bundle, CollectionId, Graph, NodeId, NodeKind};
use sluice_sdk::metrics::MetricsContainer;
use sluice_sdk::result::{PipelineResult, PipelineState};
use std::collections::HashMap;
use tracing::debug;

/// What the stages run so far left for the stages after them.
struct Execution {
    plan: ExecutionPlan,
    produced: StageOutput,
    readers_left: HashMap<CollectionId, usize>,
    side_inputs: SideInputs,
}

pub(super) fn execute(graph: Graph) -> Result<PipelineResult, PipelineError> {
    let started = std::time::Instant::now();
    let plan = ExecutionPlan::new(graph);
    debug!(plan = %plan.describe(), "direct runner plan");
    let readers_left = plan.store_readers.clone();
    let mut exec = Execution {
        plan,
        produced: StageOutput::default(),
        readers_left,
        side_inputs: SideInputs::default(),
    };
    for s in 0..exec.plan.stages.len() {
        exec.run_stage(s)?;
    }
    Ok(PipelineResult {
        state: PipelineState::Done,
        metrics: exec.produced.metrics,
        elements: exec.produced.elements,
        elapsed: started.elapsed(),
    })
}

impl Execution {
    /// Takes the stored bundles of `collection`, cloning them while other stages still read them.
    fn read_stored(&mut self, collection: CollectionId) -> Vec<Bundle> {
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

    fn run_stage(&mut self, s: usize) -> Result<(), PipelineError> {
        // Inputs taken from earlier stages are taken before the instance borrows the plan.
        let root = self.plan.stages[s].root;
        let stored_input: Vec<Bundle> = match root {
            StageRoot::Flatten(node) => {
                let inputs = self.plan.graph.node(node).inputs.clone();
                inputs
                    .into_iter()
                    .flat_map(|c| self.read_stored(c))
                    .collect()
            }
            StageRoot::Reshuffle(node) => {
                let input = self.plan.graph.node(node).inputs[0];
                self.read_stored(input)
            }
            StageRoot::Materialized(c) => self.read_stored(c),
            StageRoot::Group {
                node,
                lifted: false,
            } => self.read_stored(self.plan.graph.node(node).inputs[0]),
            StageRoot::Group { lifted: true, .. } | StageRoot::Read(_) => Vec::new(),
        };
        let lifted: Vec<KeyedRecord> = match root {
            StageRoot::Group { node, lifted: true } => {
                self.produced.lifted.remove(&node).unwrap_or_default()
            }
            _ => Vec::new(),
        };

        let mut instance = StageInstance::new(&self.plan, s, &self.side_inputs)?;
        let mut root_output = StageOutput::default();
        let fed = feed(
            &self.plan,
            root,
            stored_input,
            lifted,
            &mut instance,
            &mut root_output,
        );
        let output = instance.finish(fed.is_ok());
        fed?;
        self.produced.merge(output?);
        self.produced.merge(root_output);

        for v in self.plan.stages[s].views.clone() {
            self.materialize_view(v)?;
        }
        Ok(())
    }

    fn materialize_view(&mut self, view: NodeId) -> Result<(), PipelineError> {
        let node = self.plan.graph.node(view).clone();
        let NodeKind::View(kernel) = &node.kind else {
            unreachable!("views are View nodes")
        };
        let bundles = self.read_stored(node.inputs[0]);
        let data = invoke(&node.name, || kernel.materialize(bundles))?;
        self.side_inputs.0.insert(view, data);
        Ok(())
    }
}

/// Streams a stage's root input into its instance; the root's own counts and metrics go to `out`.
fn feed(
    plan: &ExecutionPlan,
    root: StageRoot,
    stored: Vec<Bundle>,
    lifted: Vec<KeyedRecord>,
    instance: &mut StageInstance<'_>,
    out: &mut StageOutput,
) -> Result<(), PipelineError> {
    let graph = &plan.graph;
    match root {
        StageRoot::Read(n) => {
            let node = graph.node(n);
            let NodeKind::Read(source) = &node.kind else {
                unreachable!("Read roots are Read nodes")
            };
            let source_error = |e: sluice_sdk::error::BoxError| PipelineError::Source {
                transform: node.name.clone(),
                message: error_chain(e.as_ref()),
            };
            let mut reader = source.reader().map_err(source_error)?;
            let mut read = 0u64;
            while let Some(bundle) = reader.next_bundle(BUNDLE_SIZE).map_err(source_error)? {
                read += bundle.len() as u64;
                instance.process_bundle(bundle)?;
            }
            out.elements.entry(node.name.clone()).or_default().output += read;
        }
        StageRoot::Group {
            node: n,
            lifted: is_lifted,
        } => {
            let node = graph.node(n);
            let NodeKind::GroupByKey(kernel) = &node.kind else {
                unreachable!("Group roots are GroupByKey nodes")
            };
            let strategy = graph.collection(node.inputs[0]).windowing.clone();
            let batches: Box<dyn Iterator<Item = Result<Vec<KeyedRecord>, PipelineError>>> =
                if is_lifted {
                    Box::new(std::iter::once(Ok(lifted)))
                } else {
                    Box::new(stored.into_iter().map(|bundle| {
                        let mut records = Vec::with_capacity(bundle.len());
                        kernel
                            .to_records(bundle, &mut records)
                            .map(|()| records)
                            .map_err(|e| PipelineError::Coder {
                                transform: node.name.clone(),
                                message: e.to_string(),
                            })
                    }))
                };
            let grouped =
                group_bounded(&node.name, kernel.clone(), strategy, batches, BUNDLE_SIZE)?;
            let mut m = MetricsContainer::default();
            m.counter(DROPPED_DUE_TO_LATENESS)
                .inc_by(grouped.dropped as i64);
            out.metrics.add(&node.name, &m);
            out.elements
                .entry(node.name.clone())
                .or_default()
                .add(grouped.count);
            for bundle in grouped.bundles {
                instance.process_bundle(bundle)?;
            }
        }
        StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => {
            let total: u64 = stored.iter().map(|b| b.len() as u64).sum();
            out.elements
                .entry(graph.node(n).name.clone())
                .or_default()
                .add(sluice_sdk::result::ElementCount {
                    input: total,
                    output: total,
                });
            for bundle in stored {
                instance.process_bundle(bundle)?;
            }
        }
        StageRoot::Materialized(_) => {
            for bundle in stored {
                instance.process_bundle(bundle)?;
            }
        }
    }
    Ok(())
}
