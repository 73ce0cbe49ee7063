//! The runner registry: which runners exist, and [`run`] on the one the options name.

use crate::options::PipelineOptions;
use sluice_sdk::error::PipelineError;
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;

/// Something that executes pipelines.
pub trait PipelineRunner: Send + Sync {
    /// The name users select it by (`--runner NAME`).
    fn name(&self) -> &'static str;
    /// Executes the pipeline to completion.
    fn run(
        &self,
        pipeline: &Pipeline,
        options: &PipelineOptions,
    ) -> Result<PipelineResult, PipelineError>;
}

/// Every runner built into this crate.
pub fn runners() -> Vec<Box<dyn PipelineRunner>> {
    vec![
        Box::new(crate::direct::DirectRunner),
        Box::new(crate::rayon::RayonRunner),
    ]
}

/// The names of the registered runners.
pub fn runner_names() -> Vec<&'static str> {
    runners().iter().map(|r| r.name()).collect()
}

/// The runner called `name`.
pub fn runner(name: &str) -> Result<Box<dyn PipelineRunner>, PipelineError> {
    runners()
        .into_iter()
        .find(|r| r.name() == name)
        .ok_or_else(|| PipelineError::UnknownRunner {
            name: name.to_string(),
            known: runner_names().into_iter().map(String::from).collect(),
        })
}

/// Runs `pipeline` on the runner named by `options.runner`.
pub fn run(
    pipeline: &Pipeline,
    options: &PipelineOptions,
) -> Result<PipelineResult, PipelineError> {
    runner(&options.runner)?.run(pipeline, options)
}
