//! The runner registry: which runners exist, and [`run`] on the one the options name.

use crate::core::ExecutionPlan;
use crate::options::PipelineOptions;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Graph;
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;

/// Something that executes pipelines.
pub trait PipelineRunner: Send + Sync {
    /// The name users select it by (`--runner NAME`).
    fn name(&self) -> &'static str;
    /// The physical plan this runner executes `graph` with: how it fuses stages, where data
    /// is exchanged by key, which combines are lifted (`--explain` shows it).
    fn plan(&self, graph: Graph) -> ExecutionPlan;
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
        Box::new(crate::timely::TimelyRunner),
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
    options.validate()?;
    write_graph_and_exit(pipeline, options)?;
    let runner = runner(&options.runner)?;
    let (watch, options) = watched(pipeline, options)?;
    let result = runner.run(pipeline, &options);
    drop(watch);
    result
}

/// Starts what watches the run (live metrics and their servers) when a flag asks for it, and
/// the options that hand the live metrics to the runner.
fn watched(
    pipeline: &Pipeline,
    options: &PipelineOptions,
) -> Result<(Option<crate::live::watch::Watch>, PipelineOptions), PipelineError> {
    let mut options = options.clone();
    let watch = crate::live::watch::Watch::start(&pipeline.graph()?, &options)?;
    if let Some(w) = &watch {
        options.live = w.live.clone();
    }
    Ok((watch, options))
}

/// With `--graph FILE`: writes the picture and ends the process, successfully, without running
/// the pipeline (every pipeline binary thus draws itself).
fn write_graph_and_exit(
    pipeline: &Pipeline,
    options: &PipelineOptions,
) -> Result<(), PipelineError> {
    if options.graph.is_none() {
        return Ok(());
    }
    let path = crate::picture::write_file(pipeline, options)?;
    tracing::info!(path = %path.display(), "wrote the pipeline's graph");
    if !options.quiet {
        eprintln!("wrote the pipeline's graph to {}", path.display());
    }
    std::process::exit(0)
}

/// A pipeline running on a background thread: [`cancel`](PipelineHandle::cancel) it, or
/// [`wait`](PipelineHandle::wait) for its result.
pub struct PipelineHandle {
    cancel: crate::options::CancelToken,
    thread: std::thread::JoinHandle<Result<PipelineResult, PipelineError>>,
}

impl PipelineHandle {
    /// Asks the pipeline to stop: streaming sources stop reading, what they read is processed,
    /// and the result's state is `Cancelled`. A bounded run finishes as usual.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the run to end.
    pub fn wait(self) -> Result<PipelineResult, PipelineError> {
        match self.thread.join() {
            Ok(result) => result,
            Err(payload) => Err(PipelineError::Panic {
                transform: "(runner)".into(),
                message: crate::core::invoke::panic_message(payload.as_ref()),
            }),
        }
    }
}

/// Starts `pipeline` on the runner named by `options.runner`, on a background thread.
pub fn start(
    pipeline: &Pipeline,
    options: &PipelineOptions,
) -> Result<PipelineHandle, PipelineError> {
    options.validate()?;
    write_graph_and_exit(pipeline, options)?;
    let runner = runner(&options.runner)?;
    let name = options.runner.clone();
    let (watch, options) = watched(pipeline, options)?;
    let pipeline = pipeline.clone();
    let cancel = options.cancel.clone();
    let thread = std::thread::Builder::new()
        .name("sluice-pipeline".into())
        .spawn(move || {
            let result = runner.run(&pipeline, &options);
            drop(watch);
            result
        })
        .map_err(|e| PipelineError::Unsupported {
            runner: name,
            reason: format!("cannot start a thread: {e}"),
        })?;
    Ok(PipelineHandle { cancel, thread })
}
