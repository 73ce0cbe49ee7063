//! The direct runner: executes a pipeline in this process, a bundle at a time.
//!
//! It plans the pipeline into fused stages ([`ExecutionPlan`]) and
//! runs them in order. A source is read in bundles; each bundle flows through the stage's
//! fused operators by direct calls (`start_bundle`, `process`, `finish_bundle` for every
//! operator). Bundles that leave the stage are stored for the stages that read them; grouping
//! stages feed the stored (or pre-combined) records through GroupAlsoByWindow, advance the
//! watermark to the end of time, and emit the panes.
//!
//! Bounded pipelines run stage after stage on the calling thread. Pipelines that read test
//! streams or unbounded sources run in streaming mode: bundles, watermarks and
//! processing time flow through the stages as they arrive.

mod executor;
mod streaming;

use sluice_options::PipelineOptions;
use sluice_runner_core::ExecutionPlan;
use sluice_runner_core::{PipelineRunner, RunContext};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::{Graph, NodeKind};
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;

/// The direct runner (`--runner direct`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectRunner;

impl PipelineRunner for DirectRunner {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn plan(&self, graph: Graph) -> ExecutionPlan {
        if graph.is_streaming() {
            ExecutionPlan::for_streaming(graph)
        } else {
            ExecutionPlan::new(graph)
        }
    }

    fn run(
        &self,
        pipeline: &Pipeline,
        options: &PipelineOptions,
        run: &RunContext,
    ) -> Result<PipelineResult, PipelineError> {
        sluice_runner_core::run::refuse_cluster_flags(options, self.name())?;
        let graph = pipeline.graph()?;
        let is = |f: fn(&NodeKind) -> bool| graph.nodes.iter().any(|n| f(&n.kind));
        let test_streams = is(|k| matches!(k, NodeKind::TestStream(_)));
        let unbounded = is(|k| matches!(k, NodeKind::ReadUnbounded(_)));
        if test_streams && unbounded {
            return Err(PipelineError::Unsupported {
                runner: self.name().into(),
                reason: "a pipeline reads test streams (a test clock) and unbounded sources (the wall clock): use one or the other".into(),
            });
        }
        let streaming = graph.is_streaming();
        sluice_runner_core::run::refuse_checkpoints_of_bounded(options, self.name(), unbounded)?;
        let plan = self.plan(graph).with_observer(run.observer.clone());
        if streaming {
            return streaming::execute(plan, options, &run.cancel);
        }
        executor::execute(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::prelude::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Default)]
    struct Lifecycle {
        setups: Arc<AtomicUsize>,
        teardowns: Arc<AtomicUsize>,
        bundles: Arc<AtomicUsize>,
    }

    impl DoFn for Lifecycle {
        type In = u32;
        type Out = u32;
        fn setup(&mut self) -> DoFnResult {
            self.setups.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn start_bundle(&mut self, _ctx: &mut BundleContext<'_, u32>) -> DoFnResult {
            self.bundles.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn process(&mut self, v: u32, ctx: &mut ProcessContext<'_, u32>) -> DoFnResult {
            if v == 9_999 && self.setups.load(Ordering::SeqCst) == 0 {
                return Err("processed before setup".into());
            }
            ctx.output(v);
            Ok(())
        }
        fn teardown(&mut self) {
            self.teardowns.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn run_with(fail: bool) -> (Result<PipelineResult, PipelineError>, Lifecycle) {
        let probe = Lifecycle::default();
        let p = Pipeline::new();
        let out = p
            .apply("Create", Create::of(0..10_000u32))
            .apply("Probe", ParDo::of(probe.clone()));
        if fail {
            out.map("Fail", |v: u32| {
                if v == 5 {
                    panic!("element {v} is bad")
                } else {
                    v
                }
            });
        }
        (
            DirectRunner.run(&p, &PipelineOptions::default(), &RunContext::default()),
            probe,
        )
    }

    #[test]
    fn setup_and_teardown_run_once_per_instance_around_every_bundle() {
        let (result, probe) = run_with(false);
        assert_eq!(result.unwrap().state, PipelineState::Done);
        assert_eq!(probe.setups.load(Ordering::SeqCst), 1);
        assert_eq!(probe.teardowns.load(Ordering::SeqCst), 1);
        // 10 000 elements are 157 batches of BUNDLE_SIZE: one bundle in batch execution.
        assert!(
            10_000usize.div_ceil(sluice_runner_core::BUNDLE_SIZE)
                <= sluice_runner_core::MAX_BATCHES_PER_BUNDLE
        );
        assert_eq!(probe.bundles.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panic_fails_the_pipeline_naming_the_transform_and_still_tears_down() {
        let (result, probe) = run_with(true);
        let err = result.expect_err("the pipeline must fail");
        assert_eq!(
            err.to_string(),
            "transform 'Fail' panicked: element 5 is bad"
        );
        assert_eq!(probe.teardowns.load(Ordering::SeqCst), 1);
    }
}
