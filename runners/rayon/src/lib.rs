//! The rayon runner: bounded pipelines, data-parallel on every core.
//!
//! It executes the same [plan](sluice_runner_core::plan) as the direct runner, with each stage run by
//! several workers at once, each with its own instance of the stage's operators:
//!
//! - a **source** is split into parts that the workers read in parallel, each part flowing
//!   through the fused stage behind the read;
//! - at a **GroupByKey / Combine** the keyed records are hash-partitioned by key into one shard
//!   per worker, and each shard is grouped (GroupAlsoByWindow) and fed to the next stage by its
//!   own worker; a Combine on non-merging windows is **lifted**: every worker pre-combines what
//!   it produces, so only one partial accumulator per key, window and worker is shuffled;
//! - **Flatten**, **Reshuffle** and side-input stages spread their bundles over the workers;
//! - **side inputs** are materialized once and shared by all workers.
//!
//! Work is handed out from a queue, so a worker that finishes early takes the next split or
//! shard. `--parallelism N` sets the number of worker threads (default: every core). On a
//! terminal it shows a progress bar of the bytes read (or records, when a source cannot tell
//! its size), and a summary of elements per transform at the end; `--quiet` turns both off.

mod executor;
mod progress;

use sluice_options::PipelineOptions;
use sluice_runner_core::ExecutionPlan;
use sluice_runner_core::{PipelineRunner, RunContext};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Graph;
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;

/// The rayon runner (`--runner rayon`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RayonRunner;

impl PipelineRunner for RayonRunner {
    fn name(&self) -> &'static str {
        "rayon"
    }

    fn plan(&self, graph: Graph) -> ExecutionPlan {
        ExecutionPlan::new(graph)
    }

    fn run(
        &self,
        pipeline: &Pipeline,
        options: &PipelineOptions,
        run: &RunContext,
    ) -> Result<PipelineResult, PipelineError> {
        sluice_runner_core::run::refuse_cluster_flags(options, self.name())?;
        sluice_runner_core::run::refuse_checkpoints(
            options,
            self.name(),
            "it runs bounded input, which a failed run reads again from the start",
        )?;
        let graph = pipeline.graph()?;
        sluice_runner_core::check_bounded(
            &graph,
            self.name(),
            "the rayon runner executes bounded pipelines only: use --runner=direct, or read a bounded slice of the source",
        )?;
        let threads = options.effective_parallelism();
        let feedback = !options.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let plan = self.plan(graph).with_observer(run.observer.clone());
        let result = executor::execute(plan, threads, feedback)?;
        tracing::info!(
            elapsed_s = result.elapsed.as_secs_f64(),
            "rayon runner finished"
        );
        if feedback {
            eprint!("{}", result.summary());
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::error::BoxError;
    use sluice_sdk::graph::kernel::{BundleReader, SourceKernel};
    use sluice_sdk::graph::{Boundedness, NodeKind};
    use sluice_sdk::pipeline::OutputSpec;
    use sluice_sdk::windowing::WindowingStrategy;
    use std::sync::Arc;

    /// A source that says it is unbounded (and would never be read by this runner).
    struct Endless;
    impl SourceKernel for Endless {
        fn split(
            &self,
            _desired: usize,
            _readers: usize,
        ) -> Result<Vec<Arc<dyn SourceKernel>>, BoxError> {
            Ok(vec![Arc::new(Endless)])
        }
        fn estimated_size_bytes(&self) -> Option<u64> {
            None
        }
        fn reader(&self) -> Result<Box<dyn BundleReader>, BoxError> {
            Err("never read".into())
        }
    }

    #[test]
    fn an_unbounded_source_is_refused_with_its_name_and_a_suggestion() {
        let p = Pipeline::new();
        p.apply_named("Clicks", || {
            p.add_primitive(
                NodeKind::Read(Arc::new(Endless)),
                vec![],
                vec![],
                vec![OutputSpec::of::<u32>(
                    Boundedness::Unbounded,
                    WindowingStrategy::global(),
                )],
            )
        });
        let err = RayonRunner
            .run(
                &p,
                &PipelineOptions::for_runner("rayon"),
                &RunContext::default(),
            )
            .expect_err("unbounded must fail");
        let text = err.to_string();
        assert!(text.contains("source 'Clicks' is unbounded"), "{text}");
        assert!(text.contains("--runner=direct"), "{text}");
    }

    #[test]
    fn one_worker_and_many_give_the_same_result() {
        use sluice_sdk::prelude::*;
        for workers in [1, 3] {
            let p = Pipeline::new();
            let counts = p
                .apply("Create", Create::of((0..50_000u64).map(|v| v % 101)))
                .apply("Count", Count::per_element())
                .apply("Total", Values)
                .apply("Sum", Combine::globally(Sum::<u64>::new()));
            sluice_sdk::testing::assert_that(&counts).contains_in_any_order(vec![50_000]);
            let options = PipelineOptions {
                parallelism: Some(workers),
                ..PipelineOptions::for_runner("rayon")
            };
            let result = RayonRunner
                .run(&p, &options, &RunContext::default())
                .unwrap();
            assert_eq!(result.assertions_passed(), 1, "{workers} workers");
            assert_eq!(
                result.elements["Count"].output, 101,
                "one pane per distinct element"
            );
        }
    }
}
