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
    /// How many worker threads the rayon runner uses (default: every core). The direct runner
    /// runs bounded pipelines on the calling thread.
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// No progress bar or summary on the terminal.
    #[arg(long)]
    pub quiet: bool,
}

impl PipelineOptions {
    /// Options that select `runner`, everything else by default.
    pub fn for_runner(runner: &str) -> Self {
        PipelineOptions {
            runner: runner.to_string(),
            parallelism: None,
            quiet: false,
        }
    }
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self::for_runner("direct")
    }
}
