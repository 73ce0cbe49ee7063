//! [`PipelineOptions`]: the command-line flags every pipeline understands.
//!
//! Pipelines extend them with their own flags by flattening them into their clap parser:
//!
//! ```
//! use clap::Parser;
//! use sluice_runners::PipelineOptions;
//!
//! #[derive(Parser)]
//! struct Args {
//!     /// Where to read from.
//!     #[arg(long)]
//!     input: Option<String>,
//!     #[command(flatten)]
//!     pipeline: PipelineOptions,
//! }
//! let args = Args::parse_from(["job", "--runner", "direct", "--parallelism", "2"]);
//! assert_eq!(args.pipeline.runner, "direct");
//! assert_eq!(args.pipeline.parallelism, Some(2));
//! ```

use clap::Parser;

/// Options of a pipeline run.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(about = None, long_about = None)]
pub struct PipelineOptions {
    /// The runner that executes the pipeline (see the runner registry: `direct`, ...).
    #[arg(long, default_value = "direct")]
    pub runner: String,
    /// How many threads work at once (default: every core; see
    /// [`effective_parallelism`](Self::effective_parallelism)). The rayon runner runs this many
    /// workers. The direct runner runs bounded pipelines on the calling thread; in streaming
    /// it splits unbounded sources into this many readers, shards keyed stages over this many
    /// threads and sizes its tokio runtime to match.
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// No progress bar or summary on the terminal.
    #[arg(long)]
    pub quiet: bool,
    /// Cancels a streaming run from another thread (Ctrl-C does the same).
    #[arg(skip)]
    pub cancel: CancelToken,
}

/// Asks a running streaming pipeline to stop: its sources stop reading, what was read is
/// processed, and the run returns with the state `Cancelled`. Clones share the request.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl CancelToken {
    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CancelToken {}

impl PipelineOptions {
    /// The parallelism a runner uses: `--parallelism` when given (at least 1), otherwise the
    /// number of cores the machine offers this process (1 when it cannot tell).
    pub fn effective_parallelism(&self) -> usize {
        self.parallelism
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Options that select `runner`, everything else by default.
    pub fn for_runner(runner: &str) -> Self {
        PipelineOptions {
            runner: runner.to_string(),
            parallelism: None,
            quiet: false,
            cancel: CancelToken::default(),
        }
    }
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self::for_runner("direct")
    }
}
