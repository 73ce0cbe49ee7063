//! The runner registry: which runners exist, and [`launch`], [`run`] and [`start`] on the one
//! the options name, with the observers the options ask for wired to the run.

use sluice_observe::live::watch::Watch;
use sluice_options::PipelineOptions;
use sluice_runner_core::observe::Observer;
use sluice_runner_core::{CancelToken, PipelineRunner, RunContext};
use sluice_sdk::error::PipelineError;
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;
use std::path::PathBuf;
use std::sync::Arc;

/// Every runner built into Sluice.
pub fn runners() -> Vec<Box<dyn PipelineRunner>> {
    vec![
        Box::new(sluice_direct::DirectRunner),
        Box::new(sluice_rayon::RayonRunner),
        Box::new(sluice_timely::TimelyRunner),
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

/// What [`launch`] did; a program's `main` acts on it (no library function ends the process).
#[derive(Debug)]
pub enum Outcome {
    /// The pipeline ran in this process, which reports its result.
    Ran(PipelineResult),
    /// `--graph FILE`: the picture was written to the file, and the pipeline did not run.
    Drew(PathBuf),
    /// This process is a copy that another one's `--processes` started: it took part in the
    /// run, whose result the process that started it reports (this one should end quietly).
    TookPart(PipelineResult),
}

/// Whether this process is a copy that another one's `--processes` started.
fn started_by_another() -> bool {
    std::env::var_os(sluice_timely::cluster::PROCESS_ENV).is_some()
}

/// What a program's `main` calls: draws the pipeline with `--graph`, or runs it on the runner
/// named by `options.runner`, with the observers the options ask for (`--metrics-addr`,
/// `--ui`, `--log-metrics-interval`).
pub fn launch(pipeline: &Pipeline, options: &PipelineOptions) -> Result<Outcome, PipelineError> {
    options.validate()?;
    if let Some(path) = &options.graph {
        draw(pipeline, options, path)?;
        return Ok(Outcome::Drew(path.clone()));
    }
    let copy = started_by_another();
    let result = run_here(pipeline, options, CancelToken::default()).map_err(|e| {
        if copy {
            // Which process failed, for the log of the one that started it.
            let process = std::env::var(sluice_timely::cluster::PROCESS_ENV).unwrap_or_default();
            match e {
                PipelineError::Cluster(why) => {
                    PipelineError::Cluster(format!("process {process}: {why}"))
                }
                other => PipelineError::Cluster(format!("process {process}: {other}")),
            }
        } else {
            e
        }
    })?;
    Ok(if copy {
        Outcome::TookPart(result)
    } else {
        Outcome::Ran(result)
    })
}

/// Runs `pipeline` on the runner named by `options.runner` and returns its result: for
/// libraries and tests. `--graph` is refused here — a program draws through [`launch`].
pub fn run(
    pipeline: &Pipeline,
    options: &PipelineOptions,
) -> Result<PipelineResult, PipelineError> {
    options.validate()?;
    refuse_graph(options)?;
    run_here(pipeline, options, CancelToken::default())
}

/// Runs `pipeline` with `cancel` as its cancel token, observed as the options ask.
fn run_here(
    pipeline: &Pipeline,
    options: &PipelineOptions,
    cancel: CancelToken,
) -> Result<PipelineResult, PipelineError> {
    let runner = runner(&options.runner)?;
    let (watch, context) = watched(pipeline, options, cancel)?;
    let result = runner.run(pipeline, options, &context);
    drop(watch);
    result
}

fn refuse_graph(options: &PipelineOptions) -> Result<(), PipelineError> {
    match &options.graph {
        Some(path) => Err(PipelineError::InvalidOption(format!(
            "--graph {} draws the pipeline instead of running it: a program calls \
             sluice_runners::launch and acts on its outcome",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// Starts what watches the run (live metrics and their servers) when a flag asks for it, and
/// the run's context that hands them to the runner.
fn watched(
    pipeline: &Pipeline,
    options: &PipelineOptions,
    cancel: CancelToken,
) -> Result<(Option<Watch>, RunContext), PipelineError> {
    // The processes `--processes` starts leave the serving to the one that started them (they
    // would all want the same addresses).
    let watch = Watch::start(&pipeline.graph()?, options, !started_by_another())?;
    let observer = match &watch {
        Some(w) => Observer::new(Arc::new(w.live.clone())),
        None => Observer::default(),
    };
    Ok((watch, RunContext { cancel, observer }))
}

/// Writes the picture `path` names: the graph of `pipeline`, and with `--explain` the plan of
/// the runner `options.runner` names beside it.
fn draw(
    pipeline: &Pipeline,
    options: &PipelineOptions,
    path: &std::path::Path,
) -> Result<(), PipelineError> {
    let graph = pipeline.graph()?;
    let plan = if options.explain {
        let runner = runner(&options.runner)?;
        Some((runner.plan(graph.clone()), runner.name()))
    } else {
        None
    };
    sluice_observe::picture::write_file(path, &graph, plan.as_ref().map(|(p, r)| (p, *r)))?;
    tracing::info!(path = %path.display(), "wrote the pipeline's graph");
    Ok(())
}

/// A pipeline running on a background thread: [`cancel`](PipelineHandle::cancel) it, or
/// [`wait`](PipelineHandle::wait) for its result.
pub struct PipelineHandle {
    cancel: CancelToken,
    thread: std::thread::JoinHandle<Result<PipelineResult, PipelineError>>,
}

impl PipelineHandle {
    /// Asks the pipeline to stop: streaming sources stop reading, what they read is processed,
    /// and the result's state is `Cancelled`. A bounded run finishes as usual.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels the run, for another thread to keep.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Waits for the run to end.
    pub fn wait(self) -> Result<PipelineResult, PipelineError> {
        match self.thread.join() {
            Ok(result) => result,
            Err(payload) => Err(PipelineError::Panic {
                transform: "(runner)".into(),
                message: sluice_runner_core::invoke::panic_message(payload.as_ref()),
            }),
        }
    }
}

/// Starts `pipeline` on the runner named by `options.runner`, on a background thread.
/// `--graph` is refused here, as by [`run`].
pub fn start(
    pipeline: &Pipeline,
    options: &PipelineOptions,
) -> Result<PipelineHandle, PipelineError> {
    options.validate()?;
    refuse_graph(options)?;
    let runner = runner(&options.runner)?;
    let name = options.runner.clone();
    let cancel = CancelToken::default();
    let (watch, context) = watched(pipeline, options, cancel.clone())?;
    let pipeline = pipeline.clone();
    let options = options.clone();
    let thread = std::thread::Builder::new()
        .name("sluice-pipeline".into())
        .spawn(move || {
            let result = runner.run(&pipeline, &options, &context);
            drop(watch);
            result
        })
        .map_err(|e| PipelineError::Unsupported {
            runner: name,
            reason: format!("cannot start a thread: {e}"),
        })?;
    Ok(PipelineHandle { cancel, thread })
}
