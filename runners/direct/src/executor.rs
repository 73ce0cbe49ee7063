//! Stage-by-stage execution of a bounded plan on the calling thread.

use sluice_runner_core::{
    BUNDLE_SIZE, ExecutionPlan, GroupInput, KeyedNode, Materialized, StageInstance, StageOutput,
    StageRoot,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{KeyedRecord, SideInputs};
use sluice_sdk::graph::{Bundle, NodeKind};
use sluice_sdk::result::{ElementCount, PipelineResult};
use tracing::debug;

pub(super) fn execute(plan: ExecutionPlan) -> Result<PipelineResult, PipelineError> {
    let started = std::time::Instant::now();
    let plan = std::sync::Arc::new(plan);
    debug!(plan = %plan.describe(), "direct runner plan");
    let mut done = Materialized::new(&plan);
    for s in 0..plan.stages.len() {
        let root = plan.stages[s].root;
        let stored = done.take_root_bundles(&plan, root);
        let records = match root {
            StageRoot::Group { node, input } if input != GroupInput::Stored => {
                done.take_records(node)
            }
            _ => Vec::new(),
        };
        let mut instance = StageInstance::new(&plan, s, &done.side_inputs)?;
        let mut root_output = StageOutput::default();
        let side_inputs = done.side_inputs.clone();
        let fed = feed(
            &plan,
            &side_inputs,
            root,
            stored,
            records,
            &mut instance,
            &mut root_output,
        )
        .and_then(|()| instance.close_bundle());
        let output = instance.finish(fed.is_ok());
        fed?;
        done.add(output?);
        done.add(root_output);
        done.materialize_views(&plan, s)?;
    }
    Ok(done.into_result(started))
}

/// Streams a stage's root input into its instance; the root's own counts and metrics go to `out`.
fn feed(
    plan: &ExecutionPlan,
    side_inputs: &SideInputs,
    root: StageRoot,
    stored: Vec<Bundle>,
    records: Vec<Vec<KeyedRecord>>,
    instance: &mut StageInstance,
    out: &mut StageOutput,
) -> Result<(), PipelineError> {
    let graph = &plan.graph;
    match root {
        StageRoot::Read(n) => {
            let node = graph.node(n);
            let NodeKind::Read(source) = &node.kind else {
                unreachable!("Read roots are Read nodes")
            };
            let source_error = |e| sluice_runner_core::invoke::source_error(&node.name, e);
            let mut reader = source.reader().map_err(source_error)?;
            let mut read = 0u64;
            while let Some(bundle) = reader.next_bundle(BUNDLE_SIZE).map_err(source_error)? {
                read += bundle.len() as u64;
                instance.push(bundle)?;
            }
            out.elements.entry(node.name.clone()).or_default().output += read;
        }
        StageRoot::Group { node, input } => {
            let grouping = KeyedNode::of(graph, node);
            // The whole input is one shard: pre-combined records, or the stored bundles.
            let batches: Box<dyn Iterator<Item = Result<Vec<KeyedRecord>, PipelineError>>> =
                if input != GroupInput::Stored {
                    Box::new(records.into_iter().map(Ok))
                } else {
                    Box::new(stored.into_iter().map(|bundle| grouping.records(bundle)))
                };
            grouping.group_bounded(batches, side_inputs, out, &mut |bundle| {
                instance.push(bundle)
            })?;
        }
        StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => {
            let total: u64 = stored.iter().map(|b| b.len() as u64).sum();
            out.elements
                .entry(graph.node(n).name.clone())
                .or_default()
                .add(ElementCount {
                    input: total,
                    output: total,
                });
            for bundle in stored {
                instance.push(bundle)?;
            }
        }
        StageRoot::Materialized(_) => {
            for bundle in stored {
                instance.push(bundle)?;
            }
        }
    }
    Ok(())
}
