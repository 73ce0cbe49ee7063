//! The timely runner: the plan on [timely dataflow], from one process to a cluster.
//!
//! Every worker — a thread, in one process or in several on different machines — builds the
//! same dataflow from the plan ([`dataflow`]): one operator per stage ([`stage`]). A source's
//! splits are spread over every worker of the cluster; keyed records cross an exchange that
//! sends each to the worker its key's stable hash names, where that worker's shard of the
//! grouping or stateful ParDo keeps its state; side inputs are sent to every worker; bundles
//! between element-wise stages stay in their worker. timely moves the records between
//! processes over TCP ([`containers`] says how they are written) and tracks progress.
//!
//! # Frontiers carry watermarks
//!
//! Every batch is stamped with a [`Time`](time::Time): an epoch and a watermark. A source
//! stamps what it reads with its current watermark and holds a capability there; as its
//! watermark advances it downgrades the capability, and at its end it drops it. An operator's
//! input frontier — the least times that may still arrive — is thus the watermark of its
//! input: the least watermark over every source upstream, held back by every operator in
//! between that still holds a capability. Holds are capabilities: an operator that buffers
//! (a grouping's panes not yet fired, a timer's output timestamp) keeps a capability at the
//! least time it may still emit at, and the frontier downstream cannot pass it. When every
//! source has ended and nothing holds, frontiers empty: the watermark is at the end of time,
//! and every window fires.
//!
//! A bounded run stamps everything with the least time: an operator's input frontier stays
//! there until every operator upstream is done, then empties. Unbounded sources ([`unbounded`])
//! send at (epoch, watermark), where an epoch is a checkpoint period: a reader's checkpoint
//! is finalized once no stage's output may still see its epoch.
//!
//! # A cluster
//!
//! A run is one process (`--workers N` threads), or a cluster of processes given the same
//! host file (`--hosts FILE --process I`), or a try-out cluster on loopback that this process
//! starts (`--processes N`, see [`cluster`]). At start-up the processes connect to each other and exchange a
//! fingerprint of their plans ([`network`]), and differ with an error rather than a dataflow
//! that hangs; at
//! the end every worker's metrics and errors are shared with every worker ([`outcome`]), so
//! that every process reports the same result. A process that dies makes timely's network
//! threads in the others fail, and with them the run, with an error.
//!
//! [timely dataflow]: https://github.com/TimelyDataflow/timely-dataflow

pub mod checkpoints;
pub mod clock;
pub mod cluster;
pub mod containers;
pub mod context;
pub mod dataflow;
pub mod failure;
pub mod keyed;
pub mod network;
pub mod outcome;
pub mod side_inputs;
mod source;
pub mod stage;
pub mod time;
pub mod unbounded;

use cluster::{Launch, Shape};
use context::Context;
use outcome::WorkerOutcome;
use sluice_options::PipelineOptions;
use sluice_runner_core::ExecutionPlan;
use sluice_runner_core::{PipelineRunner, RunContext};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::{Graph, NodeKind};
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::{PipelineResult, PipelineState};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the processes of a cluster have to find each other.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// The timely runner (`--runner timely`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimelyRunner;

impl PipelineRunner for TimelyRunner {
    fn name(&self) -> &'static str {
        "timely"
    }

    fn plan(&self, graph: Graph) -> ExecutionPlan {
        // Combines are lifted (where their trigger looks at the watermark alone): a stage
        // pre-combines its input per key and window and hands the partial accumulators on —
        // at its end in a bounded run, whenever it sends in a streaming one.
        ExecutionPlan::for_exchange(graph, true)
    }

    fn run(
        &self,
        pipeline: &Pipeline,
        options: &PipelineOptions,
        run: &RunContext,
    ) -> Result<PipelineResult, PipelineError> {
        let started = Instant::now();
        let graph = pipeline.graph()?;
        // An unbounded source or a test stream makes the run a streaming one: event time
        // advances as the sources say, and groupings fire as the watermark passes their
        // windows.
        let unbounded = graph
            .nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::ReadUnbounded(_)));
        sluice_runner_core::run::refuse_checkpoints_of_bounded(options, self.name(), unbounded)?;
        checkpoints_supported(&graph, options)?;
        let streaming = graph.is_streaming();
        sluice_runner_core::run::refuse_streaming_stateful_side_inputs(&graph, self.name())?;
        let clock = clock::Clock::of(&graph, unbounded)?;
        let plan = Arc::new(self.plan(graph).with_observer(run.observer.clone()));
        let launched_here = options.processes.filter(|&n| n > 1).is_some()
            && std::env::var_os(cluster::PROCESS_ENV).is_none();
        let (launch, shape) = if launched_here {
            let workers = Shape::of(&PipelineOptions {
                processes: None,
                ..options.clone()
            })?
            .workers;
            let (launch, shape) = Launch::start(options.processes.unwrap_or(1), workers)?;
            (Some(launch), shape)
        } else {
            (None, Shape::of(options)?)
        };
        let mode = Mode {
            streaming,
            unbounded,
            clock,
            cancel: run.cancel.clone(),
            checkpoints: options.clone(),
        };
        let result = execute(plan, &mode, &shape, launch, started)?;
        // A copy started by `--processes` leaves the summary to the process that started it.
        if !options.quiet
            && !shape.started_by_peer
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            eprint!("{}", result.summary());
        }
        Ok(result)
    }
}

/// Refuses what the timely runner's checkpoints do not cover yet: side inputs of a streaming
/// run (their views change while it runs).
fn checkpoints_supported(graph: &Graph, options: &PipelineOptions) -> Result<(), PipelineError> {
    let c = &options.checkpoints;
    if c.enabled()
        && graph.is_streaming()
        && let Some(view) = graph
            .nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::View(_)))
    {
        return Err(PipelineError::InvalidOption(format!(
            "--checkpoint-dir: the timely runner does not checkpoint side inputs that change \
             while the run goes on yet ('{}'; use --runner direct)",
            view.name
        )));
    }
    Ok(())
}

/// Runs `plan` as this process's part of `shape`, and waits for the processes `launch`
/// started.
fn execute(
    plan: Arc<ExecutionPlan>,
    mode: &Mode,
    shape: &Shape,
    mut launch: Option<Launch>,
    started: Instant,
) -> Result<PipelineResult, PipelineError> {
    let workers = shape.workers;
    let fingerprint = plan.fingerprint();
    let failure = Arc::new(failure::Failure::default());
    let failed = Arc::clone(&failure);
    // Unbounded sources are read by tokio tasks (the direct runner's readers), on a runtime
    // that lives as long as the run; Ctrl-C cancels the run, which then drains.
    let runtime = if mode.unbounded {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.clamp(1, 4))
            .thread_name("sluice-timely-readers")
            .enable_all()
            .build()
            .map_err(|e| {
                PipelineError::Cluster(format!("cannot start the readers' runtime: {e}"))
            })?;
        let cancel = mode.cancel.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C: cancelling the pipeline");
                cancel.cancel();
            }
        });
        // The processes `--processes` started drain too: they are told as Ctrl-C tells this
        // one.
        let (cancel, peers) = (mode.cancel.clone(), launch.as_ref().map(Launch::pids));
        if let Some(peers) = peers.filter(|p| !p.is_empty()) {
            runtime.spawn(async move {
                while !cancel.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                for pid in peers {
                    let _ = std::process::Command::new("kill")
                        .args(["-s", "INT", &pid.to_string()])
                        .status();
                }
            });
        }
        Some(runtime)
    } else {
        None
    };
    let checkpoints = match &runtime {
        Some(r) => checkpoints::Checkpoints::open(
            &mode.checkpoints,
            fingerprint,
            workers * shape.processes(),
            r.handle(),
            shape.process == 0,
        )?,
        None => None,
    };
    let watcher = checkpoints.as_ref().map(|c| c.watch(shape.process == 0));
    let worker_mode = mode.clone();
    let worker_checkpoints = checkpoints.clone();
    let handle = runtime.as_ref().map(|r| r.handle().clone());
    let work = move |worker: &mut ::timely::worker::Worker| {
        run_worker(
            worker,
            &plan,
            &worker_mode,
            handle.clone(),
            workers,
            &failed,
            worker_checkpoints.clone(),
        )
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let guards = if shape.hosts.is_empty() {
            ::timely::execute(shape.config(), work).map_err(PipelineError::Cluster)?
        } else {
            let deadline = started + STARTUP_TIMEOUT;
            let mut give_up = || launch.as_mut().and_then(Launch::failed);
            let sockets = network::connect(shape, fingerprint, deadline, &mut give_up)?;
            let (builders, network) = network::allocators(sockets, shape)?;
            ::timely::execute::execute_from(
                builders,
                network,
                ::timely::WorkerConfig::default(),
                work,
            )
            .map_err(PipelineError::Cluster)?
        };
        let mut outcome = None;
        for result in join(guards, &failure)? {
            match result {
                Ok(Ok(Some(o))) => outcome = Some(o),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => return Err(e),
                Err(panic) => {
                    return Err(PipelineError::Cluster(format!("a worker stopped: {panic}")));
                }
            }
        }
        outcome.ok_or_else(|| PipelineError::Cluster("no worker reported".into()))
    }));
    // timely's network threads panic when a peer goes away, and dropping their guard then
    // panics too: either way the run has lost a peer.
    if let Some(c) = &checkpoints {
        c.stop();
    }
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let outcome = outcome.unwrap_or_else(|panic| Err(lost_peer(panic.as_ref())))?;
    if let Some(launch) = launch {
        launch.wait()?;
    }
    if let Some(e) = outcome.error {
        return Err(e);
    }
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        bytes_sent = outcome.bytes_sent,
        "timely runner finished"
    );
    let mut metrics = outcome.metrics;
    if shape.processes() > 1 {
        let mut m = sluice_sdk::metrics::MetricsContainer::default();
        m.counter(BYTES_BETWEEN_PROCESSES)
            .inc_by(outcome.bytes_sent as i64);
        metrics.add(RUNNER_METRICS, &m);
    }
    drop(runtime);
    Ok(PipelineResult {
        state: if mode.cancel.is_cancelled() {
            PipelineState::Cancelled
        } else {
            PipelineState::Done
        },
        metrics,
        elements: outcome.elements,
        elapsed: started.elapsed(),
    })
}

/// How long the workers of a process have to end after a failure before the run stops
/// waiting for them (a worker that stopped in the middle of the dataflow leaves the others
/// unable to finish).
pub const FAILURE_GRACE: Duration = Duration::from_secs(10);

/// The error of a run whose communication threads panicked (`panic`): they do when a
/// connection to a peer process closes. Their message goes to the debug log.
fn lost_peer(panic: &(dyn std::any::Any + Send)) -> PipelineError {
    tracing::debug!(
        "timely communication: {}",
        sluice_runner_core::invoke::panic_message(panic)
    );
    PipelineError::Cluster("lost a peer process: its connection closed".into())
}

/// The workers' results, once all have ended — or the first failure, once the workers have
/// had [`FAILURE_GRACE`] to end after it (the ones still running are left behind).
fn join<T: Send + 'static>(
    guards: ::timely::communication::WorkerGuards<T>,
    failure: &failure::Failure,
) -> Result<Vec<Result<T, String>>, PipelineError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sluice-timely-join".into())
        .spawn(move || {
            let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guards.join()));
            let _ = sender.send(joined);
        })
        .map_err(|e| PipelineError::Cluster(format!("cannot wait for the workers: {e}")))?;
    loop {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(results)) => return Ok(results),
            Ok(Err(panic)) => return Err(lost_peer(panic.as_ref())),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PipelineError::Cluster(
                    "the workers ended without a result".into(),
                ));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Some((at, error)) = failure.first()
                    && at.elapsed() > FAILURE_GRACE
                {
                    return Err(error);
                }
            }
        }
    }
}

/// What kind of run this is.
#[derive(Clone)]
struct Mode {
    /// Event time advances as the sources say (a test stream or an unbounded source).
    streaming: bool,
    /// The run reads unbounded sources (on a tokio runtime).
    unbounded: bool,
    /// Where processing time comes from.
    clock: clock::Clock,
    /// Cancels the run (readers stop; what they read drains).
    cancel: sluice_runner_core::CancelToken,
    /// The run's options, for its checkpoints.
    checkpoints: PipelineOptions,
}

/// The transform name under which the runner reports its own metrics.
pub const RUNNER_METRICS: &str = "(timely)";
/// Counter of the bytes the processes of a cluster sent each other (keyed records and side
/// inputs), reported under [`RUNNER_METRICS`].
pub const BYTES_BETWEEN_PROCESSES: &str = "bytesBetweenProcesses";

/// One worker's run: the dataflow, and the shared outcome (returned by the first worker of
/// each process).
fn run_worker(
    worker: &mut ::timely::worker::Worker,
    plan: &Arc<ExecutionPlan>,
    mode: &Mode,
    runtime: Option<tokio::runtime::Handle>,
    workers: usize,
    failure: &Arc<failure::Failure>,
    checkpoints: Option<Arc<checkpoints::Checkpoints>>,
) -> Result<Option<WorkerOutcome>, PipelineError> {
    let index = worker.index();
    // The operators that write parts of checkpoints: sources and keyed nodes.
    let participants = plan
        .stages
        .iter()
        .filter(|s| match s.root {
            sluice_runner_core::StageRoot::Read(n) => {
                matches!(plan.graph.node(n).kind, NodeKind::ReadUnbounded(_))
            }
            sluice_runner_core::StageRoot::Group { .. } => true,
            _ => false,
        })
        .count();
    // With --exactly-once every stage prepares its sinks' writes at each checkpoint.
    let checkpoints = checkpoints.map(|c| {
        let participants = if c.exactly_once {
            plan.stages.len()
        } else {
            participants
        };
        Rc::new(checkpoints::WorkerCheckpoints::new(c, index, participants))
    });
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        containers::reset_sent();
        let ctx = Rc::new(Context {
            plan: Arc::clone(plan),
            streaming: mode.streaming,
            clock: mode.clock.clone(),
            checkpoints: mode.unbounded,
            runtime,
            cancel: mode.cancel.clone(),
            probe: ::timely::dataflow::ProbeHandle::new(),
            leftover: RefCell::new(Vec::new()),
            log: Rc::new(RefCell::new(WorkerOutcome::default())),
            failure: Arc::clone(failure),
            index,
            peers: worker.peers(),
            checkpointing: checkpoints,
        });
        dataflow::build(worker, &ctx);
        while worker.step_or_park(Some(Duration::from_millis(100))) {}
        // Every output has been written: what the sources still hold is complete.
        if !failure.happened() {
            for (name, mark) in ctx.leftover.take() {
                if let Err(e) = unbounded::finalize(&name, mark) {
                    ctx.fail(e);
                }
            }
        }
        let mut mine = std::mem::take(&mut *ctx.log.borrow_mut());
        mine.bytes_sent = containers::bytes_sent();
        let shared = outcome::share(worker, mine)?;
        Ok(index.is_multiple_of(workers.max(1)).then_some(shared))
    }));
    run.unwrap_or_else(|panic| {
        let error = PipelineError::Cluster(format!(
            "worker {index} stopped (a peer process may have died): {}",
            sluice_runner_core::invoke::panic_message(panic.as_ref())
        ));
        failure.record(&error);
        Err(error)
    })
}
