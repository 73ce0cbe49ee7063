//! The direct runner: executes a pipeline in this process, a bundle at a time.
//!
//! It plans the pipeline into fused stages ([`ExecutionPlan`](crate::core::ExecutionPlan)) and
//! runs them in order. A source is read in bundles; each bundle flows through the stage's
//! fused operators by direct calls (`start_bundle`, `process`, `finish_bundle` for every
//! operator). Bundles that leave the stage are stored for the stages that read them; grouping
//! stages feed the stored (or pre-combined) records through GroupAlsoByWindow, advance the
//! watermark to the end of time, and emit the panes.
//!
//! This release executes bounded pipelines on the calling thread; streaming execution with
//! watermarks, triggers and processing time comes with the streaming work.

mod executor;

use crate::options::PipelineOptions;
use crate::registry::PipelineRunner;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Boundedness;
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;

/// The direct runner (`--runner direct`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectRunner;

impl PipelineRunner for DirectRunner {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn run(
        &self,
        pipeline: &Pipeline,
        options: &PipelineOptions,
    ) -> Result<PipelineResult, PipelineError> {
        let graph = pipeline.graph()?;
        if let Some(node) = graph.nodes.iter().find(|n| {
            n.inputs.is_empty()
                && n.outputs
                    .iter()
                    .any(|c| graph.collection(*c).boundedness == Boundedness::Unbounded)
        }) {
            return Err(PipelineError::Unsupported {
                runner: self.name().into(),
                reason: format!(
                    "source '{}' is unbounded; this release of the direct runner reads bounded sources only",
                    node.name
                ),
            });
        }
        let _ = options;
        executor::execute(graph)
    }
}
